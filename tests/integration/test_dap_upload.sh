#!/bin/bash
# DAP-09 uploads from the real client, @divviup/dap 0.9.1 (divviup-ts), to
# trustbox's leader over HTTPS (the client trusts trustbox's root through
# NODE_EXTRA_CA_CERTS):
#   - for each of the four Prio3 types (and the default config's demo task)
#     random measurements are uploaded with the client's own hpke_config
#     fetches; every one is acknowledged, and exactly those reports are in
#     the store (the answer comes after the commit)
#   - refusals, each with its DAP-09 problem type and the task id, and no
#     report stored: a replayed report (reportRejected), a report too early
#     (reportTooEarly), older than the report expiry age and after the task's
#     expiration (reportRejected), an unknown task (unrecognizedTask, at
#     hpke_config and at upload), an unknown HPKE config id (outdatedConfig),
#     a wrong media type (415), a body that is no Report (invalidMessage)
#   - leader and helper answer hpke_config with their own keys and the exact
#     media type; the helper has no upload route
#   - `trustbox dap key rotate` next to the running instance: the new config
#     is announced, a report sealed to the old one still decrypts until
#     `key retire`, then it is outdatedConfig
#   - after a restart the keys are the same and a replay is still refused
set -euo pipefail
. "$(dirname "$0")/lib.sh"
: "${TB_BUILD_DIR:?}"
need python3
need curl

src="$TB_SOURCE_DIR/tests/integration/dap"
nm="$TB_BUILD_DIR/dap-interop"
mkdir -p "$nm"
cp "$src/package.json" "$nm/"
npm_install "$nm" @divviup/dap
ver=$(node -p "require('$nm/node_modules/@divviup/dap/package.json').version")
[ "$ver" = "0.9.1" ] || die "expected @divviup/dap 0.9.1, found $ver"
export DAP_NODE_MODULES="$nm/node_modules"

rid() { python3 -c "import os,base64;print(base64.urlsafe_b64encode(os.urandom($1)).rstrip(b'=').decode())"; }
now=$(date +%s)
T_COUNT=$(rid 32); T_SUM=$(rid 32); T_VEC=$(rid 32); T_HIST=$(rid 32); T_AGE=$(rid 32); T_EXP=$(rid 32)
P=$(free_port)
cat > t.lua <<LUA
core { data_dir = "$TB_WORK/data", log_level = "warn" }
if acme then acme { enabled = false } end
if ctlog then ctlog { enabled = false } end
if dns then dns { enabled = false } end
listen { name = "https", address = "127.0.0.1", port = $P, tls = true }
dap {
  tasks = {
    { id = "$T_COUNT", vdaf = "count", verify_key = "$(rid 16)", min_batch_size = 1 },
    { id = "$T_SUM", vdaf = "sum", bits = 8, verify_key = "$(rid 16)" },
    { id = "$T_VEC", vdaf = "sumvec", bits = 4, length = 5, chunk_length = 3, verify_key = "$(rid 16)" },
    { id = "$T_HIST", vdaf = "histogram", length = 10, chunk_length = 3, verify_key = "$(rid 16)" },
    { id = "$T_AGE", vdaf = "count", verify_key = "$(rid 16)", time_precision = 60, report_expiry_age = 3600 },
    { id = "$T_EXP", vdaf = "count", verify_key = "$(rid 16)", task_expiration = $((now / 3600 * 3600 - 3600)) },
  },
}
LUA
tb_start t.lua
"$TRUSTBOX" root -c t.lua > root.pem || die "trustbox root"
export NODE_EXTRA_CA_CERTS="$TB_WORK/root.pem"
L="https://127.0.0.1:$P/dap/leader/"
H="https://127.0.0.1:$P/dap/helper/"
expect "banner: leader base URL" "$TB_BANNER" "DAP leader +$L"
expect "banner: helper base URL" "$TB_BANNER" "DAP helper +$H"
DEMO=$(printf '%s\n' "$TB_BANNER" | sed -n 's/.*DAP demo task *\([A-Za-z0-9_-]*\).*/\1/p')
[ -n "$DEMO" ] || die "no demo task in the banner"

js() { node "$src/client.mjs" "$@"; }
stored() { # stored TASK: reports in the leader's store for the task
	python3 - "$TB_WORK/data/trustbox.db" "$1" <<'PY'
import base64, sqlite3, sys
tid = base64.urlsafe_b64decode(sys.argv[2] + "=" * (-len(sys.argv[2]) % 4))
db = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
print(db.execute("SELECT count(*) FROM dap_reports WHERE task_id=?", (tid,)).fetchone()[0])
PY
}

# ---- uploads from the real client ----
seed=${DAP_SEED:-$RANDOM}
echo "measurements from seed $seed (DAP_SEED=$seed repeats them)"
RANDOM=$seed
N=5
meas() { # meas KIND: a JSON array of N random measurements
	local out="" i v
	for i in $(seq 1 $N); do
		case $1 in
		count) v=$((RANDOM % 2)); if [ $v = 1 ]; then v=true; else v=false; fi ;;
		sum) v=$((RANDOM % 256)) ;;
		sumvec) v="[$((RANDOM % 16)),$((RANDOM % 16)),$((RANDOM % 16)),$((RANDOM % 16)),$((RANDOM % 16))]" ;;
		histogram) v=$((RANDOM % 10)) ;;
		demo) v=$((RANDOM % 4)) ;;
		esac
		out="$out${out:+,}$v"
	done
	echo "[$out]"
}
up() { # up NAME TASK VDAF-JSON PRECISION KIND
	local got m
	m=$(meas "$5")
	got=$(js upload "$L" "$H" "$2" "$3" "$4" "$m") || { fail "$1: client failed"; return; }
	if [ "$(printf '%s\n' "$got" | grep -c '^ok$')" = "$N" ]; then ok "$1: $N uploads of $m acknowledged"
	else fail "$1: $got"; fi
	[ "$(stored "$2")" = "$N" ] && ok "$1: $N reports stored" || fail "$1: $(stored "$2") reports stored, expected $N"
}
up "Prio3Count" "$T_COUNT" '{"type":"count"}' 3600 count
up "Prio3Sum" "$T_SUM" '{"type":"sum","bits":8}' 3600 sum
up "Prio3SumVec" "$T_VEC" '{"type":"sumVec","bits":4,"length":5,"chunkLength":3}' 3600 sumvec
up "Prio3Histogram" "$T_HIST" '{"type":"histogram","length":10,"chunkLength":3}' 3600 histogram
up "demo task" "$DEMO" '{"type":"histogram","length":4,"chunkLength":2}' 300 demo

# ---- refusals ----
C='{"type":"count"}'
got=$(js replay "$L" "$H" "$T_COUNT" "$C" 3600 true)
expect "replay: first upload acknowledged" "$(echo "$got" | head -1)" "^ok$"
expect "replay: second upload refused" "$(echo "$got" | tail -1)" "^error reportRejected 400 $T_COUNT$"
got=$(js upload "$L" "$H" "$T_COUNT" "$C" 3600 '[true]' $((now + 86400)))
expect "report a day ahead: reportTooEarly" "$got" "^error reportTooEarly 400 $T_COUNT$"
got=$(js upload "$L" "$H" "$T_AGE" "$C" 60 '[true]' $((now - 7200)))
expect "report older than the expiry age: reportRejected" "$got" "^error reportRejected 400 $T_AGE$"
# (report times are rounded down to the precision: the task expired an hour before this one's)
got=$(js upload "$L" "$H" "$T_EXP" "$C" 3600 '[true]')
expect "report after the task's expiration: reportRejected" "$got" "^error reportRejected 400 $T_EXP$"
UNK=$(rid 32)
got=$(js upload "$L" "$H" "$UNK" "$C" 3600 '[true]')
expect "unknown task: unrecognizedTask at hpke_config" "$got" "^error unrecognizedTask 404 $UNK$"
got=$(js outdated "$L" "$H" "$T_COUNT" "$C" 3600 true)
expect "unknown HPKE config id: outdatedConfig" "$got" "^error outdatedConfig 400 $T_COUNT$"
body=000102030405060708090a0b0c0d0e0f
got=$(js raw "${L}tasks/$T_COUNT/reports" application/octet-stream "$body")
expect "wrong media type: 415 problem document" "$got" "^415 invalidMessage $T_COUNT$"
got=$(js raw "${L}tasks/$T_COUNT/reports" application/dap-reportx "$body")
expect "a media type the right one is a prefix of: 415" "$got" "^415 invalidMessage $T_COUNT$"
got=$(js raw "${L}tasks/$T_COUNT/reports" application/dap-report "$body")
expect "a body that is no Report: invalidMessage" "$got" "^400 invalidMessage $T_COUNT$"
got=$(js raw "${L}tasks/$UNK/reports" application/dap-report "$body")
expect "upload to an unknown task: unrecognizedTask" "$got" "^404 unrecognizedTask $UNK$"
got=$(js raw "${H}tasks/$T_COUNT/reports" application/dap-report "$body")
expect "the helper takes no uploads" "$got" "^40[45] "
[ "$(stored "$T_COUNT")" = $((N + 1)) ] && ok "refused reports left no trace (count task: $((N + 1)) stored)" \
	|| fail "count task: $(stored "$T_COUNT") reports stored, expected $((N + 1))"
for t in "$T_AGE" "$T_EXP" "$UNK"; do
	[ "$(stored "$t")" = 0 ] || fail "task $t: $(stored "$t") reports stored after refusals"
done
# Within the tolerable clock skew (60 s) a report from the near future is taken.
got=$(js upload "$L" "$H" "$T_AGE" "$C" 60 '[true]' $((now + 30)))
expect "report 30 s ahead (within the skew): acknowledged" "$got" "^ok$"

# ---- hpke_config ----
hc() { curl -sS --cacert root.pem -D "$2.h" -o "$2" "$1" || fail "curl $1"; }
hc "${L}hpke_config" leader.cfg
hc "${H}hpke_config?task_id=$T_COUNT" helper.cfg
expect "leader hpke_config media type" "$(tr -d '\r' < leader.cfg.h)" "^[Cc]ontent-[Tt]ype: application/dap-hpke-config-list$"
expect "helper hpke_config media type" "$(tr -d '\r' < helper.cfg.h)" "^[Cc]ontent-[Tt]ype: application/dap-hpke-config-list$"
if cmp -s leader.cfg helper.cfg; then fail "leader and helper announce the same key"
else ok "leader and helper have their own keys"; fi
code=$(curl -sS --cacert root.pem -o unk.json -w '%{http_code}' "${L}hpke_config?task_id=$UNK")
expect "hpke_config of an unknown task: 404 unrecognizedTask" "$code $(cat unk.json)" \
	"^404 .*unrecognizedTask.*\"taskid\":\"$UNK\""

# ---- key rotation next to the running instance ----
hexf() { od -An -v -tx1 "$1" | tr -d ' \n'; }
A=$((0x$(hexf leader.cfg | cut -c5-6)))
out=$("$TRUSTBOX" dap key rotate -c t.lua leader) || fail "key rotate"
B=$(printf '%s' "$out" | sed -n 's/.*"config_id":\([0-9]*\).*/\1/p')
[ -n "$B" ] && [ "$B" != "$A" ] && ok "key rotate: a new config ($A -> $B)" || fail "key rotate: $out"
sleep 1.1
hc "${L}hpke_config" leader-rotated.cfg
[ "$((0x$(hexf leader-rotated.cfg | cut -c5-6)))" = "$B" ] && [ "$(hexf leader-rotated.cfg | cut -c1-4)" = "$(hexf leader.cfg | cut -c1-4)" ] \
	&& ok "the running leader announces the new config only" || fail "after rotation: $(hexf leader-rotated.cfg | cut -c1-12)"
got=$(js upload "$L" "$H" "$T_AGE" "$C" 60 '[true]')
expect "a client fetching the configs uploads to the new key" "$got" "^ok$"
got=$(js lists "$L" "$H" "$T_AGE" "$C" 60 true "$(hexf leader.cfg)" "$(hexf helper.cfg)")
expect "a report sealed to the old config still decrypts" "$got" "^ok$"
out=$("$TRUSTBOX" dap key retire -c t.lua leader "$B" 2>&1) && fail "retiring the active key succeeded"
expect "the active key cannot be retired" "$out" "no inactive key"
"$TRUSTBOX" dap key retire -c t.lua leader "$A" > /dev/null || fail "key retire $A"
sleep 1.1
got=$(js lists "$L" "$H" "$T_AGE" "$C" 60 true "$(hexf leader.cfg)" "$(hexf helper.cfg)")
expect "once the old key is retired: outdatedConfig" "$got" "^error outdatedConfig 400 $T_AGE$"
cp leader-rotated.cfg leader.cfg

# ---- restart: same keys, replays still refused ----
tb_stop || fail "trustbox exit status"
tb_start t.lua
hc "${L}hpke_config" leader2.cfg
cmp -s leader.cfg leader2.cfg && ok "leader HPKE config kept across a restart" || fail "leader HPKE config changed on restart"
got=$(js upload "$L" "$H" "$T_COUNT" "$C" 3600 '[true]')
expect "upload after a restart acknowledged" "$got" "^ok$"
finish
