#!/usr/bin/env bash
# Subsystem commands: `trustbox dns tsig-key` and `trustbox ctlog loglist`.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need python3

key=$("$TRUSTBOX" dns tsig-key) || fail "dns tsig-key"
[[ "$key" =~ ^hmac-sha256:lab\.test:[A-Za-z0-9+/]{43}=$ ]] || fail "tsig-key format: $key"
[ "$("$TRUSTBOX" dns tsig-key)" = "$key" ] || fail "tsig-key changed between runs"
[ "$(cat trustbox-data/lab.test.tsig)" = "$key" ] || fail "tsig-key differs from lab.test.tsig"
ok "dns tsig-key"

"$TRUSTBOX" ctlog loglist > loglist.json || die "ctlog loglist"
python3 - loglist.json <<'PY' || fail "loglist content"
import base64, hashlib, json, sys
l = json.load(open(sys.argv[1]))
logs = l["operators"][0]["logs"] + l["operators"][0]["tiled_logs"]
assert logs, l
for log in logs:
    key = base64.b64decode(log["key"])
    assert base64.b64decode(log["log_id"]) == hashlib.sha256(key).digest(), log
    assert log["mmd"] > 0
PY
# The same key after a restart of the command (kept in the store).
"$TRUSTBOX" ctlog loglist | grep '"key"' | head -1 | cmp -s - <(grep '"key"' loglist.json | head -1) || fail "log key changed"
ok "ctlog loglist"

set +e
"$TRUSTBOX" ctlog nonsense 2>err.txt; rc=$?
set -e
[ "$rc" = 2 ] || fail "unknown subcommand: exit $rc"
ok "unknown subcommand -> exit 2"
finish
