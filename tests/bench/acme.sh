#!/usr/bin/env bash
# ACME issuance benchmark: accounts are created first, then N issuances
# (newOrder -> authz -> http-01 challenge, fetched by the CA from the load
# generator's responder -> poll -> finalize with a CSR -> download, with the
# lab CT log's precertificate and SCT) run by C parallel workers on keep-alive
# HTTPS connections against a release build. Prints issuances per second,
# latency percentiles, server and client CPU per issuance, and the crypto
# floor of both public-key backends measured on the same machine in the same run.
#
#   tests/bench/acme.sh [N] [C] [build-dir]     defaults: 2000 64 build-bench
#
# The client is tests/bench/acme_load.c (C, on the project's core library:
# one thread per worker, one http-01 responder for all of them); it checks
# every certificate it gets (chain to the root, name, key, SCT list) and
# exits non-zero on any failure, so failures are never counted.
# TB_BENCH_CLIENT=python runs the older Python client instead (single process,
# client-bound at well under 100 issuances/s). The mbedTLS backend's floor
# comes from a small second build ("<build-dir>-mbedtls", core library only).
# TB_BENCH_PERF=FILE records the server's profile during the issuances (see below).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
n=${1:-2000}
c=${2:-64}
build=${3:-$root/build-bench}
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTB_TESTS=OFF >/dev/null
fi
cmake --build "$build" -j2 --target trustbox >/dev/null
# The generator and the floor come from the measured tree, or from this one when that tree
# is older than the generator (to measure an older server under the same load).
gen=$build
if ! cmake --build "$build" -j2 --target acme_load bench_sign >/dev/null 2>&1; then
  gen=$root/build-bench
  [ -f "$gen/CMakeCache.txt" ] || cmake -S "$root" -B "$gen" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTB_TESTS=OFF >/dev/null
  cmake --build "$gen" -j2 --target acme_load bench_sign >/dev/null
  echo "$build has no load generator: using the one of $gen" >&2
fi
floor_mbedtls=$gen-mbedtls
if [ ! -f "$floor_mbedtls/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$floor_mbedtls" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTB_TESTS=OFF -DTB_CRYPTO=mbedtls >/dev/null
fi
cmake --build "$floor_mbedtls" -j2 --target bench_sign >/dev/null || echo "no mbedTLS build: its floor is skipped" >&2
work=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT

freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
https_port=$(freeport)
http01_port=$(freeport)
cat > "$work/cfg.lua" <<LUA
core { data_dir = "$work/data", log_level = "warn" }
listen { name = "https", address = "127.0.0.1", port = $https_port, tls = true }
dns { enabled = false }
acme { http01_port = $http01_port,
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
dir="https://127.0.0.1:$https_port/dir"
if [ "${TB_BENCH_CLIENT:-c}" = python ]; then
  ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
  t0=$(ticks)
  ACME_DIR="$dir" ACME_CA="$work/root.pem" HTTP01_PORT=$http01_port \
    python3 "$root/tests/integration/test_acme_client.py" bench "$n" "$c"
  t1=$(ticks)
  # (includes the accounts' creation, C of them)
  awk -v d=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" -v n="$n" 'BEGIN { printf "server CPU: %.1f ms per issuance\n", 1000 * d / hz / n }'
else
  # The generator reads the server's CPU from /proc around the issuances (accounts excluded)
  # and its own with getrusage; every certificate is checked, one in 16 with full path validation.
  # TB_BENCH_PERF=FILE records the server's profile over the whole run (perf record -g, or
  # TB_BENCH_PERF_OPTS, e.g. "--call-graph dwarf -F 400" where frame pointers are missing).
  perf_pid=""
  if [ -n "${TB_BENCH_PERF:-}" ]; then
    perf record ${TB_BENCH_PERF_OPTS:--g} -o "$TB_BENCH_PERF" -p "$pid" 2>/dev/null &
    perf_pid=$!
  fi
  ACME_LOAD_SERVER_PID=$pid "$gen/tests/bench/acme_load" "$dir" "$work/root.pem" "$http01_port" "$n" "$c" 16
  if [ -n "$perf_pid" ]; then kill -INT "$perf_pid"; wait "$perf_pid" || true; fi
  # Store group commits over the whole run (accounts included): what the issuances wait on.
  curl -sf --cacert "$work/root.pem" "https://127.0.0.1:$https_port/metrics" | awk '
    /^tb_store_commits_total/ { c = $2 } /^tb_store_jobs_total\{result="ok"/ { j = $2 }
    /^tb_store_commit_duration_seconds_sum/ { s = $2 }
    END { if (c) printf "store: %d group commits of %d write jobs, %.1f jobs and %.1f ms (fsync) per commit\n", c, j, j / c, 1000 * s / c }'
fi
for b in "$gen" "$floor_mbedtls"; do
  if [ -x "$b/tests/bench/bench_sign" ]; then
    "$b/tests/bench/bench_sign" 0.5 | sed 's/^/crypto floor (same machine, same run): /'
  fi
done
