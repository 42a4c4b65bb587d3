#!/usr/bin/env bash
# HTTP/2 for real clients: curl --http2 (ALPN h2 on the TLS listener) against
# the status routes, the ACME directory, CT add-chain and a tile; HEAD, 404,
# 405 and 413 over h2; nghttp with several streams on one connection; a
# short h2load run; h2c with prior knowledge on a plain listener that turns
# it on (and not on one that does not); the protocol label in /metrics.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need curl
need openssl
need nghttp nghttp2-client
need h2load nghttp2-client
W=$TB_WORK

curl --version | grep -q HTTP2 || skip "this curl has no HTTP/2"

P_TLS=$(free_port); P_HTTP=$(free_port); P_H2C=$(free_port)
S=https://localhost:$P_TLS

# A CT root and a leaf chain to submit.
cat > ext.cnf <<'EOF'
[req]
distinguished_name=dn
[dn]
[v_ca]
basicConstraints=critical,CA:TRUE
keyUsage=critical,keyCertSign,cRLSign
subjectKeyIdentifier=hash
[leaf]
basicConstraints=critical,CA:FALSE
extendedKeyUsage=serverAuth
subjectAltName=DNS:www.lab.test
EOF
openssl ecparam -name prime256v1 -genkey -noout -out ctroot.key 2>/dev/null
openssl ecparam -name prime256v1 -genkey -noout -out leaf.key 2>/dev/null
openssl req -x509 -new -key ctroot.key -subj "/CN=CT Test Root" -days 3650 -out ctroot.pem \
	-extensions v_ca -config ext.cnf
openssl req -new -key leaf.key -subj "/CN=www.lab.test" -out leaf.csr -config ext.cnf
openssl x509 -req -in leaf.csr -CA ctroot.pem -CAkey ctroot.key -set_serial 7 -days 90 \
	-extfile ext.cnf -extensions leaf -out leaf.pem 2>/dev/null
echo "{\"chain\":[\"$(openssl x509 -in leaf.pem -outform DER | base64 -w0)\"]}" > chain.json

cat > t.lua <<EOF
core { data_dir = "$W/data", log_level = "warn" }
listen { name = "https", address = "127.0.0.1", port = $P_TLS, tls = true }
listen { name = "http", address = "127.0.0.1", port = $P_HTTP, tls = false }
listen { name = "h2c", address = "127.0.0.1", port = $P_H2C, tls = false, h2c = true }
if dns then dns { enabled = false } end
if dap then dap { enabled = false } end
ctlog { period_ms = 100, logs = { { name = "lab", submission_url = "$S/ct/lab/",
		roots = { "$W/ctroot.pem" } } } }
EOF
tb_start t.lua
"$TRUSTBOX" root -c t.lua > root.pem || die "trustbox root"
C=(curl -sS --http2 --cacert root.pem)

# --- status, ACME directory ---
v=$("${C[@]}" -o status.json -w '%{http_version} %{http_code}' "$S/api/v1/status") || fail "curl status"
[ "$v" = "2 200" ] && grep -q '"subsystems"' status.json || fail "status over h2: $v $(head -c 200 status.json)"
v=$("${C[@]}" -o hz.txt -w '%{http_version} %{http_code}' "$S/healthz") || fail "curl healthz"
[ "$v" = "2 200" ] && [ "$(cat hz.txt)" = ok ] || fail "healthz over h2: $v"
v=$("${C[@]}" -o dir.json -w '%{http_version} %{http_code}' "$S/dir") || fail "curl dir"
[ "$v" = "2 200" ] && grep -q '"newNonce"' dir.json || fail "ACME directory over h2: $v $(head -c 200 dir.json)"
# The ACME nonce endpoint: its Replay-Nonce comes through as a lower-case h2 field.
h=$("${C[@]}" -I "$S/acme/new-nonce") || fail "HEAD new-nonce"
expect "ACME new-nonce over h2 (HEAD)" "$h" '^HTTP/2 200'
expect "Replay-Nonce over h2" "$h" '^replay-nonce: [A-Za-z0-9_-]+'
ok "curl --http2: status, healthz, ACME directory and new-nonce"

# --- CT: add-chain and a tile ---
{
	v=$("${C[@]}" -o sct.json -w '%{http_version} %{http_code}' -H 'Content-Type: application/json' \
		--data-binary @chain.json "$S/ct/lab/ct/v1/add-chain") || fail "curl add-chain"
	[ "$v" = "2 200" ] && grep -q '"signature"' sct.json || fail "add-chain over h2: $v $(head -c 300 sct.json)"
	for _ in $(seq 1 50); do
		"${C[@]}" -f -o cp.txt "$S/ct/lab/checkpoint" 2>/dev/null && grep -q '^1$' <(sed -n 2p cp.txt) && break
		sleep 0.1
	done
	sed -n 2p cp.txt | grep -q '^1$' || fail "checkpoint over h2 does not count the entry: $(cat cp.txt)"
	v=$("${C[@]}" -o tile2 -w '%{http_version} %{http_code}' "$S/ct/lab/tile/0/000.p/1") || fail "curl tile"
	curl -sS --http1.1 --cacert root.pem -o tile1 "$S/ct/lab/tile/0/000.p/1" || fail "curl tile 1.1"
	[ "$v" = "2 200" ] && [ -s tile2 ] && cmp -s tile1 tile2 || fail "tile over h2: $v, differs from HTTP/1.1"
	ok "CT over h2: add-chain answers an SCT, the checkpoint counts it, tile 0/000.p/1 equals the HTTP/1.1 bytes"
}

# --- what core answers itself, over h2 ---
c=$("${C[@]}" -o /dev/null -w '%{http_code}' "$S/no/such/thing") || fail "curl 404"
[ "$c" = 404 ] || fail "404 over h2: $c"
h=$("${C[@]}" -D - -o /dev/null -X DELETE "$S/healthz") || fail "curl 405"
expect "405 over h2 with Allow" "$h" '^allow: GET'
head -c $((2 * 1024 * 1024)) /dev/zero > big.bin
c=$("${C[@]}" -o /dev/null -w '%{http_code}' --data-binary @big.bin "$S/healthz") || fail "curl 413"
[ "$c" = 413 ] || fail "2 MiB body over h2: $c"
c=$("${C[@]}" -o /dev/null -w '%{http_code}' "$S/%2e%2e/x") || fail "curl dot segment"
[ "$c" = 400 ] || fail "dot segment over h2: $c"
ok "over h2: 404, 405 with allow, 413 for a 2 MiB body, 400 for a dot segment"

# --- nghttp: several streams on one connection ---
out=$(SSL_CERT_FILE=root.pem nghttp -nv "$S/healthz" "$S/dir" "$S/api/v1/status" 2>&1) || fail "nghttp: $out"
n=$(printf '%s\n' "$out" | grep -c ':status: 200' || true)
[ "$n" = 3 ] || fail "nghttp: $n of 3 streams answered 200"
expect "nghttp: SETTINGS_MAX_CONCURRENT_STREAMS advertised" "$out" 'SETTINGS_MAX_CONCURRENT_STREAMS\(0x03\):100'
ok "nghttp: three streams on one connection, all 200"

# --- h2load: a short load ---
out=$(h2load -n 2000 -c 4 -m 10 "https://127.0.0.1:$P_TLS/healthz" 2>&1) || fail "h2load: $out"
expect "h2load: 2000 requests over h2 succeed" "$out" 'requests: 2000 total, 2000 started, 2000 done, 2000 succeeded, 0 failed'
expect "h2load: negotiated h2" "$out" 'Application protocol: h2'

# --- curl running transfers in parallel over one connection ---
# curl resets every finished stream (RST_STREAM STREAM_CLOSED) when it runs
# transfers in parallel; those resets cancel nothing and must not count as a
# Rapid Reset (they used to end such connections with GOAWAY ENHANCE_YOUR_CALM).
for i in $(seq 1 3000); do
	printf 'url = "%s/acme/new-nonce"\ncacert = "%s/root.pem"\noutput = "/dev/null"\nwrite-out = "%%{http_code}\\n"\n' "$S" "$W"
	[ "$i" -lt 3000 ] && echo next
done > par.cfg
"${C[@]}" --parallel --parallel-max 8 -K par.cfg > par.codes 2> par.err || true
n=$(grep -c '^204$' par.codes || true)
[ "$n" -ge 2900 ] && ok "curl --parallel: $n of 3000 new-nonce over h2" || fail "curl --parallel: $n of 3000"
if grep -q "misbehaves" run.err; then fail "curl's resets of finished streams taken for an attack: $(grep -c misbehaves run.err) GOAWAY"
else ok "curl's resets of finished streams are not a Rapid Reset"; fi

# --- h2c with prior knowledge ---
v=$(curl -sS --http2-prior-knowledge -o hz.txt -w '%{http_version} %{http_code}' "http://127.0.0.1:$P_H2C/healthz") || fail "h2c"
[ "$v" = "2 200" ] && [ "$(cat hz.txt)" = ok ] || fail "h2c with prior knowledge: $v"
v=$(curl -sS -o hz.txt -w '%{http_version} %{http_code}' "http://127.0.0.1:$P_H2C/healthz") || fail "h1 on h2c"
[ "$v" = "1.1 200" ] || fail "HTTP/1.1 on the h2c listener: $v"
if curl -sS -m 5 --http2-prior-knowledge -o /dev/null "http://127.0.0.1:$P_HTTP/healthz" 2>/dev/null; then
	fail "h2c accepted on a plain listener without h2c = true"
fi
ok "h2c: prior knowledge on the h2c listener, HTTP/1.1 there too; refused where h2c is off"

# --- metrics: the protocol label ---
curl -sS --http1.1 --cacert root.pem -o /dev/null "$S/healthz" || fail "healthz over HTTP/1.1"
m=$(curl -sS --http1.1 --cacert root.pem "$S/metrics")
n=$(printf '%s\n' "$m" | sed -n 's/^tb_http_requests_total{route="\/healthz",code="2xx",protocol="h2"} //p')
[ -n "$n" ] && [ "$n" -ge 2000 ] || fail "h2 responses to /healthz counted: '$n'"
expect "http/1.1 responses counted apart" "$m" 'tb_http_requests_total\{route="/healthz",code="2xx",protocol="http/1.1"\} [1-9]'

tb_stop || fail "exit status"
ok "SIGTERM -> exit 0"
finish
