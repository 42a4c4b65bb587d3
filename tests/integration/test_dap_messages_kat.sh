#!/bin/bash
# The stored known-answer encodings of tests/vectors/dap-09/divviup_ts_messages.txt
# (read by unit.dap_messages) are what @divviup/dap 0.9.1's encoders write today:
# the script that made them is run again and every fixed line must be identical.
# report_count3 carries random shares, so only its framing is compared: the
# client's fresh Prio3Count report must have the stored one's length.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
: "${TB_BUILD_DIR:?}"

src="$TB_SOURCE_DIR/tests/integration/dap"
work="$TB_BUILD_DIR/dap-interop"
mkdir -p "$work"
cp "$src/package.json" "$work/"
npm_install "$work" @divviup/dap
ver=$(node -p "require('$work/node_modules/@divviup/dap/package.json').version")
[ "$ver" = "0.9.1" ] || die "expected @divviup/dap 0.9.1, found $ver"

node "$src/messages_kat.mjs" "$work/node_modules" > fresh.txt || die "messages_kat.mjs failed"
stored="$TB_SOURCE_DIR/tests/vectors/dap-09/divviup_ts_messages.txt"
n=0
while read -r name hex; do
	n=$((n + 1))
	want=$(awk -v n="$name" '$1 == n { print $2 }' "$stored")
	[ -n "$want" ] || { fail "$name: not in the stored vectors"; continue; }
	if [ "$name" = report_count3 ]; then
		[ "${#hex}" = "${#want}" ] && ok "$name: a fresh client report has the stored framing" \
			|| fail "$name: fresh report is ${#hex} hex digits, stored ${#want}"
	elif [ "$hex" = "$want" ]; then
		ok "$name: the client writes the stored bytes"
	else
		fail "$name: client wrote $hex, stored $want"
	fi
done < fresh.txt
[ "$n" = "$(wc -l < "$stored")" ] || fail "the client wrote $n messages, the file stores $(wc -l < "$stored")"
finish
