#!/usr/bin/env bash
# ACME issuance benchmark: accounts are created first, then N issuances
# (newOrder -> http-01 -> finalize -> download, with the lab CT log's SCT) run
# with C parallel workers against a release build. Prints issuances per second,
# latency percentiles, server and client CPU per issuance, and the crypto
# floor measured on the same machine in the same run.
#
#   tests/bench/acme.sh [N] [C] [build-dir]     defaults: 200 8 build-bench
#
# TB_BENCH_PROCS=P (default 1) splits the C workers over P client processes,
# so that the Python client (one GIL per process) is not the bottleneck. The
# processes cannot share one http-01 port, so with P > 1 the server runs with
# the lab switch acme.lab_always_valid (no http-01 fetch; everything else,
# the CT log included, as with P = 1) and says so.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
n=${1:-200}
c=${2:-8}
build=${3:-$root/build-bench}
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTB_TESTS=OFF >/dev/null
fi
cmake --build "$build" -j2 --target trustbox tb_core >/dev/null
work=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
# (A build of an older tree may lack what bench_sign needs: then the floor is skipped.)
cc -std=c11 -O2 -D_GNU_SOURCE -I"$root" "$root/tests/bench/bench_sign.c" "$build/libtb_core.a" \
  $(pkg-config --libs libsodium libuv sqlite3 libcjson lua5.4 zlib) -lmbedtls -lmbedx509 -lmbedcrypto $(pkg-config --libs libcrypto) \
  -lhttp_parser -lpthread -lm -o "$work/bench_sign" 2>/dev/null || echo "bench_sign does not build against $build: no crypto floor" >&2

freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
https_port=$(freeport)
http01_port=$(freeport)
procs=${TB_BENCH_PROCS:-1}
always_valid=false
if [ "$procs" -gt 1 ]; then always_valid=true; fi
cat > "$work/cfg.lua" <<LUA
core { data_dir = "$work/data", log_level = "warn" }
listen { name = "https", address = "127.0.0.1", port = $https_port, tls = true }
dns { enabled = false }
acme { http01_port = $http01_port, lab_always_valid = $always_valid,
  rate_limits = { new_orders_per_account_per_hour = 0,
  certificates_per_domain_per_week = 0, new_accounts_per_ip_per_hour = 0 } }
LUA
"$build/trustbox" root -c "$work/cfg.lua" > "$work/root.pem"
"$build/trustbox" run -c "$work/cfg.lua" > "$work/run.out" 2> "$work/run.err" &
pid=$!
for _ in $(seq 50); do
  curl -sf --cacert "$work/root.pem" "https://127.0.0.1:$https_port/dir" >/dev/null 2>&1 && break
  sleep 0.2
done
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
hz=$(getconf CLK_TCK)
# Children's CPU (the client processes) from this shell's `times` (not in a subshell, which
# would count its own children), in seconds.
child_cpu() { tail -1 "$1" | awk '{ split($1, u, /[ms]/); split($2, s, /[ms]/); print u[1] * 60 + u[2] + s[1] * 60 + s[2] }'; }
times > "$work/times0"
t0=$(ticks)
if [ "$procs" -le 1 ]; then
  ACME_DIR="https://127.0.0.1:$https_port/dir" ACME_CA="$work/root.pem" HTTP01_PORT=$http01_port \
    python3 "$root/tests/integration/test_acme_client.py" bench "$n" "$c"
else
  cpids=()
  for i in $(seq "$procs"); do
    ACME_DIR="https://127.0.0.1:$https_port/dir" ACME_CA="$work/root.pem" HTTP01_PORT=$(freeport) \
      python3 "$root/tests/integration/test_acme_client.py" bench $((n / procs)) $(((c + procs - 1) / procs)) \
      > "$work/client.$i" 2>&1 &
    cpids+=($!)
  done
  for p in "${cpids[@]}"; do wait "$p"; done
  cat "$work"/client.*
  # One line for all: issuances over the slowest process's time; the worst percentiles.
  cat "$work"/client.* | awk -v procs="$procs" '/^bench:/ {
      n += $2; w += $4; sub(/,/, "", $6); if ($6 + 0 > t) t = $6 + 0
      for (i = 1; i <= NF; i++) { if ($i == "p50") a = $(i+1) + 0 > a ? $(i+1) + 0 : a
        if ($i == "p90") b = $(i+1) + 0 > b ? $(i+1) + 0 : b; if ($i == "p99") c = $(i+1) + 0 > c ? $(i+1) + 0 : c } }
    END { printf "bench: %d issuances, %d workers in %d processes (no http-01 fetch), %.2f s: %.1f issuances/s; latency p50 %.0f ms, p90 %.0f ms, p99 %.0f ms (worst process)\n", n, w, procs, t, n / t, a, b, c }'
  n=$(( (n / procs) * procs ))
fi
t1=$(ticks)
times > "$work/times1"
c0=$(child_cpu "$work/times0")
c1=$(child_cpu "$work/times1")
# CPU includes the accounts' creation (C of them), a small share.
awk -v d=$((t1 - t0)) -v hz="$hz" -v n="$n" 'BEGIN { printf "server CPU: %.1f ms per issuance\n", 1000 * d / hz / n }'
awk -v a="$c0" -v b="$c1" -v n="$n" 'BEGIN { printf "client CPU: %.1f ms per issuance (all client processes)\n", 1000 * (b - a) / n }'
if [ -x "$work/bench_sign" ]; then
  echo -n "crypto floor (same machine, same run): "
  "$work/bench_sign" 0.5
fi
