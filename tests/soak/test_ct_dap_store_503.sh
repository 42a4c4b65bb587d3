#!/usr/bin/env bash
# While the store cannot write (disk full, an I/O error) the CT log's
# add-chain and the DAP leader's upload answer 503 with Retry-After, in the
# protocol's error body (CT: text, DAP: a problem document), and the same
# request succeeds once the store writes again: a client that retries loses
# nothing. (The soak saw 500s here, which some clients do not retry.) Needs a
# build with TB_FAULT_INJECTION (ctest soak.ct_dap_store_503): every store
# write fails (`store_write_error 1`) while one add-chain and one upload are
# sent, then the fault is cleared and both are sent again.
set -euo pipefail
. "$TB_SOURCE_DIR/tests/integration/lib.sh"
need python3
need_py cryptography python3-cryptography
need curl
grep -aq store_write_error "$TRUSTBOX" || die "$TRUSTBOX has no fault injection (-DTB_FAULT_INJECTION=ON)"
HP=$(free_port); PP=$(free_port)
W=$TB_WORK
python3 "$TB_SOURCE_DIR/tests/soak/load.py" setup "$W" || die "load.py setup"
cat > t.lua <<EOF
core { data_dir = "$W/data", log_level = "warn" }
listen { name = "https", address = "127.0.0.1", port = $HP, tls = true }
listen { name = "http", address = "127.0.0.1", port = $PP, tls = false }
if dns then dns { enabled = false } end
acme { lab_always_valid = true }
ctlog { period_ms = 100, logs = { { name = "lab", roots = { "$W/ct/root.pem" },
  submission_url = "http://127.0.0.1:$PP/ct/lab/" } } }
dap { aggregation_period_ms = 200 }
EOF
: > faults
TB_FAULT_FILE=$W/faults tb_start t.lua
"$TRUSTBOX" root -c t.lua > root.pem || die "trustbox root"
TASK=$(printf '%s\n' "$TB_BANNER" | sed -n 's/.*DAP demo task *\([A-Za-z0-9_-]*\).*/\1/p')
[ -n "$TASK" ] || die "no DAP demo task in the banner"
CT_URL=http://127.0.0.1:$PP/ct/lab/ python3 - "$TB_SOURCE_DIR/tests/soak" "$W" > chain.json <<'PY' || die "no chain"
import sys
sys.path.insert(0, sys.argv[1])
sys.argv = ["load.py", "run", sys.argv[2]]
import load
sys.stdout.write(load.CT().chain("store-503.soak.test").decode())
PY
env -u TB_FAULT_FILE "$TRUSTBOX" dap upload --task-id "$TASK" --leader "https://127.0.0.1:$HP/dap/leader/" \
	--helper "https://127.0.0.1:$HP/dap/helper/" --cacert root.pem --vdaf histogram --length 4 \
	--chunk-length 2 --time-precision 300 --measurement 1 --out report.bin || die "dap upload --out"

send() { # send TAG: one add-chain and one upload; TAG.ct.h/.b, TAG.dap.h/.b
	curl -s -m 20 -D "$1.ct.h" -o "$1.ct.b" -H 'Content-Type: application/json' \
		--data-binary @chain.json "http://127.0.0.1:$PP/ct/lab/ct/v1/add-chain" || true
	curl -s --http1.1 -m 20 -D "$1.dap.h" -o "$1.dap.b" --cacert root.pem -X PUT \
		-H 'Content-Type: application/dap-report' --data-binary @report.bin \
		"https://127.0.0.1:$HP/dap/leader/tasks/$TASK/reports" || true
}
printf 'store_write_error 1\n' > faults
sleep 0.5
send failing
: > faults
sleep 0.5
send after
for f in failing.ct failing.dap after.ct after.dap; do echo "== $f"; cat "$f.h" "$f.b"; echo; done
expect "add-chain during write errors: 503" "$(head -1 failing.ct.h)" '^HTTP/1.1 503'
expect "add-chain during write errors: Retry-After" "$(cat failing.ct.h)" '^Retry-After: [0-9]'
expect "add-chain during write errors: the reason" "$(cat failing.ct.b)" 'could not store'
expect "upload during write errors: 503" "$(head -1 failing.dap.h)" '^HTTP/1.1 503'
expect "upload during write errors: Retry-After" "$(cat failing.dap.h)" '^Retry-After: [0-9]'
expect "upload during write errors: a problem document" "$(cat failing.dap.h)" '^Content-Type: application/problem\+json'
expect "upload during write errors: status 503 in the document" "$(cat failing.dap.b)" '"status":503'
expect "the same add-chain once the store writes: 200 and an SCT" "$(head -1 after.ct.h) $(cat after.ct.b)" '^HTTP/1.1 200 .*"signature"'
expect "the same upload once the store writes: 200" "$(head -1 after.dap.h)" '^HTTP/1.1 200'
expect "write errors were injected" "$(cat run.err)" 'fault injection: store_write_error'
tb_stop || fail "exit status"
finish
