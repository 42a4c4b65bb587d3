#!/usr/bin/env bash
# An order whose certificate cannot be stored does not stay "processing" for
# good: finalize fails it (serverInternal) and the client sees it invalid.
# Needs a build with TB_FAULT_INJECTION (ctest soak.acme_finalize_store): the
# CT log sequences every 3 s, so finalize waits for its SCT with the order
# durably processing; meanwhile every store write fails (so the log refuses
# the precertificate, and the certificate's write fails), and commits are
# slowed so that the store works again before the order is failed.
set -euo pipefail
. "$TB_SOURCE_DIR/tests/integration/lib.sh"
need python3
need_py cryptography python3-cryptography
grep -aq store_write_error "$TRUSTBOX" || die "$TRUSTBOX has no fault injection (-DTB_FAULT_INJECTION=ON)"
P=$(free_port)
cat > t.lua <<EOF
core { data_dir = "$TB_WORK/data", log_level = "warn" }
listen { name = "https", address = "127.0.0.1", port = $P, tls = true }
if dns then dns { enabled = false } end
if dap then dap { enabled = false } end
ctlog { period_ms = 3000 }
acme { lab_always_valid = true }
EOF
: > faults
TB_FAULT_FILE=$TB_WORK/faults tb_start t.lua
"$TRUSTBOX" root -c t.lua > root.pem || die "trustbox root"
out=$(ACME_DIR=https://127.0.0.1:$P/dir ACME_CA=root.pem FAULTS=$TB_WORK/faults LOG=$TB_WORK/run.err \
	python3 - "$TB_SOURCE_DIR/tests/integration" <<'PY' 2>&1
import os, sys, threading, time
sys.path.insert(0, sys.argv[1])
import test_acme_client as ac
c = ac.Client()
c.register()
poller = ac.Client(key=c.key)
poller.kid = c.kid
log = os.environ["LOG"]
for attempt in range(3):
    name = "fin%d.lab.test" % attempt
    r = c.post(c.dir["newOrder"], {"identifiers": [{"type": "dns", "value": name}]})
    order_url, order = r.h("Location"), r.json
    for az in order["authorizations"]:
        a = c.post(az, None).json
        ch = [x for x in a["challenges"] if x["type"] == "http-01"][0]
        c.post(ch["url"], {})
        ac.poll(c, az, ("valid",))
    _, csr = ac.make_csr([name])
    fin = {}
    t = threading.Thread(target=lambda: fin.update(r=c.post(order["finalize"], {"csr": ac.b64u(csr)})))
    t.start()
    while poller.post(order_url, None).json.get("status") != "processing" and t.is_alive():
        time.sleep(0.02)
    seen = open(log).read().count("storing the certificate failed")
    open(os.environ["FAULTS"], "w").write("store_write_error 1\nstore_commit_sleep_ms 500\n")
    t0 = time.time()
    while open(log).read().count("storing the certificate failed") == seen and t.is_alive() and time.time() - t0 < 15:
        time.sleep(0.02)
    failed = open(log).read().count("storing the certificate failed") > seen
    open(os.environ["FAULTS"], "w").write("")
    t.join()
    if not failed:
        print("attempt %d: the certificate was stored before the fault; again" % attempt)
        continue
    st = None
    t0 = time.time()
    while time.time() - t0 < 15:
        st = poller.post(order_url, None).json.get("status")
        if st in ("valid", "invalid"):
            break
        time.sleep(0.2)
    print("order:", st)
    break
PY
) || true
printf '%s\n' "$out"
expect "the certificate's write failed" "$(cat run.err)" 'storing the certificate failed'
expect "the order is invalid, not processing for good" "$out" '^order: invalid$'
tb_stop || fail "exit status"
finish
