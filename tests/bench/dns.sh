#!/usr/bin/env bash
# DNS benchmark: dnsperf against trustbox's local zone and against Unbound
# (Debian package, one thread, local-data answers) in the same run on the same
# machine. Rounds alternate between the two servers so that background load
# hits both alike; the script prints every round, the median and best of each,
# and the trustbox/Unbound ratio.
#
# usage: tests/bench/dns.sh [seconds-per-round] [rounds]
#   TRUSTBOX=path/to/trustbox (default: build/trustbox; use an optimised build)
set -eu

dur=${1:-10}
rounds=${2:-3}
TRUSTBOX=${TRUSTBOX:-build/trustbox}
command -v dnsperf >/dev/null || apt-get install -y -qq dnsperf >/dev/null
command -v unbound >/dev/null || apt-get install -y -qq unbound >/dev/null
command -v dig >/dev/null || apt-get install -y -qq bind9-dnsutils >/dev/null

tmp=$(mktemp -d)
tb_pid=
ub_pid=
cleanup() {
	[ -n "$tb_pid" ] && kill "$tb_pid" 2>/dev/null && wait "$tb_pid" 2>/dev/null
	[ -n "$ub_pid" ] && kill "$ub_pid" 2>/dev/null && wait "$ub_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

free_port() {
	python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
tb_port=$(free_port)
ub_port=$(free_port)

# 1000 distinct names, A and AAAA, all answered by local data.
for i in $(seq 1 500); do
	echo "host$i.lab.test A"
	echo "host$i.lab.test AAAA"
done > "$tmp/queries.txt"

cat > "$tmp/trustbox.lua" <<EOF
core { data_dir = "$tmp/data", log_level = "warn" }
-- other subsystems mount their routes on the usual listener names; port 0 keeps them out of the way
listen { name = "https", address = "127.0.0.1", port = 0, tls = true }
listen { name = "http", address = "127.0.0.1", port = 0, tls = false }
dns { listen = { "127.0.0.1:$tb_port" } }
EOF
cat > "$tmp/unbound.conf" <<EOF
server:
  interface: 127.0.0.1
  port: $ub_port
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
  local-zone: "lab.test." redirect
  local-data: "lab.test. 60 IN A 127.0.0.1"
  local-data: "lab.test. 60 IN AAAA ::1"
remote-control:
  control-enable: no
EOF

"$TRUSTBOX" run -c "$tmp/trustbox.lua" > "$tmp/trustbox.log" 2>&1 &
tb_pid=$!
unbound -c "$tmp/unbound.conf" > "$tmp/unbound.log" 2>&1 &
ub_pid=$!
for _ in $(seq 1 50); do
	a=$(dig @127.0.0.1 -p "$tb_port" +short +time=1 +tries=1 host1.lab.test A 2>/dev/null || true)
	b=$(dig @127.0.0.1 -p "$ub_port" +short +time=1 +tries=1 host1.lab.test A 2>/dev/null || true)
	[ "$a" = 127.0.0.1 ] && [ "$b" = 127.0.0.1 ] && break
	sleep 0.2
done
if [ "$a" != 127.0.0.1 ] || [ "$b" != 127.0.0.1 ]; then
	echo "servers did not come up"; cat "$tmp/trustbox.log" "$tmp/unbound.log"; exit 1
fi

perf() {
	dnsperf -s 127.0.0.1 -p "$1" -d "$tmp/queries.txt" -l "$dur" -c 4 -T 1 -q 256 2>&1 |
		sed -n 's/.*Queries per second: *\([0-9.]*\).*/\1/p'
}

tb_all=()
ub_all=()
echo "dnsperf: ${dur}s per round, $rounds rounds, 1 thread, 4 sockets, 256 outstanding"
for r in $(seq 1 "$rounds"); do
	t=$(perf "$tb_port")
	u=$(perf "$ub_port")
	tb_all+=("$t")
	ub_all+=("$u")
	printf 'round %d: trustbox %10.0f qps   unbound %10.0f qps\n' "$r" "$t" "$u"
done

stats() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {printf "%.0f %.0f\n", a[int((NR+1)/2)], a[NR]}'; }
read -r tb_med tb_best <<< "$(stats "${tb_all[@]}")"
read -r ub_med ub_best <<< "$(stats "${ub_all[@]}")"
printf 'trustbox: median %s qps, best %s qps\n' "$tb_med" "$tb_best"
printf 'unbound:  median %s qps, best %s qps (%s)\n' "$ub_med" "$ub_best" "$(unbound -V | head -1)"
awk -v a="$tb_med" -v b="$ub_med" 'BEGIN { printf "ratio trustbox/unbound (median): %.2f\n", a / b }'
