#!/usr/bin/env bash
# A connection that chose HTTP/2 but never sends the client preface (magic and
# SETTINGS, RFC 9113 3.4) is closed after core.http2_preface_timeout_ms, not
# held for the 10 s request header timeout: TLS with ALPN h2 and nothing sent,
# TLS with half the magic, h2c with half the magic, h2c with the magic but no
# SETTINGS. A client that sent its preface and then idles is not cut at that
# time, and the log names the protocol of each request it served.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need python3
need curl
W=$TB_WORK
curl --version | grep -q HTTP2 || skip "this curl has no HTTP/2"

P_TLS=$(free_port); P_H2C=$(free_port)
cat > t.lua <<EOF
core { data_dir = "$W/data", log_level = "info", http2_preface_timeout_ms = 1000 }
listen { name = "https", address = "127.0.0.1", port = $P_TLS, tls = true }
listen { name = "h2c", address = "127.0.0.1", port = $P_H2C, tls = false, h2c = true }
if dns then dns { enabled = false } end
if dap then dap { enabled = false } end
if acme then acme { enabled = false } end
if ctlog then ctlog { enabled = false } end
EOF
tb_start t.lua
"$TRUSTBOX" root -c t.lua > root.pem || die "trustbox root"

# held MODE: seconds until the server closes a connection that sends what MODE says
# (gives up at 15 s).
cat > held.py <<'EOF'
import socket, ssl, sys, time
port, mode, ca = int(sys.argv[1]), sys.argv[2], sys.argv[3]
MAGIC = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
SETTINGS = b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"
s = socket.create_connection(("127.0.0.1", port), timeout=15)
if mode.startswith("tls"):
    ctx = ssl.create_default_context(cafile=ca)
    ctx.set_alpn_protocols(["h2"])
    s = ctx.wrap_socket(s, server_hostname="localhost")
    assert s.selected_alpn_protocol() == "h2", s.selected_alpn_protocol()
send = {"tls-nothing": b"", "tls-half": MAGIC[:10], "h2c-half": MAGIC[:10],
        "h2c-magic": MAGIC, "tls-preface": MAGIC + SETTINGS}[mode]
t0 = time.time()
if send:
    s.sendall(send)
try:
    while s.recv(4096):
        pass
except socket.timeout:
    pass
except OSError:
    pass
print("%.2f" % (time.time() - t0))
EOF
held() { python3 held.py "$1" "$2" root.pem; }

for m in tls-nothing tls-half h2c-half h2c-magic; do
	case $m in tls-*) p=$P_TLS ;; *) p=$P_H2C ;; esac
	t=$(held "$p" "$m") || fail "$m: client failed"
	python3 -c "import sys; sys.exit(0 if 0.8 <= $t < 3.0 else 1)" &&
		ok "$m: closed after ${t}s (preface timeout 1 s)" ||
		fail "$m: closed after ${t}s, not after the 1 s preface timeout"
done

# A complete preface: the connection is idle from then on (idle timeout 60 s), not cut at 1 s.
timeout 4 python3 held.py "$P_TLS" tls-preface root.pem > preface.out 2>&1 &
pid=$!
sleep 2.5
kill -0 "$pid" 2>/dev/null && ok "a client that sent its preface is still connected after 2.5 s" ||
	fail "a client that sent its preface was closed: $(cat preface.out)"
wait "$pid" 2>/dev/null || true

# The access log names the protocol.
curl -sS --http2 --cacert root.pem -o /dev/null "https://localhost:$P_TLS/healthz" || fail "curl h2"
curl -sS --http1.1 --cacert root.pem -o /dev/null "https://localhost:$P_TLS/healthz" || fail "curl h1"
curl -sS --http1.0 -o /dev/null "http://127.0.0.1:$P_H2C/healthz" || fail "curl h1.0"
log=$(cat run.err)
expect "access log: HTTP/2" "$log" 'GET /healthz HTTP/2 200 [0-9]+ [0-9]+ms$'
expect "access log: HTTP/1.1" "$log" 'GET /healthz HTTP/1.1 200 [0-9]+ [0-9]+ms$'
expect "access log: HTTP/1.0" "$log" 'GET /healthz HTTP/1.0 200 [0-9]+ [0-9]+ms$'

tb_stop || fail "exit status"
ok "SIGTERM -> exit 0"
finish
