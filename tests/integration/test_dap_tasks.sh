#!/bin/bash
# `trustbox dap task ...` next to a running `trustbox run`, as the divviup
# CLI is used next to Divvi Up's service:
#   - one process (both aggregators): `task create` prints the client's
#     parameters (divviup_ts) and writes a collector credential; the running
#     instance picks the new task up from the store on first use;
#     @divviup/dap 0.9.1 uploads with exactly those parameters and
#     `trustbox dap upload` (the C client) adds two more, and
#     `trustbox dap collect` with that credential returns the exact sum;
#     `task list` shows no secrets, `task show` the record, `task delete`
#     removes it
#   - two processes: `task create --helper URL --helper-token T` on the
#     leader, `task import --role helper` of its helper_task on the running
#     helper; uploads and collection give the exact sum; a task whose helper
#     is unreachable backs off without holding up another task, and its
#     waiting reports are dropped when it is deleted
set -euo pipefail
. "$(dirname "$0")/lib.sh"
: "${TB_BUILD_DIR:?}"
need python3

src="$TB_SOURCE_DIR/tests/integration/dap"
nm="$TB_BUILD_DIR/dap-interop"
mkdir -p "$nm"
cp "$src/package.json" "$nm/"
npm_install "$nm" @divviup/dap
ver=$(node -p "require('$nm/node_modules/@divviup/dap/package.json').version")
[ "$ver" = "0.9.1" ] || die "expected @divviup/dap 0.9.1, found $ver"
export DAP_NODE_MODULES="$nm/node_modules"
js() { node "$src/client.mjs" "$@"; }
field() { python3 -c "import json,sys;v=json.load(open(sys.argv[1]));exec('for k in sys.argv[2].split(\".\"): v=v[k]');print(json.dumps(v) if isinstance(v,(dict,list)) else v)" "$1" "$2"; }

common() { # common DIR PORT
	cat <<LUA
core { data_dir = "$1", log_level = "warn" }
if acme then acme { enabled = false } end
if ctlog then ctlog { enabled = false } end
if dns then dns { enabled = false } end
listen { name = "https", address = "127.0.0.1", port = $2, tls = true }
LUA
}
now=$(date +%s)
START=$((now / 3600 * 3600 - 3600))

# ---- one process ----
P=$(free_port)
{ common "$TB_WORK/one" "$P"; echo 'dap { aggregation_period_ms = 100 }'; } > one.lua
tb_start one.lua
"$TRUSTBOX" root -c one.lua > root.pem || die "trustbox root"
export NODE_EXTRA_CA_CERTS="$TB_WORK/root.pem"
"$TRUSTBOX" dap task create -c one.lua --vdaf histogram --length 10 --chunk-length 3 --min-batch-size 3 \
	--collector-credential-file cred.json > task.json || die "task create"
ID=$(field task.json task_id)
L=$(field task.json divviup_ts.leader); H=$(field task.json divviup_ts.helper)
expect "create: the leader URL is this instance's" "$L" "^https://127.0.0.1:$P/dap/leader/$"
expect "create: the helper URL is this instance's" "$H" "^https://127.0.0.1:$P/dap/helper/$"
expect "create: divviup_ts is a Task for the client" "$(field task.json divviup_ts)" '"type": "histogram", "length": 10, "chunkLength": 3'
[ -s cred.json ] && ok "create: collector credential written" || fail "no collector credential"
got=$(js upload "$L" "$H" "$ID" "$(field task.json divviup_ts)" "$(field task.json divviup_ts.timePrecisionSeconds)" '[1,1,7,9]')
[ "$(printf '%s\n' "$got" | grep -c '^ok$')" = 4 ] && ok "the running instance took the new task" || fail "uploads: $got"
# trustbox's own C client too; it is a client: no data directory of its own.
common "$TB_WORK/client-data" "$P" > client.lua
for m in 7 0; do
	out=$("$TRUSTBOX" dap upload -c client.lua --task-id "$ID" --leader "$L" --helper "$H" --cacert root.pem \
		--vdaf histogram --length 10 --chunk-length 3 --measurement $m) || fail "trustbox dap upload $m"
	expect "trustbox dap upload $m" "$out" '^\{"report_id":"[A-Za-z0-9_-]{22}","time":[0-9]+\}$'
done
out=$("$TRUSTBOX" dap upload -c one.lua --task-id "$(python3 -c "import secrets,base64;print(base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b'=').decode())")" \
	--leader "$L" --helper "$H" --cacert root.pem --vdaf histogram --length 10 --chunk-length 3 --measurement 1 2>&1) \
	&& fail "upload to an unknown task succeeded"
expect "trustbox dap upload to an unknown task: unrecognizedTask" "$out" "unrecognizedTask"
got=$("$TRUSTBOX" dap collect -c client.lua --task-id "$ID" --leader "$L" --cacert root.pem --vdaf histogram \
	--length 10 --chunk-length 3 --collector-credential-file cred.json --batch-interval-start "$START" \
	--batch-interval-duration 7200 --timeout 60 2> collect.err) || true
[ ! -e "$TB_WORK/client-data" ] && ok "upload and collect create no data directory" \
	|| fail "a client command created $TB_WORK/client-data"
expect "collect with the created credential: the exact sum" "$got" '"report_count":6,.*"aggregate":\[1,2,0,0,0,0,0,2,0,1\]'
show_on_failure collect.err
out=$("$TRUSTBOX" dap task list -c one.lua)
expect "list: the task on both aggregators" "$out" "$ID"
expect_not "list: no secrets" "$out" "verify_key|auth_token"
out=$("$TRUSTBOX" dap task show -c one.lua "$ID")
expect "show: the whole record" "$out" "verify_key"
"$TRUSTBOX" dap task delete -c one.lua "$ID" > /dev/null || fail "task delete"
out=$("$TRUSTBOX" dap task show -c one.lua "$ID" 2>&1) && fail "show after delete succeeded"
expect "delete: the task is gone" "$out" "no such task"
# the running instance stops serving the deleted task within a second, without a restart
sleep 1.2
out=$("$TRUSTBOX" dap upload -c client.lua --task-id "$ID" --leader "$L" --helper "$H" --cacert root.pem \
	--vdaf histogram --length 10 --chunk-length 3 --measurement 1 2>&1) && fail "upload to a deleted task succeeded"
expect "upload to a task deleted by another process: unrecognizedTask" "$out" "unrecognizedTask"
tb_stop || fail "exit status"

# ---- two processes ----
PL=$(free_port); PH=$(free_port)
TOK=$(python3 -c "import secrets;print(secrets.token_urlsafe(16))")
{ common "$TB_WORK/helper" "$PH"; echo 'dap { role = "helper" }'; } > h.lua
"$TRUSTBOX" root -c h.lua > helper-root.pem || die "trustbox root (helper)"
{ common "$TB_WORK/leader" "$PL"
  printf 'dap { role = "leader", aggregation_period_ms = 100, helper_ca_file = "%s" }\n' "$TB_WORK/helper-root.pem"; } > l.lua
"$TRUSTBOX" root -c l.lua > leader-root.pem || die "trustbox root (leader)"
cat leader-root.pem helper-root.pem > roots.pem
export NODE_EXTRA_CA_CERTS="$TB_WORK/roots.pem"
"$TRUSTBOX" run -c h.lua > helper.out 2> helper.err &
HPID=$!
track "$HPID"
for _ in $(seq 1 300); do grep -q 'root CA SHA-256' helper.out && break; sleep 0.1; done
show_on_failure helper.err
tb_start l.lua
H="https://127.0.0.1:$PH/dap/helper/"
"$TRUSTBOX" dap task create -c l.lua --vdaf sum --bits 8 --min-batch-size 2 --helper "$H" --helper-token "$TOK" \
	--collector-credential-file cred2.json > task2.json || die "task create --helper"
"$TRUSTBOX" dap task import -c h.lua --role helper task2.json > import.out || fail "task import"
ID=$(field task2.json task_id)
expect "import: the helper's half" "$(cat import.out)" "\"task_id\":\"$ID\",\"role\":\"helper\""
L=$(field task2.json divviup_ts.leader)
got=$(js upload "$L" "$H" "$ID" "$(field task2.json divviup_ts)" 3600 '[5,250,17]')
[ "$(printf '%s\n' "$got" | grep -c '^ok$')" = 3 ] && ok "two processes: uploads acknowledged" || fail "uploads: $got"
got=$("$TRUSTBOX" dap collect -c l.lua --task-id "$ID" --leader "$L" --cacert leader-root.pem --vdaf sum --bits 8 \
	--collector-credential-file cred2.json --batch-interval-start "$START" --batch-interval-duration 7200 \
	--timeout 60 2> collect2.err) || true
expect "two processes: collect returns the exact sum" "$got" '"report_count":3,.*"aggregate":272\}$'
show_on_failure collect2.err
# A task whose helper URL leads nowhere: its jobs fail and back off, and the
# other tasks are aggregated meanwhile; deleted, its waiting reports are dropped.
DEAD=$(free_port)
"$TRUSTBOX" dap task create -c l.lua --vdaf count --min-batch-size 1 --helper "https://127.0.0.1:$DEAD/dap/helper/" \
	--helper-token "$TOK" --collector-credential-file cred4.json > task4.json || die "task create (dead helper)"
"$TRUSTBOX" dap task import -c h.lua --role helper task4.json > /dev/null || fail "task import (4)"
ID4=$(field task4.json task_id)
got=$(js upload "$L" "$H" "$ID4" '{"type":"count"}' 3600 '[true,true]')
[ "$(printf '%s\n' "$got" | grep -c '^ok$')" = 2 ] || fail "uploads to the stuck task: $got"
sleep 0.5
"$TRUSTBOX" dap task create -c l.lua --vdaf count --min-batch-size 1 --helper "$H" --helper-token "$TOK" \
	--collector-credential-file cred5.json > task5.json || die "task create (5)"
"$TRUSTBOX" dap task import -c h.lua --role helper task5.json > /dev/null || fail "task import (5)"
ID5=$(field task5.json task_id)
got=$(js upload "$L" "$H" "$ID5" '{"type":"count"}' 3600 '[true,false,true]')
got=$("$TRUSTBOX" dap collect -c l.lua --task-id "$ID5" --leader "$L" --cacert leader-root.pem --vdaf count \
	--collector-credential-file cred5.json --batch-interval-start "$START" --batch-interval-duration 7200 \
	--timeout 30 2> collect5.err) || true
expect "a task with its helper down does not hold up another" "$got" '"report_count":3,.*"aggregate":2\}$'
show_on_failure collect5.err
"$TRUSTBOX" dap task delete -c l.lua "$ID4" > /dev/null || fail "task delete (4)"
for _ in $(seq 1 50); do
	grep -q "dropping the reports of a task" "$TB_ERR" && break
	sleep 0.1
done
expect "the deleted task's waiting reports are dropped" "$(cat "$TB_ERR")" "dropping the reports of a task"
tb_stop || fail "leader exit status"
stop_pid "$HPID"
finish
