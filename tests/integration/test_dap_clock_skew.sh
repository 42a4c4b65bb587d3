#!/bin/bash
# A report the leader accepted and the helper finds too early is not lost.
# Leader and helper are two `trustbox run` processes; the leader's task
# tolerates an hour of clock skew, the helper's none, as when the helper's
# clock is behind the leader's (or a clock was stepped back, as the
# reliability soak does). `trustbox dap upload` sends reports a few seconds
# in the future: the leader acknowledges them, the helper answers
# report_too_early to the first aggregation jobs; the leader keeps them
# waiting (not failed) and aggregates them once the helper's clock has
# caught up, so `trustbox dap collect` counts every acknowledged report.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/dap/common.sh"
need python3
need openssl

collector_key
CTOK=$(rid 16); ATOK=$(rid 16); VK=$(rid 16); T=$(rid 32)
credential cred.json "$CTOK"
PL=$(free_port); PH=$(free_port)
L="https://127.0.0.1:$PL/dap/leader/"
H="https://127.0.0.1:$PH/dap/helper/"
cfg() { # cfg ROLE DIR PORT SKEW [EXTRA]
	cat <<LUA
core { data_dir = "$TB_WORK/$2", log_level = "warn" }
if acme then acme { enabled = false } end
if ctlog then ctlog { enabled = false } end
if dns then dns { enabled = false } end
listen { name = "https", address = "127.0.0.1", port = $3, tls = true }
dap { role = "$1", ${5:-}
  tasks = { { id = "$T", role = "$1", vdaf = "count", verify_key = "$VK", min_batch_size = 1,
    time_precision = 1, tolerable_clock_skew = $4, leader_url = "$L", helper_url = "$H",
    aggregator_auth_token = "$ATOK", collector_auth_token = "$CTOK", collector_hpke_config = "$CCFG" } } }
LUA
}
cfg helper helper "$PH" 0 > h.lua
"$TRUSTBOX" root -c h.lua > helper-root.pem || die "trustbox root (helper)"
cfg leader leader "$PL" 3600 "aggregation_period_ms = 100, helper_ca_file = \"$TB_WORK/helper-root.pem\"," > l.lua
"$TRUSTBOX" root -c l.lua > leader-root.pem || die "trustbox root (leader)"
cat leader-root.pem helper-root.pem > roots.pem

"$TRUSTBOX" run -c h.lua > helper.out 2> helper.err &
HPID=$!
track "$HPID"
for _ in $(seq 1 100); do grep -q 'root CA SHA-256' helper.out && break; sleep 0.1; done
tb_start l.lua
show_on_failure helper.err

now=$(date +%s)
when=$((now + 4))
for m in 1 1 0; do
	out=$("$TRUSTBOX" dap upload --task-id "$T" --leader "$L" --helper "$H" --cacert roots.pem \
		--vdaf count --time-precision 1 --time "$when" --measurement $m 2>&1) ||
		die "upload of a report 4 s ahead (the leader tolerates an hour): $out"
done
ok "the leader acknowledged 3 reports 4 s ahead of its clock"
# The helper refuses them until its clock reaches their time.
for _ in $(seq 1 50); do grep -q 'too early' run.err && break; sleep 0.1; done
expect "the helper found the reports too early" "$(cat run.err)" 'helper found [0-9]+ report\(s\) too early'
got=$("$TRUSTBOX" dap collect -c l.lua --task-id "$T" --leader "$L" --cacert leader-root.pem --vdaf count \
	--collector-credential-file cred.json --batch-interval-start $((now - 60)) --batch-interval-duration 120 \
	--timeout 60 2> collect.err) || true
show_on_failure collect.err
expect "every acknowledged report is counted once the helper's clock caught up" "$got" '"report_count":3,.*"aggregate":2'
tb_stop || fail "leader exit status"
stop_pid "$HPID"
finish
