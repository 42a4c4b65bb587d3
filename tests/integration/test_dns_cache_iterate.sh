#!/usr/bin/env bash
# Serve-stale (RFC 8767) for iterated answers, through a hermetic lab inside a
# private network namespace the script creates: an NSD root on 127.53.0.1
# delegating st. to an NSD on 127.53.0.2, whose www.st. has a TTL of 2 s.
# trustbox iterates from root_hints naming the lab's root. Once st.'s server
# is stopped and the TTL has passed, www.st. is answered from the expired
# entry with TTL 30 and EDE 3 (the root still answers: only the zone's own
# server is gone, so iteration ends with no server left, EDE 22, and the stale
# data replaces that SERVFAIL); a name never cached is SERVFAIL with EDE 22.
# Each server gets forward_attempt_ms (2.5 s) to answer, so giving up on st.
# takes about 5 s; a client with expired data at hand gets it after the
# client-response timer (1.8 s, RFC 8767 5) instead, well before dig's 4 s:
# once with st.'s server stopped, once with a socket there that drops every
# query, timed.
set -u
. "$(dirname "$0")/netns.sh" # re-runs this script in a private network namespace
. "$(dirname "$0")/lib.sh"
need dig bind9-dnsutils
need nsd
need ip iproute2
ip link set lo up || die "cannot bring lo up in the namespace"
tmp=$TB_WORK

cat > "$tmp/root.zone" <<'EOF'
$ORIGIN .
$TTL 300
@ SOA a.root-servers.lab. hostmaster.lab. 1 3600 600 86400 60
@ NS a.root-servers.lab.
a.root-servers.lab. A 127.53.0.1
st. NS ns.st.
ns.st. A 127.53.0.2
EOF
cat > "$tmp/st.zone" <<'EOF'
$ORIGIN st.
$TTL 300
@ SOA ns hostmaster 1 3600 600 86400 60
@ NS ns
ns A 127.53.0.2
www 2 A 192.0.2.77
www2 2 A 192.0.2.78
EOF
lab_nsd root 127.53.0.1 .:root.zone
lab_nsd st 127.53.0.2 st.:st.zone
lab_wait 127.53.0.1 127.53.0.2
printf '.  3600000 NS a.root-servers.lab.\na.root-servers.lab. 3600000 A 127.53.0.1\n' > "$tmp/hints"

cat > "$tmp/trustbox.lua" <<EOF
core { data_dir = "$tmp/data", log_level = "warn" }
listen { name = "https", address = "127.0.0.1", port = 0, tls = true }
listen { name = "http", address = "127.0.0.1", port = 0, tls = false }
dns {
  listen = { "127.0.0.1:0" },
  iterate = true,
  root_hints = "$tmp/hints",
  dnssec = "off",
  forward_attempt_ms = 2500,
  forward_timeout_ms = 8000,
  serve_stale_seconds = 600,
}
EOF
tb_start "$tmp/trustbox.lua" "$tmp/out.log" "$tmp/err.log"
port=$(tb_port 'DNS (udp+tcp)')
D="dig @127.0.0.1 -p $port +time=4 +tries=1"

out=$($D www.st. A)
expect "iterated answer" "$out" '^www\.st\..*IN[[:space:]]+A[[:space:]]+192\.0\.2\.77'
out=$($D www2.st. A)
expect "iterated answer (www2)" "$out" '^www2\.st\..*IN[[:space:]]+A[[:space:]]+192\.0\.2\.78'
# stop st.'s server only (its pid file; the root stays up)
pid=$(cat "$tmp/st/nsd.pid" 2>/dev/null)
[ -n "$pid" ] || die "no pid file for the st. server"
kill "$pid"
for _ in $(seq 1 50); do
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
sleep 2.2
out=$($D www.st. A)
expect "stale: answered from the expired entry" "$out" 'status: NOERROR'
expect "stale: TTL 30" "$out" '^www\.st\..*[[:space:]]30[[:space:]]+IN[[:space:]]+A[[:space:]]+192\.0\.2\.77'
expect "stale: EDE 3" "$out" 'EDE: 3 \(Stale Answer\)'
out=$(dig @127.0.0.1 -p "$port" +time=12 +tries=1 other.st. A)
expect "never cached: SERVFAIL" "$out" 'status: SERVFAIL'
expect "never cached: EDE 22" "$out" 'EDE: 22'

# a silent server where st.'s was: the client-response timer answers with the stale data
python3 -c '
import socket, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.53.0.2", 53))
end = time.time() + 60
while time.time() < end:
    s.settimeout(1)
    try:
        s.recvfrom(4096)
    except OSError:
        pass
' &
track $!
sleep 0.5
out=$($D www2.st. A)
expect "client-response timer: stale answer" "$out" 'status: NOERROR'
expect "client-response timer: the expired data, TTL 30" "$out" '^www2\.st\..*[[:space:]]30[[:space:]]+IN[[:space:]]+A[[:space:]]+192\.0\.2\.78'
expect "client-response timer: EDE 3" "$out" 'EDE: 3 \(Stale Answer\)'
ms=$(printf '%s\n' "$out" | sed -n 's/^;; Query time: \([0-9]*\) msec/\1/p')
expect "client-response timer: answered after about 1.8 s, not when resolution gives up (${ms:-?} ms)" \
	"$([ -n "$ms" ] && [ "$ms" -ge 1500 ] && [ "$ms" -lt 3500 ] && echo yes)" '^yes$'
# the resolution goes on in the background and gives up at its deadline; the process stays responsive
expect "still answering meanwhile" "$($D +short lab.test. SOA)" 'hostmaster|\.'
sleep 6

rc=0
tb_stop || rc=$?
expect "clean exit" "$rc" '^0$'
finish
