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
. "$(dirname "$0")/lib.sh"
: "${TB_BUILD_DIR:?}"

src="$TB_SOURCE_DIR/tests/integration/prio3"
work="$TB_BUILD_DIR/prio3-random"
mkdir -p "$work"
cp "$src/package.json" "$src/prio3_random.mjs" "$work/"

npm_install "$work" @divviup/prio3
ver=$(node -p "require('$work/node_modules/@divviup/prio3/package.json').version")
[ "$ver" = "0.8.0" ] || die "expected @divviup/prio3 0.8.0, found $ver"

link_tool "$src/prio3_tool.c" "$work/prio3_tool"

seed=${PRIO3_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
# fewer cases in a sanitizer build, to stay within a minute
if tb_sanitized; then cases=${PRIO3_CASES:-8}; else cases=${PRIO3_CASES:-24}; fi
echo "seed $seed ($cases cases; replay with PRIO3_SEED=$seed)"
for ((i = 0; i < cases; i++)); do
	d="$work/case$i"
	node "$work/prio3_random.mjs" gen "$seed" "$i" "$d.spec.json" > "$d.node-shards.json"
	desc=$(sed -n 's/.*"params":\({[^}]*}\).*/\1/p' "$d.spec.json")
	if ! "$work/prio3_tool" shard-spec < "$d.spec.json" > "$d.c-shards.json"; then
		fail "case $i $desc: trustbox could not shard (seed $seed)"
		continue
	fi
	"$work/prio3_tool" prepare < "$d.node-shards.json" > "$d.c-result.json" || echo '{"rejected":-1,"agg_shares":[]}' > "$d.c-result.json"
	if node "$work/prio3_random.mjs" prepare-check "$d.spec.json" "$d.node-shards.json" \
		"$d.c-shards.json" "$d.c-result.json" "$d.node-result.json"; then
		ok "case $i $desc"
	else
		fail "case $i $desc (seed $seed)"
	fi
done
finish
