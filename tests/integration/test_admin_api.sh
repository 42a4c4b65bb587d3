#!/usr/bin/env bash
# The admin API (docs/api.md) with a real ACME client. lego gets three
# certificates over http-01; then, on the loopback listener without a token:
# the orders list them; an order's timeline has the http-01 attempt with the
# address:port dialled and the SCT; the API's serial is what
# `openssl x509 -serial` prints; the certificate's SCT names the lab log and
# its leaf index, whose CT entry has the same serial. Writes without a token
# are 401, with a wrong one 403, and change nothing (not revoked, not on the
# CRL, lab switches unchanged); with the token the revocation is logged, the
# CRL (openssl crl) lists the serial with its reason and ACME revoke-cert
# answers alreadyRevoked. A validation that fails (nothing listens where the
# CA dials) is recorded with its target and problem. Paging: limit/cursor walk the orders, limit > 500
# is clamped, limit=0 is 400. CT: inclusion proofs of every entry and
# consistency proofs between the checkpoints seen after each issuance verify
# (recomputed in Python, RFC 9162 2.1.3.2 / 2.1.4.2) against the signed
# checkpoints' roots. Then, in a private network namespace, a listener on a
# non-loopback address (10.9.8.7 on lo) next to a loopback one: reads need
# the token there (HTTP/1.1 and HTTP/2), writes need it on both.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

# ---- the non-loopback phase, inside `unshare -n`: $2 = the outer work directory ----
if [ "${1:-}" = inner ]; then
  work=$2
  ip link set lo up
  ip addr add 10.9.8.7/32 dev lo
  cat > "$work/ns.lua" <<LUA
core { data_dir = "$work/data-ns" }
listen { name = "https", address = "127.0.0.1", port = 14000, tls = true }
listen { name = "net", address = "10.9.8.7", port = 14443, tls = true }
dns { enabled = false }
LUA
  "$TRUSTBOX" root -c "$work/ns.lua" > "$work/root-ns.pem" || die "trustbox root (namespace)"
  tok=$("$TRUSTBOX" admin token -c "$work/ns.lua")
  [ "$(stat -c %a "$work/data-ns/admin.token")" = 600 ] || fail "admin.token is not mode 600"
  tb_start "$work/ns.lua"
  # The server certificate names localhost, not 10.9.8.7: reach the address under that name.
  code() { curl -s -o /dev/null -w '%{http_code}' --cacert "$work/root-ns.pem" --resolve localhost:14443:10.9.8.7 "$@"; }
  for path in acme/orders acme/certificates acme/lab ct/logs; do
    [ "$(code "https://127.0.0.1:14000/api/v1/$path")" = 200 ] || fail "$path: loopback listener, no token: not 200"
    [ "$(code "https://localhost:14443/api/v1/$path")" = 401 ] || fail "$path: non-loopback listener, no token: not 401"
    [ "$(code -H "Authorization: Bearer wrong" "https://localhost:14443/api/v1/$path")" = 403 ] ||
      fail "$path: non-loopback listener, wrong token: not 403"
    [ "$(code -H "Authorization: Bearer $tok" "https://localhost:14443/api/v1/$path")" = 200 ] ||
      fail "$path: non-loopback listener, token: not 200"
  done
  out=$(curl -s -i --http2 --cacert "$work/root-ns.pem" --resolve localhost:14443:10.9.8.7 "https://localhost:14443/api/v1/acme/orders")
  expect "HTTP/2 read without a token on the non-loopback listener: 401" "$out" '^HTTP/2 401'
  expect "401 carries WWW-Authenticate: Bearer" "$out" '^www-authenticate: Bearer'
  [ "$(code --http2 -H "Authorization: Bearer $tok" "https://localhost:14443/api/v1/ct/logs")" = 200 ] ||
    fail "HTTP/2 read with the token: not 200"
  [ "$(code --http2 -X PUT -d '{"always_valid":true}' "https://127.0.0.1:14000/api/v1/acme/lab")" = 401 ] ||
    fail "HTTP/2 write on the loopback listener without a token: not 401"
  curl -s --cacert "$work/root-ns.pem" "https://127.0.0.1:14000/api/v1/acme/lab" | grep -q '"always_valid":false' ||
    fail "a refused write changed the lab switch"
  # The status page and health stay open everywhere.
  [ "$(code "https://localhost:14443/api/v1/status")" = 200 ] || fail "/api/v1/status needs no token"
  tb_stop || fail "trustbox exited non-zero (namespace)"
  finish
fi

need lego
need openssl
need curl
need python3
[ "$(id -u)" = 0 ] || skip "needs root for the network namespace of the non-loopback listener"
need unshare util-linux
need ip iproute2
work=$TB_WORK

https_port=$(free_port); http01_port=$(free_port); alpn_port=$(free_port)
cat > cfg.lua <<LUA
core { data_dir = "$work/data" }
listen { name = "https", address = "127.0.0.1", port = $https_port, tls = true }
dns { enabled = false }
acme { http01_port = $http01_port, tlsalpn01_port = $alpn_port }
LUA
"$TRUSTBOX" root -c cfg.lua > root.pem || die "trustbox root"
tb_start cfg.lua
tok=$("$TRUSTBOX" admin token -c cfg.lua)
[ ${#tok} = 43 ] || fail "token is not 43 base64url characters: $tok"
base="https://127.0.0.1:$https_port"
api="$base/api/v1"
get() { curl -sf --cacert root.pem "$@"; }
code() { curl -s -o /dev/null -w '%{http_code}' --cacert root.pem "$@"; }
js() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

lg() {
  LEGO_CA_CERTIFICATES="$work/root.pem" lego --server "$base/dir" --accept-tos --email a@b.test --path "$work/lego" "$@"
}
checkpoints=()
for name in b c d; do
  lg --domains "$name.lab.test" --http --http.port "127.0.0.1:$http01_port" run > "lego-$name.out" 2>&1 ||
    { cat "lego-$name.out" >&2; die "lego http-01 for $name.lab.test"; }
  # The certificate's SCT was issued after its entry was sequenced: this checkpoint covers it.
  checkpoints+=("$(get "$base/ct/lab/checkpoint" | sed -n 2,3p | tr '\n' ' ')")
done
ok "lego issued three certificates"

# ---- ACME reads ----
orders=$(get "$api/acme/orders") || die "GET orders"
[ "$(echo "$orders" | js 'len(d["items"])')" = 3 ] || fail "orders: want 3 items: $orders"
echo "$orders" | js 'd["next"]' | grep -qx None || fail "orders: next should be null"
oid=$(get "$api/acme/orders?identifier=b.lab.test" | js 'd["items"][0]["id"]') || die "orders?identifier="
[ "$(get "$api/acme/orders?identifier=b.lab.test" | js 'len(d["items"])')" = 1 ] || fail "identifier filter"
[ "$(get "$api/acme/orders?status=valid" | js 'len(d["items"])')" = 3 ] || fail "status=valid filter"
[ "$(get "$api/acme/orders?status=pending" | js 'len(d["items"])')" = 0 ] || fail "status=pending filter"
[ "$(code "$api/acme/orders?status=bogus")" = 400 ] || fail "status=bogus is not 400"

order=$(get "$api/acme/orders/$oid") || die "GET order"
echo "$order" > order.json
expect "order names b.lab.test" "$order" '"value": ?"b.lab.test"'
att=$(echo "$order" | js '[a for z in d["authorizations"] for c in z["challenges"] if c["type"]=="http-01" for a in c["attempts"]]')
expect "the http-01 challenge has its attempt, valid, at the address:port dialled" "$att" \
  "'target': '127.0.0.1:$http01_port', 'result': 'valid', 'problem': None"
events=$(echo "$order" | js '" ".join(e["event"] for e in d["timeline"])')
expect "timeline events in order" "$events" \
  '^created authorization attempt finalize precertificate sct certificate$'
expect "timeline's attempt names the target" "$(echo "$order" | js 'd["timeline"]')" \
  "http-01 for b.lab.test: valid at 127.0.0.1:$http01_port"
expect "timeline's sct names the log and the leaf index" "$(echo "$order" | js 'd["timeline"]')" \
  "SCT from lab, leaf index [0-9]"

serial=$(echo "$order" | js 'd["certificate"]')
want=$(openssl x509 -in lego/certificates/b.lab.test.crt -noout -serial | cut -d= -f2)
[ "$serial" = "$want" ] && ok "API serial $serial = openssl x509 -serial" || fail "API serial $serial, openssl $want"
cert=$(get "$api/acme/certificates/$serial") || die "GET certificate"
lc=$(echo "$serial" | tr 'A-F' 'a-f')
[ "$(get "$api/acme/certificates/$lc" | js 'd["serial"]')" = "$serial" ] || fail "lower-case serial lookup"
expect "certificate subject" "$cert" '"subject": ?"CN=b.lab.test"'
expect "certificate issuer" "$cert" '"issuer": ?"CN=trustbox intermediate CA'
expect "certificate sans" "$cert" '"sans": ?\["b.lab.test"\]'
expect "certificate key type" "$cert" '"key_type": ?"ECDSA'
echo "$cert" | js 'd["pem"]' > api.pem
openssl x509 -in api.pem -noout -serial | grep -qx "serial=$serial" || fail "the API's PEM is not the certificate"
sct_log=$(echo "$cert" | js 'd["scts"][0]["log"]')
sct_index=$(echo "$cert" | js 'd["scts"][0]["index"]')
[ "$sct_log" = lab ] || fail "SCT log: $sct_log"
openssl x509 -in lego/certificates/b.lab.test.crt -noout -text | grep -q "Signed Certificate Timestamp" ||
  fail "lego's certificate carries no SCT"
entry=$(get "$api/ct/logs/lab/entries/$sct_index") || die "GET CT entry $sct_index"
[ "$(echo "$entry" | js 'd["serial"]')" = "$serial" ] && ok "the SCT's leaf index holds this certificate's precertificate" ||
  fail "CT entry $sct_index: $(echo "$entry" | js 'd["serial"]'), want $serial"
[ "$(echo "$entry" | js 'd["type"]')" = precert ] || fail "CT entry type"
[ "$(get "$api/acme/certificates" | js 'len(d["items"])')" = 3 ] || fail "certificates list"
accts=$(get "$api/acme/accounts")
expect "accounts list the account with its orders" "$accts" '"orders": ?3'
expect "rate-limit buckets" "$(get "$api/acme/ratelimits")" '"bucket": ?"orders".*"capacity"'
[ "$(code "$api/acme/orders/AAAAAAAAAAAAAAAA")" = 404 ] || fail "unknown order is not 404"
[ "$(code "$api/acme/certificates/ABCDEF")" = 404 ] || fail "unknown certificate is not 404"

# ---- paging ----
p1=$(get "$api/acme/orders?limit=1")
[ "$(echo "$p1" | js 'len(d["items"])')" = 1 ] || fail "limit=1"
cur=$(echo "$p1" | js 'd["next"]')
p2=$(get "$api/acme/orders?limit=1&cursor=$cur")
cur2=$(echo "$p2" | js 'd["next"]')
p3=$(get "$api/acme/orders?limit=1&cursor=$cur2")
ids=$( { echo "$p1"; echo "$p2"; echo "$p3"; } | python3 -c '
import json, sys
ids = [json.loads(l)["items"][0]["id"] for l in sys.stdin]
print(len(set(ids)))')
[ "$ids" = 3 ] && [ "$(echo "$p3" | js 'd["next"]')" = None ] && ok "limit/cursor walk three distinct orders" ||
  fail "paging: $p1 / $p2 / $p3"
[ "$(get "$api/acme/orders?limit=100000" | js 'len(d["items"])')" = 3 ] || fail "limit above 500 is not clamped"
[ "$(code "$api/acme/orders?limit=0")" = 400 ] || fail "limit=0 is not 400"
[ "$(code "$api/acme/orders?limit=x")" = 400 ] || fail "limit=x is not 400"
[ "$(code "$api/acme/orders?cursor=zz")" = 400 ] || fail "a cursor not handed out is not 400"
e2=$(get "$api/ct/logs/lab/entries?start=1&count=1")
[ "$(echo "$e2" | js 'd["items"][0]["index"]')" = 1 ] && [ "$(echo "$e2" | js 'd["next"]')" = 2 ] ||
  fail "CT entries paging: $e2"

# ---- writes: no token, wrong token, then the token ----
crl_has() { curl -sf --cacert root.pem "$base/acme/crl" -o crl.der && openssl crl -inform der -in crl.der -noout -text | grep -q "Serial Number: $1"; }
crl_has "$serial" && fail "serial on the CRL before any revocation"
[ "$(code -X POST -d '{"reason":4}' "$api/acme/certificates/$serial/revoke")" = 401 ] || fail "revoke without token: not 401"
hdrs=$(curl -s -D - -o /dev/null --cacert root.pem -X POST -d '{"reason":4}' "$api/acme/certificates/$serial/revoke")
expect "401 carries WWW-Authenticate: Bearer" "$hdrs" '^[Ww][Ww][Ww]-[Aa]uthenticate: Bearer'
expect "401 is a problem document" "$(curl -s --cacert root.pem -X POST "$api/acme/certificates/$serial/revoke")" \
  'urn:trustbox:admin:unauthorized'
wrong=${tok%?}; [ "${tok: -1}" = x ] && wrong+=y || wrong+=x
[ "$(code -X POST -H "Authorization: Bearer $wrong" -d '{"reason":4}' "$api/acme/certificates/$serial/revoke")" = 403 ] ||
  fail "revoke with a wrong token: not 403"
[ "$(code -X PUT -d '{"always_valid":true}' "$api/acme/lab")" = 401 ] || fail "lab PUT without token: not 401"
[ "$(code -X PUT -H "Authorization: Bearer nope" -d '{"always_valid":true}' "$api/acme/lab")" = 403 ] ||
  fail "lab PUT with a wrong token: not 403"
[ "$(get "$api/acme/certificates/$serial" | js 'd["revoked"]')" = False ] || fail "a refused revoke revoked"
get "$api/acme/lab" | grep -q '"always_valid":false' || fail "a refused PUT changed the lab switch"
crl_has "$serial" && fail "a refused revoke put the serial on the CRL"
grep -q '\[admin\]' run.err && fail "a refused write was logged as a change"
ok "writes without the right token change nothing"

[ "$(code -X POST -H "Authorization: Bearer $tok" -d '{"reason":7}' "$api/acme/certificates/$serial/revoke")" = 400 ] ||
  fail "reason 7 is not 400"
[ "$(code -X POST -H "Authorization: Bearer $tok" -d '{"reason":4}' "$api/acme/certificates/$serial/revoke")" = 200 ] ||
  die "revoke with the token"
[ "$(code -X POST -H "Authorization: Bearer $tok" -d '{"reason":4}' "$api/acme/certificates/$serial/revoke")" = 409 ] ||
  fail "a second revoke is not 409"
rev=$(get "$api/acme/certificates/$serial")
expect "the API shows the revocation" "$rev" '"revoked": ?true.*"revocation": ?\{"time": ?"[0-9T:-]+Z", ?"reason": ?4\}'
crl_has "$serial" && ok "the CRL lists the revoked serial" || fail "the CRL does not list $serial"
openssl crl -inform der -in crl.der -noout -text | grep -A4 "Serial Number: $serial" | grep -q "Superseded" ||
  fail "CRL reason is not superseded (4)"
grep -q "\[admin\] POST /api/v1/acme/certificates/{serial}/revoke from 127.0.0.1:[0-9]* on https: revoked certificate $serial, reason 4" run.err ||
  fail "the revocation was not logged"
lg --domains b.lab.test revoke > lego-revoke.out 2>&1 && fail "ACME revoke-cert of a revoked certificate succeeded"
grep -q "alreadyRevoked" lego-revoke.out && ok "ACME revoke-cert: alreadyRevoked" || { cat lego-revoke.out >&2; fail "ACME revoke-cert did not say alreadyRevoked"; }
ev=$(get "$api/acme/orders/$oid" | js '" ".join(e["event"] for e in d["timeline"])')
expect "the timeline ends with the revocation" "$ev" 'certificate revoked$'

out=$(curl -s --cacert root.pem -X PUT -H "Authorization: Bearer $tok" -d '{"validation_delay_ms":25}' "$api/acme/lab")
expect "lab PUT with the token" "$out" '"validation_delay_ms": ?25'
expect "lab GET shows it" "$(get "$api/acme/lab")" '"validation_delay_ms": ?25'
[ "$(code -X PUT -H "Authorization: Bearer $tok" -d '{"bogus":1}' "$api/acme/lab")" = 400 ] || fail "unknown switch is not 400"

# ---- CT proofs against the signed checkpoints ----
logs=$(get "$api/ct/logs")
[ "$(echo "$logs" | js 'd["items"][0]["tree_size"]')" = 3 ] || fail "log tree size: $logs"
python3 - "$api" "$base" "${checkpoints[@]}" <<'PY' || fail "CT proofs"
import base64, hashlib, json, ssl, sys, urllib.request
api, base, cps = sys.argv[1], sys.argv[2], sys.argv[3:]
ctx = ssl.create_default_context(cafile="root.pem")
def get(u): return json.load(urllib.request.urlopen(u, context=ctx))
def h(b): return hashlib.sha256(b).digest()
def node(l, r): return h(b"\x01" + l + r)
b64 = base64.b64decode
roots = {}
for cp in cps:
    size, root = cp.split()
    roots[int(size)] = b64(root)
assert sorted(roots) == [1, 2, 3], roots

def verify_inclusion(index, size, leaf, proof, root):
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0: return False
        if fn & 1 or fn == sn:
            r = node(p, r)
            if not fn & 1:
                while True:
                    fn >>= 1; sn >>= 1
                    if fn & 1 or fn == 0: break
        else:
            r = node(r, p)
        fn >>= 1; sn >>= 1
    return sn == 0 and r == root

def verify_consistency(first, second, proof, r1, r2):
    if first == second: return not proof and r1 == r2
    if first & (first - 1) == 0: proof = [r1] + proof
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1; sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0: return False
        if fn & 1 or fn == sn:
            fr, sr = node(c, fr), node(c, sr)
            if not fn & 1:
                while True:
                    fn >>= 1; sn >>= 1
                    if fn & 1 or fn == 0: break
        else:
            sr = node(sr, c)
        fn >>= 1; sn >>= 1
    return sn == 0 and fr == r1 and sr == r2

for size in (2, 3):
    for i in range(size):
        p = get(f"{api}/ct/logs/lab/proof/inclusion?index={i}&tree_size={size}")
        # The leaf hash, independently: SHA-256(0x00 || MerkleTreeLeaf) from RFC 6962 get-entries.
        e = get(f"{base}/ct/lab/ct/v1/get-entries?start={i}&end={i}")["entries"][0]
        leaf = h(b"\x00" + b64(e["leaf_input"]))
        assert b64(p["leaf_hash"]) == leaf, ("leaf hash", i)
        assert b64(p["root_hash"]) == roots[size], ("root", size)
        assert verify_inclusion(i, size, leaf, [b64(x) for x in p["proof"]], roots[size]), ("inclusion", i, size)
        bad = [b64(x) for x in p["proof"]]
        if bad:
            bad[0] = bytes(32)
            assert not verify_inclusion(i, size, leaf, bad, roots[size]), "a broken proof verified"
for a, b in ((1, 2), (1, 3), (2, 3)):
    p = get(f"{api}/ct/logs/lab/proof/consistency?first={a}&second={b}")
    assert verify_consistency(a, b, [b64(x) for x in p["proof"]], roots[a], roots[b]), ("consistency", a, b)
    assert not verify_consistency(a, b, [b64(x) for x in p["proof"]], roots[a], roots[3 if b == 2 else 2]), "wrong root"
print("ok: inclusion proofs (sizes 2, 3) and consistency proofs 1-2, 1-3, 2-3 verify against the checkpoints")
PY
[ "$(code "$api/ct/logs/lab/proof/inclusion?index=3&tree_size=3")" = 400 ] || fail "inclusion index >= size is not 400"
[ "$(code "$api/ct/logs/lab/proof/consistency?first=3&second=2")" = 400 ] || fail "consistency first > second is not 400"
[ "$(code "$api/ct/logs/nope/entries")" = 404 ] || fail "unknown log is not 404"

# ---- a failed validation: its attempt says where the CA looked and what went wrong ----
elsewhere=$(free_port)
lg --domains f.lab.test --http --http.port "127.0.0.1:$elsewhere" run > lego-f.out 2>&1 &&
  fail "lego succeeded with nothing on the http-01 port"
inv=$(get "$api/acme/orders?status=invalid")
[ "$(echo "$inv" | js 'len(d["items"])')" = 1 ] || fail "status=invalid: $inv"
fid=$(echo "$inv" | js 'd["items"][0]["id"]')
fo=$(get "$api/acme/orders/$fid")
fatt=$(echo "$fo" | js '[(a["target"], a["result"], a["problem"]["type"], a["problem"]["detail"]) for z in d["authorizations"] for c in z["challenges"] for a in c["attempts"]]')
expect "the failed attempt: invalid, at the address:port dialled, with its problem" "$fatt" \
  "\('127.0.0.1:$http01_port', 'invalid', 'urn:ietf:params:acme:error:connection', '[^']*Connection refused'\)"
expect "the timeline's attempt says why" "$(echo "$fo" | js 'd["timeline"]')" \
  "http-01 for f.lab.test: invalid at 127.0.0.1:$http01_port: .*Connection refused"

tb_stop && ok "clean stop" || fail "trustbox exited non-zero"

# ---- a non-loopback listener ----
chmod 755 "$work"
if unshare -n bash "$0" inner "$work"; then ok "non-loopback listener: reads need the token"
else fail "non-loopback listener checks"; fi
finish
