#!/usr/bin/env bash
# Chromium (headless) loads the web UI over HTTP/2: the page and the status
# API it fetches are both served over h2 (the access log says so), and the
# rendered DOM carries the status the script filled in.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need chromium
W=$TB_WORK

P_TLS=$(free_port)
cat > t.lua <<EOF
core { data_dir = "$W/data", log_level = "info" }
listen { name = "https", address = "127.0.0.1", port = $P_TLS, tls = true }
if dns then dns { enabled = false } end
if dap then dap { enabled = false } end
EOF
tb_start t.lua

# The appliance's root is not in Chromium's store; this is a loopback test of the
# protocol, not of certificate trust (curl and nghttp check that in test_core_http2).
dom=$(timeout 60 chromium --headless --no-sandbox --disable-gpu --ignore-certificate-errors \
	--user-data-dir="$W/chromium" --virtual-time-budget=3000 --dump-dom "https://localhost:$P_TLS/" 2>/dev/null) ||
	fail "chromium did not load the page"
expect "the web UI's page" "$dom" '<title>[^<]*trustbox</title>'
expect "the page's modules ran and filled in the root's fingerprint" "$dom" 'id="root-fp">([0-9A-F]{2}:){31}[0-9A-F]{2}<'
log=$(cat run.err)
expect "GET / over h2" "$log" 'GET / HTTP/2 200 [0-9]+ [0-9]+ms$'
expect "the page's status call over h2" "$log" 'GET /api/v1/status HTTP/2 200 [0-9]+ [0-9]+ms$'
expect "the page's modules over h2" "$log" 'GET /ui/js/app.js HTTP/2 200 [0-9]+ [0-9]+ms$'
expect_not "no HTTP/1.1 request from the browser" "$log" 'GET /[^ ]* HTTP/1'

tb_stop || fail "exit status"
ok "SIGTERM -> exit 0"
finish
