#!/usr/bin/env bash
# HTTP benchmark: wrk against trustbox's GET /healthz on its plain and TLS
# listeners, and against nginx (Debian package, one worker) serving a static
# 3-byte file on a plain and a TLS port, in the same run on the same machine.
# wrk runs with 1 thread and 1 or 8 keep-alive connections; rounds alternate
# between the two servers so that background load hits both alike. Both
# servers get an ECDSA P-256 certificate, both run TLS 1.2 with
# ECDHE-ECDSA-AES128-GCM-SHA256 (what wrk's OpenSSL and trustbox agree on);
# trustbox logs at "warn" (no access-log line per request), nginx with
# access_log off. The script prints every round and the best of each cell.
# Then TLS handshakes: openssl s_time against both TLS ports, full (-new)
# and resumed (-reuse: session tickets on both servers), with the handshakes
# per second of wall-clock time and the server's CPU per handshake.
# HTTP/2: h2load (nghttp2-client) against both TLS ports (ALPN h2, the same
# TLS settings), 1 thread, 1 and 8 connections with 10 streams each.
#
# usage: tests/bench/http.sh [seconds-per-round] [rounds]
#   TRUSTBOX=path/to/trustbox (default: build/trustbox; use an optimised build)
set -eu

dur=${1:-5}
rounds=${2:-3}
TRUSTBOX=${TRUSTBOX:-build/trustbox}
command -v wrk >/dev/null || apt-get install -y -qq wrk >/dev/null
command -v h2load >/dev/null || apt-get install -y -qq nghttp2-client >/dev/null
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || apt-get install -y -qq nginx-light >/dev/null
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

tmp=$(mktemp -d)
tb_pid=
ng_pid=
cleanup() {
	[ -n "$tb_pid" ] && kill "$tb_pid" 2>/dev/null && wait "$tb_pid" 2>/dev/null
	[ -n "$ng_pid" ] && kill "$ng_pid" 2>/dev/null && wait "$ng_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
tb_http=$(free_port)
tb_tls=$(free_port)
ng_http=$(free_port)
ng_tls=$(free_port)

# --- trustbox ---
cat > "$tmp/tb.lua" <<EOF
core { data_dir = "$tmp/tb", log_level = "warn" }
if acme then acme { enabled = false } end
if ctlog then ctlog { enabled = false } end
if dap then dap { enabled = false } end
if dns then dns { enabled = false } end
listen { name = "https", address = "127.0.0.1", port = $tb_tls, tls = true }
listen { name = "http", address = "127.0.0.1", port = $tb_http, tls = false }
EOF
"$TRUSTBOX" run -c "$tmp/tb.lua" > "$tmp/tb.out" 2> "$tmp/tb.err" &
tb_pid=$!
for _ in $(seq 1 100); do grep -q 'is running' "$tmp/tb.out" 2>/dev/null && break; sleep 0.1; done
grep -q 'is running' "$tmp/tb.out" || { cat "$tmp/tb.err"; echo "trustbox did not start" >&2; exit 1; }

# --- nginx: one worker, no daemon, config and files in the temp dir ---
mkdir -p "$tmp/ng/www"
printf 'ok\n' > "$tmp/ng/www/healthz"
chmod 755 "$tmp" "$tmp/ng" "$tmp/ng/www"  # nginx's workers drop root
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
	-keyout "$tmp/ng/key.pem" -out "$tmp/ng/cert.pem" 2>/dev/null
cat > "$tmp/ng/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $tmp/ng/nginx.pid;
error_log $tmp/ng/error.log warn;
events { worker_connections 1024; }
http {
	access_log off;
	client_body_temp_path $tmp/ng/body;
	proxy_temp_path $tmp/ng/proxy;
	fastcgi_temp_path $tmp/ng/fastcgi;
	uwsgi_temp_path $tmp/ng/uwsgi;
	scgi_temp_path $tmp/ng/scgi;
	keepalive_requests 1000000;
	server {
		listen 127.0.0.1:$ng_http;
		listen 127.0.0.1:$ng_tls ssl http2;
		ssl_certificate $tmp/ng/cert.pem;
		ssl_certificate_key $tmp/ng/key.pem;
		ssl_protocols TLSv1.2;
		ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256;
		root $tmp/ng/www;
		default_type text/plain;
	}
}
EOF
"$NGINX" -p "$tmp/ng" -c "$tmp/ng/nginx.conf" 2> "$tmp/ng/stderr" &
ng_pid=$!
for _ in $(seq 1 50); do curl -sf "http://127.0.0.1:$ng_http/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
[ "$(curl -sS "http://127.0.0.1:$ng_http/healthz")" = ok ] || { cat "$tmp/ng/stderr" "$tmp/ng/error.log"; echo "nginx did not start" >&2; exit 1; }
[ "$(curl -sS "http://127.0.0.1:$tb_http/healthz")" = ok ] || { echo "trustbox /healthz" >&2; exit 1; }

# run NAME URL CONNS -> one line: requests/s, latency avg and p99
run() {
	local out rps avg p99
	out=$(wrk -t1 -c"$3" -d"${dur}s" --latency "$2" 2>&1)
	if printf '%s' "$out" | grep -q 'Non-2xx\|Socket errors'; then
		echo "$1: errors: $(printf '%s' "$out" | grep 'Non-2xx\|Socket errors')" >&2
	fi
	rps=$(printf '%s' "$out" | awk '/^Requests\/sec/ {print $2}')
	avg=$(printf '%s' "$out" | awk '/^    Latency/ {print $2}')
	p99=$(printf '%s' "$out" | awk '/^ +99%/ {print $2}')
	printf '%-9s %-6s c=%-2s %10s req/s  avg %-8s p99 %s\n' "$1" "$4" "$3" "$rps" "$avg" "$p99"
	echo "$1 $4 $3 $rps" >> "$tmp/results"
}

echo "wrk -t1 -d${dur}s --latency, $rounds rounds; $(nproc) CPUs; $(uname -sr)"
for r in $(seq 1 "$rounds"); do
	echo "--- round $r"
	for c in 1 8; do
		run trustbox "http://127.0.0.1:$tb_http/healthz" "$c" plain
		run nginx "http://127.0.0.1:$ng_http/healthz" "$c" plain
		run trustbox "https://127.0.0.1:$tb_tls/healthz" "$c" tls
		run nginx "https://127.0.0.1:$ng_tls/healthz" "$c" tls
	done
done
echo "--- best of $rounds (requests/s)"
printf '%-6s %-4s %12s %12s %7s\n' mode conn trustbox nginx ratio
for m in plain tls; do
	for c in 1 8; do
		t=$(awk -v m=$m -v c=$c '$1=="trustbox" && $2==m && $3==c && $4>b {b=$4} END {print b+0}' "$tmp/results")
		n=$(awk -v m=$m -v c=$c '$1=="nginx" && $2==m && $3==c && $4>b {b=$4} END {print b+0}' "$tmp/results")
		printf '%-6s %-4s %12.0f %12.0f %7.2f\n' "$m" "$c" "$t" "$n" "$(awk -v t="$t" -v n="$n" 'BEGIN {print (n > 0 ? t / n : 0)}')"
	done
done

# --- HTTP/2: h2load, 10 streams per connection ---
# h2 NAME URL CONNS -> one line: requests/s
h2() {
	local out rps
	out=$(h2load -t1 -c"$3" -m10 -D"$dur" --warm-up-time=1 \
		--ciphers=ECDHE-ECDSA-AES128-GCM-SHA256 "$2" 2>&1)
	printf '%s' "$out" | grep -q 'Application protocol: h2' || echo "$1: not h2: $(printf '%s' "$out" | tail -3)" >&2
	if ! printf '%s' "$out" | grep -q ' 0 failed, 0 errored'; then
		echo "$1: errors: $(printf '%s' "$out" | grep '^requests:')" >&2
	fi
	rps=$(printf '%s' "$out" | sed -n 's/^finished in .*, \([0-9.]*\) req\/s.*/\1/p')
	printf '%-9s h2     c=%-2s %10s req/s\n' "$1" "$3" "$rps"
	echo "$1 h2 $3 $rps" >> "$tmp/results"
}
echo "h2load -t1 -m10 -D${dur}, $rounds rounds"
for r in $(seq 1 "$rounds"); do
	echo "--- h2 round $r"
	for c in 1 8; do
		h2 trustbox "https://127.0.0.1:$tb_tls/healthz" "$c"
		h2 nginx "https://127.0.0.1:$ng_tls/healthz" "$c"
	done
done
echo "--- HTTP/2, best of $rounds (requests/s)"
printf '%-6s %-4s %12s %12s %7s\n' mode conn trustbox nginx ratio
for c in 1 8; do
	t=$(awk -v c=$c '$1=="trustbox" && $2=="h2" && $3==c && $4>b {b=$4} END {print b+0}' "$tmp/results")
	n=$(awk -v c=$c '$1=="nginx" && $2=="h2" && $3==c && $4>b {b=$4} END {print b+0}' "$tmp/results")
	printf '%-6s %-4s %12.0f %12.0f %7.2f\n' h2 "$c" "$t" "$n" "$(awk -v t="$t" -v n="$n" 'BEGIN {print (n > 0 ? t / n : 0)}')"
done

# --- TLS handshakes: full and resumed ---
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
ng_worker=$(pgrep -P "$ng_pid" | head -1)
# hs NAME PORT PID MODE -> one line: handshakes/s (wall) and server CPU per handshake
hs() {
	local out n t0 t1 w0 w1
	t0=$(ticks "$3")
	w0=$(date +%s.%N)
	out=$(openssl s_time -connect "127.0.0.1:$2" "-$4" -time "$dur" -cipher ECDHE-ECDSA-AES128-GCM-SHA256 2>&1)
	w1=$(date +%s.%N)
	t1=$(ticks "$3")
	n=$(printf '%s\n' "$out" | sed -n 's/^\([0-9][0-9]*\) connections in [0-9.]*s;.*/\1/p' | head -1)
	awk -v name="$1" -v mode="$4" -v n="${n:-0}" -v w="$(awk -v a="$w0" -v b="$w1" 'BEGIN {print b - a}')" \
		-v d=$((t1 - t0)) -v hz="$hz" 'BEGIN {
		printf "%-9s %-6s %8.0f handshakes/s  server CPU %.3f ms per handshake\n", name, mode, n / w,
			n ? 1000 * d / hz / n : 0 }'
	echo "$1 $4 $n" >> "$tmp/hs"
}
echo "--- TLS handshakes (openssl s_time -time $dur, TLS 1.2, ECDHE-ECDSA-AES128-GCM-SHA256)"
for r in $(seq 1 "$rounds"); do
	hs trustbox "$tb_tls" "$tb_pid" new
	hs nginx "$ng_tls" "${ng_worker:-$ng_pid}" new
	hs trustbox "$tb_tls" "$tb_pid" reuse
	hs nginx "$ng_tls" "${ng_worker:-$ng_pid}" reuse
done
