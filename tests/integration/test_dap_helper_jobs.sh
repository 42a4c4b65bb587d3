#!/bin/bash
# The helper's aggregation jobs, driven directly as a leader would
# (tests/integration/dap/agg_job.c builds the DAP-09 messages), and the
# leader's answer to a full batch:
#   - batch_saturated: a fixed_size task with max_batch_size 3: two jobs of
#     two reports into one batch; the fourth report is a reject
#     batch_saturated PrepareResp, the batch holds exactly 3; the refused
#     report is not remembered (sent again into another batch it is
#     aggregated, while its job mate is report_replayed)
#   - the leader and a helper that counts less room (max_batch_size 4 at the
#     leader, 3 at the helper): the report the helper refuses goes to the
#     next batch; each --current-batch collection counts exactly 3 and the
#     two add up to the sum of the 6 uploads (divviup-ts), nothing lost
#   - continuation (DAP-09 4.5.2) of a finished Prio3 job: step 1 with no
#     report answers an empty AggregationJobResp; the same request again
#     gets the same answer (a retry), another request for that step 409; a
#     step that is not the next: stepMismatch; step 0, a report of the job
#     (finished in the init) or a report not in it: invalidMessage, and the
#     job does not move; an unknown job: unrecognizedAggregationJob; a
#     wrong media type: 415
#   - DELETE abandons a job: 204, then its continuation is
#     unrecognizedAggregationJob and the same init again counts nothing
#     twice (report_replayed)
#   - a PrepareError per spoilt report, the job's other report prepared:
#     hpke_unknown_config_id, hpke_decrypt_error, invalid_message (sealed
#     bytes that are no PlaintextInputShare), task_expired
#   - aggregate shares: a misaligned interval is batchInvalid, another count
#     or checksum batchMismatch (and neither counts as a query: the right
#     request then gets the share); a report into the collected batch is
#     batch_collected; the leader's collection of a misaligned interval is
#     batchInvalid; hpke_config?task_id= (empty) is missingTaskID
#   - the leader fails a report its helper's answer leaves out with
#     report_dropped (a fake helper answers an empty AggregationJobResp)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/dap/common.sh"
: "${TB_BUILD_DIR:?}"
need python3
need openssl
need curl

src="$TB_SOURCE_DIR/tests/integration/dap"
divviup_ts
link_tool "$src/agg_job.c" "$TB_WORK/agg_job"

hexr() { od -An -v -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }
unb64() { python3 -c "import base64,sys;print(base64.urlsafe_b64decode(sys.argv[1]+'=' * (-len(sys.argv[1]) % 4)).hex())" "$1"; }

collector_key
CTOK=$(b64u "$(hexr 16)")
ATOK=$(b64u "$(hexr 16)")
credential cred.json "$CTOK"

T_SAT=$(hexr 32); T_MIX=$(hexr 32); T_STEP=$(hexr 32); T_ERR=$(hexr 32); T_EXP=$(hexr 32)
VK_SAT=$(hexr 16); VK_MIX=$(hexr 16); VK_STEP=$(hexr 16); VK_ERR=$(hexr 16); VK_EXP=$(hexr 16)
T_DROP=$(hexr 32); VK_DROP=$(hexr 16)
now=$(date +%s)
T=$((now / 3600 * 3600))
FP=$(free_port) # a fake helper that answers every aggregation job with no PrepareResp
P=$(free_port)
task() { # task ID-HEX VK-HEX FIELDS
	echo "    { id = \"$(b64u "$1")\", verify_key = \"$(b64u "$2")\", $3,"
	echo "      aggregator_auth_token = \"$ATOK\", collector_auth_token = \"$CTOK\","
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
  max_aggregation_job_size = 4,
  tasks = {
$(task "$T_SAT" "$VK_SAT" 'vdaf = "count", query = "fixed_size", max_batch_size = 3, min_batch_size = 1')
$(task "$T_MIX" "$VK_MIX" 'role = "leader", vdaf = "sum", bits = 8, query = "fixed_size", max_batch_size = 4, min_batch_size = 3')
$(task "$T_MIX" "$VK_MIX" 'role = "helper", vdaf = "sum", bits = 8, query = "fixed_size", max_batch_size = 3, min_batch_size = 3')
$(task "$T_STEP" "$VK_STEP" 'vdaf = "count", min_batch_size = 1')
$(task "$T_ERR" "$VK_ERR" 'vdaf = "count", min_batch_size = 1')
$(task "$T_EXP" "$VK_EXP" "vdaf = \"count\", min_batch_size = 1, task_expiration = $((T - 7200))")
$(task "$T_DROP" "$VK_DROP" "role = \"leader\", vdaf = \"count\", min_batch_size = 1, helper_url = \"http://127.0.0.1:$FP/\"")
  },
}
LUA
tb_start t.lua
"$TRUSTBOX" root -c t.lua > root.pem || die "trustbox root"
export NODE_EXTRA_CA_CERTS="$TB_WORK/root.pem"
L="https://127.0.0.1:$P/dap/leader/"
H="https://127.0.0.1:$P/dap/helper/"
HL=$(curl -sS --cacert root.pem "${H}hpke_config" | od -An -v -tx1 | tr -d ' \n')

# send METHOD URL CONTENT-TYPE [BODY-HEX]: "STATUS BODY-HEX", or "STATUS TYPE DETAIL" for a
# problem; DAP-Auth-Token: $TOKEN, else the aggregators' token
send() {
	python3 -c 'import sys;sys.stdout.buffer.write(bytes.fromhex(sys.argv[1]))' "${4:-}" > body.bin
	local code
	code=$(curl -sS --cacert root.pem -o resp.bin -w '%{http_code}' -X "$1" -H "DAP-Auth-Token: ${TOKEN:-$ATOK}" \
		-H "Content-Type: $3" --data-binary @body.bin "$2")
	if [ "$(od -An -tx1 -N1 resp.bin | tr -d ' ')" = 7b ]; then
		echo "$code $(python3 -c 'import json,sys;j=json.load(open("resp.bin"));print(j["type"].rsplit(":",1)[-1], j.get("detail",""))')"
	else
		echo "$code $(od -An -v -tx1 resp.bin | tr -d ' \n')"
	fi
}
INIT=application/dap-aggregation-job-init-req
CONT=application/dap-aggregation-job-continue-req
job_url() { echo "${H}tasks/$(b64u "$1")/aggregation_jobs/$(b64u "$2")"; }
states() { # states "STATUS HEX": the PrepareResp states, one word each (the report ids left out)
	local hex=${1#* }
	"$TB_WORK/agg_job" resp "$hex" | awk '$1 != "empty" { $1 = ""; sub(/^ /, "") } { printf "%s%s", sep, $0; sep = "," }'
}

# ---- batch_saturated at the helper ----
BID=$(hexr 32); BID2=$(hexr 32)
req1=$("$TB_WORK/agg_job" init "$T_SAT" "$VK_SAT" "$HL" "$T" 2 "$BID" 2> ids1) || die "agg_job init"
req2=$("$TB_WORK/agg_job" init "$T_SAT" "$VK_SAT" "$HL" "$T" 2 "$BID" 2> ids2) || die "agg_job init"
got=$(send PUT "$(job_url "$T_SAT" "$(hexr 16)")" $INIT "$req1")
expect "saturation: job 1 (2 reports) into an empty batch" "$got ($(states "$got"))" '^200 [0-9a-f]+ \(continue,continue\)$'
J2=$(hexr 16)
got=$(send PUT "$(job_url "$T_SAT" "$J2")" $INIT "$req2")
expect "saturation: job 2: the third report fits, the fourth is reject batch_saturated" "$(states "$got")" \
	'^continue,reject batch_saturated$'
again=$(send PUT "$(job_url "$T_SAT" "$J2")" $INIT "$req2")
[ "$again" = "$got" ] && ok "saturation: job 2 retried gets the same answer" || fail "saturation: retry: $again"
count=$(python3 - "$TB_WORK/data/trustbox.db" "$T_SAT" <<'PY'
import sqlite3, sys
db = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
print(db.execute("SELECT group_concat(report_count) FROM dap_batch_aggs WHERE aggregator='helper' AND task_id=?",
                 (bytes.fromhex(sys.argv[2]),)).fetchone()[0])
PY
)
expect "saturation: the helper's batch holds exactly max_batch_size (3) reports" "$count" '^3$'
# Job 2's body into another batch: the aggregated report is a replay, the refused one was forgotten.
req4="${req2:0:10}$BID2${req2:74}"
got=$(send PUT "$(job_url "$T_SAT" "$(hexr 16)")" $INIT "$req4")
expect "saturation: the refused report is aggregated in another batch, its mate is report_replayed" \
	"$(states "$got")" '^reject report_replayed,continue$'

# ---- the leader and a helper with less room in a batch ----
M="[11,22,33,44,55,66]"
got=$(node "$src/client.mjs" upload "$L" "$H" "$(b64u "$T_MIX")" '{"type":"sum","bits":8}' 3600 "$M")
[ "$(printf '%s\n' "$got" | grep -c '^ok$')" = 6 ] || fail "fixed_size uploads: $got"
fx() { "$TRUSTBOX" dap collect -c t.lua --task-id "$(b64u "$T_MIX")" --leader "$L" --cacert root.pem --vdaf sum --bits 8 \
	--collector-credential-file cred.json --timeout 60 --current-batch; }
b1=$(fx 2> fix1.err) || true
b2=$(fx 2> fix2.err) || true
expect "leader: the first batch counts exactly the helper's max_batch_size" "$b1" '^\{"report_count":3,'
expect "leader: the refused report went to the second batch: 3 reports" "$b2" '^\{"report_count":3,'
s1=$(printf '%s' "$b1" | sed -n 's/.*"aggregate":\([0-9]*\)}/\1/p')
s2=$(printf '%s' "$b2" | sed -n 's/.*"aggregate":\([0-9]*\)}/\1/p')
[ "$((${s1:-0} + ${s2:-0}))" = 231 ] && ok "leader: the two batches add up to the sum of $M (231)" \
	|| fail "leader: $s1 + $s2 is not 231"
show_on_failure fix1.err fix2.err

# ---- continuation ----
J=$(hexr 16)
req=$("$TB_WORK/agg_job" init "$T_STEP" "$VK_STEP" "$HL" "$T" 2 2> ids) || die "agg_job init"
R1=$(sed -n 1p ids); R2=$(sed -n 2p ids)
got=$(send PUT "$(job_url "$T_STEP" "$J")" $INIT "$req")
expect "continue: the init prepares both reports" "$(states "$got")" '^continue,continue$'
c1=$("$TB_WORK/agg_job" continue 1)
got=$(send POST "$(job_url "$T_STEP" "$J")" $CONT "$c1")
expect "continue: step 1 of a finished Prio3 job: an empty AggregationJobResp" "$got ($(states "$got"))" '^200 [0-9a-f]+ \(empty\)$'
again=$(send POST "$(job_url "$T_STEP" "$J")" $CONT "$c1")
[ "$again" = "$got" ] && ok "continue: step 1 retried gets the same answer" || fail "continue: retry: $again"
got=$(send POST "$(job_url "$T_STEP" "$J")" $CONT "$("$TB_WORK/agg_job" continue 1 "$R1")")
expect "continue: another request for step 1: 409" "$got" '^409 invalidMessage'
got=$(send POST "$(job_url "$T_STEP" "$J")" $CONT "$("$TB_WORK/agg_job" continue 3)")
expect "continue: step 3 after step 1: stepMismatch" "$got" '^400 stepMismatch'
got=$(send POST "$(job_url "$T_STEP" "$J")" $CONT "$("$TB_WORK/agg_job" continue 0)")
expect "continue: step 0: invalidMessage" "$got" '^400 invalidMessage'
got=$(send POST "$(job_url "$T_STEP" "$J")" $CONT "$("$TB_WORK/agg_job" continue 2 "$R2")")
expect "continue: a report of the job that finished in the init: invalidMessage" "$got" '^400 invalidMessage .*not waiting'
got=$(send POST "$(job_url "$T_STEP" "$J")" $CONT "$("$TB_WORK/agg_job" continue 2 "$(hexr 16)")")
expect "continue: a report not in the job: invalidMessage" "$got" '^400 invalidMessage .*not in the job'
got=$(send POST "$(job_url "$T_STEP" "$J")" $CONT "$("$TB_WORK/agg_job" continue 2 "$R2" "$R1")")
expect "continue: reports out of order: invalidMessage" "$got" '^400 invalidMessage'
got=$(send POST "$(job_url "$T_STEP" "$J")" $CONT "$("$TB_WORK/agg_job" continue 2)")
expect "continue: the refused requests left the job at step 1: step 2 is processed" "$got ($(states "$got"))" \
	'^200 [0-9a-f]+ \(empty\)$'
got=$(send POST "$(job_url "$T_STEP" "$(hexr 16)")" $CONT "$c1")
expect "continue: an unknown job: unrecognizedAggregationJob" "$got" '^404 unrecognizedAggregationJob'
got=$(send POST "$(job_url "$T_STEP" "$J")" application/octet-stream "$c1")
expect "continue: a wrong media type: 415" "$got" '^415 invalidMessage'
got=$(send POST "$(job_url "$T_STEP" "$J")" $CONT "00")
expect "continue: a body that does not decode: invalidMessage" "$got" '^400 invalidMessage'

# ---- DELETE ----
got=$(send DELETE "$(job_url "$T_STEP" "$J")" $CONT)
expect "delete: 204" "$got" '^204 $'
got=$(send POST "$(job_url "$T_STEP" "$J")" $CONT "$("$TB_WORK/agg_job" continue 3)")
expect "delete: the job's continuation is unrecognizedAggregationJob" "$got" '^404 unrecognizedAggregationJob'
got=$(send PUT "$(job_url "$T_STEP" "$J")" $INIT "$req")
expect "delete: the same init again counts nothing twice" "$(states "$got")" '^reject report_replayed,reject report_replayed$'

# ---- each report's own PrepareError at the helper; the job's others are prepared ----
for case in unknown_config:hpke_unknown_config_id bad_ciphertext:hpke_decrypt_error bad_plaintext:invalid_message; do
	req=$("$TB_WORK/agg_job" init --first "${case%%:*}" "$T_ERR" "$VK_ERR" "$HL" "$T" 2 2> /dev/null) || die "agg_job init"
	got=$(send PUT "$(job_url "$T_ERR" "$(hexr 16)")" $INIT "$req")
	expect "a helper share ${case%%:*}: ${case#*:} for that report only" "$(states "$got")" "^reject ${case#*:},continue\$"
done
req=$("$TB_WORK/agg_job" init "$T_EXP" "$VK_EXP" "$HL" "$T" 1 2> /dev/null) || die "agg_job init"
got=$(send PUT "$(job_url "$T_EXP" "$(hexr 16)")" $INIT "$req")
expect "a report after the task's expiration: task_expired" "$(states "$got")" '^reject task_expired$'

# ---- aggregate shares: refusals change nothing; a collected batch refuses reports ----
# AggregateShareReq for a time_interval batch: asr START DURATION COUNT REPORT-ID-HEX... (checksum of those ids)
asr() {
	python3 - "$@" <<'PY'
import hashlib, sys
s, d, c = map(int, sys.argv[1:4])
x = bytes(32)
for i in sys.argv[4:]:
    x = bytes(a ^ b for a, b in zip(x, hashlib.sha256(bytes.fromhex(i)).digest()))
print("01" + s.to_bytes(8, "big").hex() + d.to_bytes(8, "big").hex() + "00000000" + c.to_bytes(8, "big").hex() + x.hex())
PY
}
SHARE=application/dap-aggregate-share-req
SURL="${H}tasks/$(b64u "$T_STEP")/aggregate_shares"
got=$(send POST "$SURL" $SHARE "$(asr $((T + 1)) 3600 2 "$R1" "$R2")")
expect "aggregate share: an interval not aligned to time_precision: batchInvalid" "$got" '^400 batchInvalid'
got=$(send POST "$SURL" $SHARE "$(asr "$T" 3600 5 "$R1" "$R2")")
expect "aggregate share: another report count than the helper's: batchMismatch" "$got" '^400 batchMismatch'
got=$(send POST "$SURL" $SHARE "$(asr "$T" 3600 2 "$R1")")
expect "aggregate share: another checksum than the helper's: batchMismatch" "$got" '^400 batchMismatch'
got=$(send POST "$SURL" $SHARE "$(asr "$T" 3600 2 "$R1" "$R2")")
expect "aggregate share: the leader's count and checksum: the share" "$got" '^200 [0-9a-f]+$'
req=$("$TB_WORK/agg_job" init "$T_STEP" "$VK_STEP" "$HL" "$T" 1 2> /dev/null) || die "agg_job init"
got=$(send PUT "$(job_url "$T_STEP" "$(hexr 16)")" $INIT "$req")
expect "a report into a collected batch: batch_collected" "$(states "$got")" '^reject batch_collected$'
CREQ="01$(printf '%016x%016x' $((T + 1)) 3600)00000000"
got=$(TOKEN=$CTOK send PUT "${L}tasks/$(b64u "$T_STEP")/collection_jobs/$(b64u "$(hexr 16)")" application/dap-collect-req "$CREQ")
expect "collection: an interval not aligned to time_precision: batchInvalid" "$got" '^400 batchInvalid'
got=$(curl -sS --cacert root.pem "${L}hpke_config?task_id=")
expect "hpke_config with an empty task_id: missingTaskID" "$got" '"type":"urn:ietf:params:ppm:dap:error:missingTaskID"'

# ---- the leader: reports the helper's answer leaves out are report_dropped ----
python3 - "$FP" <<'PY' > fake.log 2>&1 &
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_PUT(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "application/dap-aggregation-job-resp")
        self.send_header("Content-Length", "4")
        self.end_headers()
        self.wfile.write(b"\0\0\0\0")
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
track $!
got=$(node "$src/client.mjs" lists "$L" "http://127.0.0.1:$FP/" "$(b64u "$T_DROP")" '{"type":"count"}' 3600 true \
	"$(curl -sS --cacert root.pem "${L}hpke_config" | od -An -v -tx1 | tr -d ' \n')" "$HL")
expect "report_dropped: the upload is accepted" "$got" '^ok$'
for _ in $(seq 1 50); do
	state=$(python3 - "$TB_WORK/data/trustbox.db" "$T_DROP" <<'PY'
import sqlite3, sys
db = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
print(db.execute("SELECT group_concat(state || ':' || ifnull(prep_error, '-')) FROM dap_reports WHERE task_id=?",
                 (bytes.fromhex(sys.argv[2]),)).fetchone()[0])
PY
	)
	[ "$state" = "3:2" ] && break
	sleep 0.2
done
expect "report_dropped: the leader fails the report the helper did not answer for (PrepareError 2)" "$state" '^3:2$'
show_on_failure fake.log

tb_stop && ok "trustbox stops cleanly" || fail "trustbox exit status"
finish
