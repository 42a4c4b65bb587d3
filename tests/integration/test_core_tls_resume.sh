#!/usr/bin/env bash
# TLS session resumption on the HTTPS listener, with OpenSSL's client: a
# reconnecting client resumes with a session ticket (RFC 5077) and, with
# tickets off, from the server's session-ID cache; a restarted server (new
# ticket keys, empty cache) makes it start afresh. The limits are options:
# core.tls_ticket_lifetime_s = 0 issues no tickets (resumption falls back to
# the cache), core.tls_session_cache_size = 0 keeps no sessions (only tickets
# resume), both 0 resume nothing, and a ticket past its lifetime is refused.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need openssl

port=$(free_port)
# conf FILE [CORE-OPTIONS]: the configuration, with extra core options.
conf() {
	cat > "$1" <<LUA
core { data_dir = "$TB_WORK/data", log_level = "warn"${2:+, $2} }
listen { name = "https", address = "127.0.0.1", port = $port, tls = true }
if dns then dns { enabled = false } end
if acme then acme { enabled = false } end
if dap then dap { enabled = false } end
LUA
}
conf cfg.lua
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

# Tickets off: the server sends none (no NewSessionTicket), so what resumes comes from the cache.
conf noticket.lua "tls_ticket_lifetime_s = 0"
tb_start noticket.lua
echo | openssl s_client -connect "127.0.0.1:$port" -tls1_2 2>/dev/null > nt.txt || fail "s_client, tickets off"
grep -q 'TLS session ticket:' nt.txt && fail "tickets off: the server issued a session ticket"
grep -q '^New, TLSv1.2' nt.txt && ok "tickets off: no session ticket is issued" || fail "tickets off: no handshake"
n=$(resumes)
[ "$n" = 5 ] || fail "tickets off: $n of 5 reconnections resumed from the cache"
ok "tickets off: a client resumes by session ID only"
tb_stop || true

# Cache off: tickets resume, a client without tickets cannot.
conf nocache.lua "tls_session_cache_size = 0"
tb_start nocache.lua
n=$(resumes)
[ "$n" = 5 ] || fail "cache off: $n of 5 reconnections resumed by ticket"
n=$(resumes -no_ticket)
[ "$n" = 0 ] && ok "cache off: tickets resume, session IDs do not" ||
	fail "cache off: $n of 5 reconnections resumed by session ID"
tb_stop || true

# Both off: nothing resumes.
conf none.lua "tls_ticket_lifetime_s = 0, tls_session_cache_size = 0"
tb_start none.lua
n=$(resumes)
[ "$n" = 0 ] && ok "tickets and cache off: no reconnection resumes" ||
	fail "tickets and cache off: $n of 5 reconnections resumed"
tb_stop || true

# A ticket past its lifetime is refused (cache off, so only the ticket could resume).
conf short.lua "tls_ticket_lifetime_s = 1, tls_session_cache_size = 0"
tb_start short.lua
echo | openssl s_client -connect "127.0.0.1:$port" -tls1_2 -sess_out short.pem >/dev/null 2>&1 ||
	fail "s_client -sess_out, short lifetime"
sleep 3
echo | openssl s_client -connect "127.0.0.1:$port" -tls1_2 -sess_in short.pem 2>/dev/null > late.txt ||
	fail "s_client after the ticket lifetime"
grep -q '^New, TLSv1.2' late.txt && ok "a ticket past core.tls_ticket_lifetime_s does not resume" ||
	fail "an expired ticket: $(grep -E '^(New|Reused)' late.txt)"
tb_stop || true

# Out-of-range limits are configuration errors.
conf bad.lua "tls_session_cache_timeout_s = 0"
if "$TRUSTBOX" config check bad.lua >/dev/null 2>&1; then
	fail "core.tls_session_cache_timeout_s = 0 accepted"
else
	ok "core.tls_session_cache_timeout_s = 0 is refused"
fi
finish
