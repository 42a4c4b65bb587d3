#!/bin/bash
# A listener on port 0 (an ephemeral port) and no dap.public_url: the DAP
# URLs carry the port the listener was bound to, not the configured 0:
#   - the banner's DAP leader and helper lines show the listener's real port
#   - the demo task works: `trustbox dap upload` to it and
#     `trustbox dap collect` with its credential give the exact aggregate
#     (the leader reaches its helper at the task's stored helper URL)
#   - `trustbox dap task create` next to the running instance prints URLs
#     with the real port; before any instance bound it, it is a usage error
set -euo pipefail
. "$(dirname "$0")/lib.sh"
: "${TB_BUILD_DIR:?}"
need python3
field() { python3 -c "import json,sys;v=json.load(open(sys.argv[1]));exec('for k in sys.argv[2].split(\".\"): v=v[k]');print(v)" "$1" "$2"; }

cat > t.lua <<LUA
core { data_dir = "$TB_WORK/data", log_level = "warn" }
if acme then acme { enabled = false } end
if ctlog then ctlog { enabled = false } end
if dns then dns { enabled = false } end
listen { name = "https", address = "127.0.0.1", port = 0, tls = true }
dap { aggregation_period_ms = 100 }
LUA
# Before any instance bound the port, task create cannot know it: a usage error.
rc=0
"$TRUSTBOX" dap task create -c t.lua --vdaf count > early.json 2> early.err || rc=$?
[ "$rc" = 2 ] && grep -q "port 0" early.err && ok "task create before a start: exit 2, port 0 named" \
	|| fail "task create before a start: exit $rc: $(cat early.err) $(cat early.json)"
tb_start t.lua
P=$(tb_port "HTTPS listener")
[ "$P" != 0 ] || die "the HTTPS listener reports port 0"
BL=$(printf '%s\n' "$TB_BANNER" | sed -n 's/.*DAP leader *\(http[^ ]*\).*/\1/p')
BH=$(printf '%s\n' "$TB_BANNER" | sed -n 's/.*DAP helper *\(http[^ ]*\).*/\1/p')
ID=$(printf '%s\n' "$TB_BANNER" | sed -n 's/.*DAP demo task *\([A-Za-z0-9_-]*\).*/\1/p')
expect "banner: the DAP leader URL has the bound port" "$BL" "^https://127.0.0.1:$P/dap/leader/$"
expect "banner: the DAP helper URL has the bound port" "$BH" "^https://127.0.0.1:$P/dap/helper/$"
[ -n "$ID" ] || die "no demo task in the banner: $TB_BANNER"
"$TRUSTBOX" root -c t.lua > root.pem || die "trustbox root"

# The client and the collector are given the real URLs whatever the banner
# says: what is checked here is the URL the leader itself uses to reach the
# helper, stored with the task.
L="https://127.0.0.1:$P/dap/leader/"
H="https://127.0.0.1:$P/dap/helper/"
# The demo task: histogram, 4 buckets, chunk length 2, time precision 300 s.
now=$(date +%s)
for m in 2 2 3 0; do
	"$TRUSTBOX" dap upload -c t.lua --task-id "$ID" --leader "$L" --helper "$H" --cacert root.pem \
		--vdaf histogram --length 4 --chunk-length 2 --time-precision 300 --time "$now" --measurement $m \
		> up.out 2> up.err || fail "upload $m: $(cat up.err)"
done
START=$((now / 300 * 300))
got=$("$TRUSTBOX" dap collect -c t.lua --task-id "$ID" --leader "$L" --cacert root.pem --vdaf histogram \
	--length 4 --chunk-length 2 --collector-credential-file "$TB_WORK/data/dap-demo-collector.json" \
	--batch-interval-start "$START" --batch-interval-duration 300 --timeout 60 2> collect.err) || true
expect "demo task: upload and collect give the exact aggregate" "$got" '"report_count":4,.*"aggregate":\[1,0,2,1\]'
show_on_failure collect.err

"$TRUSTBOX" dap task create -c t.lua --vdaf count --min-batch-size 1 --collector-credential-file cred.json \
	> task.json 2> create.err || fail "task create: $(cat create.err)"
expect "task create: the leader URL has the bound port" "$(field task.json divviup_ts.leader 2>&1)" \
	"^https://127.0.0.1:$P/dap/leader/$"
expect "task create: the helper URL has the bound port" "$(field task.json divviup_ts.helper 2>&1)" \
	"^https://127.0.0.1:$P/dap/helper/$"
tb_stop || fail "exit status"
finish
