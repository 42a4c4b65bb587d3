#!/usr/bin/env bash
# The resolver's cache, behind a forward zone whose authority is a small Python
# server (dns/cache_authority.py: every name under cache.test, TTLs chosen by
# name, a per-name query counter):
#  - the memory cap: tens of thousands of distinct names through a 512 KiB
#    dns.cache_bytes keep tb_dns_cache_bytes at or under the cap (evicting),
#    and the process's RSS stops growing once the cache is full;
#  - prefetch: an answer asked for in the last tenth of its TTL is refreshed in
#    the background (the authority counts a second query before the TTL ends)
#    while the client is answered from the cache at once, although the
#    authority takes 400 ms for that name; after the old TTL the name is still
#    a cache hit;
#  - serve-stale (RFC 8767): with the authority silent for a name whose TTL has
#    passed, the client gets the expired data after 1.8 s (the client-response
#    timer) rather than at the query's deadline; with the authority stopped, the
#    answer comes from the expired entry with TTL 30 and EDE 3 (dig and kdig
#    print it); a name never cached is SERVFAIL, EDE 22; with
#    serve_stale_seconds = 0 the expired name is SERVFAIL too.
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$(dirname "$0")/lib.sh"
need dig bind9-dnsutils
need kdig knot-dnsutils
need curl
need python3
tmp=$TB_WORK
aport=$(free_port)
python3 "$here/dns/cache_authority.py" 127.0.0.1 "$aport" > "$tmp/auth.log" 2>&1 &
apid=$!
track "$apid"
show_on_failure "$tmp/auth.log"
A="dig @127.0.0.1 -p $aport +time=1 +tries=1 +short"
for _ in $(seq 1 100); do
	[ -n "$($A ready.cache.test A)" ] && break
	sleep 0.1
done
[ -n "$($A ready.cache.test A)" ] || die "the authority never answered"
count() { $A "_count.$1" TXT | tr -d '"'; }

conf() { # conf FILE EXTRA: a trustbox forwarding cache.test to the authority
	cat > "$1" <<EOF
core { data_dir = "$tmp/data", log_level = "warn" }
listen { name = "https", address = "127.0.0.1", port = 0, tls = true }
listen { name = "http", address = "127.0.0.1", port = 0, tls = false }
dns {
  listen = { "127.0.0.1:0" },
  iterate = false,
  dnssec = "off",
  forwarders = { { zone = "cache.test", servers = { "127.0.0.1:$aport" } } },
  forward_attempt_ms = 1000,
  forward_timeout_ms = 4000,
  use_0x20 = true,
  $2
}
EOF
}
cap=524288
conf "$tmp/trustbox.lua" "cache_bytes = $cap, cache_size = 1000000, serve_stale_seconds = 3600"
tb_start "$tmp/trustbox.lua" "$tmp/out.log" "$tmp/err.log"
port=$(tb_port 'DNS (udp+tcp)')
hp=$(tb_port 'HTTP listener')
D="dig @127.0.0.1 -p $port +time=8 +tries=1" # longer than forward_timeout_ms: a SERVFAIL is waited for
metric() { curl -sS "http://127.0.0.1:$hp/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
rss() { awk '/^VmRSS/ {print $2}' "/proc/$TB_PID/status"; }

# ---- the memory cap ----
flood() { # flood FIRST COUNT: COUNT distinct names through trustbox, 200 in flight
	python3 - "$port" "$1" "$2" <<'PY'
import socket, struct, sys, time
port, first, count = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
def q(i):
    name = b"".join(bytes([len(l)]) + l for l in (b"fill%d" % i, b"cache", b"test")) + b"\0"
    return struct.pack(">HHHHHH", i & 0xffff, 0x0100, 1, 0, 0, 0) + name + struct.pack(">HH", 1, 1)
sent, got, inflight, i = 0, 0, 0, first
while i < first + count or inflight:
    while inflight < 200 and i < first + count:
        s.sendto(q(i), ("127.0.0.1", port))
        i += 1
        inflight += 1
    try:
        s.recv(4096)
        got += 1
    except socket.timeout:
        break
    inflight -= 1
print(got)
PY
}
rss0=$(rss)
got=$(flood 0 15000)
[ "${got:-0}" -ge 14000 ] || fail "flood 1: only ${got:-0} of 15000 answered"
b1=$(metric tb_dns_cache_bytes)
n1=$(metric tb_dns_cache_entries)
rss1=$(rss)
got=$(flood 15000 15000)
[ "${got:-0}" -ge 14000 ] || fail "flood 2: only ${got:-0} of 15000 answered"
b2=$(metric tb_dns_cache_bytes)
n2=$(metric tb_dns_cache_entries)
ev=$(metric tb_dns_cache_evictions_total)
rss2=$(rss)
echo "cache after 15000 names: $b1 bytes, $n1 entries; after 30000: $b2 bytes, $n2 entries, $ev evicted;" \
	"RSS ${rss0} -> ${rss1} -> ${rss2} KiB (cap $cap bytes)"
expect "cache bytes at or under the cap (15000 names)" "$(awk -v b="${b1:-x}" -v c=$cap 'BEGIN {print (b+0 > 0 && b+0 <= c) ? "yes" : "no"}')" '^yes$'
expect "cache bytes at or under the cap (30000 names)" "$(awk -v b="${b2:-x}" -v c=$cap 'BEGIN {print (b+0 > 0 && b+0 <= c) ? "yes" : "no"}')" '^yes$'
expect "the cap filled: most of it in use" "$(awk -v b="${b2:-0}" -v c=$cap 'BEGIN {print (b+0 > c*0.9) ? "yes" : "no"}')" '^yes$'
expect "entries evicted to stay under the cap" "$(awk -v e="${ev:-0}" 'BEGIN {print (e+0 >= 20000) ? "yes" : "no"}')" '^yes$'
if tb_sanitized; then
	echo "RSS not checked: ASan keeps freed memory in quarantine"
else
	expect "RSS does not grow once the cache is full (< 2 MiB for 15000 more names)" \
		"$(awk -v a="$rss1" -v b="$rss2" 'BEGIN {print (b - a < 2048) ? "yes" : "no"}')" '^yes$'
fi

# ---- prefetch ----
# t10-slow-pop: TTL 10 s; the authority answers it after 400 ms
out=$($D t10-slow-pop.cache.test A)
expect "prefetch: first answer" "$out" 'status: NOERROR'
t0=$(date +%s.%N)
expect "prefetch: one upstream query so far" "$(count t10-slow-pop.cache.test)" '^1$'
sleep 9.2
out=$($D t10-slow-pop.cache.test A)
ms=$(printf '%s\n' "$out" | awk '/Query time:/ {print $4}')
ttl=$(printf '%s\n' "$out" | awk '/^t10-slow-pop\.cache\.test\..*IN[[:space:]]+A/ {print $2}')
expect "prefetch: the late hit is answered from the cache (TTL 0 or 1)" "${ttl:-x}" '^[01]$'
expect "prefetch: the client did not wait for the authority (${ms:-?} ms < 200)" \
	"$(awk -v m="${ms:-999}" 'BEGIN {print (m+0 < 200) ? "yes" : "no"}')" '^yes$'
for _ in $(seq 1 14); do # the refresh reaches the authority at once; allow 0.7 s
	[ "$(count t10-slow-pop.cache.test)" = 2 ] && break
	sleep 0.05
done
expect "prefetch: the authority saw the refresh before the TTL ended" "$(count t10-slow-pop.cache.test)" '^2$'
expect "prefetch: still within the first TTL" "$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {print (b - a < 10) ? "yes" : "no"}')" '^yes$'
sleep 1.6 # the authority answers the refresh after 400 ms; then past the old TTL
out=$($D t10-slow-pop.cache.test A)
ttl=$(printf '%s\n' "$out" | awk '/^t10-slow-pop\.cache\.test\..*IN[[:space:]]+A/ {print $2}')
expect "prefetch: after the old TTL, the refreshed entry answers (TTL 8 or 9)" "${ttl:-x}" '^[89]$'
expect "prefetch: and no further upstream query" "$(count t10-slow-pop.cache.test)" '^2$'
expect "prefetch: counted" "$(metric tb_dns_cache_prefetches_total)" '^[1-9]'

# ---- serve-stale ----
# the client-response timer (RFC 8767 5): the authority answers t1-stall only once; once the
# TTL has passed, the client gets the stale data after 1.8 s, not at forward_timeout_ms (4 s)
expect "stale timer: answered once" "$($D t1-stall.cache.test A)" 'status: NOERROR'
sleep 1.5
out=$($D t1-stall.cache.test A)
ms=$(printf '%s\n' "$out" | awk '/Query time:/ {print $4}')
expect "stale timer: stale data with EDE 3" "$out" 'EDE: 3 \(Stale Answer\)'
expect "stale timer: after about 1.8 s (${ms:-?} ms), before the query's deadline" \
	"$(awk -v m="${ms:-0}" 'BEGIN {print (m >= 1700 && m < 3000) ? "yes" : "no"}')" '^yes$'
expect "stale: a short-TTL name answered" "$($D t2-stale.cache.test A)" 'status: NOERROR'
expect "stale: a negative answer cached" "$($D nx-stale.cache.test A)" 'status: NXDOMAIN'
stop_pid "$apid"
sleep 2.5
out=$($D t2-stale.cache.test A)
expect "stale: answered from the expired entry" "$out" 'status: NOERROR'
expect "stale: the record" "$out" '^t2-stale\.cache\.test\..*[[:space:]]30[[:space:]]+IN[[:space:]]+A[[:space:]]+192\.0\.2\.'
expect "stale: EDE 3 (dig)" "$out" 'EDE: 3 \(Stale Answer\)'
out=$(kdig @127.0.0.1 -p "$port" +edns +time=4 +retry=0 t2-stale.cache.test A)
expect "stale: EDE 3 (kdig)" "$out" 'EDE: 3 \(Stale Answer\)'
out=$($D never.cache.test A)
expect "stale: an uncached name is SERVFAIL" "$out" 'status: SERVFAIL'
expect "stale: with EDE 22" "$out" 'EDE: 22'
expect "stale answers counted" "$(metric tb_dns_cache_stale_answers_total)" '^[2-9]'

rc=0
tb_stop || rc=$?
expect "clean exit" "$rc" '^0$'

# serve_stale_seconds = 0: no stale answers
python3 "$here/dns/cache_authority.py" 127.0.0.1 "$aport" >> "$tmp/auth.log" 2>&1 &
apid=$!
track "$apid"
for _ in $(seq 1 100); do
	[ -n "$($A ready.cache.test A)" ] && break
	sleep 0.1
done
conf "$tmp/nostale.lua" "serve_stale_seconds = 0"
tb_start "$tmp/nostale.lua" "$tmp/out.log" "$tmp/err.log"
port=$(tb_port 'DNS (udp+tcp)')
D="dig @127.0.0.1 -p $port +time=8 +tries=1" # longer than forward_timeout_ms: a SERVFAIL is waited for
expect "no serve-stale: answered" "$($D t1-off.cache.test A)" 'status: NOERROR'
stop_pid "$apid"
sleep 1.5
expect "no serve-stale: SERVFAIL after the TTL" "$($D t1-off.cache.test A)" 'status: SERVFAIL'
rc=0
tb_stop || rc=$?
expect "clean exit (no serve-stale)" "$rc" '^0$'

finish
