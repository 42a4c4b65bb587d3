#!/usr/bin/env bash
# A challenge answered "processing" reaches its outcome even when the first
# write of that outcome fails (found by the soak: during store write errors
# the authorization stayed pending for good and clients polled until they
# gave up). Needs a build with TB_FAULT_INJECTION (ctest soak.acme_outcome):
# the validation is delayed 1.5 s (lab switch), every store write fails
# meanwhile, then the store works again; the authorization must become valid.
set -euo pipefail
. "$TB_SOURCE_DIR/tests/integration/lib.sh"
need python3
need_py cryptography python3-cryptography
grep -aq store_write_error "$TRUSTBOX" || die "$TRUSTBOX has no fault injection (-DTB_FAULT_INJECTION=ON)"
P=$(free_port)
cat > t.lua <<EOF
core { data_dir = "$TB_WORK/data", log_level = "warn" }
listen { name = "https", address = "127.0.0.1", port = $P, tls = true }
if ctlog then ctlog { enabled = false } end
if dns then dns { enabled = false } end
if dap then dap { enabled = false } end
acme { lab_always_valid = true, lab_validation_delay_ms = 1500 }
EOF
: > faults
TB_FAULT_FILE=$TB_WORK/faults tb_start t.lua
"$TRUSTBOX" root -c t.lua > root.pem || die "trustbox root"
out=$(ACME_DIR=https://127.0.0.1:$P/dir ACME_CA=root.pem FAULTS=$TB_WORK/faults LOG=$TB_WORK/run.err \
	python3 - "$TB_SOURCE_DIR/tests/integration" <<'PY' 2>&1
import os, sys, time
sys.path.insert(0, sys.argv[1])
import test_acme_client as ac
c = ac.Client()
c.register()
r = c.post(c.dir["newOrder"], {"identifiers": [{"type": "dns", "value": "outcome.lab.test"}]})
az = r.json["authorizations"][0]
a = c.post(az, None).json
ch = [x for x in a["challenges"] if x["type"] == "http-01"][0]
r = c.post(ch["url"], {})
print("challenge:", r.status, r.json.get("status"))
# Every store write fails while the validation runs (it is delayed 1.5 s).
open(os.environ["FAULTS"], "w").write("store_write_error 1\n")
t0 = time.time()
while "storing the outcome failed" not in open(os.environ["LOG"]).read() and time.time() - t0 < 10:
    time.sleep(0.1)
open(os.environ["FAULTS"], "w").write("")
time.sleep(0.3)
a = ac.poll(c, az, ("valid", "invalid"), timeout=15)
print("authorization:", a.json.get("status"))
PY
) || true
printf '%s\n' "$out"
expect "the challenge was answered processing" "$out" '^challenge: 200 processing$'
expect "the first write of the outcome failed" "$(cat run.err)" 'storing the outcome failed'
expect "the authorization became valid once the store worked again" "$out" '^authorization: valid$'
tb_stop || fail "exit status"
finish
