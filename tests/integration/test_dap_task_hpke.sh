#!/bin/bash
# Tasks with their own HPKE key (DAP-09 4.3.1, `hpke_config?task_id=`, which
# @divviup/dap 0.9.1 always sends), with the real client:
#   - a configured task with own_hpke_key and one made by `trustbox dap task
#     create` next to the running instance (own keys by default, as Janus
#     provisions a task): each aggregator announces the task's own config for
#     it (not its global list, and not the other aggregator's); a configured
#     task without one and one made with `--global-hpke-keys` get the global
#     list; an unknown task id is unrecognizedTask, an empty one missingTaskID
#   - the key survives a restart (the configured task is provisioned again)
#   - divviup-ts uploads to both tasks (sealed to the tasks' configs, so
#     the leader's upload and the helper's preparation both open with the
#     task's key); `trustbox dap collect` returns the exact count
#   - the aggregator's global keys still decrypt a task's reports, after a
#     `dap key rotate` too (a report sealed to the old global configs is
#     accepted and counted); rotation leaves the task's config alone
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/dap/common.sh"
: "${TB_BUILD_DIR:?}"
need python3
need openssl
need curl

src="$TB_SOURCE_DIR/tests/integration/dap"
divviup_ts

collector_key
CTOK=$(rid 16)
credential cred.json "$CTOK"

T_OWN=$(rid 32); T_PLAIN=$(rid 32)
P=$(free_port)
task() {
	echo "    { id = \"$1\", vdaf = \"count\", verify_key = \"$(rid 16)\", min_batch_size = 1, $2"
	echo "      aggregator_auth_token = \"$(rid 16)\", collector_auth_token = \"$CTOK\","
	echo "      collector_hpke_config = \"$CCFG\" },"
}
cat > t.lua <<LUA
core { data_dir = "$TB_WORK/data", log_level = "warn" }
if acme then acme { enabled = false } end
if ctlog then ctlog { enabled = false } end
if dns then dns { enabled = false } end
listen { name = "https", address = "127.0.0.1", port = $P, tls = true }
dap {
  demo_task = false,
  aggregation_period_ms = 50,
  tasks = {
$(task "$T_OWN" "own_hpke_key = true,")
$(task "$T_PLAIN" "")
  },
}
LUA
tb_start t.lua
"$TRUSTBOX" root -c t.lua > root.pem || die "trustbox root"
export NODE_EXTRA_CA_CERTS="$TB_WORK/root.pem"
L="https://127.0.0.1:$P/dap/leader/"
H="https://127.0.0.1:$P/dap/helper/"
hexof() { curl -sS --cacert root.pem "$1" | od -An -v -tx1 | tr -d ' \n'; }

out=$("$TRUSTBOX" dap task create -c t.lua --vdaf count --min-batch-size 1 \
	--collector-credential-file new.json) || die "task create: $out"
T_NEW=$(printf '%s' "$out" | python3 -c 'import json,sys;print(json.load(sys.stdin)["task_id"])')
out=$("$TRUSTBOX" dap task create -c t.lua --vdaf count --min-batch-size 1 --global-hpke-keys \
	--collector-credential-file glob.json) || die "task create --global-hpke-keys: $out"
T_GLOB=$(printf '%s' "$out" | python3 -c 'import json,sys;print(json.load(sys.stdin)["task_id"])')

GL=$(hexof "${L}hpke_config"); GH=$(hexof "${H}hpke_config")
OL=$(hexof "${L}hpke_config?task_id=$T_OWN"); OH=$(hexof "${H}hpke_config?task_id=$T_OWN")
NL=$(hexof "${L}hpke_config?task_id=$T_NEW"); NH=$(hexof "${H}hpke_config?task_id=$T_NEW")
for v in "$OL" "$OH" "$NL" "$NH"; do
	expect "a task's own list holds one X25519/HKDF-SHA256/AES-128-GCM config" "$v" '^0029[0-9a-f]{2}0020000100010020[0-9a-f]{64}$'
done
[ "$OL" != "$GL" ] && [ "$OH" != "$GH" ] && [ "$OL" != "$OH" ] && ok "configured task: each aggregator announces the task's own config" \
	|| fail "configured task: $OL $OH (global $GL $GH)"
[ "$NL" != "$GL" ] && [ "$NH" != "$GH" ] && [ "$NL" != "$OL" ] && [ "$NL" != "$NH" ] && \
	ok "task create: each aggregator announces the task's own config" || fail "created task: $NL $NH"
got=$(hexof "${L}hpke_config?task_id=$T_PLAIN")
[ "$got" = "$GL" ] && ok "a configured task without its own key: the global list" || fail "plain task: $got vs $GL"
got=$(hexof "${H}hpke_config?task_id=$T_GLOB")
[ "$got" = "$GH" ] && ok "task create --global-hpke-keys: the global list" || fail "global task: $got vs $GH"
got=$(curl -sS --cacert root.pem "${L}hpke_config?task_id=")
expect "an empty task id: missingTaskID" "$got" 'missingTaskID' 
got=$(curl -sS --cacert root.pem "${H}hpke_config?task_id=$(rid 32)")
expect "an unknown task id: unrecognizedTask" "$got" 'unrecognizedTask'

tb_stop && tb_start t.lua
got=$(hexof "${L}hpke_config?task_id=$T_OWN")
[ "$got" = "$OL" ] && ok "the task's own key survives a restart" || fail "after restart: $got vs $OL"

js() { node "$src/client.mjs" "$@"; }
now=$(date +%s)
START=$((now / 3600 * 3600 - 3600)); DUR=7200
collect() { # collect TASK CRED
	"$TRUSTBOX" dap collect -c t.lua --task-id "$1" --leader "$L" --cacert root.pem --vdaf count \
		--collector-credential-file "$2" --batch-interval-start "$START" --batch-interval-duration "$DUR" --timeout 60
}
got=$(js upload "$L" "$H" "$T_NEW" '{"type":"count"}' 3600 '[true,true,false,true]')
[ "$(printf '%s\n' "$got" | grep -c '^ok$')" = 4 ] && ok "divviup-ts uploads to the created task" || fail "uploads: $got"
got=$(collect "$T_NEW" new.json 2> new.err) || true
expect "the created task collects exactly: 4 reports, count 3" "$got" '^\{"report_count":4,.*"aggregate":3\}$'

got=$(js upload "$L" "$H" "$T_OWN" '{"type":"count"}' 3600 '[true,false,true]')
[ "$(printf '%s\n' "$got" | grep -c '^ok$')" = 3 ] && ok "divviup-ts uploads to the configured task" || fail "uploads: $got"
got=$(js lists "$L" "$H" "$T_OWN" '{"type":"count"}' 3600 true "$GL" "$GH")
expect "a report sealed to the aggregators' global configs is accepted" "$got" '^ok$'
out=$("$TRUSTBOX" dap key rotate -c t.lua leader) || fail "key rotate"
sleep 1.2 # a running instance reads the keys again at most once a second
[ "$(hexof "${L}hpke_config")" != "$GL" ] && ok "key rotate: a new global config" || fail "key rotate: $out"
[ "$(hexof "${L}hpke_config?task_id=$T_OWN")" = "$OL" ] && ok "key rotate: the task's config stays" || fail "rotate changed the task's config"
got=$(js lists "$L" "$H" "$T_OWN" '{"type":"count"}' 3600 true "$GL" "$GH")
expect "after the rotation the old global configs still open" "$got" '^ok$'
got=$(js upload "$L" "$H" "$T_OWN" '{"type":"count"}' 3600 '[true]')
expect "divviup-ts uploads to the task after the rotation" "$got" '^ok$'
got=$(collect "$T_OWN" cred.json 2> own.err) || true
expect "the configured task collects exactly: 6 reports, count 5" "$got" '^\{"report_count":6,.*"aggregate":5\}$'
show_on_failure new.err own.err

tb_stop && ok "trustbox stops cleanly" || fail "trustbox exit status"
finish
