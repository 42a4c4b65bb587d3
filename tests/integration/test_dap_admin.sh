#!/usr/bin/env bash
# The DAP part of the admin API with the real client: a task created through
# the API (with the token; without it 401) answers a divviup-ts snippet and
# parameters that @divviup/dap 0.9.1 uploads with; collecting through the
# API (the stored collector credential) gives exactly the sum uploaded; the
# counts show the reports received and aggregated, a replayed report under
# report_replayed and an upload into the collected batch under
# batch_collected; listings carry no secret; a task without a stored
# credential cannot be collected (409); delete removes the task.
set -u
. "$(dirname "$0")/lib.sh"
: "${TB_BUILD_DIR:?}"
need curl
need jq
need openssl
divviup_ts
tmp=$TB_WORK
P=$(free_port)
CTOK=AAAAAAAAAAAAAAAAAAAAAA
cat > "$tmp/t.lua" <<LUA
core { data_dir = "$tmp/data", log_level = "info" }
if acme then acme { enabled = false } end
if ctlog then ctlog { enabled = false } end
if dns then dns { enabled = false } end
listen { name = "https", address = "127.0.0.1", port = $P, tls = true }
listen { name = "http", address = "127.0.0.1", port = 0, tls = false }
dap {
  demo_task = false,
  aggregation_period_ms = 50,
  tasks = {
    { id = "$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')", vdaf = "count",
      verify_key = "AAAAAAAAAAAAAAAAAAAAAA", aggregator_auth_token = "$CTOK", collector_auth_token = "$CTOK" },
  },
}
LUA
show_on_failure "$tmp/err.log"
tb_start "$tmp/t.lua" "$tmp/out.log" "$tmp/err.log"
"$TRUSTBOX" root -c "$tmp/t.lua" > "$tmp/root.pem" || die "trustbox root"
export NODE_EXTRA_CA_CERTS="$tmp/root.pem"
api="http://127.0.0.1:$(tb_port 'HTTP listener')/api/v1/dap"
TOKEN=$("$TRUSTBOX" admin token -c "$tmp/t.lua")
js() { node "$TB_SOURCE_DIR/tests/integration/dap/client.mjs" "$@"; }
w() { # METHOD PATH [BODY]: with the token; the body, then the status on its own line
	curl -s -w '\n%{http_code}' -X "$1" -H "Authorization: Bearer $TOKEN" ${3:+--data "$3"} "$api$2"
}
counts() { curl -s "$api/tasks/$ID" | jq -c .counts; }

out=$(curl -s -o /dev/null -w '%{http_code}' -X POST --data '{"vdaf":"sum","bits":8}' "$api/tasks")
expect "create without the token: 401" "$out" '^401$'
expect "no task was made" "$(curl -s "$api/tasks" | jq '[.items[] | select(.vdaf.type=="sum")] | length')" '^0$'

out=$(w POST /tasks '{"vdaf":{"type":"sum","bits":8},"time_precision":300,"min_batch_size":1}')
expect "create: 201" "$(tail -1 <<< "$out")" '^201$'
created=$(head -n -1 <<< "$out")
ID=$(jq -r .id <<< "$created")
L=$(jq -r .leader_url <<< "$created")
H=$(jq -r .helper_url <<< "$created")
expect "task id" "$ID" '^[A-Za-z0-9_-]{43}$'
expect "URLs are this instance's" "$L $H" "^https://127\\.0\\.0\\.1:$P/dap/leader/ https://127\\.0\\.0\\.1:$P/dap/helper/\$"
snippet=$(jq -r .client_snippet <<< "$created")
expect "snippet imports divviup-ts" "$snippet" 'import \{ Task \} from "@divviup/dap"'
expect "snippet names the task" "$snippet" "\"id\":[[:space:]]*\"$ID\""
expect "snippet names the leader" "$snippet" "\"leader\":[[:space:]]*\"$L\""
expect "snippet has the time precision" "$snippet" '"timePrecisionSeconds":[[:space:]]*300'
expect "collector credential shown once" "$(jq -c '[.collector.credential.kem, (.collector.hpke_private_key|length), (.collector.auth_token|length)]' <<< "$created")" '^\["X25519HkdfSha256",43,22\]$'
list=$(curl -s "$api/tasks")
expect "listing has the task (leader and helper)" "$(jq -c "[.items[] | select(.id==\"$ID\") | .role] | sort" <<< "$list")" '^\["helper","leader"\]$'
expect_not "listing carries no secret" "$list" 'verify_key|auth_token|private_key|"token"'
expect_not "show carries no secret" "$(curl -s "$api/tasks/$ID")" 'verify_key|auth_token|private_key|"token"'

# upload with divviup-ts, using the parameters the API answered
client=$(jq -c '.client | {type, bits}' <<< "$created")
RANDOM=${DAP_SEED:-$$}
M="" sum=0
for i in 1 2 3 4 5; do v=$((RANDOM % 256)); sum=$((sum + v)); M="$M${M:+,}$v"; done
up=$(js upload "$L" "$H" "$ID" "$client" 300 "[$M]")
expect "divviup-ts uploads" "$(grep -c '^ok$' <<< "$up")" '^5$'
rep=$(js replay "$L" "$H" "$ID" "$client" 300 7)
expect "a replayed report is refused" "$rep" $'^ok\nerror reportRejected 400'
sum=$((sum + 7))
for _ in $(seq 1 100); do
	[ "$(counts | jq .aggregated)" = 6 ] && break
	sleep 0.1
done
expect "counts: received and aggregated, the replay under its reason" "$(counts)" \
	'^\{"received":6,"aggregated":6,"collected":0,"rejected":\{"report_replayed":1\}\}$'
show=$(curl -s "$api/tasks/$ID")
expect "aggregation jobs hold the 6 reports" "$(jq '[.aggregation_jobs[].reports] | add' <<< "$show")" '^6$'
expect "one batch of 6" "$(jq -c '[.batches[] | .reports] ' <<< "$show")" '^\[6\]$'

now=$(date +%s)
START=$((now / 3600 * 3600 - 3600))
out=$(curl -s -o /dev/null -w '%{http_code}' -X POST --data "{\"batch_interval_start\":$START,\"duration\":7200}" "$api/tasks/$ID/collect")
expect "collect without the token: 401" "$out" '^401$'
out=$(w POST "/tasks/$ID/collect" "{\"batch_interval_start\":$START,\"duration\":7200}")
expect "collect: 200" "$(tail -1 <<< "$out")" '^200$'
expect "collect: the exact aggregate" "$(head -n -1 <<< "$out" | jq -c '[.report_count, .aggregate]')" "^\\[6,$sum\\]\$"
expect "counts: collected" "$(counts | jq .collected)" '^6$'
expect "the collection is listed" "$(curl -s "$api/tasks/$ID" | jq -c '[.collections[] | [.state, .report_count]]')" '^\[\["finished",6\]\]$'
out=$(w POST "/tasks/$ID/collect" "{\"batch_interval_start\":$START,\"duration\":7200}")
expect "collecting the batch again: 409" "$(tail -1 <<< "$out")" '^409$'
expect "the leader's problem is passed on" "$(head -n -1 <<< "$out")" 'batchQueriedTooManyTimes'
up=$(js upload "$L" "$H" "$ID" "$client" 300 "[1]")
expect "an upload into the collected batch is refused" "$up" '^error reportRejected 400'
expect "counted under batch_collected" "$(counts | jq -c .rejected)" '^\{"batch_collected":1,"report_replayed":1\}$'

# a task from the configuration has no stored credential
CID=$(curl -s "$api/tasks" | jq -r '.items[] | select(.vdaf.type=="count" and .role=="leader") | .id')
out=$(w POST "/tasks/$CID/collect" '{}')
expect "no stored credential: 409" "$(tail -1 <<< "$out")" '^409$'

out=$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "$api/tasks/$ID")
expect "delete without the token: 401" "$out" '^401$'
out=$(w DELETE "/tasks/$ID")
expect "delete: 204" "$(tail -1 <<< "$out")" '^204$'
expect "gone from show" "$(curl -s -o /dev/null -w '%{http_code}' "$api/tasks/$ID")" '^404$'
expect "gone from the listing" "$(curl -s "$api/tasks" | jq "[.items[] | select(.id==\"$ID\")] | length")" '^0$'
up=$(js upload "$L" "$H" "$ID" "$client" 300 "[1]")
expect "the leader no longer takes its reports" "$up" 'unrecognizedTask'
out=$(w DELETE "/tasks/$ID")
expect "delete again: 404" "$(tail -1 <<< "$out")" '^404$'

expect "writes logged" "$(grep -c "admin.*DAP task $ID created" "$tmp/err.log")" '^1$'
rc=0
tb_stop || rc=$?
expect "clean exit" "$rc" '^0$'
finish
