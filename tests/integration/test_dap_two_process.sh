#!/bin/bash
# The DAP-09 pipeline with leader and helper as two `trustbox run` processes
# with separate data directories, stores, HPKE keys and root CAs (as two
# organisations would run them): the helper's tasks come from its own
# configuration (role helper), the leader trusts the helper's root through
# dap.helper_ca_file, and the client trusts both roots (NODE_EXTRA_CA_CERTS).
# @divviup/dap 0.9.1 (divviup-ts) uploads random measurements for each of
# the four Prio3 types; `trustbox dap collect` returns exactly their sum.
# Then the helper is killed (-9) with reports waiting: the leader retries
# its job until the helper is back, and the sum is still exact. Then the
# leader alone is killed (-9) three times just after uploads (the helper
# keeps its prepared state): the collection counts every acknowledged report
# exactly once.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/dap/common.sh"
: "${TB_BUILD_DIR:?}"
need python3
need openssl
need curl

src="$TB_SOURCE_DIR/tests/integration/dap"
divviup_ts

# The collector's X25519 key: its HpkeConfig (id 1, X25519, HKDF-SHA256,
# AES-128-GCM) for the tasks, and divviup's collector_credential.json.
collector_key
CTOK=$(rid 16)
ATOK=$(rid 16)
credential cred.json "$CTOK"
credential wrong.json "$(rid 16)"

T_COUNT=$(rid 32); T_SUM=$(rid 32); T_VEC=$(rid 32); T_HIST=$(rid 32)
PL=$(free_port); PH=$(free_port)
L="https://127.0.0.1:$PL/dap/leader/"
H="https://127.0.0.1:$PH/dap/helper/"
VK=()
for i in 0 1 2 3; do VK[i]=$(rid 16); done
tasks() { # tasks ROLE
	local ids=("$T_COUNT" "$T_SUM" "$T_VEC" "$T_HIST") i
	local v=('vdaf = "count"' 'vdaf = "sum", bits = 8' 'vdaf = "sumvec", bits = 4, length = 5, chunk_length = 3'
		'vdaf = "histogram", length = 10, chunk_length = 3')
	for i in 0 1 2 3; do
		echo "    { id = \"${ids[i]}\", role = \"$1\", ${v[i]}, verify_key = \"${VK[i]}\", min_batch_size = 2,"
		echo "      leader_url = \"$L\", helper_url = \"$H\","
		echo "      aggregator_auth_token = \"$ATOK\", collector_auth_token = \"$CTOK\","
		echo "      collector_hpke_config = \"$CCFG\" },"
	done
}
common() { # common DIR PORT
	cat <<LUA
core { data_dir = "$1", log_level = "warn" }
if acme then acme { enabled = false } end
if ctlog then ctlog { enabled = false } end
if dns then dns { enabled = false } end
listen { name = "https", address = "127.0.0.1", port = $2, tls = true }
LUA
}
{ common "$TB_WORK/helper" "$PH"
  printf 'dap {\n  role = "helper",\n  tasks = {\n%s\n  },\n}\n' "$(tasks helper)"; } > h.lua
"$TRUSTBOX" root -c h.lua > helper-root.pem || die "trustbox root (helper)"
{ common "$TB_WORK/leader" "$PL"
  printf 'dap {\n  role = "leader",\n  aggregation_period_ms = 100,\n  helper_ca_file = "%s",\n  tasks = {\n%s\n  },\n}\n' \
	"$TB_WORK/helper-root.pem" "$(tasks leader)"; } > l.lua
"$TRUSTBOX" root -c l.lua > leader-root.pem || die "trustbox root (leader)"
cat leader-root.pem helper-root.pem > roots.pem
export NODE_EXTRA_CA_CERTS="$TB_WORK/roots.pem"

HPID=
helper_start() { # the helper as a second trustbox process, waited for like tb_start
	: > helper.out
	"$TRUSTBOX" run -c h.lua >> helper.out 2>> helper.err &
	HPID=$!
	track "$HPID"
	for _ in $(seq 1 300); do
		grep -q 'root CA SHA-256' helper.out && return 0
		kill -0 "$HPID" 2>/dev/null || die "the helper exited during start-up"
		sleep 0.1
	done
	die "the helper printed no ready banner"
}
show_on_failure helper.err
helper_start
expect "helper banner: only the helper" "$(cat helper.out)" "DAP helper +$H"
expect_not "helper banner: no leader" "$(cat helper.out)" "DAP leader"
tb_start l.lua
expect "leader banner: only the leader" "$TB_BANNER" "DAP leader +https://127.0.0.1:$PL/dap/leader/"
expect_not "leader banner: no helper, no demo task" "$TB_BANNER" "DAP (helper|demo)"
js() { node "$src/client.mjs" "$@"; }

now=$(date +%s)
START=$((now / 3600 * 3600 - 3600))
DUR=7200
collect() { # collect TASK VDAF-FLAGS...: the collector's JSON on stdout
	local t=$1; shift
	"$TRUSTBOX" dap collect -c l.lua --task-id "$t" --leader "$L" --cacert leader-root.pem \
		--batch-interval-start "$START" --batch-interval-duration "$DUR" --timeout 60 "$@"
}
# ---- random measurements, their exact sums ----
. "$src/rounds.sh"
dap_seed
round Prio3Count "$T_COUNT" '{"type":"count"}' count --vdaf count
round Prio3Sum "$T_SUM" '{"type":"sum","bits":8}' sum --vdaf sum --bits 8
round Prio3SumVec "$T_VEC" '{"type":"sumVec","bits":4,"length":5,"chunkLength":3}' sumvec \
	--vdaf sumvec --bits 4 --length 5 --chunk-length 3
round Prio3Histogram "$T_HIST" '{"type":"histogram","length":10,"chunkLength":3}' histogram \
	--vdaf histogram --length 10 --chunk-length 3

# ---- the helper killed with reports waiting ----
T=$T_SUM
stop_pid "$HPID" KILL
START=$((START - 3600)); DUR=3600   # the hour before: not collected yet
make sum
got=$(js upload "$L" "$H" "$T" '{"type":"sum","bits":8}' 3600 "$M" $((START + 60)))
# The client fetches the helper's HPKE config: with the helper down it cannot
# encrypt, so the helper comes back for the upload and goes down again at once.
if [ "$(printf '%s\n' "$got" | grep -c '^ok$')" != "$N" ]; then
	helper_start
	got=$(js upload "$L" "$H" "$T" '{"type":"sum","bits":8}' 3600 "$M" $((START + 60)))
	stop_pid "$HPID" KILL
fi
[ "$(printf '%s\n' "$got" | grep -c '^ok$')" = "$N" ] || fail "uploads for the helper-down round: $got"
sleep 1   # the leader tries and fails meanwhile
helper_start
got=$(collect "$T" --vdaf sum --bits 8 --collector-credential-file cred.json 2> down.err) || true
expect "helper killed and back: collect returns the sum of $M" "$got" "^\{\"report_count\":$N,.*\"aggregate\":$WANT\}$"
show_on_failure down.err

# ---- the leader alone killed (-9) during aggregation, three times ----
START=$((START - 3600)); DUR=3600   # another hour, not collected yet
acked=0; want=0
for r in 1 2 3; do
	make sum
	got=$(js upload "$L" "$H" "$T" '{"type":"sum","bits":8}' 3600 "$M" $((START + 60)))
	acked_add "$got"
	sleep "0.$((RANDOM % 4))"
	tb_stop KILL || true
	kill -0 "$HPID" 2>/dev/null || fail "the helper went down with the leader"
	tb_start l.lua
done
[ "$acked" -gt 0 ] || fail "no upload acknowledged in the leader-kill rounds"
got=$(collect "$T" --vdaf sum --bits 8 --collector-credential-file cred.json 2> lkill.err) || true
expect "leader killed 3 times: collect returns $acked reports, sum $want" "$got" "^\{\"report_count\":$acked,.*\"aggregate\":$want\}$"
show_on_failure lkill.err
tb_stop && ok "the leader stops cleanly" || fail "leader exit status"
stop_pid "$HPID"
finish
