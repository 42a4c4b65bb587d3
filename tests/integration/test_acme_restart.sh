#!/usr/bin/env bash
# What a killed CA left "processing" does not stay so for good (found by the
# reliability soak, tests/soak): a restart fails the orders and challenges an
# earlier process left processing (nothing would ever finish them and their
# clients would poll until they gave up), with a serverInternal problem, and
# releases the order's reserved serial. The state a kill -9 leaves between
# the "processing" commit and the outcome is made here with sqlite3 while
# trustbox is down, so the test does not depend on the moment of a kill.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need_py cryptography python3-cryptography
need sqlite3
P=$(free_port)
cat > t.lua <<EOF
core { data_dir = "$TB_WORK/data", log_level = "warn" }
listen { name = "https", address = "127.0.0.1", port = $P, tls = true }
if ctlog then ctlog { enabled = false } end
if dns then dns { enabled = false } end
if dap then dap { enabled = false } end
acme { lab_always_valid = true }
EOF
"$TRUSTBOX" root -c t.lua > root.pem || die "trustbox root"
tb_start t.lua
export ACME_DIR=https://127.0.0.1:$P/dir ACME_CA=$TB_WORK/root.pem
acme() { python3 - "$TB_SOURCE_DIR/tests/integration" "$@" <<'PY'
import json, os, sys
sys.path.insert(0, sys.argv[1])
import test_acme_client as ac
from cryptography.hazmat.primitives import serialization
def client():
    k = ac.Key()
    if os.path.exists("acct.pem"):
        k.k = serialization.load_pem_private_key(open("acct.pem", "rb").read(), None)
        c = ac.Client(key=k)
        c.kid = open("acct.kid").read()
        return c
    c = ac.Client(key=k)
    c.register()
    open("acct.pem", "wb").write(k.k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                 serialization.NoEncryption()))
    open("acct.kid", "w").write(c.kid)
    return c
c = client()
if sys.argv[2] == "orders":
    # one order ready to finalize, one authorization with its challenge not yet answered
    out = {}
    for n in ("fin", "chal"):
        r = c.post(c.dir["newOrder"], {"identifiers": [{"type": "dns", "value": n + ".lab.test"}]})
        out[n] = r.h("Location")
        az = r.json["authorizations"][0]
        out[n + "_authz"] = az
        if n == "fin":
            a = c.post(az, None).json
            ch = [x for x in a["challenges"] if x["type"] == "http-01"][0]
            c.post(ch["url"], {})
            ac.poll(c, az, ("valid",))
        else:
            a = c.post(az, None).json
            out["chal_id"] = [x for x in a["challenges"] if x["type"] == "http-01"][0]["url"].rsplit("/", 1)[1]
    print(json.dumps(out))
else:
    for url in sys.argv[3:]:
        r = c.post(url, None)
        print(url.rsplit("/", 2)[-2], r.json.get("status"), (r.json.get("error") or {}).get("type", ""))
PY
}
urls=$(acme orders) || die "ACME orders"
field() { python3 -c 'import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])' "$urls" "$1"; }
order=$(field fin); chal_authz=$(field chal_authz); chal=$(field chal_id)
oid=${order##*/}
tb_stop || fail "exit status"
# What a kill -9 between the "processing" commits and their outcomes leaves.
sqlite3 data/trustbox.db "UPDATE acme_orders SET status = 'processing' WHERE id = '$oid';
  INSERT INTO acme_certificates(serial, order_id, account, status, created)
    SELECT 'aa01', id, account, 'reserved', created FROM acme_orders WHERE id = '$oid';
  UPDATE acme_challenges SET status = 'processing' WHERE id = '$chal';" || die "sqlite3"
tb_start t.lua
out=$(acme status "$order" "$chal_authz") || die "ACME status"
printf '%s\n' "$out"
expect "the order left processing is invalid, serverInternal" "$out" "^order invalid urn:ietf:params:acme:error:serverInternal$"
expect "the authorization whose challenge was left processing is invalid" "$out" "^authz invalid"
tb_stop || fail "exit status"
expect "the reserved serial is released" "$(sqlite3 data/trustbox.db "SELECT count(*) FROM acme_certificates WHERE serial = 'aa01'")" '^0$'
finish
