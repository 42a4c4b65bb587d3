#!/bin/bash
# Prio3 benchmark: trustbox (bench_vdaf.c, built here against a release build of
# the libraries) next to @divviup/prio3 0.8.0 (node), same machine, same run.
#
#   tests/bench/vdaf.sh [build-dir]     default build dir: build-bench (configured
#                                       RelWithDebInfo if missing)
# Prints microseconds per report: shard, and both aggregators' preparation.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-$root/build-bench}
if [ ! -f "$build/CMakeCache.txt" ]; then
	cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTB_TESTS=OFF >/dev/null
fi
cmake --build "$build" -j2 --target tb_dap tb_core >/dev/null
work="$build/bench-vdaf"
mkdir -p "$work"
# shellcheck disable=SC2046
cc -std=c11 -O2 -D_GNU_SOURCE -I"$root" "$root/tests/bench/bench_vdaf.c" \
	"$build/libtb_dap.a" "$build/libtb_core.a" \
	$(pkg-config --libs libcjson libsodium libuv sqlite3 lua5.4) \
	-lmbedtls -lmbedx509 -lmbedcrypto $(pkg-config --libs libcrypto) -lhttp_parser -lpthread -lm -o "$work/bench_vdaf"
cp "$root/tests/integration/prio3/package.json" "$root/tests/integration/prio3/prio3.mjs" "$work/"
if [ ! -f "$work/node_modules/@divviup/prio3/package.json" ]; then
	npm install --prefix "$work" --no-audit --no-fund --loglevel=error >&2
fi

declare -A node_n=([count]=1000 [sum8]=500 [hist100]=100 [sumvec1000]=20)
printf '%-11s %14s %14s %16s %16s\n' vdaf "C shard us" "C prep us" "node shard us" "node prep us"
for cfg in count sum8 hist100 sumvec1000; do
	c=$("$work/bench_vdaf" "$cfg")
	n=$(node "$work/prio3.mjs" bench "$cfg" "${node_n[$cfg]}")
	node -e '
		const c = JSON.parse(process.argv[1]), n = JSON.parse(process.argv[2]);
		const f = (x) => x.toFixed(1).padStart(14);
		console.log(c.config.padEnd(11), f(c.shard_us), f(c.prep_us), f(n.shard_us).padStart(16), f(n.prep_us).padStart(16));
	' "$c" "$n"
done
echo "(C: $(nproc) cores, one thread; node $(node --version), @divviup/prio3 0.8.0)"

# HPKE open: what an aggregator does once per report share before preparing it.
cc -std=c11 -O2 -D_GNU_SOURCE -I"$root" "$root/tests/bench/bench_hpke.c" \
	"$build/libtb_dap.a" "$build/libtb_core.a" $(pkg-config --libs libsodium) \
	-lmbedtls -lmbedx509 -lmbedcrypto $(pkg-config --libs libcrypto) -lpthread -lm -o "$work/bench_hpke"
echo
echo "HPKE single-shot open, per second of CPU (C; the DAP suite first):"
"$work/bench_hpke" 1 | grep -E 'open' | head -4
