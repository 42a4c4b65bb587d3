#!/bin/bash
# The leader reaches its helper over kept-alive connections (the core HTTP
# client's pool), counted by tb_http_client_connections_total{kind}:
#   - one process, default pool: six aggregation jobs and a collection's
#     aggregate share request open one connection (one TLS handshake) to the
#     helper and reuse it for every later request; the aggregate is exact
#   - core.http_client_pool_size = 0 (no idle connections kept): every
#     request dials, and each dial after the first resumes the TLS session
#     (no new full handshake), the aggregate still exact
# Before the pool, every request dialled with a full handshake: new = 7.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
: "${TB_BUILD_DIR:?}"
need curl

JOBS=6
metric() { # metric FILE 'NAME{LABELS}': the value, 0 when absent
	awk -v k="$2" '$1 == k { v = $2 } END { print v + 0 }' "$1"
}
run_one() { # run_one NAME POOL_SIZE: starts an instance, runs JOBS jobs and a collection, scrapes /metrics
	local name=$1 pool=$2 ID P L H now m done got
	cat > "$name.lua" <<LUA
core { data_dir = "$TB_WORK/$name", log_level = "warn", http_client_pool_size = $pool }
if acme then acme { enabled = false } end
if ctlog then ctlog { enabled = false } end
if dns then dns { enabled = false } end
listen { name = "https", address = "127.0.0.1", port = 0, tls = true }
dap { aggregation_period_ms = 100 }
LUA
	tb_start "$name.lua"
	P=$(tb_port "HTTPS listener")
	ID=$(printf '%s\n' "$TB_BANNER" | sed -n 's/.*DAP demo task *\([A-Za-z0-9_-]*\).*/\1/p')
	[ -n "$ID" ] || die "no demo task in the banner"
	"$TRUSTBOX" root -c "$name.lua" > "$name-root.pem" || die "trustbox root"
	L="https://127.0.0.1:$P/dap/leader/"
	H="https://127.0.0.1:$P/dap/helper/"
	now=$(date +%s)
	# One report per job: each upload waits until the leader finished a job with it.
	for i in $(seq 1 $JOBS); do
		m=$((i % 4))
		"$TRUSTBOX" dap upload -c "$name.lua" --task-id "$ID" --leader "$L" --helper "$H" --cacert "$name-root.pem" \
			--vdaf histogram --length 4 --chunk-length 2 --time-precision 300 --time "$now" --measurement $m \
			> up.out 2> up.err || die "$name: upload $i: $(cat up.err)"
		for _ in $(seq 1 100); do
			curl -sf --cacert "$name-root.pem" "https://127.0.0.1:$P/metrics" > "$name.prom" || die "GET /metrics"
			done=$(metric "$name.prom" 'tb_dap_aggregation_jobs_total{role="leader",result="ok"}')
			[ "$done" -ge "$i" ] && break
			sleep 0.1
		done
		[ "$done" -ge "$i" ] || die "$name: job $i did not finish"
	done
	got=$("$TRUSTBOX" dap collect -c "$name.lua" --task-id "$ID" --leader "$L" --cacert "$name-root.pem" \
		--vdaf histogram --length 4 --chunk-length 2 \
		--collector-credential-file "$TB_WORK/$name/dap-demo-collector.json" \
		--batch-interval-start $((now / 300 * 300)) --batch-interval-duration 300 --timeout 60 2> collect.err) || true
	expect "$name: the aggregate of $JOBS jobs is exact" "$got" '"report_count":6,.*"aggregate":\[1,2,2,1\]'
	show_on_failure collect.err
	curl -sf --cacert "$name-root.pem" "https://127.0.0.1:$P/metrics" > "$name.prom" || die "GET /metrics"
	tb_stop || fail "$name: exit status"
}

# check NAME WANT_NEW ZERO_KIND MANY_KIND WHAT: new = WANT_NEW, ZERO_KIND = 0, MANY_KIND >= JOBS
check() {
	local new zero many
	new=$(metric "$1.prom" 'tb_http_client_connections_total{kind="new"}')
	zero=$(metric "$1.prom" "tb_http_client_connections_total{kind=\"$3\"}")
	many=$(metric "$1.prom" "tb_http_client_connections_total{kind=\"$4\"}")
	[ "$new" = "$2" ] && [ "$zero" = 0 ] && ok "$1: $new full handshake(s) to the helper, no $3 connection" \
		|| fail "$1: new=$new $3=$zero (expected $2 and 0)"
	[ "$many" -ge "$JOBS" ] && ok "$1: $many connections $4 ($5)" \
		|| fail "$1: only $many connections $4 (expected >= $JOBS)"
}
run_one pooled 8
check pooled 1 resumed reused "requests on the kept-alive connection"
run_one unpooled 0
check unpooled 1 reused resumed "new connections resuming the TLS session"
finish
