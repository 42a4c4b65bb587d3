#!/bin/bash
# The CT log end to end, with clients that share no code with it:
#   - chains made by OpenSSL (root, intermediate, leaves, precertificates,
#     a Precertificate Signing Certificate) submitted concurrently with curl
#   - deduplication (a resubmission gets the first SCT), error statuses
#   - tests/ctverify (Go, golang.org/x/mod/sumdb/tlog + note): checkpoint
#     signature, every tile up to the root, every entry, every issuer, every
#     SCT and its inclusion proof, consistency with earlier checkpoints, and
#     the RFC 6962 read API (get-sth, get-entries, proofs) against the same tree
#   - certspotter 0.16 following the RFC 6962 API sees the certificates
#   - crash safety: kill -9 under concurrent submissions, several times;
#     every SCT that was returned must be in the log at its index
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need openssl
need curl
need go golang-go
need certspotter
[ -d /usr/share/gocode/src/golang.org/x/mod/sumdb ] ||
	skip "golang.org/x/mod is not installed (Debian package golang-golang-x-mod-dev)"

W=$TB_WORK
PORT=${CT_TEST_PORT:-$(free_port)}
TLS_PORT=$(free_port)
U=http://127.0.0.1:$PORT/ct/lab
ORIGIN=127.0.0.1:$PORT/ct/lab

# ---- the independent verifier ----
(cd "$TB_SOURCE_DIR/tests/ctverify" && GOPATH=/usr/share/gocode GO111MODULE=off GOCACHE="$W/gocache" \
	GOFLAGS= go build -o "$W/ctverify" .) || die "ctverify does not build"

# ---- certificates ----
cd "$W"
cat > ext.cnf <<'EOF'
[req]
distinguished_name=dn
[dn]
[v_ca]
basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
[leaf]
basicConstraints=critical,CA:FALSE
extendedKeyUsage=serverAuth
subjectAltName=DNS:www.lab.test
authorityKeyIdentifier=keyid
[pre]
basicConstraints=critical,CA:FALSE
extendedKeyUsage=serverAuth
subjectAltName=DNS:www.lab.test
authorityKeyIdentifier=keyid
1.3.6.1.4.1.11129.2.4.3=critical,ASN1:NULL
[psc]
basicConstraints=critical,CA:TRUE
extendedKeyUsage=1.3.6.1.4.1.11129.2.4.4
authorityKeyIdentifier=keyid
EOF
for k in root inter leaf psc other; do openssl ecparam -name prime256v1 -genkey -noout -out $k.key 2>/dev/null; done
openssl req -x509 -new -key root.key -subj "/CN=CT Test Root" -days 3650 -out root.pem -extensions v_ca -config ext.cnf
openssl req -x509 -new -key other.key -subj "/CN=CT Test Root" -days 3650 -out other.pem -extensions v_ca -config ext.cnf
openssl req -new -key inter.key -subj "/CN=CT Test Intermediate" -out inter.csr -config ext.cnf
openssl x509 -req -in inter.csr -CA root.pem -CAkey root.key -set_serial 2 -days 1000 -extfile ext.cnf -extensions v_ca -out inter.pem 2>/dev/null
openssl req -new -key psc.key -subj "/CN=CT Test Precert Signer" -out psc.csr -config ext.cnf
openssl x509 -req -in psc.csr -CA inter.pem -CAkey inter.key -set_serial 3 -days 100 -extfile ext.cnf -extensions psc -out psc.pem 2>/dev/null
openssl req -new -key leaf.key -subj "/CN=www.lab.test" -out leaf.csr -config ext.cnf
b64() { openssl x509 -in "$1" -outform DER | base64 -w0; }
INTER=$(b64 inter.pem); ROOT=$(b64 root.pem); PSC=$(b64 psc.pem)
mkdir -p bodies scts
# mk NAME SERIAL KIND (leaf|pre|pre2): writes bodies/NAME.json and bodies/NAME.kind
mk() {
	local ca=inter.pem cakey=inter.key ext=leaf chain
	case $3 in pre) ext=pre ;; pre2) ext=pre; ca=psc.pem; cakey=psc.key ;; esac
	openssl x509 -req -in leaf.csr -CA $ca -CAkey $cakey -set_serial "$2" -days 90 \
		-extfile ext.cnf -extensions $ext -out "bodies/$1.pem" 2>/dev/null
	chain="\"$(b64 "bodies/$1.pem")\",\"$INTER\""
	[ "$3" = pre2 ] && chain="\"$(b64 "bodies/$1.pem")\",\"$PSC\",\"$INTER\",\"$ROOT\""
	echo "{\"chain\":[$chain]}" > "bodies/$1.json"
	[ "$3" = leaf ] && echo x509 > "bodies/$1.kind" || echo precert > "bodies/$1.kind"
	rm -f "bodies/$1.pem"
}
N=${CT_TEST_N:-120}
serial=100
for i in $(seq 1 "$N"); do
	kind=leaf; [ $((i % 5)) = 0 ] && kind=pre; [ $((i % 17)) = 0 ] && kind=pre2
	mk "a$i" $((serial++)) $kind
done
for r in 1 2 3; do for i in $(seq 1 60); do mk "k$r-$i" $((serial++)) leaf; done; done

# ---- the appliance ----
cat > t.lua <<EOF
core { data_dir = "$W/data" }
listen { name = "https", address = "127.0.0.1", port = $TLS_PORT, tls = true }
listen { name = "http", address = "127.0.0.1", port = $PORT, tls = false }
if dns then dns { enabled = false } end
if acme then acme { enabled = false } end
if dap then dap { enabled = false } end
ctlog { period_ms = 100, pool_size = 1000,
        logs = { { name = "lab", submission_url = "$U/", roots = { "$W/root.pem" } } } }
EOF
start() {
	tb_start t.lua run.log run.log
	for _ in $(seq 1 100); do
		curl -sf "$U/checkpoint" -o /dev/null && return 0
		sleep 0.1
	done
	die "trustbox serves no checkpoint"
}

# submit NAME: add-[pre-]chain; keeps scts/NAME.json only for a 200
submit() {
	local ep=add-chain code
	[ "$(cat "bodies/$1.kind")" = precert ] && ep=add-pre-chain
	code=$(curl -s -m 20 -o "scts/$1.tmp" -w '%{http_code}' -d @"bodies/$1.json" "$U/ct/v1/$ep" || true)
	if [ "$code" = 200 ]; then mv "scts/$1.tmp" "scts/$1.json"; else rm -f "scts/$1.tmp"; fi
}
export -f submit
export U

verify() {
	local args=() n kind
	for s in scts/*.json; do
		[ -e "$s" ] || continue
		n=$(basename "$s" .json)
		args+=(-sub "bodies/$n.json:$s:$(cat "bodies/$n.kind")")
	done
	for p in prev/*; do [ -e "$p" ] && args+=(-prev "$p"); done
	./ctverify -url "$U/" -origin "$ORIGIN" -key data/ctlog-lab.pem -rfc6962 "$U/" "${args[@]}" "$@" || { fail "ctverify"; return 1; }
}

mkdir -p prev
start
curl -s "$U/checkpoint" > prev/0
# concurrent submissions
ls bodies/a*.json | xargs -n1 basename | sed 's/\.json$//' | xargs -P 16 -n 1 bash -c 'submit "$0"'
got=$(ls scts | wc -l)
[ "$got" = "$N" ] && ok "$N concurrent submissions got an SCT" || fail "$got of $N submissions got an SCT"
# dedup: the same SCT again
first=$(cat scts/a1.json)
again=$(curl -s -d @bodies/a1.json "$U/ct/v1/add-chain")
[ "$first" = "$again" ] || fail "resubmission got a different SCT"
# errors
c=$(curl -s -o /dev/null -w '%{http_code}' -d '{"chain":[]}' "$U/ct/v1/add-chain"); [ "$c" = 400 ] || fail "empty chain: $c"
c=$(curl -s -o /dev/null -w '%{http_code}' -d @bodies/a5.json "$U/ct/v1/add-chain"); [ "$c" = 400 ] || fail "precert to add-chain: $c"
c=$(curl -s -o /dev/null -w '%{http_code}' -d "{\"chain\":[\"$(b64 other.pem)\"]}" "$U/ct/v1/add-chain"); [ "$c" = 400 ] || fail "unknown root: $c"
c=$(curl -s -o /dev/null -w '%{http_code}' "$U/ct/v1/add-chain"); [ "$c" = 405 ] || fail "GET add-chain: $c"
c=$(curl -s -o /dev/null -w '%{http_code}' "$U/tile/0/001"); [ "$c" = 404 ] || fail "missing tile: $c"
curl -s "$U/ct/v1/get-roots" | grep -q "$(b64 root.pem | cut -c1-40)" || fail "get-roots"
h=$(curl -sD - -o /dev/null "$U/checkpoint")
echo "$h" | grep -qi '^cache-control: no-store' || fail "checkpoint caching headers"
echo "$h" | grep -qi '^access-control-allow-origin: \*' || fail "CORS"
curl -sD - -o /dev/null "$U/tile/0/000.p/5" | grep -qi 'immutable' || fail "tile caching headers"
# Data tiles gzipped for clients that ask, identical once decoded.
curl -s "$U/tile/data/000.p/5" -o tile.raw
h=$(curl -s -H 'Accept-Encoding: gzip' -D - -o tile.gz "$U/tile/data/000.p/5")
echo "$h" | grep -qi '^content-encoding: gzip' || fail "data tile not gzipped for Accept-Encoding: gzip"
gunzip -c tile.gz | cmp -s - tile.raw || fail "gzipped data tile differs"
curl -sD - -o /dev/null "$U/tile/data/000.p/5" | grep -qi '^content-encoding' && fail "data tile gzipped without Accept-Encoding"
curl -s "$U/checkpoint" > prev/1
verify -min-size "$N" && ok "ctverify: the whole log, every SCT, the RFC 6962 API"

# certspotter over the RFC 6962 API
echo ".lab.test" > watchlist
timeout 60 certspotter -logs data/ctlog-loglist.json -state_dir cs -watchlist watchlist \
	-stdout > certspotter.out 2>&1 &
CS=$!
track "$CS"
for _ in $(seq 1 100); do
	[ "$(grep -c 'Log Entry' certspotter.out || true)" -ge "$N" ] && break
	sleep 0.2
done
stop_pid "$CS"
seen=$(grep -c 'Log Entry' certspotter.out || true)
[ "$seen" -ge "$N" ] && ok "certspotter saw $seen entries" || { cat certspotter.out >&2; fail "certspotter saw $seen of $N entries"; }

# crash safety: kill -9 under concurrent submissions
for r in 1 2 3; do
	ls bodies/k$r-*.json | xargs -n1 basename | sed 's/\.json$//' |
		xargs -P 8 -n 1 bash -c 'submit "$0"' &
	SUB=$!
	sleep "0.$((RANDOM % 9 + 1))"
	tb_stop KILL || true
	wait $SUB || true
	start
	curl -s "$U/checkpoint" > "prev/r$r"
	echo "round $r: $(ls scts | wc -l) SCTs so far, tree size $(sed -n 2p "prev/r$r")"
	verify && ok "round $r: kill -9 under load, every SCT returned is in the log"
done
# the remaining submissions of the crash rounds go through after restart, deduplicated
for r in 1 2 3; do
	ls bodies/k$r-*.json | xargs -n1 basename | sed 's/\.json$//' | xargs -P 8 -n 1 bash -c 'submit "$0"'
done
total=$((N + 180))
[ "$(ls scts | wc -l)" = "$total" ] || fail "$(ls scts | wc -l) of $total submissions got an SCT"
verify -min-size "$total" && ok "after the crash rounds: $total entries, deduplicated"
tb_stop && ok "clean stop" || fail "trustbox did not exit cleanly"
finish
