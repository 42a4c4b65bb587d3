#!/usr/bin/env bash
# Real clients against `trustbox run` (plain, TLS and IPv6 listeners):
# curl (HTTP/1.0, 1.1, keep-alive reuse, HEAD, uploads), openssl s_client
# (TLS 1.2, ALPN, SNI; TLS 1.0/1.1/1.3 refused), python3 http.client with an
# SSLContext, node https with NODE_EXTRA_CA_CERTS, wget, and raw sockets for
# what no polite client sends: request smuggling shapes, obs-fold, bare LF,
# NUL bytes, oversize request lines, slowloris, more connections than the
# per-address and global caps. Every check asserts the outcome.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need curl
need openssl
need wget
need node nodejs
need python3
work=$TB_WORK
t0=$(date +%s)

# Free loopback ports: two IPv4 listeners (TLS, plain), one IPv6 TLS listener.
P_TLS=$(free_port); P_HTTP=$(free_port); P_TLS6=$(free_port ::1)
cat > t.lua <<EOF
core { data_dir = "$work/data", log_level = "warn" }
if acme then acme { enabled = false } end
if ctlog then ctlog { enabled = false } end
if dap then dap { enabled = false } end
if dns then dns { enabled = false } end
listen { name = "https", address = "127.0.0.1", port = $P_TLS, tls = true }
listen { name = "http", address = "127.0.0.1", port = $P_HTTP, tls = false }
listen { name = "https6", address = "::1", port = $P_TLS6, tls = true }
EOF
tb_start t.lua
"$TRUSTBOX" root -c t.lua > root.pem || die "trustbox root"
H=http://127.0.0.1:$P_HTTP
S=https://localhost:$P_TLS
S6="https://[::1]:$P_TLS6"
export P_TLS P_HTTP P_TLS6

# Raw-socket helper: python3 raw.py [--tls] [--v6] HEX-OR-@FILE -> prints what came back,
# "<eof>" after an orderly close, "<reset>" after a reset, "<timeout>" when nothing more came.
cat > raw.py <<'PY'
import os, socket, ssl, sys
args = sys.argv[1:]
tls = "--tls" in args
v6 = "--v6" in args
wait = 3.0
args = [a for a in args if not a.startswith("--")]
data = open(args[0][1:], "rb").read() if args[0].startswith("@") else bytes.fromhex(args[0])
if v6:
    s = socket.create_connection(("::1", int(os.environ["P_TLS6"])))
else:
    s = socket.create_connection(("127.0.0.1", int(os.environ["P_TLS" if tls else "P_HTTP"])))
if tls or v6:
    ctx = ssl.create_default_context(cafile="root.pem")
    s = ctx.wrap_socket(s, server_hostname="localhost")
s.settimeout(wait)
try:
    s.sendall(data)
except (BrokenPipeError, ConnectionResetError):
    pass
out = b""
try:
    while True:
        b = s.recv(65536)
        if not b:
            out += b"<eof>"
            break
        out += b
except socket.timeout:
    out += b"<timeout>"
except (ConnectionResetError, ssl.SSLError):
    out += b"<reset>"
sys.stdout.buffer.write(out)
PY
hex() { printf '%b' "$1" | od -An -v -tx1 | tr -d ' \n'; }
# nresp STATUS-PREFIX TEXT -> how many response status lines start with it (bodies run into the next one)
nresp() { printf '%s' "$2" | grep -o "HTTP/1\.1 $1" | wc -l; }
# raw_status [--tls] REQUEST(printf %b escapes) -> the status code of the first response
raw_status() {
  local opt=""
  if [ "$1" = --tls ]; then opt=--tls; shift; fi
  python3 raw.py $opt "$(hex "$1")" | head -c 12 | sed -n 's/^HTTP\/1\.1 \([0-9][0-9][0-9]\)$/\1/p;s/^HTTP\/1\.1 \([0-9][0-9][0-9]\) .*/\1/p'
}

# --- the connection caps (defaults: 512 per address, 1024 in all) ---
python3 - <<'PY' || fail "connection caps"
import os, socket, time
port = int(os.environ["P_HTTP"])

def dial(src):
    s = socket.socket()
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    return s

def shed(s, wait=3):
    """Closed by the server without a response."""
    s.settimeout(wait)
    try:
        return s.recv(4096) == b""
    except ConnectionResetError:
        return True
    except socket.timeout:
        return False

def served(s):
    s.settimeout(5)
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    return s.recv(4096).startswith(b"HTTP/1.1 200 ")

# One address: 600 idle connections; the 88 oldest make room for the newest.
held = [dial("127.0.0.1") for _ in range(600)]
t = time.time()
assert all(shed(s) for s in held[:88]), "the oldest connections over the per-address cap were not closed"
assert time.time() - t < 3, "closing the oldest took too long"
assert not shed(held[88], 0.3), "a connection within the per-address cap was closed"
assert served(held[-1]), "the newest connection was not served"
for s in held:
    s.close()
time.sleep(0.3)
# All addresses: 1024 idle connections (512 each from two addresses), then one more from a
# third: it is served, and the oldest idle connection is the one closed for it.
held = [dial("127.0.0.2") for _ in range(512)] + [dial("127.0.0.3") for _ in range(512)]
time.sleep(0.3)
x = dial("127.0.0.4")
assert served(x), "the connection over the global cap was not served"
assert shed(held[0]), "the oldest idle connection was not closed for the new one"
assert not shed(held[1], 0.3), "more than one connection was closed"
for s in held:
    s.close()
x.close()
PY
ok "connection caps: one address keeps its 512 newest connections (the oldest closed, the newest served); at 1024 a new client is served and the oldest idle connection goes"

# --- slowloris (in the background: the header timeout is 10 s) ---
cat > slow.py <<'PY'
import os, socket, ssl, sys, time
mode = sys.argv[1]
port = int(os.environ["P_TLS" if mode == "tls" else "P_HTTP"])
s = socket.create_connection(("127.0.0.1", port))
if mode == "tls":
    s = ssl.create_default_context(cafile="root.pem").wrap_socket(s, server_hostname="localhost")
req = b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nX-Padding: " + b"a" * 100 + b"\r\n\r\n"
t = time.time()
out = b""
s.settimeout(1.0)
i = 0
while time.time() - t < 25:
    if mode != "idle" and i < len(req):
        try:
            s.sendall(req[i:i + 1])
        except (BrokenPipeError, ConnectionResetError):
            break
        i += 1
    try:
        b = s.recv(4096)
        if not b:
            break
        out += b
    except socket.timeout:
        continue
    except (ConnectionResetError, ssl.SSLError):
        break
print("%.1f %s" % (time.time() - t, out[:12].decode("latin1")))
PY
python3 slow.py plain > slow.plain & track $!
python3 slow.py tls > slow.tls & track $!
python3 slow.py idle > slow.idle & track $!

# --- curl ---
out=$(curl -sS -0 -D h10.txt "$H/healthz") || fail "curl HTTP/1.0"
[ "$out" = ok ] || fail "HTTP/1.0 body: $out"
grep -qi '^Connection: close' h10.txt || fail "HTTP/1.0 without keep-alive must close: $(cat h10.txt)"
n=$(curl -sS -0 -H 'Connection: keep-alive' -o /dev/null -o /dev/null -w '%{num_connects} ' -D h10k.txt "$H/healthz" "$H/healthz")
[ "$n" = "1 0 " ] || fail "HTTP/1.0 keep-alive: connects per transfer '$n'"
grep -qi '^Connection: keep-alive' h10k.txt || fail "HTTP/1.0 keep-alive answer lacks Connection: keep-alive"
ok "curl HTTP/1.0: closes by default, keeps alive on request"

v=$(curl -sS --http1.1 --cacert root.pem -o body.txt -w '%{http_version} %{http_code}' "$S/healthz") || fail "curl https"
[ "$v" = "1.1 200" ] && [ "$(cat body.txt)" = ok ] || fail "curl HTTP/1.1 over TLS: $v $(cat body.txt)"
v=$(curl -sS --cacert root.pem -o body.txt -w '%{http_version} %{http_code}' "$S/healthz") || fail "curl https (h2)"
[ "$v" = "2 200" ] && [ "$(cat body.txt)" = ok ] || fail "curl over TLS, ALPN h2,http/1.1 -> h2: $v $(cat body.txt)"
v=$(curl -sS --cacert root.pem -o /dev/null -w '%{http_code}' "https://127.0.0.1:$P_TLS/healthz") || fail "curl https by IP"
[ "$v" = 200 ] || fail "curl https by IP: $v"
v=$(curl -sS -g --cacert root.pem -o /dev/null -w '%{http_code}' "$S6/healthz") || fail "curl https [::1]"
[ "$v" = 200 ] || fail "curl https [::1]: $v"
ok "curl over TLS (ALPN h2,http/1.1 -> h2; http/1.1 alone -> 1.1) by name, by IPv4 and on the [::1] listener"

n=$(curl -sS -o /dev/null -o /dev/null -w '%{num_connects} ' "$H/healthz" "$H/api/v1/status")
[ "$n" = "1 0 " ] || fail "plain keep-alive: connects per transfer '$n'"
n=$(curl -sS --cacert root.pem -o /dev/null -o /dev/null -o /dev/null -w '%{num_connects} ' "$S/healthz" "$S/metrics" "$S/healthz")
[ "$n" = "1 0 0 " ] || fail "TLS keep-alive: connects per transfer '$n'"
ok "keep-alive: curl reuses one connection for several URLs (plain and TLS)"

curl -sS -I "$H/healthz" > head.txt || fail "HEAD"
grep -q '^HTTP/1.1 200' head.txt || fail "HEAD status: $(head -1 head.txt)"
grep -qi '^Content-Length: 3' head.txt || fail "HEAD lacks the GET's Content-Length"
r=$(python3 raw.py "$(hex 'HEAD /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')")
[ "$(nresp 200 "$r")" = 2 ] || fail "HEAD then GET: $r"
case "$r" in *$'Content-Length: 3\r\n\r\nHTTP/1.1 200 OK\r\n'*) ;; *) fail "HEAD response carried a body: $r" ;; esac
case "$r" in *$'\r\n\r\nok\n<eof>') ;; *) fail "GET after HEAD is not framed right: $r" ;; esac
ok "HEAD /healthz: 200, Content-Length of the GET, no body (the next response is framed right)"

head -c 2097152 /dev/zero > big.bin
c=$(curl -sS -o big.out -w '%{http_code}' --data-binary @big.bin "$H/healthz") || fail "2 MiB upload"
[ "$c" = 413 ] || fail "2 MiB body to a 1 MiB route: $c"
grep -q '"status":413' big.out || fail "413 is not a problem document"
c=$(curl -sS --cacert root.pem -o /dev/null -w '%{http_code}' --data-binary @big.bin "$S/healthz") || fail "2 MiB upload over TLS"
[ "$c" = 413 ] || fail "2 MiB body over TLS: $c"
c=$(curl -sS -o /dev/null -w '%{http_code}' -H 'Transfer-Encoding: chunked' --data-binary @big.bin "$H/healthz") || fail "2 MiB chunked"
[ "$c" = 413 ] || fail "2 MiB chunked body: $c"
c=$(curl -sS -o /dev/null -w '%{http_code}' --data-binary 'small' "$H/healthz")
[ "$c" = 405 ] || fail "small POST to the GET-only route: $c"
ok "2 MiB body (length, chunked, TLS) to a route with the default 1 MiB limit -> 413; a small one -> 405"

c=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P_TLS/healthz" --max-time 5 || true)
[ "$c" = 000 ] || fail "plain HTTP to the TLS port answered $c"
c=$(curl -s -o /dev/null -w '%{http_code}' --cacert root.pem "https://127.0.0.1:$P_HTTP/healthz" --max-time 5 || true)
[ "$c" = 000 ] || fail "TLS to the plain port answered $c"
ok "plain HTTP to the TLS port and TLS to the plain port fail fast"

# --- openssl s_client ---
so=$(echo | timeout 10 openssl s_client -connect "127.0.0.1:$P_TLS" -servername localhost -alpn http/1.1 \
  -CAfile root.pem -verify_hostname localhost 2>&1) || true
printf '%s' "$so" | grep -q 'Protocol  *: TLSv1.2' || fail "s_client: not TLS 1.2: $so"
printf '%s' "$so" | grep -q 'ALPN protocol: http/1.1' || fail "s_client: ALPN"
printf '%s' "$so" | grep -q 'Verify return code: 0 (ok)' || fail "s_client: verification"
printf '%s' "$so" | grep -q 'Verified peername: localhost' || fail "s_client: SNI name localhost not verified"
printf '%s' "$so" | grep -Eq 'Cipher is ECDHE-(ECDSA|RSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)' || fail "s_client: cipher"
so=$(echo | timeout 10 openssl s_client -connect "[::1]:$P_TLS6" -servername localhost -CAfile root.pem \
  -verify_hostname localhost 2>&1) || true
printf '%s' "$so" | grep -q 'Verify return code: 0 (ok)' || fail "s_client [::1]: $so"
so=$(echo | timeout 10 openssl s_client -connect "127.0.0.1:$P_TLS" -servername unknown.example -CAfile root.pem \
  -verify_hostname unknown.example 2>&1) || true
printf '%s' "$so" | grep -q 'Protocol  *: TLSv1.2' || fail "s_client: an unknown SNI name must get the default certificate: $so"
printf '%s' "$so" | grep -q 'Verify return code: 62' || fail "s_client: the default certificate must not claim unknown.example"
so=$(echo | timeout 10 openssl s_client -connect "127.0.0.1:$P_TLS" -CAfile root.pem 2>&1) || true
printf '%s' "$so" | grep -q 'Protocol  *: TLSv1.2' || fail "s_client without SNI"
ok "openssl s_client: TLS 1.2, ALPN http/1.1, SNI localhost verified, unknown SNI and no SNI get the default certificate, [::1]"

for v in tls1 tls1_1; do
  so=$(echo | timeout 10 openssl s_client -connect "127.0.0.1:$P_TLS" -$v -cipher 'DEFAULT:@SECLEVEL=0' 2>&1) || true
  printf '%s' "$so" | grep -q 'alert protocol version' || fail "s_client -$v: not refused with protocol_version: $so"
  printf '%s' "$so" | grep -q 'Cipher is (NONE)' || fail "s_client -$v negotiated something"
done
so=$(echo | timeout 10 openssl s_client -connect "127.0.0.1:$P_TLS" -tls1_3 2>&1) || true
printf '%s' "$so" | grep -q 'Cipher is (NONE)' || fail "s_client -tls1_3 negotiated something"
ok "TLS 1.0 and 1.1 refused with a protocol_version alert (1.3 is not offered either)"

# Client-initiated renegotiation: refused with a no_renegotiation alert, sent at
# once (without it the client waits for a ServerHello until a timeout).
so=$( (sleep 0.5; printf 'R\n'; sleep 1.5) | timeout 10 openssl s_client -connect "127.0.0.1:$P_TLS" -CAfile root.pem -msg 2>&1) || true
printf '%s' "$so" | grep -q 'RENEGOTIATING' || fail "s_client did not try to renegotiate"
printf '%s' "$so" | grep -q '<<< TLS 1.2, Alert .*warning no_renegotiation' || fail "renegotiation: no no_renegotiation alert came back within 1.5 s"
ok "client-initiated renegotiation refused at once with a no_renegotiation alert"

# --- python3 http.client, node https, wget ---
python3 - <<'PY' || fail "python http.client"
import http.client, os, ssl
ctx = ssl.create_default_context(cafile="root.pem")
assert ctx.check_hostname and ctx.verify_mode == ssl.CERT_REQUIRED
c = http.client.HTTPSConnection("localhost", int(os.environ["P_TLS"]), context=ctx, timeout=5)
for path in ("/healthz", "/api/v1/status", "/healthz"):   # one connection, three requests
    c.request("GET", path)
    r = c.getresponse()
    body = r.read()
    assert r.status == 200, (path, r.status)
assert body == b"ok\n", body
assert c.sock.version() == "TLSv1.2", c.sock.version()
assert c.sock.selected_alpn_protocol() is None
c.close()
c = http.client.HTTPSConnection("::1", int(os.environ["P_TLS6"]), context=ctx, timeout=5)
c.request("GET", "/healthz")
assert c.getresponse().status == 200
# without the root: refused
try:
    http.client.HTTPSConnection("localhost", int(os.environ["P_TLS"]), context=ssl.create_default_context(), timeout=5).request("GET", "/healthz")
    raise SystemExit("verified without trustbox's root")
except ssl.SSLCertVerificationError:
    pass
PY
ok "python3 http.client with an SSLContext on trustbox root (keep-alive, [::1]); refused without it"

NODE_EXTRA_CA_CERTS=root.pem node - <<'JS' || fail "node https"
const https = require('https');
const agent = new https.Agent({ keepAlive: true, maxSockets: 1 });
function get(path) {
  return new Promise((ok, bad) => {
    const req = https.get({ host: 'localhost', port: process.env.P_TLS, path, agent, ALPNProtocols: ['http/1.1'] }, res => {
      let b = '';
      const alpn = res.socket.alpnProtocol, proto = res.socket.getProtocol();
      res.on('data', d => b += d);
      res.on('end', () => ok({ status: res.statusCode, body: b, reused: req.reusedSocket, alpn, proto }));
    });
    req.on('error', bad);
  });
}
(async () => {
  const a = await get('/healthz');
  const b = await get('/api/v1/status');
  if (a.status !== 200 || a.body !== 'ok\n') throw new Error('healthz ' + JSON.stringify(a));
  if (b.status !== 200 || !JSON.parse(b.body).version) throw new Error('status ' + JSON.stringify(b));
  if (!b.reused) throw new Error('keep-alive socket not reused');
  if (a.alpn !== 'http/1.1' || a.proto !== 'TLSv1.2') throw new Error('tls ' + a.alpn + ' ' + a.proto);
  agent.destroy();
})().catch(e => { console.error(e.message); process.exit(1); });
JS
ok "node https with NODE_EXTRA_CA_CERTS: TLS 1.2, ALPN http/1.1, keep-alive socket reused"

w=$(wget -q -O - --ca-certificate=root.pem "$S/healthz") || fail "wget"
[ "$w" = ok ] || fail "wget body: $w"
if wget -q -O - "$S/healthz" >/dev/null 2>&1; then fail "wget verified without trustbox's root"; fi
ok "wget with --ca-certificate; refused without it"

# --- what polite clients never send ---
[ "$(raw_status 'POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n')" = 400 ] || fail "CL+TE"
[ "$(raw_status 'POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n0\r\n\r\n')" = 400 ] || fail "TE+CL"
[ "$(raw_status --tls 'POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n')" = 400 ] || fail "CL+TE over TLS"
r=$(python3 raw.py "$(hex 'POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n')")
[ "$(nresp '' "$r")" = 1 ] || fail "CL+TE: the smuggled request was answered: $r"
case "$r" in *'<eof>') ;; *) fail "CL+TE: connection not closed: $r" ;; esac
ok "Content-Length with Transfer-Encoding -> 400, connection closed, nothing smuggled"

[ "$(raw_status 'POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab')" = 400 ] || fail "duplicate CL"
[ "$(raw_status 'POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 2\r\n\r\nab')" = 400 ] || fail "CL list"
[ "$(raw_status 'POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: +1\r\n\r\na')" = 400 ] || fail "CL +1"
[ "$(raw_status 'POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n')" = 400 ] || fail "TE with space before colon"
[ "$(raw_status 'POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n0\r\n\r\n')" = 501 ] || fail "two TE fields"
[ "$(raw_status 'POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n')" = 501 ] || fail "TE gzip, chunked"
r=$(python3 raw.py "$(hex 'POST /healthz HTTP/1.0\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /healthz HTTP/1.0\r\n\r\n')")
[ "$(nresp 400 "$r")" = 1 ] && [ "$(nresp '' "$r")" = 1 ] || fail "HTTP/1.0 with Transfer-Encoding: $r"
[ "$(raw_status 'POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXY0\r\n\r\n')" = 400 ] || fail "chunk data without CR LF"
[ "$(raw_status 'GET /healthz HTTP/1.1\r\nHost: x\r\n\rXGET /healthz HTTP/1.1\r\nHost: x\r\n\r\n')" = 400 ] || fail "header block ended by CR and a non-LF"
ok "conflicting Content-Length fields, a list, +1 -> 400; 'Transfer-Encoding :' -> 400; other codings -> 501; TE in HTTP/1.0 -> 400; CR without LF or chunk data without CR LF -> 400"

[ "$(raw_status 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\nConnection: close\r\n\r\n')" = 200 ] || fail "obs-fold"
r=$(python3 raw.py "$(hex 'POST /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\nContent-Length: 0\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')")
[ "$(nresp 405 "$r")" = 1 ] && [ "$(nresp 200 "$r")" = 1 ] || fail "obs-fold then a pipelined request: $r"
r=$(python3 raw.py "$(hex 'GET /healthz HTTP/1.1\nHost: x\n\nGET /healthz HTTP/1.1\nHost: x\nConnection: close\n\n')")
[ "$(nresp 200 "$r")" = 2 ] || fail "bare LF: $r"
[ "$(raw_status 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n')" = 400 ] || fail "bare CR"
[ "$(raw_status 'GET /healthz HTTP/1.1\r\n Host: x\r\n\r\n')" = 400 ] || fail "whitespace before the first field"
ok "obs-fold is unfolded (200, framing intact); bare-LF lines accepted; bare CR and a leading-space field -> 400"

[ "$(raw_status 'GET /heal\0thz HTTP/1.1\r\nHost: x\r\n\r\n')" = 400 ] || fail "NUL in path"
[ "$(raw_status 'GET /healthz%00 HTTP/1.1\r\nHost: x\r\n\r\n')" = 400 ] || fail "%00 in path"
[ "$(raw_status 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n')" = 400 ] || fail "NUL in a header"
[ "$(raw_status 'GET /healthz%0d%0aforged HTTP/1.1\r\nHost: x\r\n\r\n')" = 400 ] || fail "CR LF in path"
[ "$(raw_status 'GET /healthz/../metrics HTTP/1.1\r\nHost: x\r\n\r\n')" = 400 ] || fail "dot segment"
ok "NUL (raw, encoded, in a header), encoded CR LF and dot segments -> 400"

printf 'GET /%s HTTP/1.1\r\nHost: x\r\n\r\n' "$(head -c 20000 /dev/zero | tr '\0' a)" > long.req
c=$(python3 raw.py @long.req | head -c 12)
[ "$c" = "HTTP/1.1 431" ] || [ "$c" = "HTTP/1.1 414" ] || fail "20 kB request line: $c"
printf 'GET /%s HTTP/1.1\r\nHost: x\r\n\r\n' "$(head -c 4000000 /dev/zero | tr '\0' a)" > huge.req
c=$(python3 raw.py @huge.req | head -c 12)
[ "$c" = "HTTP/1.1 431" ] || [ "$c" = "HTTP/1.1 414" ] || fail "4 MB request line: $c"
[ "$(raw_status 'GET /healthz HTTP/1.1\r\n\r\n')" = 400 ] || fail "HTTP/1.1 without Host"
[ "$(raw_status 'GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n')" = 400 ] || fail "two Host fields"
[ "$(raw_status 'GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n')" = 505 ] || fail "HTTP/2.0 request line"
[ "$(raw_status 'FROB /healthz HTTP/1.1\r\nHost: x\r\n\r\n')" = 501 ] || fail "unknown method"
ok "20 kB and 4 MB request lines -> 431; missing or doubled Host -> 400; HTTP/2.0 -> 505; FROB -> 501"

# --- slowloris results ---
for m in plain tls idle; do
  for _ in $(seq 1 300); do [ -s slow.$m ] && break; sleep 0.1; done
  read -r secs status < slow.$m || fail "slowloris $m: no result"
  case $m in
    idle) [ -z "${status:-}" ] || fail "idle connection got a response: $status" ;;
    *) [ "${status:-}" = "HTTP/1.1 408" ] || fail "slowloris $m: got '${status:-}' after $secs s, want 408" ;;
  esac
  awk -v s="$secs" 'BEGIN { exit !(s >= 9 && s <= 14) }' || fail "slowloris $m: ended after $secs s, want about 10"
done
ok "slowloris (plain and TLS, a header byte per second) -> 408 after the 10 s header timeout; an idle connection closed then"

kill -0 "$TB_PID" 2>/dev/null || die "trustbox died during the checks"
[ "$(curl -sS "$H/healthz")" = ok ] || fail "healthz after everything"
rc=0
tb_stop || rc=$?
[ "$rc" = 0 ] || fail "exit status after SIGTERM: $rc"
if grep -Eq 'ERROR: AddressSanitizer|runtime error:|LeakSanitizer' run.err; then fail "sanitizer report: $(grep -E 'ERROR|runtime error' run.err | head -5)"; fi
ok "still healthy; SIGTERM -> exit 0; no sanitizer report"
echo "took $(( $(date +%s) - t0 )) s"
finish
