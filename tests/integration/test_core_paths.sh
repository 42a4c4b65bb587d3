#!/usr/bin/env bash
# Paths from `core {}` that do not fit are refused, naming the option: cut
# short, core.data_dir or core.store would name another file. A long path
# that fits still works.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
work=$TB_WORK

long=$(printf 'd%.0s' $(seq 1 1100))
# check OPTION VALUE: `config check` must exit 2 and name the option.
check() {
	local rc=0
	printf 'core { %s = "%s/%s" }\n' "$1" "$work" "$2" > cfg.lua
	"$TRUSTBOX" config check cfg.lua > out.txt 2>&1 || rc=$?
	if [ "$rc" != 2 ]; then
		fail "$1 of ${#2} bytes: exit $rc, expected 2: $(cat out.txt)"
		return
	fi
	expect "$1 of ${#2} bytes refused, naming the option" "$(cat out.txt)" "core\\.$1: longer than"
}
check data_dir "$long"
check store "$long"

fits=$(printf 'e%.0s' $(seq 1 200))
printf 'core { data_dir = "%s/%s", log_level = "warn" }\n' "$work" "$fits" > ok.lua
"$TRUSTBOX" config check ok.lua > /dev/null && ok "a 200-byte data_dir accepted" ||
	fail "a 200-byte data_dir refused"
root=$("$TRUSTBOX" root -c ok.lua) || fail "trustbox root with a 200-byte data_dir failed"
expect "root with a 200-byte data_dir" "$root" 'BEGIN CERTIFICATE'
[ -f "$work/$fits/trustbox.db" ] && ok "store at <data_dir>/trustbox.db" ||
	fail "store not at <data_dir>/trustbox.db"
finish
