#!/bin/bash
# HPKE (RFC 9180, X25519 / HKDF-SHA256 / AES-128-GCM) and the DAP-09 info and
# aad strings against the npm DAP client @divviup/dap 0.9.1 and the hpke-js
# it depends on:
#   - a real report from the client's Task, sealed to two HpkeConfigLists
#     made by trustbox (first entry an unsupported KEM the client must skip),
#     opened by trustbox with its own info/InputShareAad builders and prepared;
#   - the AggregateShareAad builder against the draft's layout;
#   - trustbox seals an input share and an aggregate share, hpke-js opens;
#     the client's HpkeConfig seals an aggregate share, trustbox opens;
#   - the client's InputShareInfo bytes equal trustbox's;
#   - a wrong info (other role) or a wrong aad fails on both sides;
#   - the other suites: P-256, AES-256-GCM, ChaCha20-Poly1305.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
: "${TB_BUILD_DIR:?}"

src="$TB_SOURCE_DIR/tests/integration/hpke"
work="$TB_BUILD_DIR/hpke-interop"
mkdir -p "$work"
cp "$src/package.json" "$src/hpke.mjs" "$work/"

npm_install "$work" @divviup/dap
ver=$(node -p "require('$work/node_modules/@divviup/dap/package.json').version")
[ "$ver" = "0.9.1" ] || die "expected @divviup/dap 0.9.1, found $ver"
hver=$(node -p "require('$work/node_modules/hpke-js/package.json').version")
echo "@divviup/dap $ver with hpke-js $hver"

link_tool "$src/hpke_tool.c" "$work/hpke_tool"

cd "$work"
tool="$work/hpke_tool"
js() { node "$work/hpke.mjs" "$@"; }
rhex() { od -An -v -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }

read -r lcfg llist lsk < <("$tool" keygen 7)
read -r hcfg hlist hsk < <("$tool" keygen 200)
read -r ccfg _ csk < <("$tool" keygen 1)
task=$(rhex 32)

# 1. The client's own report, opened and prepared by trustbox.
for value in 0 1 200 255; do
	report=$(js report "$llist" "$hlist" "$task" "$value")
	got=$("$tool" open-report "$task" "$lcfg" "$lsk" "$hcfg" "$hsk" "$report") || got="error"
	if [ "$got" = "$value" ]; then ok "client report ($value) opened and prepared by trustbox"
	else fail "client report ($value): trustbox got '$got'"; fi
done
# The same report with another task id in the aad must not open.
report=$(js report "$llist" "$hlist" "$task" 5)
if "$tool" open-report "$(rhex 32)" "$lcfg" "$lsk" "$hcfg" "$hsk" "$report" >/dev/null 2>&1; then
	fail "client report opened under another task id"
else ok "client report refused under another task id"; fi

# 2. Info strings: the client's InputShareInfo equals trustbox's; the aggregate
# share strings as the draft writes them.
for role in 2 3; do
	[ "$(js info $role)" = "$("$tool" info-input $role)" ] && ok "input share info, role $role" \
		|| fail "input share info, role $role: client $(js info $role) trustbox $("$tool" info-input $role)"
done
ascii() { printf '%s' "$1" | od -An -v -tx1 | tr -d ' \n'; }
want_il="$(ascii 'dap-09 input share')0102"
want_al="$(ascii 'dap-09 aggregate share')0200"
want_ah="$(ascii 'dap-09 aggregate share')0300"
[ "$("$tool" info-input 2)" = "$want_il" ] && ok "input share info matches the draft" || fail "input share info"
[ "$("$tool" info-agg 2)" = "$want_al" ] && [ "$("$tool" info-agg 3)" = "$want_ah" ] \
	&& ok "aggregate share info matches the draft" || fail "aggregate share info"

# 3. trustbox seals, hpke-js opens; and the reverse; each with a wrong info
# and a wrong aad that must fail.
il=$("$tool" info-input 2)
ih=$("$tool" info-input 3)
ia=$("$tool" info-agg 2)
aad="${task}$(rhex 16)0000000067000000$(printf '%08x' 5)$(rhex 5)"
aad2="${task}$(rhex 16)0000000067000000$(printf '%08x' 5)$(rhex 5)"
for size in 1 40 5000; do
	pt=$(rhex "$size")
	ct=$("$tool" seal "$lcfg" "$il" "$aad" "$pt")
	[ "$(js open "$lsk" "$il" "$aad" "$ct")" = "$pt" ] && ok "trustbox seals $size bytes, hpke-js opens" \
		|| fail "trustbox seals $size bytes, hpke-js opens"
	js open "$lsk" "$ih" "$aad" "$ct" >/dev/null 2>&1 && fail "hpke-js opened with the helper's info" \
		|| ok "hpke-js refuses the wrong info"
	js open "$lsk" "$il" "$aad2" "$ct" >/dev/null 2>&1 && fail "hpke-js opened with a wrong aad" \
		|| ok "hpke-js refuses the wrong aad"
	ct=$(js seal "$lcfg" "$il" "$aad" "$pt")
	[ "$("$tool" open "$lcfg" "$lsk" "$il" "$aad" "$ct")" = "$pt" ] && ok "client seals $size bytes, trustbox opens" \
		|| fail "client seals $size bytes, trustbox opens"
	"$tool" open "$lcfg" "$lsk" "$ih" "$aad" "$ct" >/dev/null 2>&1 && fail "trustbox opened with the helper's info" \
		|| ok "trustbox refuses the wrong info"
	"$tool" open "$lcfg" "$lsk" "$il" "$aad2" "$ct" >/dev/null 2>&1 && fail "trustbox opened with a wrong aad" \
		|| ok "trustbox refuses the wrong aad"
done
# Aggregate share to the Collector (AggregateShareAad: task id, agg_param<0..2^32-1>,
# BatchSelector time_interval(1) with an Interval).
agg_aad="${task}00000000""01$(printf '%016x%016x' 1700000000 3600)"
[ "$("$tool" aad-agg "$task" "" 1700000000 3600)" = "$agg_aad" ] && ok "AggregateShareAad builder matches the draft" \
	|| fail "AggregateShareAad builder: $("$tool" aad-agg "$task" "" 1700000000 3600)"
[ "$("$tool" aad-agg "$task" 0a0b 1 2)" = "${task}000000020a0b01$(printf '%016x%016x' 1 2)" ] \
	&& ok "AggregateShareAad builder with an aggregation parameter" || fail "AggregateShareAad builder with an aggregation parameter"
pt=$(rhex 64)
ct=$("$tool" seal "$ccfg" "$ia" "$agg_aad" "$pt")
[ "$(js open "$csk" "$ia" "$agg_aad" "$ct")" = "$pt" ] && ok "aggregate share: trustbox seals, hpke-js opens" \
	|| fail "aggregate share: trustbox seals, hpke-js opens"
ct=$(js seal "$ccfg" "$ia" "$agg_aad" "$pt")
[ "$("$tool" open "$ccfg" "$csk" "$ia" "$agg_aad" "$ct")" = "$pt" ] && ok "aggregate share: client's HPKE seals, trustbox opens" \
	|| fail "aggregate share: client's HPKE seals, trustbox opens"
"$tool" open "$ccfg" "$csk" "$("$tool" info-agg 3)" "$agg_aad" "$ct" >/dev/null 2>&1 \
	&& fail "aggregate share opened with the helper's info" || ok "aggregate share refused with the helper's info"
# 4. The other suites both sides implement: P-256 with AES-128-GCM, X25519 with
# AES-256-GCM and ChaCha20-Poly1305, P-256 with ChaCha20-Poly1305.
for suite in "0x10 0x1" "0x20 0x2" "0x20 0x3" "0x10 0x3"; do
	read -r kem aead <<< "$suite"
	read -r scfg _ ssk < <("$tool" keygen 9 "$kem" "$aead")
	pt=$(rhex 100)
	ct=$("$tool" seal "$scfg" "$il" "$aad" "$pt")
	[ "$(js open "$ssk" "$il" "$aad" "$ct" "$kem" "$aead")" = "$pt" ] \
		&& ok "suite kem $kem aead $aead: trustbox seals, hpke-js opens" \
		|| fail "suite kem $kem aead $aead: trustbox seals, hpke-js opens"
	ct=$(js seal "$scfg" "$il" "$aad" "$pt")
	[ "$("$tool" open "$scfg" "$ssk" "$il" "$aad" "$ct")" = "$pt" ] \
		&& ok "suite kem $kem aead $aead: client seals, trustbox opens" \
		|| fail "suite kem $kem aead $aead: client seals, trustbox opens"
	"$tool" open "$scfg" "$ssk" "$il" "$aad2" "$ct" >/dev/null 2>&1 \
		&& fail "suite kem $kem aead $aead: wrong aad opened" || ok "suite kem $kem aead $aead: wrong aad refused"
done
finish
