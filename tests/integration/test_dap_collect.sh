#!/bin/bash
# The whole DAP-09 pipeline with the real client: @divviup/dap 0.9.1
# (divviup-ts) uploads random measurements over HTTPS to trustbox's leader;
# the leader aggregates them with its helper (the same process, under
# /dap/helper/); `trustbox dap collect` (the collector) gets, opens and
# unshards the aggregate, which must be exactly the sum of what was uploaded,
# for each of the four Prio3 types. Then:
#   - a report whose shares encode a measurement that is no 0 or 1 (made by
#     tests/integration/dap/bad_report.c, properly sealed) fails with
#     vdaf_prep_error at the helper, alone: the others of its job are
#     collected
#   - fixed_size (max_batch_size 4): 8 uploads fill two batches; two
#     --current-batch collections get 4 reports each, different batch ids,
#     and sums that add up to the total; --batch-id of a collected batch:
#     batchQueriedTooManyTimes; no batch ready: the job stays pending
#   - collecting the same batch again: batchQueriedTooManyTimes; an
#     overlapping interval: batchOverlap; fewer reports than min_batch_size:
#     invalidBatchSize; a wrong collector token: unauthorizedRequest; a wrong
#     aggregator token at the helper: unauthorizedRequest; an upload into a
#     collected batch: reportRejected
#   - kill -9 while reports are being aggregated (small jobs, several kills),
#     restart: the collected sum still equals the acknowledged uploads
#     (nothing lost, nothing counted twice)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/dap/common.sh"
: "${TB_BUILD_DIR:?}"
need python3
need openssl
need curl

src="$TB_SOURCE_DIR/tests/integration/dap"
divviup_ts

# The collector's X25519 key: its HpkeConfig (id 1, X25519, HKDF-SHA256,
# AES-128-GCM) for the tasks, and divviup's collector_credential.json.
collector_key
CTOK=$(rid 16)
ATOK=$(rid 16)
credential cred.json "$CTOK"
credential wrong.json "$(rid 16)"

T_COUNT=$(rid 32); T_SUM=$(rid 32); T_VEC=$(rid 32); T_HIST=$(rid 32); T_MIN=$(rid 32); T_KILL=$(rid 32)
T_BAD=$(rid 32); T_FIX=$(rid 32); T_DP=$(rid 32)
P=$(free_port)
task() { # task ID VDAF-FIELDS [MORE]
	echo "    { id = \"$1\", $2, verify_key = \"$(rid 16)\", min_batch_size = ${3:-2},"
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
$(task "$T_COUNT" 'vdaf = "count"')
$(task "$T_SUM" 'vdaf = "sum", bits = 8')
$(task "$T_VEC" 'vdaf = "sumvec", bits = 4, length = 5, chunk_length = 3')
$(task "$T_HIST" 'vdaf = "histogram", length = 10, chunk_length = 3')
$(task "$T_MIN" 'vdaf = "count"' 100)
$(task "$T_KILL" 'vdaf = "sum", bits = 8')
$(task "$T_BAD" 'vdaf = "count"')
$(task "$T_FIX" 'vdaf = "sum", bits = 8, query = "fixed_size", max_batch_size = 4' 4)
$(task "$T_DP" 'vdaf = "histogram", length = 10, chunk_length = 3, dp_epsilon = 0.5')
  },
}
LUA
tb_start t.lua
"$TRUSTBOX" root -c t.lua > root.pem || die "trustbox root"
export NODE_EXTRA_CA_CERTS="$TB_WORK/root.pem"
L="https://127.0.0.1:$P/dap/leader/"
H="https://127.0.0.1:$P/dap/helper/"
js() { node "$src/client.mjs" "$@"; }

now=$(date +%s)
START=$((now / 3600 * 3600 - 3600))
DUR=7200
collect() { # collect TASK VDAF-FLAGS... [-- EXTRA]: the collector's JSON on stdout
	local t=$1; shift
	"$TRUSTBOX" dap collect -c t.lua --task-id "$t" --leader "$L" --cacert root.pem \
		--batch-interval-start "$START" --batch-interval-duration "$DUR" --timeout 60 "$@"
}

# ---- random measurements, their exact sums ----
. "$src/rounds.sh"
dap_seed
round Prio3Count "$T_COUNT" '{"type":"count"}' count --vdaf count
round Prio3Sum "$T_SUM" '{"type":"sum","bits":8}' sum --vdaf sum --bits 8
round Prio3SumVec "$T_VEC" '{"type":"sumVec","bits":4,"length":5,"chunkLength":3}' sumvec \
	--vdaf sumvec --bits 4 --length 5 --chunk-length 3
round Prio3Histogram "$T_HIST" '{"type":"histogram","length":10,"chunkLength":3}' histogram \
	--vdaf histogram --length 10 --chunk-length 3

# ---- DP noise: both aggregate shares noised, the count exact ----
make histogram
got=$(js upload "$L" "$H" "$T_DP" '{"type":"histogram","length":10,"chunkLength":3}' 3600 "$M")
[ "$(printf '%s\n' "$got" | grep -c '^ok$')" = "$N" ] || fail "dp: uploads: $got"
got=$(collect "$T_DP" --vdaf histogram --length 10 --chunk-length 3 --collector-credential-file cred.json 2> dp.err) || true
expect "dp: the report count is exact" "$got" "^\{\"report_count\":$N,"
python3 - "$got" "$WANT" <<'PY' && ok "dp: the aggregate is noised, within bounds of the exact $WANT" || fail "dp: $got vs exact $WANT"
import json, sys
got = json.loads(sys.argv[1])["aggregate"]; want = json.loads(sys.argv[2])
# Field128 values: noise below zero wraps; read values above half the field as negative.
p = 2**66 * 4611686018427387897 + 1
got = [g - p if g > p // 2 else g for g in got]
diff = [g - w for g, w in zip(got, want)]
print("noise per bucket:", diff)
# epsilon 0.5 on each of two shares: all ten buckets noiseless has probability ~1e-12;
# any bucket off by 80 or more has probability below 1e-15
assert len(got) == 10 and any(diff) and all(abs(d) < 80 for d in diff), diff
PY
show_on_failure dp.err

# ---- a corrupted input share: vdaf_prep_error for that report only ----
link_tool "$src/bad_report.c" "$TB_WORK/bad_report"
hexof() { curl -sS --cacert root.pem "$1" | od -An -v -tx1 | tr -d ' \n'; }
tid_hex=$(python3 -c "import base64,sys;print(base64.urlsafe_b64decode(sys.argv[1]+'=').hex())" "$T_BAD")
bad=$("$TB_WORK/bad_report" "$tid_hex" "$(hexof "${L}hpke_config")" "$(hexof "${H}hpke_config")" \
	$((now / 3600 * 3600)) 2) || die "bad_report"
got=$(js upload "$L" "$H" "$T_BAD" '{"type":"count"}' 3600 '[true,false]')
[ "$(printf '%s\n' "$got" | grep -c '^ok$')" = 2 ] || fail "uploads with the bad one: $got"
got=$(js raw "${L}tasks/$T_BAD/reports" application/dap-report "$bad")
expect "the corrupted report is accepted at upload (only the VDAF can tell)" "$got" "^200 "
got=$(js upload "$L" "$H" "$T_BAD" '{"type":"count"}' 3600 '[true]')
got=$(collect "$T_BAD" --vdaf count --collector-credential-file cred.json 2> bad.err) || true
expect "the corrupted report alone is left out: 3 reports, count 2" "$got" '^\{"report_count":3,.*"aggregate":2\}$'
errs=$(python3 - "$TB_WORK/data/trustbox.db" "$T_BAD" <<'PY'
import base64, sqlite3, sys
tid = base64.urlsafe_b64decode(sys.argv[2] + "=")
db = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
print(db.execute("SELECT group_concat(state || ':' || ifnull(prep_error, '-')) FROM"
                 " (SELECT state, prep_error FROM dap_reports WHERE task_id=? ORDER BY state)", (tid,)).fetchone()[0])
PY
)
expect "the leader records vdaf_prep_error (5) for it" "$errs" "^2:-,2:-,2:-,3:5$"

# ---- fixed_size ----
N=8
make sum
N=6
got=$(js upload "$L" "$H" "$T_FIX" '{"type":"sum","bits":8}' 3600 "$M")
[ "$(printf '%s\n' "$got" | grep -c '^ok$')" = 8 ] || fail "fixed_size uploads: $got"
fx() { "$TRUSTBOX" dap collect -c t.lua --task-id "$T_FIX" --leader "$L" --cacert root.pem --vdaf sum --bits 8 \
	--collector-credential-file cred.json --timeout "${TO:-60}" "$@"; }
b1=$(fx --current-batch 2> fix1.err) || true
b2=$(fx --current-batch 2> fix2.err) || true
expect "fixed_size: first current batch holds 4 reports" "$b1" '^\{"report_count":4,.*"batch_id":"[A-Za-z0-9_-]{43}","aggregate":[0-9]+\}$'
expect "fixed_size: second current batch holds 4 reports" "$b2" '^\{"report_count":4,.*"batch_id":"[A-Za-z0-9_-]{43}","aggregate":[0-9]+\}$'
id1=$(printf '%s' "$b1" | sed -n 's/.*"batch_id":"\([^"]*\)".*/\1/p')
id2=$(printf '%s' "$b2" | sed -n 's/.*"batch_id":"\([^"]*\)".*/\1/p')
s1=$(printf '%s' "$b1" | sed -n 's/.*"aggregate":\([0-9]*\)}/\1/p')
s2=$(printf '%s' "$b2" | sed -n 's/.*"aggregate":\([0-9]*\)}/\1/p')
[ -n "$id1" ] && [ "$id1" != "$id2" ] && ok "fixed_size: two different batches" || fail "fixed_size: batch ids '$id1' '$id2'"
[ "$((${s1:-0} + ${s2:-0}))" = "$WANT" ] && ok "fixed_size: the two batches add up to the sum of $M ($WANT)" \
	|| fail "fixed_size: $s1 + $s2 is not $WANT"
out=$(fx --batch-id "$id1" 2>&1) && fail "a collected batch collected again"
expect "fixed_size: a collected batch id again: batchQueriedTooManyTimes" "$out" "batchQueriedTooManyTimes"
out=$(TO=3 fx --current-batch 2>&1) && fail "current_batch with no batch ready succeeded"
expect "fixed_size: no batch ready: the job stays pending" "$out" "still pending"
show_on_failure fix1.err fix2.err

# ---- refusals ----
out=$(collect "$T_COUNT" --vdaf count --collector-credential-file cred.json 2>&1) && fail "second collection succeeded"
expect "the same batch again: batchQueriedTooManyTimes" "$out" "batchQueriedTooManyTimes"
out=$(START=$((START + 3600)) DUR=3600 collect "$T_COUNT" --vdaf count --collector-credential-file cred.json 2>&1) \
	&& fail "overlapping collection succeeded"
expect "an overlapping interval: batchOverlap" "$out" "batchOverlap"
got=$(js upload "$L" "$H" "$T_COUNT" '{"type":"count"}' 3600 '[true]')
expect "an upload into a collected batch: reportRejected" "$got" "^error reportRejected 400 $T_COUNT$"
js upload "$L" "$H" "$T_MIN" '{"type":"count"}' 3600 '[true,true,true]' > /dev/null
out=$(collect "$T_MIN" --vdaf count --collector-credential-file cred.json 2>&1) && fail "collection below min_batch_size succeeded"
expect "fewer reports than min_batch_size: invalidBatchSize" "$out" "invalidBatchSize"
out=$(collect "$T_SUM" --vdaf sum --bits 8 --collector-credential-file wrong.json 2>&1) && fail "collection with a wrong token succeeded"
expect "a wrong collector token: unauthorizedRequest" "$out" "HTTP 403 .*unauthorizedRequest"
code=$(curl -sS --cacert root.pem -o share.json -w '%{http_code}' -X POST -H "DAP-Auth-Token: $(rid 16)" \
	-H "Content-Type: application/dap-aggregate-share-req" --data-binary @/dev/null "${H}tasks/$T_SUM/aggregate_shares")
expect "a wrong aggregator token at the helper: unauthorizedRequest" "$code $(cat share.json)" "^403 .*unauthorizedRequest"

code=$(curl -sS --cacert root.pem -o del.json -w '%{http_code}' -X DELETE -H "DAP-Auth-Token: $ATOK" \
	"${H}tasks/$T_SUM/aggregation_jobs/$(rid 16)")
expect "DELETE of an unknown aggregation job: unrecognizedAggregationJob" "$code $(cat del.json)" "^404 .*unrecognizedAggregationJob"
code=$(curl -sS --cacert root.pem -o del.json -w '%{http_code}' -X DELETE -H "DAP-Auth-Token: $(rid 16)" \
	"${H}tasks/$T_SUM/aggregation_jobs/$(rid 16)")
expect "DELETE of an aggregation job with a wrong token: unauthorizedRequest" "$code $(cat del.json)" "^403 .*unauthorizedRequest"

# ---- kill -9 during aggregation ----
acked=0; want=0
for r in 1 2 3; do
	make sum
	got=$(js upload "$L" "$H" "$T_KILL" '{"type":"sum","bits":8}' 3600 "$M")
	acked_add "$got"
	sleep "0.$((RANDOM % 3))"
	tb_stop KILL || true
	tb_start t.lua
done
got=$(collect "$T_KILL" --vdaf sum --bits 8 --collector-credential-file cred.json 2> kill.err) || true
expect "after 3 kill -9 during aggregation: $acked reports, sum $want" "$got" "^\{\"report_count\":$acked,.*\"aggregate\":$want\}$"
show_on_failure bad.err kill.err Prio3Count.err Prio3Sum.err Prio3SumVec.err Prio3Histogram.err
tb_stop && ok "trustbox stops cleanly" || fail "trustbox exit status"
finish
