#!/usr/bin/env bash
# Forwarding: names outside the local zones go to an upstream (Unbound from
# Debian, answering from local-data), with RA set, NXDOMAIN passed through,
# TCP when the upstream truncates, answers served from the cache with TTLs
# counting down after the upstream is gone, SERVFAIL + EDE when no upstream
# answers, and refusal for clients not allowed to recurse.
set -u
. "$(dirname "$0")/lib.sh"
need dig bind9-dnsutils
need unbound
need python3
tmp=$TB_WORK
uport=$(free_port)
dead=$(free_port)
{
	cat <<EOF
server:
  interface: 127.0.0.1
  port: $uport
  num-threads: 1
  do-daemonize: no
  username: ""
  chroot: ""
  directory: "$tmp"
  pidfile: ""
  use-syslog: no
  logfile: ""
  verbosity: 0
  access-control: 127.0.0.0/8 allow
  module-config: "iterator"
  local-zone: "fwd.example." static
  local-data: "fwd.example. 300 IN SOA ns.fwd.example. h.fwd.example. 1 3600 600 86400 120"
  local-data: "www.fwd.example. 300 IN A 192.0.2.10"
  local-data: "www.fwd.example. 300 IN TXT \"upstream\""
  local-data: "short.fwd.example. 5 IN A 192.0.2.11"
EOF
	for i in $(seq 1 40); do
		echo "  local-data: \"big.fwd.example. 300 IN TXT \\\"record $i padding-padding-padding-padding-padding\\\"\""
	done
	cat <<EOF
remote-control:
  control-enable: no
EOF
} > "$tmp/unbound.conf"
unbound -c "$tmp/unbound.conf" > "$tmp/unbound.log" 2>&1 &
upid=$!
track "$upid"
show_on_failure "$tmp/unbound.log"

cat > "$tmp/trustbox.lua" <<EOF
core { data_dir = "$tmp/data", log_level = "warn" }
-- other subsystems mount their routes on the usual listener names; port 0 keeps them out of the way
listen { name = "https", address = "127.0.0.1", port = 0, tls = true }
listen { name = "http", address = "127.0.0.1", port = 0, tls = false }
dns {
  listen = { "127.0.0.1:0" },
  iterate = false,
  dnssec = "off",
  forwarders = {
    { zone = "fwd.example", servers = { "127.0.0.1:$uport" } },
    { zone = "dead.example", servers = { "127.0.0.1:$dead" } },
  },
  forward_attempt_ms = 300,
  forward_timeout_ms = 1200,
  use_0x20 = true,
}
EOF
tb_start "$tmp/trustbox.lua" "$tmp/out.log" "$tmp/err.log"
port=$(tb_port 'DNS (udp+tcp)')
# Unbound may take a while to come up on a loaded machine: wait up to 30 s.
up=
for _ in $(seq 1 150); do
	if [ "$(dig @127.0.0.1 -p "$uport" +short +time=1 +tries=1 www.fwd.example A)" = 192.0.2.10 ]; then
		up=1
		break
	fi
	sleep 0.2
done
[ -n "$up" ] || die "the upstream Unbound never answered"
D="dig @127.0.0.1 -p $port +time=3 +tries=1"

out=$($D www.fwd.example A)
expect "forwarded answer" "$out" '^www\.fwd\.example\..*IN[[:space:]]+A[[:space:]]+192\.0\.2\.10'
expect "RA set, AA clear" "$out" 'flags: qr rd ra;'
expect "0x20: the client's case comes back" "$($D WwW.FwD.ExAmPlE TXT)" 'WwW\.FwD\.ExAmPlE\.'
out=$($D nope.fwd.example A)
expect "NXDOMAIN passed through" "$out" 'status: NXDOMAIN'
expect "NXDOMAIN with the upstream SOA" "$out" 'IN[[:space:]]+SOA[[:space:]]+ns\.fwd\.example\.'
out=$($D big.fwd.example TXT)
expect "upstream truncated: fetched over TCP, all records" "$out" 'ANSWER: 40,'
out=$($D big.fwd.example TXT +ignore)
expect "our UDP answer truncated in turn" "$out" 'flags: qr tc rd ra'
expect "local zone still authoritative" "$($D anything.lab.test A)" 'flags: qr aa rd ra'
out=$($D +norec www.fwd.example A)
expect "no recursion desired: refused" "$out" 'status: REFUSED'

# the cache: stop the upstream and ask again
sleep 1.2
stop_pid "$upid"
out=$($D www.fwd.example A)
expect "cached answer after the upstream is gone" "$out" '192\.0\.2\.10'
ttl=$(printf '%s\n' "$out" | awk '/^www\.fwd\.example\..*IN[[:space:]]+A/ {print $2}')
expect "TTL counts down in the cache" "$ttl" '^(29[0-9])$'
expect "negative answer cached" "$($D nope.fwd.example A)" 'status: NXDOMAIN'
out=$($D other.fwd.example A)
expect "uncached name, upstream gone: SERVFAIL" "$out" 'status: SERVFAIL'
expect "uncached name, upstream gone: EDE 22" "$out" 'EDE: 22 \(No Reachable Authority\)'
out=$($D x.dead.example A)
expect "dead upstream: SERVFAIL" "$out" 'status: SERVFAIL'
out=$($D www.nowhere.example A)
expect "no forwarder for the name: REFUSED" "$out" 'status: REFUSED'

rc=0
tb_stop || rc=$?
if [ "$rc" -ne 0 ] && grep -q LeakSanitizer "$tmp/err.log" && ! grep -q '/dns/' "$tmp/err.log"; then rc=0; fi
[ "$rc" -ne 0 ] && tail -30 "$tmp/err.log"
expect "clean exit" "$rc" '^0$'

finish
