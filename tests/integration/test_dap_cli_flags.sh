#!/bin/bash
# The dap commands' flags: a malformed number (letters, a trailing suffix, a
# sign, an overflow, out of range) is a usage error (exit 2) whose one line
# names the flag and the value, for `dap task create`, `dap upload`,
# `dap collect` and `dap interop`; an unknown flag is one too. Nothing is
# written and no request is sent.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
: "${TB_BUILD_DIR:?}"

cat > t.lua <<LUA
core { data_dir = "$TB_WORK/data", log_level = "warn" }
if acme then acme { enabled = false } end
if ctlog then ctlog { enabled = false } end
if dns then dns { enabled = false } end
listen { name = "https", address = "127.0.0.1", port = $(free_port), tls = true }
LUA
ID=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
U=https://127.0.0.1:1/dap/leader/

bad() { # bad FLAG VALUE COMMAND...: exit 2, one line naming FLAG and VALUE
	local flag=$1 val=$2 rc=0
	shift 2
	"$TRUSTBOX" dap "$@" > out.txt 2> err.txt || rc=$?
	local lines
	lines=$(wc -l < err.txt)
	if [ "$rc" = 2 ] && [ "$lines" = 1 ] && grep -qF -- "$flag '$val'" err.txt; then
		ok "dap $1 $flag $val: exit 2, the flag and the value named"
	else
		fail "dap $1 $flag $val: exit $rc, stderr: $(cat err.txt)"
	fi
}

create() { bad "$1" "$2" task create -c t.lua --vdaf sum --bits 8 "$1" "$2"; }
create --bits abc
create --bits 65
create --length 5x
create --min-batch-size -3
create --time-precision 99999999999999999999999
create --dp-epsilon nan
create --chunk-length " 4"
[ ! -e "$TB_WORK/data" ] || [ -z "$(ls "$TB_WORK/data"/dap-*-collector.json 2>/dev/null)" ] \
	&& ok "task create: no credential written for a bad flag" || fail "a credential was written"

upload() { bad "$1" "$2" upload -c t.lua --task-id "$ID" --leader "$U" --helper "$U" --vdaf sum --measurement 1 "$1" "$2"; }
upload --bits abc
upload --length 5x
upload --time -1
upload --time-precision 0x10
upload --chunk-length 18446744073709551617

collect() { bad "$1" "$2" collect -c t.lua --task-id "$ID" --leader "$U" --vdaf count --collector-credential-file none.json --current-batch "$1" "$2"; }
collect --timeout -1
collect --bits abc
collect --length 5x
collect --batch-interval-start 1.5
collect --batch-interval-duration 0

bad --port 70000 interop aggregator --port 70000 --data-dir "$TB_WORK"
bad --port 80x interop aggregator --port 80x --data-dir "$TB_WORK"

# An unknown flag and a flag without its value: usage errors too, naming the flag.
for cmd in "task create -c t.lua --vdaf count" "upload -c t.lua" "collect -c t.lua"; do
	rc=0
	# shellcheck disable=SC2086
	"$TRUSTBOX" dap $cmd --no-such-flag 1 > /dev/null 2> err.txt || rc=$?
	[ "$rc" = 2 ] && grep -q -- "--no-such-flag" err.txt && ok "dap $cmd: unknown flag named" \
		|| fail "dap $cmd --no-such-flag: exit $rc: $(cat err.txt)"
	rc=0
	# shellcheck disable=SC2086
	"$TRUSTBOX" dap $cmd --bits > /dev/null 2> err.txt || rc=$?
	[ "$rc" = 2 ] && grep -q -- "--bits needs a value" err.txt && ok "dap $cmd: a missing value named" \
		|| fail "dap $cmd --bits: exit $rc: $(cat err.txt)"
done
finish
