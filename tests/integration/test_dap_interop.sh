#!/bin/bash
# The aggregator side of the DAP interop test API (dap.interop_api), driven
# by this script as the draft's test runner would: ready, endpoint_for_task
# for both roles, add_task (the draft's JSON, VDAF parameters as strings) on
# the leader and on the helper for a time_interval Prio3Histogram task and a
# fixed_size Prio3Sum task; then @divviup/dap 0.9.1 uploads to the endpoint
# the runner was given and `trustbox dap collect` returns the exact sums.
# Also: a bad add_task is {"status":"error"}, an unknown /internal/test/
# path is 404, and with the option off (the default) nothing is served there.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
: "${TB_BUILD_DIR:?}"
need python3
need openssl
need curl

src="$TB_SOURCE_DIR/tests/integration/dap"
nm="$TB_BUILD_DIR/dap-interop"
mkdir -p "$nm"
cp "$src/package.json" "$nm/"
npm_install "$nm" @divviup/dap
export DAP_NODE_MODULES="$nm/node_modules"
js() { node "$src/client.mjs" "$@"; }

b64u() { python3 -c "import sys,base64;print(base64.urlsafe_b64encode(bytes.fromhex(sys.argv[1])).rstrip(b'=').decode())" "$1"; }
rid() { b64u "$(od -An -v -N"$1" -tx1 /dev/urandom | tr -d ' \n')"; }
openssl genpkey -algorithm X25519 -out collector.pem 2>/dev/null || die "openssl X25519"
sk=$(openssl pkey -in collector.pem -outform DER | tail -c 32 | od -An -v -tx1 | tr -d ' \n')
pk=$(openssl pkey -in collector.pem -pubout -outform DER | tail -c 32 | od -An -v -tx1 | tr -d ' \n')
CCFG=$(b64u "01002000010001""0020$pk")
CTOK=$(rid 16); ATOK=$(rid 16)
printf '{"aead":"AesGcm128","id":1,"kdf":"Sha256","kem":"X25519HkdfSha256","private_key":"%s","public_key":"%s","token":"%s"}\n' \
	"$(b64u "$sk")" "$(b64u "$pk")" "$CTOK" > cred.json

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
finish
