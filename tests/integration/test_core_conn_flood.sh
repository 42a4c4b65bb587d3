#!/usr/bin/env bash
# Connection floods against the HTTP listener and DNS over TCP, with the
# default caps (HTTP: 1024 connections, 512 per address; DNS: 256, 64 per
# address). While conn_flood.py holds 1,500 connections (idle; slowloris
# headers that never end; from 127.0.0.2-9, or all from 127.0.0.2; some
# floods reconnecting at once whenever the server closes one), a client on
# 127.0.0.1 gets /healthz (curl) and a DNS answer (dig +tcp) within 1 s every
# time: a new connection over a cap takes the place of the oldest idle or
# header-incomplete one. One address alone never holds more than its cap.
# (Before the caps shed old connections, /healthz failed for ~9 s, until the
# 10 s header timeout closed the flood.)
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need curl
need dig bind9-dnsutils
need python3
W=$TB_WORK
F=(python3 "$TB_SOURCE_DIR/tests/integration/conn_flood.py")
SRC=(127.0.0.2 127.0.0.3 127.0.0.4 127.0.0.5 127.0.0.6 127.0.0.7 127.0.0.8 127.0.0.9)

P=$(free_port); D=$(free_port)
printf '@ SOA ns hostmaster 1 3600 600 86400 60\n@ NS ns\nns A 127.0.0.1\nwww A 192.0.2.1\n' > flood.zone
cat > t.lua <<EOF
core { data_dir = "$W/data", log_level = "warn" }
listen { name = "http", address = "127.0.0.1", port = $P, tls = false }
dns { listen = { "127.0.0.1:$D" }, iterate = false, zones = { { name = "flood.test", file = "$W/flood.zone" } } }
if dap then dap { enabled = false } end
if acme then acme { enabled = false } end
if ctlog then ctlog { enabled = false } end
EOF
tb_start t.lua
curl -sS -m 2 -o /dev/null "http://127.0.0.1:$P/healthz" || die "no /healthz before the floods"

# flood NAME PORT MODE [--reconnect] ADDR...: starts conn_flood.py (1,500 connections, 30 s at
# most) and waits until they are attempted and the server has had a moment with them.
flood() {
	local name=$1; shift
	"${F[@]}" "$1" 1500 30 "${@:2}" > "$name.flood" 2>&1 &
	FPID=$!
	track "$FPID"
	for _ in $(seq 1 100); do grep -q ready "$name.flood" && break; sleep 0.1; done
	grep -q ready "$name.flood" || die "$name: the flooder did not start: $(cat "$name.flood")"
	sleep 1
}
unflood() { stop_pid "$FPID" 2>/dev/null || true; sleep 0.5; }
# probe_http NAME: 8 tries over ~5 s, each /healthz answered 200 within 1 s.
probe_http() {
	local i c t worst=0 bad=0
	for i in 1 2 3 4 5 6 7 8; do
		read -r c t < <(curl -sS -m 1 -o /dev/null -w '%{http_code} %{time_total}\n' \
			"http://127.0.0.1:$P/healthz" 2>/dev/null || echo "000 1")
		[ "$c" = 200 ] || bad=$((bad + 1))
		worst=$(python3 -c "print(max($worst, $t))")
		sleep 0.5
	done
	[ "$bad" = 0 ] && python3 -c "import sys; sys.exit(0 if $worst < 1.0 else 1)" &&
		ok "$1: /healthz answered 8 of 8 times (slowest ${worst}s)" ||
		fail "$1: /healthz failed $bad of 8 times (slowest ${worst}s)"
}
# probe_dns NAME: 8 tries, each dig +tcp answered within 1 s.
probe_dns() {
	local i t0 t1 out bad=0 worst=0 ms
	for i in 1 2 3 4 5 6 7 8; do
		t0=$(date +%s%N)
		out=$(dig +tcp +time=1 +tries=1 -p "$D" @127.0.0.1 www.flood.test A 2>&1 || true)
		t1=$(date +%s%N)
		ms=$(( (t1 - t0) / 1000000 ))
		[ "$ms" -gt "$worst" ] && worst=$ms
		if ! printf '%s\n' "$out" | grep -q 'status: NOERROR' ||
			! printf '%s\n' "$out" | grep -q '192\.0\.2\.1' || [ "$ms" -ge 1000 ]; then
			bad=$((bad + 1))
		fi
		sleep 0.5
	done
	[ "$bad" = 0 ] && ok "$1: dig +tcp answered 8 of 8 times (slowest ${worst} ms)" ||
		fail "$1: dig +tcp failed $bad of 8 times (slowest ${worst} ms)"
}
conns() { { curl -sS -m 1 "http://127.0.0.1:$P/metrics" || true; } | sed -n 's/^tb_http_connections //p'; }

# --- HTTP ---
flood idle "$P" idle "${SRC[@]}"
probe_http "1,500 idle connections from 127.0.0.2-9"
n=$(conns)
[ -n "$n" ] && [ "$n" -le 1025 ] && ok "connections held: $n (cap 1024)" || fail "connections held: '$n'"
unflood

flood slow "$P" slowloris --reconnect "${SRC[@]}"
probe_http "1,500 slowloris connections from 127.0.0.2-9, reconnecting"
unflood

flood one "$P" idle --reconnect 127.0.0.2
probe_http "1,500 idle connections from 127.0.0.2 alone, reconnecting"
n=$(conns)
[ -n "$n" ] && [ "$n" -le 514 ] && ok "one address holds at most its cap: $n connections (512 per address)" ||
	fail "one address holds $n connections (cap 512 per address)"
unflood
m=$(curl -sS -m 1 "http://127.0.0.1:$P/metrics" || true)
expect "sheds are counted" "$m" 'tb_http_connections_shed_total\{reason="evicted"\} [1-9]'

# --- DNS over TCP ---
flood dns-idle "$D" idle --reconnect "${SRC[@]}"
probe_dns "1,500 idle DNS/TCP connections from 127.0.0.2-9, reconnecting"
unflood

flood dns-slow "$D" dns-slow "${SRC[@]}"
probe_dns "1,500 DNS/TCP connections with half a length prefix from 127.0.0.2-9"
unflood

flood dns-one "$D" idle --reconnect 127.0.0.2
probe_dns "1,500 DNS/TCP connections from 127.0.0.2 alone, reconnecting"
unflood

probe_http "after the floods"
tb_stop || fail "exit status"
ok "SIGTERM -> exit 0"
finish
