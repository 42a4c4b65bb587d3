#!/bin/bash
# Prio3 (VDAF-08) against @divviup/prio3 0.8.0, both directions:
#   node shards -> trustbox prepares (ping-pong for two aggregators), aggregates, unshards
#   trustbox shards -> node prepares, aggregates, unshards
# and each side's aggregate must equal the sum of the measurements the other side drew.
# Needs node and npm (the package is installed under the build directory).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
: "${TB_BUILD_DIR:?}"

src="$TB_SOURCE_DIR/tests/integration/prio3"
work="$TB_BUILD_DIR/prio3-interop"
mkdir -p "$work"
cp "$src/package.json" "$src/prio3.mjs" "$work/"

npm_install "$work" @divviup/prio3
ver=$(node -p "require('$work/node_modules/@divviup/prio3/package.json').version")
[ "$ver" = "0.8.0" ] || die "expected @divviup/prio3 0.8.0, found $ver"

# The C side: prio3_tool.c against the libraries of this build.
link_tool "$src/prio3_tool.c" "$work/prio3_tool"

# result.json expected.json -> exit status
same() {
	node -e '
		const fs = require("fs");
		const r = JSON.parse(fs.readFileSync(process.argv[1]));
		const e = JSON.parse(fs.readFileSync(process.argv[2]));
		const ok = r.rejected === 0 && JSON.stringify(r.result) === JSON.stringify(e.expected);
		if (!ok) console.error("got", JSON.stringify(r.result), "rejected", r.rejected, "want", JSON.stringify(e.expected));
		process.exit(ok ? 0 : 1);' "$1" "$2"
}

checked=0
for spec in count:20 count3:10 sum8:20 sum32_3:10 sumvec10:10 hist4:20 hist100:10 sumvec1000:4; do
	cfg=${spec%%:*}
	n=${spec##*:}
	node "$work/prio3.mjs" shard "$cfg" "$n" > "$work/$cfg.node-shards.json"
	"$work/prio3_tool" prepare < "$work/$cfg.node-shards.json" > "$work/$cfg.c-result.json"
	if same "$work/$cfg.c-result.json" "$work/$cfg.node-shards.json"; then
		ok "$cfg: node shards, trustbox prepares ($n reports)"
	else
		fail "$cfg: node shards, trustbox prepares"
	fi
	"$work/prio3_tool" shard "$cfg" "$n" > "$work/$cfg.c-shards.json"
	node "$work/prio3.mjs" prepare < "$work/$cfg.c-shards.json" > "$work/$cfg.node-result.json"
	if same "$work/$cfg.node-result.json" "$work/$cfg.c-shards.json"; then
		ok "$cfg: trustbox shards, node prepares ($n reports)"
	else
		fail "$cfg: trustbox shards, node prepares"
	fi
	checked=$((checked + 2))
done
# A report altered after sharding must be refused on both sides.
node -e '
	const fs = require("fs");
	const j = JSON.parse(fs.readFileSync(process.argv[1]));
	const s = j.reports[0].input_shares;
	s[1] = (s[1][0] === "0" ? "1" : "0") + s[1].slice(1);
	fs.writeFileSync(process.argv[2], JSON.stringify(j));' "$work/sum8.node-shards.json" "$work/sum8.bad.json"
rej=$("$work/prio3_tool" prepare < "$work/sum8.bad.json" 2>/dev/null | node -e 'console.log(JSON.parse(require("fs").readFileSync(0)).rejected)')
rejn=$(node "$work/prio3.mjs" prepare < "$work/sum8.bad.json" | node -e 'console.log(JSON.parse(require("fs").readFileSync(0)).rejected)')
if [ "$rej" = 1 ] && [ "$rejn" = 1 ]; then
	ok "corrupted helper share refused by both"
else
	fail "corrupted helper share: trustbox rejected $rej, node rejected $rejn"
fi
echo "checked $checked directions"
[ "$checked" -gt 0 ] || fail "nothing was checked"
finish
