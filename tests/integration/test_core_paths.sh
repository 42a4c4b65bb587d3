#!/usr/bin/env bash
# Paths from `core {}` that do not fit are refused, naming the option: cut
# short, core.data_dir or core.store would name another file.
set -euo pipefail
: "${TRUSTBOX:?}"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
fail() { echo "FAIL: $*" >&2; exit 1; }
pass=0

long=$(printf 'd%.0s' $(seq 1 1100))
check() { # check OPTION VALUE: config check must exit 2 and name the option
	printf 'core { %s = "%s/%s" }\n' "$1" "$work" "$2" > cfg.lua
	set +e
	"$TRUSTBOX" config check cfg.lua > out.txt 2>&1; rc=$?
	set -e
	[ "$rc" = 2 ] || fail "$1 of ${#2} bytes: exit $rc, expected 2: $(cat out.txt)"
	grep -q "core\.$1: longer than" out.txt || fail "$1: no error naming the option: $(cat out.txt)"
	pass=$((pass + 1))
}
check data_dir "$long"
check store "$long"

# A long path that fits still works.
printf 'core { data_dir = "%s/%s", log_level = "warn" }\n' "$work" "$(printf 'e%.0s' $(seq 1 200))" > ok.lua
"$TRUSTBOX" config check ok.lua > /dev/null || fail "a 200-byte data_dir refused"
"$TRUSTBOX" root -c ok.lua | grep -q 'BEGIN CERTIFICATE' || fail "root with a 200-byte data_dir"
[ -f "$work/$(printf 'e%.0s' $(seq 1 200))/trustbox.db" ] || fail "store not at <data_dir>/trustbox.db"
pass=$((pass + 1))
echo "core paths: $pass passed, 0 failed"
