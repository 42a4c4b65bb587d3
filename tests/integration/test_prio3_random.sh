#!/bin/bash
# Prio3 (VDAF-08) against @divviup/prio3 0.8.0 on random parameters and
# measurements (Count; Sum bits 1..64; SumVec length 1..200, bits 1..16,
# chunk 1..50; Histogram length 2..300, chunk 1..40; 2 or 3 aggregators),
# edge values included (0, 2^bits - 1, first and last bucket). Per case:
#   node draws the spec and shards it; trustbox shards the same spec (same
#   nonces and randomness) and must produce the same bytes;
#   trustbox prepares node's shards, node prepares trustbox's shards;
#   both aggregates must equal the sum of the measurements.
# Seeded: PRIO3_SEED=<seed> replays a run, PRIO3_CASES=<n> sets its size.
set -euo pipefail
: "${TB_SOURCE_DIR:?}" "${TB_BUILD_DIR:?}"

src="$TB_SOURCE_DIR/tests/integration/prio3"
work="$TB_BUILD_DIR/prio3-random"
mkdir -p "$work"
cp "$src/package.json" "$src/prio3_random.mjs" "$work/"

command -v node >/dev/null || { echo "node is required" >&2; exit 1; }
if [ ! -f "$work/node_modules/@divviup/prio3/package.json" ]; then
	npm install --prefix "$work" --no-audit --no-fund --loglevel=error >&2
fi
ver=$(node -p "require('$work/node_modules/@divviup/prio3/package.json').version")
[ "$ver" = "0.8.0" ] || { echo "expected @divviup/prio3 0.8.0, found $ver" >&2; exit 1; }

for lib in tb_dap tb_core; do
	if [ ! -f "$TB_BUILD_DIR/lib$lib.a" ]; then
		cmake --build "$TB_BUILD_DIR" --target "$lib" >&2
	fi
done
cc=$(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' "$TB_BUILD_DIR/CMakeCache.txt")
san=""
if grep -q '^TB_SANITIZE:BOOL=ON' "$TB_BUILD_DIR/CMakeCache.txt"; then
	san="-fsanitize=address,undefined -fno-omit-frame-pointer"
fi
# shellcheck disable=SC2046,SC2086
"${cc:-cc}" -std=c11 -O2 -Wall -Wextra -Werror -D_GNU_SOURCE $san -I"$TB_SOURCE_DIR" \
	"$src/prio3_tool.c" "$TB_BUILD_DIR/libtb_dap.a" "$TB_BUILD_DIR/libtb_core.a" \
	$(pkg-config --libs libcjson libsodium libuv sqlite3 lua5.4) \
	-lmbedtls -lmbedx509 -lmbedcrypto -lhttp_parser -lpthread -lm -o "$work/prio3_tool"

seed=${PRIO3_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
# fewer cases in a sanitizer build, to stay within a minute
if [ -n "$san" ]; then cases=${PRIO3_CASES:-8}; else cases=${PRIO3_CASES:-24}; fi
echo "seed $seed ($cases cases; replay with PRIO3_SEED=$seed)"
fail=0
for ((i = 0; i < cases; i++)); do
	d="$work/case$i"
	node "$work/prio3_random.mjs" gen "$seed" "$i" "$d.spec.json" > "$d.node-shards.json"
	desc=$(sed -n 's/.*"params":\({[^}]*}\).*/\1/p' "$d.spec.json")
	if ! "$work/prio3_tool" shard-spec < "$d.spec.json" > "$d.c-shards.json"; then
		echo "FAIL case $i $desc: trustbox could not shard (seed $seed)"
		fail=1
		continue
	fi
	"$work/prio3_tool" prepare < "$d.node-shards.json" > "$d.c-result.json" || echo '{"rejected":-1,"agg_shares":[]}' > "$d.c-result.json"
	if node "$work/prio3_random.mjs" prepare-check "$d.spec.json" "$d.node-shards.json" \
		"$d.c-shards.json" "$d.c-result.json" "$d.node-result.json"; then
		echo "ok   case $i $desc"
	else
		echo "FAIL case $i $desc (seed $seed)"
		fail=1
	fi
done
exit $fail
