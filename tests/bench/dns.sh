#!/usr/bin/env bash
# DNS benchmark: dnsperf against trustbox's local zone and against Unbound
# (Debian package, one thread, local-data answers) in the same run on the same
# machine. Rounds alternate between the two servers so that background load
# hits both alike; the script prints every round, the median and best of each,
# and the trustbox/Unbound ratio, and the CPU time each server spent per answer
# (from /proc: on 2 cores dnsperf itself can be the bottleneck, and then both
# servers answer at its rate while the CPU per answer still tells them apart).
#
# usage: tests/bench/dns.sh [seconds-per-round] [rounds]
#        tests/bench/dns.sh recursion [seconds-per-round] [rounds] [cache-fill-names]
#   TRUSTBOX=path/to/trustbox (default: build/trustbox; use an optimised build)
#
# recursion: the resolver through a hermetic signed lab (lib.sh's lab_* functions: a
# root, test. and bench.test, Ed25519 with NSEC and a wildcard, on NSD at 127.53.0.x)
# inside a private network namespace, trustbox (dns.iterate, dnssec = "validate") against
# Unbound (one thread, the same hints and anchor, aggressive-nsec off: trustbox's
# RFC 8198 synthesis covers NXDOMAIN and NODATA, and with wildcard synthesis every miss would be
# answered from the wildcard's NSEC without a query), alternating rounds. Per round and server: cache misses (names
# never asked before, each a validated walk below the cached zone verdicts), then cached
# answers (1000 names asked before), queries/s with p50/p99 latency from dnsperf -v.
# Then each server's RSS after cache-fill-names (default 20000) more misses, with
# trustbox's cache entries and bytes.
set -eu
# cpu_us PID: the CPU time (user + system) the process has used so far, in microseconds.
cpu_us() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.0f\n", ($14 + $15) * 1000000 / hz }' "/proc/$1/stat"; }
# per_answer CPU0 CPU1 QUERIES: microseconds of server CPU per answer, two decimals.
per_answer() { awk -v a="$1" -v b="$2" -v q="$3" 'BEGIN { printf "%.2f\n", (q > 0 ? (b - a) / q : 0) }'; }
# unbound_conf PORT: the start of an Unbound configuration both modes share (one thread,
# in the foreground, quiet, files in $tmp); each appends its own server options.
unbound_conf() {
	printf 'server:\n  interface: 127.0.0.1\n  port: %s\n  num-threads: 1\n  do-daemonize: no\n' "$1"
	printf '  username: ""\n  chroot: ""\n  directory: "%s"\n  pidfile: ""\n  use-syslog: no\n' "$tmp"
	printf '  logfile: ""\n  verbosity: 0\n'
}
if [ "${1:-}" = recursion ]; then
	shift
	export TRUSTBOX="$(realpath "${TRUSTBOX:-build/trustbox}")"
	set -- recursion "$@"
	. "$(dirname "$0")/../integration/netns.sh"
	shift
	dur=${1:-10}
	rounds=${2:-3}
	fill=${3:-20000}
	. "$(dirname "$0")/../integration/lib.sh"
	ip link set lo up
	tmp=$TB_WORK
	lab_zone bench.zone bench.test. <<'EOF'
@ NS ns
ns A 127.53.0.3
* A 192.0.2.1
EOF
	lab_sign bench.test. bench.zone "-a ED25519"
	{ printf '@ NS ns\nns A 127.53.0.2\nbench NS ns.bench\nns.bench A 127.53.0.3\n'; lab_ds bench.test; } |
		lab_zone test.zone test.
	lab_sign test. test.zone "-a ECDSAP256SHA256"
	lab_signed_root test 127.53.0.2
	lab_nsd root 127.53.0.1 .:root.zone.signed
	lab_nsd tld 127.53.0.2 test.:test.zone.signed
	lab_nsd leaf 127.53.0.3 bench.test.:bench.zone.signed
	lab_wait 127.53.0.1 127.53.0.2 127.53.0.3
	tbp=$(free_port)
	ubp=$(free_port)
	hp=$(free_port)
	cat > "$tmp/trustbox.lua" <<EOF
core { data_dir = "$tmp/data", log_level = "warn" }
listen { name = "http", address = "127.0.0.1", port = $hp, tls = false }
listen { name = "https", address = "127.0.0.1", port = 0, tls = true }
dns { listen = { "127.0.0.1:$tbp" }, iterate = true, dnssec = "validate", root_hints = "$tmp/hints",
      trust_anchor_file = "$tmp/anchor" }
EOF
	unbound_conf "$ubp" > "$tmp/unbound.conf"
	cat >> "$tmp/unbound.conf" <<EOF
  do-not-query-localhost: no
  root-hints: "$tmp/hints"
  trust-anchor-file: "$tmp/anchor"
  module-config: "validator iterator"
  aggressive-nsec: no
  local-zone: "test." nodefault
  msg-cache-size: 64m
  rrset-cache-size: 128m
remote-control:
  control-enable: no
EOF
	tb_start "$tmp/trustbox.lua"
	unbound -c "$tmp/unbound.conf" > "$tmp/unbound.log" 2>&1 &
	ub=$!
	track $ub
	for _ in $(seq 1 50); do
		b=$(dig @127.0.0.1 -p "$ubp" +short +time=1 +tries=1 warm.bench.test A 2>/dev/null || true)
		[ "$b" = 192.0.2.1 ] && break
		sleep 0.2
	done
	[ "$(dig @127.0.0.1 -p "$tbp" +short warm.bench.test A)" = 192.0.2.1 ] || die "trustbox does not resolve the lab"
	[ "$b" = 192.0.2.1 ] || die "unbound does not resolve the lab"
	# qps, p50 and p99 (ms), answers other than NOERROR (not counting the queries still out
	# when the time ran out) of one dnsperf run: FILE PORT [dnsperf options]
	run() {
		local f=$1 port=$2 n
		shift 2
		dnsperf -s 127.0.0.1 -p "$port" -d "$f" -c 1 -T 1 -v "$@" > "$tmp/perf.out" 2>&1
		grep '^> ' "$tmp/perf.out" | awk '{ printf "%.3f\n", $NF * 1000 }' | sort -g > "$tmp/lat"
		n=$(wc -l < "$tmp/lat")
		printf '%.0f %s %s %s\n' "$(sed -n 's/.*Queries per second: *\([0-9.]*\).*/\1/p' "$tmp/perf.out")" \
			"$(sed -n "$(((n + 1) / 2))p" "$tmp/lat")" "$(sed -n "$((n * 99 / 100 > 0 ? n * 99 / 100 : 1))p" "$tmp/lat")" \
			"$(grep '^> ' "$tmp/perf.out" | grep -v '^> NOERROR' | grep -vc '^> T ' || true)"
	}
	seq 1 1000 | sed 's/^/c/; s/$/.bench.test A/' > "$tmp/cached.txt"
	run "$tmp/cached.txt" "$tbp" -n 1 -q 20 > /dev/null
	run "$tmp/cached.txt" "$ubp" -n 1 -q 20 > /dev/null
	echo "recursion through the signed lab: ${dur}s per phase, $rounds rounds, dnsperf 1 client, 1 thread"
	echo "miss: 50 outstanding, each name once; cached: 256 outstanding over 1000 names asked before"
	for r in $(seq 1 "$rounds"); do
		for srv in tb ub; do
			port=$tbp
			[ $srv = ub ] && port=$ubp
			seq 1 200000 | sed "s/^/m$r$srv/; s/\$/.bench.test A/" > "$tmp/miss.txt"
			read -r q p50 p99 bad <<< "$(run "$tmp/miss.txt" "$port" -n 1 -l "$dur" -q 50)"
			pid=$TB_PID
			[ $srv = ub ] && pid=$ub
			c0=$(cpu_us "$pid")
			read -r cq cp50 cp99 cbad <<< "$(run "$tmp/cached.txt" "$port" -l "$dur" -q 256)"
			cus=$(per_answer "$c0" "$(cpu_us "$pid")" "$(sed -n 's/.*Queries completed: *\([0-9]*\).*/\1/p' "$tmp/perf.out")")
			printf 'round %d %-8s miss %6s qps p50 %6s ms p99 %7s ms (%s not NOERROR)   cached %7s qps p50 %5s ms p99 %5s ms (%s), %s us CPU per answer\n' \
				"$r" "$([ $srv = tb ] && echo trustbox || echo unbound)" "$q" "$p50" "$p99" "$bad" "$cq" "$cp50" "$cp99" "$cbad" "$cus"
			echo "$srv $q $cq $cus" >> "$tmp/results"
		done
	done
	med() { awk -v s="$1" -v c="$2" '$1 == s { print $c }' "$tmp/results" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
	for c in 2:miss 3:cached; do
		t=$(med tb "${c%%:*}")
		u=$(med ub "${c%%:*}")
		awk -v t="$t" -v u="$u" -v w="${c#*:}" 'BEGIN { printf "median %s: trustbox %d qps, unbound %d qps, ratio %.2f\n", w, t, u, t / u }'
	done
	# dnsperf shares the 2 cores: when it is the bottleneck both servers answer at its rate,
	# and the CPU each spends per answer is the figure that compares them
	t=$(med tb 4)
	u=$(med ub 4)
	awk -v t="$t" -v u="$u" 'BEGIN { printf "median CPU per cached answer: trustbox %.2f us, unbound %.2f us, ratio (unbound/trustbox) %.2f\n", t, u, u / t }'
	seq 1 "$fill" | sed 's/^/f/; s/$/.bench.test A/' > "$tmp/fill.txt"
	run "$tmp/fill.txt" "$tbp" -n 1 -q 50 > /dev/null
	run "$tmp/fill.txt" "$ubp" -n 1 -q 50 > /dev/null
	cache=$(curl -sS "http://127.0.0.1:$hp/api/v1/dns/cache")
	printf 'after %d more misses: trustbox RSS %s kB, cache %s; unbound RSS %s kB (%s)\n' "$fill" \
		"$(awk '/VmRSS/ { print $2 }' "/proc/$TB_PID/status")" "$cache" \
		"$(awk '/VmRSS/ { print $2 }' "/proc/$ub/status")" "$(unbound -V | head -1)"
	tb_stop || true
	exit 0
fi

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
dns { listen = { "127.0.0.1:$tb_port" }, iterate = false }
EOF
unbound_conf "$ub_port" > "$tmp/unbound.conf"
cat >> "$tmp/unbound.conf" <<EOF
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

# perf PORT PID: queries per second and server CPU per answer (us) of one dnsperf run
perf() {
	local c0 c1
	c0=$(cpu_us "$2")
	dnsperf -s 127.0.0.1 -p "$1" -d "$tmp/queries.txt" -l "$dur" -c 4 -T 1 -q 256 > "$tmp/perf.out" 2>&1
	c1=$(cpu_us "$2")
	printf '%s %s\n' "$(sed -n 's/.*Queries per second: *\([0-9.]*\).*/\1/p' "$tmp/perf.out")" \
		"$(per_answer "$c0" "$c1" "$(sed -n 's/.*Queries completed: *\([0-9]*\).*/\1/p' "$tmp/perf.out")")"
}

tb_all=()
ub_all=()
echo "dnsperf: ${dur}s per round, $rounds rounds, 1 thread, 4 sockets, 256 outstanding"
tb_cpu=()
ub_cpu=()
for r in $(seq 1 "$rounds"); do
	read -r t tc <<< "$(perf "$tb_port" "$tb_pid")"
	read -r u uc <<< "$(perf "$ub_port" "$ub_pid")"
	tb_all+=("$t")
	ub_all+=("$u")
	tb_cpu+=("$tc")
	ub_cpu+=("$uc")
	printf 'round %d: trustbox %10.0f qps (%s us CPU per answer)   unbound %10.0f qps (%s us)\n' "$r" "$t" "$tc" "$u" "$uc"
done

stats() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {printf "%.0f %.0f\n", a[int((NR+1)/2)], a[NR]}'; }
read -r tb_med tb_best <<< "$(stats "${tb_all[@]}")"
read -r ub_med ub_best <<< "$(stats "${ub_all[@]}")"
printf 'trustbox: median %s qps, best %s qps\n' "$tb_med" "$tb_best"
printf 'unbound:  median %s qps, best %s qps (%s)\n' "$ub_med" "$ub_best" "$(unbound -V | head -1)"
awk -v a="$tb_med" -v b="$ub_med" 'BEGIN { printf "ratio trustbox/unbound (median): %.2f\n", a / b }'
tc_med=$(printf '%s\n' "${tb_cpu[@]}" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
uc_med=$(printf '%s\n' "${ub_cpu[@]}" | sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
# dnsperf shares the 2 cores: CPU per answer compares the servers when it is the bottleneck
awk -v a="$tc_med" -v b="$uc_med" 'BEGIN { printf "CPU per answer (median): trustbox %.2f us, unbound %.2f us, ratio (unbound/trustbox) %.2f\n", a, b, b / a }'
