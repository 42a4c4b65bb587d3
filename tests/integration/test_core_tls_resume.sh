#!/usr/bin/env bash
# TLS session resumption on the HTTPS listener, with OpenSSL's client: a
# reconnecting client resumes with a session ticket (RFC 5077) and, with
# tickets off, from the server's session-ID cache; a restarted server (new
# ticket keys, empty cache) makes it start afresh.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need openssl

port=$(free_port)
cat > cfg.lua <<LUA
core { data_dir = "$TB_WORK/data", log_level = "warn" }
listen { name = "https", address = "127.0.0.1", port = $port, tls = true }
if dns then dns { enabled = false } end
if acme then acme { enabled = false } end
if dap then dap { enabled = false } end
LUA
tb_start cfg.lua

# s_client -reconnect: one full handshake, then five with the first session.
resumes() {
	echo | openssl s_client -connect "127.0.0.1:$port" -tls1_2 -reconnect "$@" 2>/dev/null |
		grep -c '^Reused, TLSv1.2' || true
}
n=$(resumes)
[ "$n" = 5 ] || fail "with tickets: $n of 5 reconnections resumed"
ok "a reconnecting client resumes with its session ticket"
n=$(resumes -no_ticket)
[ "$n" = 5 ] || fail "without tickets: $n of 5 reconnections resumed"
ok "without tickets it resumes from the session-ID cache"

# A session saved now does not resume on a restarted server: its keys lived in memory only.
echo | openssl s_client -connect "127.0.0.1:$port" -tls1_2 -sess_out sess.pem >/dev/null 2>&1 ||
	fail "s_client -sess_out"
echo | openssl s_client -connect "127.0.0.1:$port" -tls1_2 -sess_in sess.pem 2>/dev/null |
	grep -q '^Reused, TLSv1.2' || fail "a saved session does not resume on the same server"
rc=0
tb_stop || rc=$?
[ "$rc" = 0 ] || fail "exit status after SIGTERM: $rc"
tb_start cfg.lua
echo | openssl s_client -connect "127.0.0.1:$port" -tls1_2 -sess_in sess.pem 2>/dev/null > again.txt ||
	fail "s_client after the restart"
grep -q '^New, TLSv1.2' again.txt || fail "a session from before the restart resumed: $(grep -E '^(New|Reused)' again.txt)"
ok "after a restart the old session is refused and a full handshake follows"
tb_stop || true
finish
