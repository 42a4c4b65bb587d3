#!/bin/bash
# A second look at the CT log with a client that shares no code with it
# (ctlog_qa_client.py: Python standard library + python3-cryptography):
#   - chains made by OpenSSL: RSA-2048 leaf under an RSA intermediate under an
#     ECDSA root, ECDSA P-384 leaves, precertificates of both; every SCT
#     verified over the RFC 6962 signed struct built by the client
#   - get-sth, checkpoint note (key ID, 0x05 signature), every tile and data
#     tile, every issuer, get-proof-by-hash, get-entry-and-proof, get-entries,
#     get-sth-consistency
#   - edge cases of submission and of the read path, 50 concurrent submitters,
#     SIGTERM during submissions and a restart that continues the same tree
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need openssl
need curl
need_py cryptography.x509 python3-cryptography

W=$TB_WORK
CLIENT="python3 $TB_SOURCE_DIR/tests/integration/ctlog_qa_client.py"

PORT=$(free_port)
TLS_PORT=$(free_port)
U=http://127.0.0.1:$PORT/ct/lab/
ORIGIN=127.0.0.1:$PORT/ct/lab

cd "$W"
# ---- certificates ----
cat > ext.cnf <<'EOF'
[req]
distinguished_name=dn
[dn]
[v_ca]
basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
[v_nc]
basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign
nameConstraints=critical,permitted;DNS:.lab.test
policyConstraints=critical,requireExplicitPolicy:0
inhibitAnyPolicy=critical,0
[leaf]
basicConstraints=critical,CA:FALSE
extendedKeyUsage=serverAuth
subjectAltName=DNS:www.lab.test
[pre]
basicConstraints=critical,CA:FALSE
extendedKeyUsage=serverAuth
subjectAltName=DNS:www.lab.test
1.3.6.1.4.1.11129.2.4.3=critical,ASN1:NULL
[softpoison]
basicConstraints=critical,CA:FALSE
extendedKeyUsage=serverAuth
1.3.6.1.4.1.11129.2.4.3=ASN1:NULL
[client]
basicConstraints=critical,CA:FALSE
extendedKeyUsage=clientAuth
EOF
openssl ecparam -name prime256v1 -genkey -noout -out root.key 2>/dev/null
openssl ecparam -name secp384r1 -genkey -noout -out p384.key 2>/dev/null
openssl genrsa -out inter.key 2048 2>/dev/null
openssl genrsa -out rsa.key 2048 2>/dev/null
openssl req -x509 -new -key root.key -subj "/CN=QA Root" -days 700 -out root.pem -extensions v_ca -config ext.cnf
openssl req -new -key inter.key -subj "/CN=QA RSA Intermediate" -out inter.csr -config ext.cnf
openssl x509 -req -in inter.csr -CA root.pem -CAkey root.key -set_serial 2 -days 1000 -extfile ext.cnf -extensions v_ca -out inter.pem 2>/dev/null
openssl req -new -key rsa.key -subj "/CN=www.lab.test" -out rsa.csr -config ext.cnf
# a name-constrained intermediate (critical constraints, as RFC 5280 requires)
openssl x509 -req -in inter.csr -CA root.pem -CAkey root.key -set_serial 3 -days 600 -extfile ext.cnf -extensions v_nc -out nc.pem 2>/dev/null
openssl req -new -key p384.key -subj "/CN=www.lab.test" -out p384.csr -config ext.cnf
# cert NAME CSR EXT DAYS [CA CAKEY]: NAME.pem = leaf, NAME.chain = leaf + intermediate
serial=100
cert() {
	local ca=${5:-inter.pem} cakey=${6:-inter.key}
	openssl x509 -req -in "$2" -CA "$ca" -CAkey "$cakey" -set_serial $((serial++)) -days "$4" \
		-extfile ext.cnf -extensions "$3" -out "$1.pem" 2>/dev/null
	cat "$1.pem" "$ca" > "$1.chain"
}
cert rsa1 rsa.csr leaf 90;  cert rsa2 rsa.csr leaf 90;  cert rsapre rsa.csr pre 90
cert ec1 p384.csr leaf 90;  cert ecpre p384.csr pre 90
cat rsa2.chain root.pem > rsa2full.chain       # with the root: stored chain is the same
cert far rsa.csr leaf 4000                      # NotAfter beyond the shard
cert client rsa.csr client 90                   # clientAuth only
cert ncleaf rsa.csr leaf 90 nc.pem inter.key    # under the name-constrained intermediate
cert soft rsa.csr softpoison 90                 # a poison that is not critical
# an intermediate that expired last year, and a leaf under it
python3 - <<'EOF'
import datetime
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID
root = x509.load_pem_x509_certificate(open("root.pem", "rb").read())
rkey = serialization.load_pem_private_key(open("root.key", "rb").read(), None)
ikey = serialization.load_pem_private_key(open("inter.key", "rb").read(), None)
now = datetime.datetime.now(datetime.timezone.utc)
c = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "QA Expired Intermediate")]))
     .issuer_name(root.subject).public_key(ikey.public_key()).serial_number(77)
     .not_valid_before(now - datetime.timedelta(days=800)).not_valid_after(now - datetime.timedelta(days=400))
     .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
     .sign(rkey, hashes.SHA256()))
open("expired.pem", "wb").write(c.public_bytes(serialization.Encoding.PEM))
open("expired.key", "wb").write(ikey.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
EOF
# a Precertificate Signing Certificate, a precertificate it issued and the
# final certificate the intermediate would issue for it (same fields)
python3 - <<'EOF'
import datetime
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID, ExtendedKeyUsageOID
inter = x509.load_pem_x509_certificate(open("inter.pem", "rb").read())
ikey = serialization.load_pem_private_key(open("inter.key", "rb").read(), None)
# the signer's key is of the intermediate's type: the TBS names the signature algorithm
pkey, lkey = rsa.generate_private_key(65537, 2048), ec.generate_private_key(ec.SECP384R1())
now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
ski = x509.SubjectKeyIdentifier.from_public_key(inter.public_key())
psc = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "QA Precert Signer")]))
       .issuer_name(inter.subject).public_key(pkey.public_key()).serial_number(88)
       .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=90))
       .add_extension(x509.BasicConstraints(ca=True, path_length=0), True)
       .add_extension(x509.ExtendedKeyUsage([x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.4.4")]), False)
       .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), False)
       .sign(ikey, hashes.SHA256()))
def leaf(aki_pub, poison, signer):
    b = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "psc.lab.test")]))
         .issuer_name(psc.subject if poison else inter.subject).public_key(lkey.public_key()).serial_number(4242)
         .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=60))
         .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
         .add_extension(x509.SubjectAlternativeName([x509.DNSName("psc.lab.test")]), False)
         .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(aki_pub), False))
    if poison:
        b = b.add_extension(x509.PrecertPoison(), True)
    return b.sign(signer, hashes.SHA256())
pre = leaf(pkey.public_key(), True, pkey)
fin = leaf(inter.public_key(), False, ikey)
pem = lambda c: c.public_bytes(serialization.Encoding.PEM)
open("psc.pem", "wb").write(pem(psc))
open("pscpre.pem", "wb").write(pem(pre))
open("pscfin.pem", "wb").write(pem(fin))
open("pscpre.chain", "wb").write(pem(pre) + pem(psc) + pem(inter))
EOF
$CLIENT psc-tbs pscpre.pem psc.pem pscfin.pem || fail "the client's own PSC TBS rebuild"
openssl req -new -key rsa.key -subj "/CN=old.lab.test" -out old.csr -config ext.cnf
cert old old.csr leaf 90 expired.pem expired.key

b64() { openssl x509 -in "$1" -outform DER | base64 -w0; }
body() { # body FILE.pem...: {"chain": [...]}
	local s="" f
	for f in "$@"; do s="$s${s:+,}\"$(b64 "$f")\""; done
	echo "{\"chain\":[$s]}"
}
post() { # post ENDPOINT BODYFILE -> status code
	curl -s -m 20 -o resp -w '%{http_code}' --data-binary @"$2" "${U}ct/v1/$1" || true
}

# ---- the appliance ----
START=$(date -u +%Y-%m-%d)
LIMIT=$(date -u -d '+2 years' +%Y-%m-%d)
cat > t.lua <<EOF
core { data_dir = "$W/data" }
listen { name = "https", address = "127.0.0.1", port = $TLS_PORT, tls = true }
listen { name = "http", address = "127.0.0.1", port = $PORT, tls = false }
if dns then dns { enabled = false } end
if acme then acme { enabled = false } end
if dap then dap { enabled = false } end
ctlog { period_ms = 200, pool_size = 4000,
        logs = { { name = "lab", submission_url = "$U", roots = { "$W/root.pem" },
                   not_after_start = "$START", not_after_limit = "$LIMIT" } } }
EOF
start() {
	tb_start t.lua run.log run.log
	for _ in $(seq 1 100); do
		curl -sf "${U}checkpoint" -o /dev/null && return 0
		sleep 0.1
	done
	die "trustbox serves no checkpoint"
}
start
KEY=data/ctlog-lab.pem

# ---- 1. submissions and the whole RFC 6962 read API ----
$CLIENT sth "$U" $KEY sth0.json
$CLIENT submit "$U" $KEY scts1.json x509:rsa1.chain precert:rsapre.chain x509:ec1.chain \
	precert:ecpre.chain x509:old.chain precert:pscpre.chain x509:ncleaf.chain || fail "submissions"
$CLIENT check "$U" $KEY "$ORIGIN" scts1.json sth0.json || fail "first check"
$CLIENT sth "$U" $KEY sth1.json

# ---- 3. edge cases of submission ----
body root.pem > b.root
c=$(post add-chain b.root); [ "$c" = 200 ] || fail "root only: $c (a root is a valid chain of one)"
python3 - <<EOF
import json, base64
c = open("rsa1.chain").read()
import subprocess
ders = [base64.b64encode(subprocess.run(["openssl", "x509", "-outform", "DER"], input=p.encode(), capture_output=True).stdout).decode()
        for p in ["-----BEGIN" + x for x in c.split("-----BEGIN")[1:]]]
json.dump({"chain": [ders[0]] + [ders[1]] * 10}, open("b.long", "w"))
open("b.junk", "w").write('{"chain":["MIIB%%%%not base64!!"]}')
open("b.big", "w").write('{"chain":["' + "A" * (2 << 20) + '"]}')
open("b.notjson", "w").write('chain=abc')
EOF
c=$(post add-chain b.long); [ "$c" = 400 ] || fail "11-certificate chain: $c"
c=$(post add-chain b.junk); [ "$c" = 400 ] || fail "junk base64: $c"
c=$(post add-chain b.notjson); [ "$c" = 400 ] || fail "not JSON: $c"
c=$(post add-chain b.big); [ "$c" = 413 ] || [ "$c" = 400 ] || fail "2 MiB body: $c"
curl -sf "${U}checkpoint" -o /dev/null || fail "server unusable after a 2 MiB body"
body rsapre.pem inter.pem > b.pre; c=$(post add-chain b.pre); [ "$c" = 400 ] || fail "precert to add-chain: $c"
body rsa1.pem inter.pem > b.final; c=$(post add-pre-chain b.final); [ "$c" = 400 ] || fail "final cert to add-pre-chain: $c"
body far.pem inter.pem > b.far; c=$(post add-chain b.far); [ "$c" = 400 ] || fail "NotAfter outside the shard: $c"
grep -qi 'shard' resp || fail "NotAfter refusal does not say why: $(cat resp)"
body client.pem inter.pem > b.client; c=$(post add-chain b.client); [ "$c" = 400 ] || fail "clientAuth-only leaf: $c"
body soft.pem inter.pem > b.soft
c=$(post add-chain b.soft); [ "$c" = 400 ] || fail "non-critical poison to add-chain: $c"
c=$(post add-pre-chain b.soft); [ "$c" = 400 ] || fail "non-critical poison to add-pre-chain: $c"
body old.pem expired.pem > b.old; c=$(post add-chain b.old); [ "$c" = 200 ] || fail "leaf under an expired intermediate: $c (logs do not check validity)"
body rsa1.pem root.pem > b.wrong; c=$(post add-chain b.wrong); [ "$c" = 400 ] || fail "leaf with the wrong issuer: $c"
# duplicates: in the same batch, and across batches (resubmission)
body rsa2.pem inter.pem > b.dup
DUPS=()
for i in 1 2 3 4; do curl -s -m 20 --data-binary @b.dup "${U}ct/v1/add-chain" > dup$i & DUPS+=($!); done
wait "${DUPS[@]}"
for i in 2 3 4; do cmp -s dup1 dup$i || fail "duplicates in one batch got different SCTs"; done
grep -q '"signature"' dup1 || fail "duplicate submission: $(cat dup1)"
sleep 0.5
curl -s -m 20 --data-binary @b.dup "${U}ct/v1/add-chain" > dup5
cmp -s dup1 dup5 || fail "a resubmission in a later batch got a different SCT"
body rsa2.pem inter.pem root.pem > b.dupfull
curl -s -m 20 --data-binary @b.dupfull "${U}ct/v1/add-chain" > dup6
cmp -s dup1 dup6 || fail "the same leaf with the root appended got a different SCT"
$CLIENT submit "$U" $KEY scts2.json x509:rsa2.chain x509:rsa2full.chain || fail "resubmissions"
python3 -c 'import json; s = json.load(open("scts2.json")); assert s[0]["sct"] == s[1]["sct"] == json.load(open("dup1"))' ||
	fail "dedup through the client"

# ---- 3. concurrency: 50 submitters for 10 s, then the whole log ----
$CLIENT load "$U" $KEY inter.pem inter.key 10 50 load1.json || fail "50 concurrent submitters"
python3 -c 'import json; r = json.load(open("load1.json")); assert sum(x["status"] == 200 for x in r) >= 100, "few SCTs"' ||
	fail "concurrent load got few SCTs"
$CLIENT check-load "$U" $KEY load1.json inter.pem || fail "load SCTs not in the log"
$CLIENT check "$U" $KEY "$ORIGIN" scts1.json sth1.json || fail "whole log after the load"
$CLIENT sth "$U" $KEY sth2.json
SIZE=$(python3 -c 'import json; print(json.load(open("sth2.json"))["tree_size"])')
[ "$SIZE" -gt 256 ] || fail "tree of $SIZE entries is too small for the tile checks"

# ---- 3. the read path at its edges ----
code() { curl -s -m 10 -o /dev/null -w '%{http_code}' "$@" || true; }
for p in tile/0/000.p/0 tile/0/000.p/256 tile/0/000.p/257 tile/0/000.p/00 tile/0/000.p/-1 tile/0/-01 tile/0/-1 \
	tile/0/x999/x999/x999/x999/x999/x999/999 tile/0/18446744073709551616 tile/0/x18446744073709551/615 \
	tile/00/000 tile/6/000 tile/0/0 tile/0/0000 tile/data/x000/001 tile/data/000.p/ tile/0/000.p/5x \
	issuer/00 issuer/$(printf '%064d' 0); do
	c=$(code "${U}$p"); [ "$c" = 404 ] || [ "$c" = 400 ] || fail "GET $p: $c"
done
# a partial view of a full tile is its prefix
curl -s "${U}tile/0/000" -o full0
curl -s "${U}tile/0/000.p/5" -o part0
[ "$(stat -c %s full0)" = 8192 ] || fail "full tile 0/000 is $(stat -c %s full0) bytes"
cmp -s part0 <(head -c 160 full0) || fail "tile/0/000.p/5 is not the prefix of the full tile"
# HEAD, CORS, caching
h=$(curl -s -I "${U}checkpoint")
echo "$h" | head -1 | grep -q ' 200' || fail "HEAD checkpoint: $h"
echo "$h" | grep -qi '^access-control-allow-origin: \*' || fail "checkpoint CORS"
h=$(curl -s -I "${U}tile/0/000")
echo "$h" | head -1 | grep -q ' 200' || fail "HEAD tile"
echo "$h" | grep -qi '^content-length: 8192' || fail "HEAD tile length: $h"
echo "$h" | grep -qi '^access-control-allow-origin: \*' || fail "tile CORS"
echo "$h" | grep -qi 'immutable' || fail "tile caching"
FP=$(openssl x509 -in inter.pem -outform DER | sha256sum | cut -c1-64)
h=$(curl -s -D - -o issuer.der "${U}issuer/$FP")
echo "$h" | grep -qi '^access-control-allow-origin: \*' || fail "issuer CORS"
[ "$(sha256sum < issuer.der | cut -c1-64)" = "$FP" ] || fail "issuer/$FP does not hash to its name"
c=$(code "${U}issuer/$(echo "$FP" | tr a-f A-F)"); [ "$c" = 404 ] || fail "uppercase issuer name: $c"
h=$(curl -s -X OPTIONS -D - -o /dev/null -H 'Origin: https://x.test' "${U}checkpoint")
echo "$h" | grep -qi '^access-control-allow-origin: \*' || fail "OPTIONS CORS"
c=$(code -I "${U}ct/v1/add-chain"); [ "$c" = 405 ] || fail "HEAD add-chain: $c"
c=$(code -I "${U}ct/v1/get-sth"); [ "$c" = 200 ] || fail "HEAD get-sth: $c"
# get-entries
c=$(code "${U}ct/v1/get-entries?start=5&end=4"); [ "$c" = 400 ] || fail "get-entries start > end: $c"
c=$(code "${U}ct/v1/get-entries?start=$SIZE&end=$((SIZE + 5))"); [ "$c" = 400 ] || fail "get-entries start = size: $c"
c=$(code "${U}ct/v1/get-entries?start=-1&end=4"); [ "$c" = 400 ] || fail "get-entries negative: $c"
c=$(code "${U}ct/v1/get-entries?start=0"); [ "$c" = 400 ] || fail "get-entries without end: $c"
n=$(curl -s "${U}ct/v1/get-entries?start=$((SIZE - 2))&end=$((SIZE + 100))" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["entries"]))')
[ "$n" = 2 ] || fail "get-entries end beyond the tree: $n entries"
n=$(curl -s "${U}ct/v1/get-entries?start=0&end=18446744073709551615" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["entries"]))')
[ "$n" -ge 1 ] && [ "$n" -le 1000 ] || fail "get-entries huge range: $n entries"
c=$(code "${U}ct/v1/get-entries?start=0&end=18446744073709551616"); [ "$c" = 400 ] || fail "get-entries end > 2^64: $c"
# get-sth-consistency
c=$(code "${U}ct/v1/get-sth-consistency?first=5&second=4"); [ "$c" = 400 ] || fail "consistency first > second: $c"
c=$(code "${U}ct/v1/get-sth-consistency?first=1&second=$((SIZE + 1))"); [ "$c" = 400 ] || fail "consistency beyond the tree: $c"
r=$(curl -s "${U}ct/v1/get-sth-consistency?first=0&second=$SIZE")
[ "$r" = '{"consistency":[]}' ] || fail "consistency from 0: $r"
r=$(curl -s "${U}ct/v1/get-sth-consistency?first=$SIZE&second=$SIZE")
[ "$r" = '{"consistency":[]}' ] || fail "consistency to itself: $r"
# get-proof-by-hash / get-entry-and-proof at their edges
c=$(code "${U}ct/v1/get-proof-by-hash?hash=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA%3D&tree_size=$SIZE"); [ "$c" = 404 ] || fail "proof of an unknown hash: $c"
c=$(code "${U}ct/v1/get-proof-by-hash?hash=AAAA&tree_size=$SIZE"); [ "$c" = 400 ] || fail "proof of a short hash: $c"
c=$(code "${U}ct/v1/get-entry-and-proof?leaf_index=$SIZE&tree_size=$SIZE"); [ "$c" = 400 ] || fail "entry-and-proof index = size: $c"
c=$(code "${U}ct/v1/get-entry-and-proof?leaf_index=0&tree_size=$((SIZE + 1))"); [ "$c" = 400 ] || fail "entry-and-proof beyond the tree: $c"

# ---- 4. SIGTERM during submissions, restart, continuity ----
$CLIENT sth "$U" $KEY sth3.json
$CLIENT load "$U" $KEY inter.pem inter.key 5 20 load2.json > load2.out 2>&1 &
LOAD=$!
sleep 1.5
kill -TERM "$TB_PID"
for _ in $(seq 1 100); do kill -0 "$TB_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$TB_PID" 2>/dev/null && die "trustbox still running 10 s after SIGTERM"
tb_stop && ok "SIGTERM during submissions: clean exit" || fail "trustbox exited with an error after SIGTERM"
wait $LOAD || { cat load2.out >&2; fail "submissions left hanging or SCTs invalid across SIGTERM"; }
cat load2.out
start
$CLIENT check-load "$U" $KEY load2.json inter.pem || fail "an SCT answered before SIGTERM is not in the log"
$CLIENT check "$U" $KEY "$ORIGIN" scts1.json sth3.json || fail "the tree after the restart"
# a resubmission after the restart gets the SCT of before
$CLIENT submit "$U" $KEY scts4.json x509:rsa1.chain precert:rsapre.chain || fail "resubmission after restart"
python3 -c 'import json; a = json.load(open("scts1.json")); b = json.load(open("scts4.json")); assert a[0]["sct"] == b[0]["sct"] and a[1]["sct"] == b[1]["sct"]' ||
	fail "a resubmission after the restart got a new SCT"
# clients that hang up while their submission is pooled
$CLIENT abandon "$U" inter.pem inter.key 30 || fail "abandoned submissions"
sleep 0.5
curl -sf "${U}checkpoint" -o /dev/null || fail "server unusable after abandoned submissions"
# a submission after the restart continues the same tree
cert rsa3 rsa.csr leaf 90
$CLIENT submit "$U" $KEY scts3.json x509:rsa3.chain || fail "submission after restart"
$CLIENT check "$U" $KEY "$ORIGIN" scts3.json sth0.json && ok "final check of the whole log" || fail "final check"
tb_stop && ok "clean stop" || fail "trustbox did not exit cleanly"
finish
