#!/bin/bash
# The aggregator side of the DAP interop test API (dap.interop_api), driven
# by this script as the draft's test runner would: ready, endpoint_for_task
# for both roles, add_task (the draft's JSON, VDAF parameters as strings) on
# the leader and on the helper for a time_interval Prio3Histogram task and a
# fixed_size Prio3Sum task (each with its own HPKE config at both
# aggregators: hpke_config?task_id= differs from the global list); then
# @divviup/dap 0.9.1 uploads to the endpoint the runner was given and
# `trustbox dap collect` returns the exact sums.
# Also: a bad add_task is {"status":"error"}, an unknown /internal/test/
# path is 404, and with the option off (the default) nothing is served there.
#
# Then the draft's own layout: `trustbox dap interop ROLE` as the client, a
# leader aggregator, a helper aggregator and the collector, four processes
# side by side on their own ports and data directories, and this script as
# the fifth, the test runner: collector add_task -> endpoint_for_task and
# add_task on both aggregators (with the collector's HPKE config) -> client
# upload -> collection_start / collection_poll -> the exact result, in the
# draft's JSON (numbers as strings), for a time_interval Prio3Histogram task
# and a fixed_size Prio3SumVec task.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/dap/common.sh"
: "${TB_BUILD_DIR:?}"
need python3
need openssl
need curl
need ss

src="$TB_SOURCE_DIR/tests/integration/dap"
divviup_ts
js() { node "$src/client.mjs" "$@"; }

# A 32-byte id whose base64url begins with '-' (first byte 0xf8..0xfb), as one random id in 64
# does: it must pass through the client and collector roles to the dap commands unharmed.
rid_dash() { b64u "f8$(od -An -v -N31 -tx1 /dev/urandom | tr -d ' \n')"; }
collector_key
CTOK=$(rid 16); ATOK=$(rid 16)
credential cred.json "$CTOK"

P=$(free_port)
cat > t.lua <<LUA
core { data_dir = "$TB_WORK/data", log_level = "warn" }
if acme then acme { enabled = false } end
if ctlog then ctlog { enabled = false } end
if dns then dns { enabled = false } end
listen { name = "https", address = "127.0.0.1", port = $P, tls = true }
dap { interop_api = true, demo_task = false, aggregation_period_ms = 100 }
LUA
tb_start t.lua
expect "banner: the interop API" "$TB_BANNER" "DAP interop API +https://127.0.0.1:$P/internal/test/"
"$TRUSTBOX" root -c t.lua > root.pem || die "trustbox root"
export NODE_EXTRA_CA_CERTS="$TB_WORK/root.pem"
BASE="https://127.0.0.1:$P"

post() { # post PATH JSON: "<status> <body>"
	python3 - "$BASE$1" "$2" "$TB_WORK/root.pem" <<'PY'
import ssl, sys, urllib.request, urllib.error
ctx = ssl.create_default_context(cafile=sys.argv[3])
req = urllib.request.Request(sys.argv[1], data=sys.argv[2].encode(), method="POST",
                             headers={"Content-Type": "application/json"})
try:
    with urllib.request.urlopen(req, context=ctx) as r:
        print(r.status, r.read().decode())
except urllib.error.HTTPError as e:
    print(e.code, e.read().decode())
PY
}

expect "ready" "$(post /internal/test/ready '{}')" '^200 \{\}$'
T1=$(rid 32); T2=$(rid 32)
lep=$(post /internal/test/endpoint_for_task "{\"task_id\":\"$T1\",\"role\":\"leader\",\"hostname\":\"127.0.0.1\"}")
hep=$(post /internal/test/endpoint_for_task "{\"task_id\":\"$T1\",\"role\":\"helper\",\"hostname\":\"127.0.0.1\"}")
expect "endpoint_for_task: leader" "$lep" '^200 \{"status":"success","endpoint":"/dap/leader/"\}$'
expect "endpoint_for_task: helper" "$hep" '^200 \{"status":"success","endpoint":"/dap/helper/"\}$'
L="$BASE/dap/leader/"; H="$BASE/dap/helper/"

add() { # add TASK ROLE VDAF-JSON QUERY-TYPE EXTRA-JSON VERIFY-KEY
	local coll=""
	[ "$2" = leader ] && coll="\"collector_authentication_token\":\"$CTOK\","
	post /internal/test/add_task "{\"task_id\":\"$1\",\"leader\":\"$L\",\"helper\":\"$H\",\"vdaf\":$3,
		\"leader_authentication_token\":\"$ATOK\",$coll\"role\":\"$2\",\"vdaf_verify_key\":\"$6\",
		\"max_batch_query_count\":1,\"query_type\":$4,\"min_batch_size\":3,$5\"time_precision\":3600,
		\"collector_hpke_config\":\"$CCFG\",\"task_expiration\":null}"
}
VK1=$(rid 16); VK2=$(rid 16)
V1='{"type":"Prio3Histogram","length":"4","chunk_length":"2"}'
V2='{"type":"Prio3Sum","bits":"8"}'
for role in leader helper; do
	expect "add_task $role (time_interval, Prio3Histogram)" "$(add "$T1" $role "$V1" 1 '' "$VK1")" '^200 \{"status":"success"\}$'
	expect "add_task $role (fixed_size, Prio3Sum)" "$(add "$T2" $role "$V2" 2 '"max_batch_size":3,' "$VK2")" '^200 \{"status":"success"\}$'
done
hx() { curl -sS --cacert root.pem "$1" | od -An -v -tx1 | tr -d ' \n'; }
for a in "$L" "$H"; do
	own=$(hx "${a}hpke_config?task_id=$T1")
	[ -n "$own" ] && [ "$own" != "$(hx "${a}hpke_config")" ] && [ "$own" != "$(hx "${a}hpke_config?task_id=$T2")" ] \
		&& ok "add_task: the task has its own HPKE config at $a" || fail "add_task: $a: the task's config $own"
done
expect "add_task with an unknown VDAF: error" "$(add "$(rid 32)" leader '{"type":"Poplar1"}' 1 '' "$VK1")" \
	'^200 \{"status":"error","error":"vdaf.type: '
expect "an unknown /internal/test/ path: 404" "$(post /internal/test/nope '{}')" '^404 '

got=$(js upload "$L" "$H" "$T1" '{"type":"histogram","length":4,"chunkLength":2}' 3600 '[0,3,3,1]')
[ "$(printf '%s\n' "$got" | grep -c '^ok$')" = 4 ] && ok "uploads to the runner's task (time_interval)" || fail "uploads: $got"
got=$(js upload "$L" "$H" "$T2" '{"type":"sum","bits":8}' 3600 '[10,20,30]')
[ "$(printf '%s\n' "$got" | grep -c '^ok$')" = 3 ] && ok "uploads to the runner's task (fixed_size)" || fail "uploads: $got"
now=$(date +%s)
got=$("$TRUSTBOX" dap collect -c t.lua --task-id "$T1" --leader "$L" --cacert root.pem --vdaf histogram --length 4 \
	--chunk-length 2 --collector-credential-file cred.json --batch-interval-start $((now / 3600 * 3600 - 3600)) \
	--batch-interval-duration 7200 --timeout 60 2> c1.err) || true
expect "time_interval task added through the API: exact result" "$got" '"report_count":4,.*"aggregate":\[1,1,0,2\]\}$'
got=$("$TRUSTBOX" dap collect -c t.lua --task-id "$T2" --leader "$L" --cacert root.pem --vdaf sum --bits 8 \
	--collector-credential-file cred.json --current-batch --timeout 60 2> c2.err) || true
expect "fixed_size task added through the API: exact result" "$got" '"report_count":3,.*"aggregate":60\}$'
show_on_failure c1.err c2.err
tb_stop || fail "exit status"

# The option off (the default): nothing under /internal/test/.
sed -i 's/interop_api = true, //' t.lua
tb_start t.lua
expect "interop API off: 404" "$(post /internal/test/ready '{}')" '^404 '
expect_not "interop API off: not in the banner" "$TB_BANNER" "DAP interop API"
tb_stop || fail "exit status"

# ---- the draft's layout: one process per role ----
iop_start() { # iop_start NAME ROLE: sets IOP_<NAME> to the port
	local port dir=$TB_WORK/iop-$1 deadline pid
	port=$(free_port)
	mkdir -p "$dir"
	"$TRUSTBOX" dap interop "$2" --port "$port" --listen 127.0.0.1 --data-dir "$dir" > "$dir/out" 2> "$dir/err" &
	pid=$!
	track "$pid"
	show_on_failure "$dir/err"
	deadline=$(($(date +%s) + 30))
	until grep -q ' ready: ' "$dir/out"; do
		kill -0 "$pid" 2>/dev/null || die "dap interop $2 exited during start-up"
		[ "$(date +%s)" -lt "$deadline" ] || die "dap interop $2 printed no ready line"
		sleep 0.1
	done
	expect "dap interop $2: one ready line" "$(wc -l < "$dir/out") $(cat "$dir/out")" \
		"^1 trustbox .* ready: .*DAP interop API http://127.0.0.1:$port/internal/test/\$"
	# Only what the role needs: the one TCP port, no ACME, CT, DNS or other listener.
	expect "dap interop $2: listens on its port only" \
		"$(ss -H -ltnup | grep "pid=$pid," | awk '{print $1, $5}' | sort | tr '\n' ' ')" \
		"^tcp 127.0.0.1:$port \$"
	printf -v "IOP_$1" '%s' "$port"
	IOP_PIDS+=("$2:$pid")
}
IOP_PIDS=()
ipost() { # ipost PORT PATH JSON: "<status> <body>"
	curl -s -w ' %{http_code}' -X POST -H 'Content-Type: application/json' --data-binary "$3" \
		"http://127.0.0.1:$1$2" | sed 's/^\(.*\) \([0-9]*\)$/\2 \1/'
}
field() { python3 -c "import json,sys;print(json.loads(sys.argv[1].split(' ',1)[1])[sys.argv[2]])" "$1" "$2"; }

iop_start client client
iop_start leader aggregator
iop_start helper aggregator
iop_start coll collector
expect "client role: ready" "$(ipost "$IOP_client" /internal/test/ready '{}')" '^200 \{\}$'
expect "collector role: ready" "$(ipost "$IOP_coll" /internal/test/ready '{}')" '^200 \{\}$'
expect "client role: no add_task (404)" "$(ipost "$IOP_client" /internal/test/add_task '{}')" '^404 '
expect "collector role: no upload (404)" "$(ipost "$IOP_coll" /internal/test/upload '{}')" '^404 '
expect "collector role: unknown path (404)" "$(ipost "$IOP_coll" /internal/test/nope '{}')" '^404 '
expect "collection_poll: unknown handle" "$(ipost "$IOP_coll" /internal/test/collection_poll '{"handle":"nope"}')" \
	'^200 \{"status":"error","error":"handle: '

now=$(date +%s)
run_task() { # run_task NAME QUERY-TYPE VDAF-JSON EXTRA-AGG-JSON QUERY-JSON MEASUREMENT-JSON...
	local name=$1 qt=$2 vdaf=$3 extra=$4 query=$5 tid vk tok atok r cfg lep hep m h i
	shift 5
	tid=$(rid_dash); vk=$(rid 16); tok=$(rid 16); atok=$(rid 16)
	r=$(ipost "$IOP_coll" /internal/test/add_task "{\"task_id\":\"$tid\",\"leader\":\"http://127.0.0.1:$IOP_leader/dap/leader/\",
		\"vdaf\":$vdaf,\"collector_authentication_token\":\"$tok\",\"query_type\":$qt}")
	expect "$name: collector add_task" "$r" '^200 \{"status":"success","collector_hpke_config":"[A-Za-z0-9_-]*"\}$'
	cfg=$(field "$r" collector_hpke_config)
	lep=$(field "$(ipost "$IOP_leader" /internal/test/endpoint_for_task "{\"task_id\":\"$tid\",\"role\":\"leader\",\"hostname\":\"127.0.0.1\"}")" endpoint)
	hep=$(field "$(ipost "$IOP_helper" /internal/test/endpoint_for_task "{\"task_id\":\"$tid\",\"role\":\"helper\",\"hostname\":\"127.0.0.1\"}")" endpoint)
	local L="http://127.0.0.1:$IOP_leader$lep" H="http://127.0.0.1:$IOP_helper$hep"
	for role in leader helper; do
		local port=$IOP_leader coll=""
		[ $role = helper ] && port=$IOP_helper
		[ $role = leader ] && coll="\"collector_authentication_token\":\"$tok\","
		r=$(ipost "$port" /internal/test/add_task "{\"task_id\":\"$tid\",\"leader\":\"$L\",\"helper\":\"$H\",
			\"vdaf\":$vdaf,\"leader_authentication_token\":\"$atok\",$coll\"role\":\"$role\",
			\"vdaf_verify_key\":\"$vk\",\"max_batch_query_count\":1,\"query_type\":$qt,\"min_batch_size\":$#,
			$extra\"time_precision\":3600,\"collector_hpke_config\":\"$cfg\",\"task_expiration\":null}")
		expect "$name: $role aggregator add_task" "$r" '^200 \{"status":"success"\}$'
	done
	for m in "$@"; do
		r=$(ipost "$IOP_client" /internal/test/upload "{\"task_id\":\"$tid\",\"leader\":\"$L\",\"helper\":\"$H\",
			\"vdaf\":$vdaf,\"measurement\":$m,\"time\":$now,\"time_precision\":3600}")
		expect "$name: client upload $m" "$r" '^200 \{"status":"success"\}$'
	done
	r=$(ipost "$IOP_coll" /internal/test/collection_start "{\"task_id\":\"$tid\",\"agg_param\":\"\",\"query\":$query}")
	expect "$name: collection_start" "$r" '^200 \{"status":"success","handle":"[A-Za-z0-9_-]*"\}$'
	h=$(field "$r" handle)
	for i in $(seq 1 600); do
		r=$(ipost "$IOP_coll" /internal/test/collection_poll "{\"handle\":\"$h\"}")
		case "$r" in *'"in progress"'*) sleep 0.2 ;; *) break ;; esac
	done
	RESULT=$r
}
hour=$((now / 3600 * 3600))
run_task time_interval 1 '{"type":"Prio3Histogram","length":"4","chunk_length":"2"}' '' \
	"{\"type\":1,\"batch_interval_start\":$((hour - 3600)),\"batch_interval_duration\":7200}" '"0"' '"3"' '"3"' '"1"'
expect "time_interval: exact result" "$RESULT" \
	'^200 \{"status":"complete","report_count":4,"interval_start":[0-9]+,"interval_duration":[0-9]+,"result":\["1","1","0","2"\]\}$'
run_task fixed_size 2 '{"type":"Prio3SumVec","bits":"8","length":"3","chunk_length":"3"}' '"max_batch_size":3,' \
	'{"type":2}' '["1","2","3"]' '["10","20","30"]' '["100","0","5"]'
expect "fixed_size: exact result" "$RESULT" \
	'^200 \{"status":"complete","batch_id":"[A-Za-z0-9_-]{43}","report_count":3,"interval_start":[0-9]+,"interval_duration":[0-9]+,"result":\["111","22","38"\]\}$'
# A collection still running when the collector is stopped (its leader accepts
# the connection and never answers) does not hold the stop up.
SP=$(free_port)
python3 -c "import socket,sys,time;s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);s.bind(('127.0.0.1',int(sys.argv[1])));s.listen(8);time.sleep(300)" "$SP" &
track $!
sleep 0.3
tid=$(rid 32)
ipost "$IOP_coll" /internal/test/add_task "{\"task_id\":\"$tid\",\"leader\":\"http://127.0.0.1:$SP/dap/leader/\",
	\"vdaf\":{\"type\":\"Prio3Count\"},\"collector_authentication_token\":\"x\",\"query_type\":2}" > /dev/null
r=$(ipost "$IOP_coll" /internal/test/collection_start "{\"task_id\":\"$tid\",\"agg_param\":\"\",\"query\":{\"type\":2}}")
expect "stalled collection: started" "$r" '"status":"success"'
expect "stalled collection: in progress" "$(ipost "$IOP_coll" /internal/test/collection_poll "{\"handle\":\"$(field "$r" handle)\"}")" \
	'^200 \{"status":"in progress"\}$'
t0=$(date +%s)
# SIGTERM stops each role cleanly (under the sanitizers: no leak at exit).
for rp in "${IOP_PIDS[@]}"; do
	kill -TERM "${rp#*:}"
	rc=0
	wait "${rp#*:}" || rc=$?
	expect "dap interop ${rp%%:*}: clean stop" "$rc" '^0$'
done
[ $(($(date +%s) - t0)) -le 10 ] && ok "the stop does not wait for the stalled collection" ||
	fail "the stop took $(($(date +%s) - t0)) s"
finish
