#!/usr/bin/env bash
# CT log write benchmark: distinct leaf + intermediate chains (made by
# tests/ctverify/ctload from its own CA) submitted by many keep-alive
# clients to add-chain of one log with the lab sequencing period (200 ms);
# every 200 answer is a durable write. Prints "N durable add-chain/s" with
# p50/p99, the server's CPU per submission, tile reads/s (wrk, 32 keep-alive
# connections, the first full level-0 tile and the checkpoint; skipped
# without wrk) and the crypto floor of the same run.
#
#   tests/bench/ctlog.sh [N] [C] [build-dir]     defaults: 4000 256 build-bench
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
n=${1:-4000}
c=${2:-256}
build=${3:-$root/build-bench}
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTB_TESTS=OFF >/dev/null
fi
cmake --build "$build" -j2 --target trustbox tb_core >/dev/null
work=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
command -v go >/dev/null || { echo "ctlog.sh: needs go (golang-go) to build ctload" >&2; exit 1; }
(cd "$root/tests/ctverify" && GOPATH=/usr/share/gocode GO111MODULE=off GOCACHE="$work/gocache" \
  go build -o "$work/ctload" ./ctload)
cc -std=c11 -O2 -D_GNU_SOURCE -I"$root" "$root/tests/bench/bench_sign.c" "$build/libtb_core.a" \
  $(pkg-config --libs libsodium libuv sqlite3 libcjson lua5.4 zlib) -lmbedtls -lmbedx509 -lmbedcrypto \
  $(pkg-config --libs libcrypto) -lhttp_parser -lpthread -lm -o "$work/bench_sign"
"$work/ctload" -ca-dir "$work/ca" -init >/dev/null

freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(freeport)
cat > "$work/cfg.lua" <<LUA
core { data_dir = "$work/data", log_level = "warn" }
listen { name = "http", address = "127.0.0.1", port = $port, tls = false }
dns { enabled = false }
acme { enabled = false }
ctlog { period_ms = 200, logs = { { name = "bench", submission_url = "http://127.0.0.1:$port/ct/bench/",
  roots = { "$work/ca/root.pem" } } } }
LUA
"$build/trustbox" run -c "$work/cfg.lua" > "$work/run.out" 2> "$work/run.err" &
pid=$!
for _ in $(seq 50); do
  curl -sf "http://127.0.0.1:$port/ct/bench/checkpoint" >/dev/null 2>&1 && break
  sleep 0.2
done
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)
t0=$(ticks)
out=$("$work/ctload" -ca-dir "$work/ca" -url "http://127.0.0.1:$port/ct/bench/" -n "$n" -c "$c")
t1=$(ticks)
echo "$out"
# ctload: "add-chain: N submissions, C concurrent: R/s durable, latency p50 X ms, p99 Y ms, ..."
echo "$out" | sed -n 's|^add-chain: .*: \([0-9]*\)/s durable, latency p50 \([0-9.]*\) ms, p99 \([0-9.]*\) ms.*|\1 durable add-chain/s (p50 \2 ms, p99 \3 ms)|p'
awk -v d=$((t1 - t0)) -v hz="$hz" -v n="$n" 'BEGIN { printf "server CPU: %.2f ms per add-chain\n", 1000 * d / hz / n }'
if command -v wrk >/dev/null; then
  for path in tile/0/000 checkpoint; do
    rps=$(wrk -t1 -c32 -d3s "http://127.0.0.1:$port/ct/bench/$path" 2>&1 | awk '/^Requests\/sec/ {print $2}')
    echo "reads of $path: ${rps:-?} req/s (wrk -t1 -c32)"
  done
else
  echo "reads: skipped (no wrk)"
fi
echo -n "crypto floor (same machine, same run): "
"$work/bench_sign" 0.5
