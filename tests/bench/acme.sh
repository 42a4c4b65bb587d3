#!/usr/bin/env bash
# ACME issuance benchmark: accounts are created first, then N issuances
# (newOrder -> http-01 -> finalize -> download, with the lab CT log's SCT) run
# with C parallel workers against a release build. Prints issuances per second,
# latency percentiles, server CPU per issuance, and the crypto floor measured
# on the same machine in the same run.
#
#   tests/bench/acme.sh [N] [C] [build-dir]     defaults: 200 8 build-bench
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
cc -std=c11 -O2 -D_GNU_SOURCE -I"$root" "$root/tests/bench/bench_sign.c" "$build/libtb_core.a" \
  $(pkg-config --libs libsodium libuv sqlite3 libcjson lua5.4 zlib) -lmbedtls -lmbedx509 -lmbedcrypto $(pkg-config --libs libcrypto) \
  -lhttp_parser -lpthread -lm -o "$work/bench_sign"

freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
https_port=$(freeport)
http01_port=$(freeport)
cat > "$work/cfg.lua" <<LUA
core { data_dir = "$work/data", log_level = "warn" }
listen { name = "https", address = "127.0.0.1", port = $https_port, tls = true }
dns { enabled = false }
acme { http01_port = $http01_port, rate_limits = { new_orders_per_account_per_hour = 0,
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
t0=$(ticks)
ACME_DIR="https://127.0.0.1:$https_port/dir" ACME_CA="$work/root.pem" HTTP01_PORT=$http01_port \
  python3 "$root/tests/integration/test_acme_client.py" bench "$n" "$c"
t1=$(ticks)
# CPU includes the accounts' creation (C of them), a small share.
awk -v d=$((t1 - t0)) -v hz="$hz" -v n="$n" 'BEGIN { printf "server CPU: %.1f ms per issuance\n", 1000 * d / hz / n }'
echo -n "crypto floor (same machine, same run): "
"$work/bench_sign" 0.5
