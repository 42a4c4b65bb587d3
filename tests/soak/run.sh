#!/usr/bin/env bash
# The reliability soak: one trustbox with every subsystem on, mixed load from
# real clients (tests/soak/load.py: the ACME client of the integration tests,
# CT add-chain of distinct chains, nsupdate with TSIG, dig, `trustbox dap
# upload`), each client journalling exactly what the server acknowledged;
# kill -9 at random moments, SIGTERM mid-load, and the faults of a build with
# TB_FAULT_INJECTION (the fault file of core/clock.h): disk full (the data
# directory is a small tmpfs in a private mount namespace), store write and
# fsync errors, a slow disk, the wall clock jumping forward and back. After
# every restart and at the end tests/soak/check.py checks the invariants from
# outside (every acknowledged certificate, SCT, DNS update and DAP report is
# there, exactly once); PRAGMA integrity_check runs on the store while
# trustbox is down. See docs/reliability.md.
#
#   tests/soak/run.sh --short            a few kills, one fault of each kind (CI)
#   tests/soak/run.sh --long             >= 100 kills, every fault kind, then a
#                                        30-minute steady run sampling RSS/fds/store
#   options: --kills N  --steady-minutes M  --seed S
# A connection flood from 127.0.0.2-9 (tests/soak/flood.py) runs from the first
# start to the final check, across every kill and fault: SOAK_FLOOD=N connections
# per address (default 64 short, 200 long), SOAK_FLOOD=0 turns it off.
# The last line is "lost = N"; the exit status is 0 only when nothing was lost
# or duplicated, every check held and every stop was clean.
set -euo pipefail
mode=short kills= steady= seed=${SOAK_SEED:-$RANDOM}
while [ $# -gt 0 ]; do
	case $1 in
	--short) mode=short ;;
	--long) mode=long ;;
	--kills) kills=$2; shift ;;
	--steady-minutes) steady=$2; shift ;;
	--seed) seed=$2; shift ;;
	*) echo "usage: $0 --short|--long [--kills N] [--steady-minutes M] [--seed S]" >&2; exit 2 ;;
	esac
	shift
done
if [ "$mode" = short ]; then : "${kills:=3}" "${steady:=1}"; else : "${kills:=100}" "${steady:=30}"; fi
here=$(cd "$(dirname "$0")" && pwd)
export TB_SOURCE_DIR=${TB_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
: "${TRUSTBOX:=${TB_BUILD_DIR:-$TB_SOURCE_DIR/build}/trustbox}"
case $TRUSTBOX in /*) ;; *) TRUSTBOX=$PWD/$TRUSTBOX ;; esac # the run works in its own directory
export TRUSTBOX

# A private mount namespace, so that the data directory can be a small tmpfs.
if [ -z "${TB_SOAK_NS:-}" ]; then
	if [ "$(id -u)" != 0 ] || ! unshare -m --propagation private true 2>/dev/null; then
		echo "SKIP: the soak needs root for a private mount namespace (unshare -m)" >&2
		exit 77
	fi
	exec unshare -m --propagation private env TB_SOAK_NS=1 bash "$0" --$mode --kills "$kills" \
		--steady-minutes "$steady" --seed "$seed"
fi

. "$TB_SOURCE_DIR/tests/integration/lib.sh"
need python3
need_py cryptography python3-cryptography
need nsupdate bind9-dnsutils
need dig bind9-dnsutils
need sqlite3
need curl
need go golang-go
[ -d /usr/share/gocode/src/golang.org/x/mod/sumdb ] ||
	skip "golang.org/x/mod is not installed (Debian package golang-golang-x-mod-dev)"
grep -aq store_fsync_error "$TRUSTBOX" ||
	skip "$TRUSTBOX has no fault injection (configure with -DTB_FAULT_INJECTION=ON; the sanitizer build has it)"

W=$TB_WORK
RANDOM=$seed
FLOOD=${SOAK_FLOOD:-$([ "$mode" = short ] && echo 64 || echo 200)}
echo "soak: $mode, $kills kills, $steady steady minute(s), seed $seed (--seed $seed repeats the schedule), flood $FLOOD per address"
T0=$(date +%s)
D=$W/data
mkdir -p "$D" "$W/j" "$W/res"
tmpfs_mb=$([ "$mode" = short ] && echo 256 || echo 1024)
mount -t tmpfs -o size=${tmpfs_mb}m soak "$D" || skip "cannot mount a tmpfs"
tb_cleanup() {
	[ -n "${LOADPID:-}" ] && kill "$LOADPID" 2>/dev/null
	cd /
	[ -n "${TB_KEEP:-}" ] && cp -a "$D" "$W/data-kept"
	umount "$D" 2>/dev/null || true
}
FAULTS=$W/faults
: > "$FAULTS"
fault() { # fault NAME VALUE... ("" clears the file); the server re-reads it within 100 ms
	printf '%s\n' "$@" > "$FAULTS.tmp"
	mv "$FAULTS.tmp" "$FAULTS"
	sleep 0.3
}

(cd "$TB_SOURCE_DIR/tests/ctverify" && GOPATH=/usr/share/gocode GO111MODULE=off GOCACHE="$W/gocache" \
	GOFLAGS= go build -o "$W/ctverify" .) || die "ctverify does not build"
python3 "$here/load.py" setup "$W" || die "load.py setup"

HP=$(free_port); PP=$(free_port); DP=$(free_port)
# Per-address connection caps below the listeners' global ones (http_max_connections
# 1024, dns tcp_clients 256) for all eight flooding addresses together: the flood's
# connections beyond them are shed per address, oldest idle first, the global caps are
# never reached, and the load's own clients (127.0.0.1, well under 40 connections) are
# served. The flood opens 3/4 of its connections per address to HTTP (plain and TLS)
# and 1/4 to DNS over TCP, above both caps in either mode.
HTTP_PER_ADDR=40 DNS_PER_ADDR=8
SECRET=$(head -c 32 /dev/urandom | base64)
cat > "$W/t.lua" <<EOF
core { data_dir = "$D", log_level = "warn", shutdown_grace_ms = 3000,
  http_max_connections_per_address = $HTTP_PER_ADDR }
listen { name = "https", address = "127.0.0.1", port = $HP, tls = true }
listen { name = "http", address = "127.0.0.1", port = $PP, tls = false }
acme { lab_always_valid = true, rate_limits = { new_orders_per_account_per_hour = 0,
  new_accounts_per_ip_per_hour = 0, certificates_per_domain_per_week = 0 } }
ctlog { period_ms = 100, logs = { { name = "lab", roots = { "$W/ct/root.pem" },
  submission_url = "http://127.0.0.1:$PP/ct/lab/" } } }
dns { listen = { "127.0.0.1:$DP" }, iterate = false, tcp_clients_per_address = $DNS_PER_ADDR,
  tsig_keys = { { name = "soak-key", secret = "$SECRET", zones = { "lab.test" } } } }
dap { aggregation_period_ms = 200 }
EOF
export ACME_DIR=https://127.0.0.1:$HP/dir ACME_CA=$W/root.pem CT_URL=http://127.0.0.1:$PP/ct/lab/
export CT_ORIGIN=127.0.0.1:$PP/ct/lab CT_KEY=$W/ctlog-lab.pem CTVERIFY=$W/ctverify
export DNS_PORT=$DP DNS_KEY=hmac-sha256:soak-key:$SECRET DAP_CFG=$W/t.lua DAP_CRED=$W/dap-cred.json
export DAP_LEADER=https://127.0.0.1:$HP/dap/leader/ DAP_HELPER=https://127.0.0.1:$HP/dap/helper/

declare -A N=([kill9]=0 [sigterm]=0 [disk_full]=0 [store_write_error]=0 [store_fsync_error]=0
	[slow_disk]=0 [clock_forward]=0 [clock_back]=0 [restart]=0)
VIOL=0 LOST=0 DUP=0 ROUND=0
bad() { echo "VIOLATION: $*" >&2; VIOL=$((VIOL + 1)); }

start() {
	local i
	TB_FAULT_FILE=$FAULTS tb_start "$W/t.lua" "$W/run.out" "$W/run.err"
	N[restart]=$((N[restart] + 1))
	for i in $(seq 1 100); do
		curl -sf "${CT_URL}checkpoint" -o /dev/null && return 0
		sleep 0.1
	done
	die "no checkpoint after start"
}

# stop_kill: kill -9 now. stop_term: SIGTERM, expect a clean exit (status 0,
# so LeakSanitizer found nothing in the sanitizer build).
stop_kill() { tb_stop KILL || true; N[kill9]=$((N[kill9] + 1)); }
stop_term() {
	local rc=0
	tb_stop TERM || rc=$?
	[ "$rc" = 0 ] || { bad "SIGTERM: exit status $rc"; tail -40 "$W/run.err" >&2; }
	N[sigterm]=$((N[sigterm] + 1))
}

integrity() { # while trustbox is down
	local out
	out=$(sqlite3 "file:$D/trustbox.db?mode=ro" 'PRAGMA integrity_check' 2>&1) ||
		out=$(sqlite3 "$D/trustbox.db" 'PRAGMA integrity_check' 2>&1) || true
	[ "$out" = ok ] || bad "integrity_check after $1: $out"
}

load_start() { # load_start SECONDS [CLIENTS]: the load in the background, LOADPID
	ROUND=$((ROUND + 1))
	rm -f "$W/stop"
	LOADSECS=$1
	SOAK_CLIENTS=${2:-${SOAK_CLIENTS:-acme=2,ct=2,dns=1,dnsq=1,dap=1}} \
		python3 "$here/load.py" run "$W" "$1" "r$ROUND" >> "$W/load.log" 2>&1 &
	LOADPID=$!
}
load_wait() { # a timed load runs its time; an open-ended one (0) stops now
	[ "$LOADSECS" != 0 ] || touch "$W/stop"
	wait "$LOADPID" || bad "load.py failed (see load.log)"
	LOADPID=
}

check() { # check [--final]: the invariants; adds to LOST and DUP
	local out j
	out=$(python3 "$here/check.py" "$W" "$ROUND" "$@" 2> "$W/res/check-$ROUND.err") || true
	printf '%s\n' "$out" | grep -v '^{' | sed 's/^/  /' || true
	j=$(printf '%s\n' "$out" | tail -1)
	printf '%s\n' "$j" > "$W/res/check-$ROUND.json"
	read -r l d v < <(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print(sum(r["lost"].values()), sum(r["dup"].values()), r["violations"])' "$j" 2>/dev/null || echo "0 0 1")
	LOST=$((LOST + l)); DUP=$((DUP + d))
	if [ "$v" != 0 ]; then VIOL=$((VIOL + v)); tail -20 "$W/res/check-$ROUND.err" >&2; fi
	echo "  check after round $ROUND: lost $l, duplicates $d, violations $v"
}

acked() { cat "$W/j/$1.jsonl" 2>/dev/null | wc -l; }
READS=0 READS_BAD=0
reads_ok() { # the read paths answer: checkpoint, a DNS query over UDP and over TCP, /healthz
	local v=$VIOL
	READS=$((READS + 1))
	curl -sf -m 5 "${CT_URL}checkpoint" -o /dev/null || bad "$1: checkpoint not served"
	dig @127.0.0.1 -p "$DP" +time=2 +tries=2 lab.test SOA | grep -q 'status: NOERROR' || bad "$1: DNS query not answered"
	dig @127.0.0.1 -p "$DP" +tcp +time=2 +tries=2 lab.test SOA | grep -q 'status: NOERROR' ||
		bad "$1: DNS query over TCP not answered"
	curl -sf -m 5 --cacert "$ACME_CA" "https://127.0.0.1:$HP/healthz" -o /dev/null || bad "$1: /healthz"
	[ "$VIOL" = "$v" ] || READS_BAD=$((READS_BAD + 1))
}
alive() { kill -0 "$TB_PID" 2>/dev/null || die "$1: trustbox died: $(tail -5 "$W/run.err")"; }
sample() { # sample FILE: time rss_kib fds store_kib sqlite_heap_kib writer_cache_kib reader_cache_kib
	local m # SQLite's share of the RSS, from /metrics (core/store.c)
	m=$(curl -sf -m 5 "http://127.0.0.1:$PP/metrics" | awk '
		/^tb_store_sqlite_memory_bytes / { s = $2 }
		/^tb_store_cache_bytes\{connection="writer"\} / { w = $2 }
		/^tb_store_cache_bytes\{connection="reader"\} / { r = $2 }
		END { printf "%d %d %d", s / 1024, w / 1024, r / 1024 }') || m="0 0 0"
	echo "$(date +%s) $(awk '/^VmRSS/ {print $2}' "/proc/$TB_PID/status") $(ls "/proc/$TB_PID/fd" | wc -l) $(du -sk "$D" | cut -f1) $m" >> "$1"
}

# ---- start, first load ----
start
env -u TB_FAULT_FILE "$TRUSTBOX" root -c "$W/t.lua" > "$W/root.pem" || die "trustbox root"
cp "$D/ctlog-lab.pem" "$CT_KEY"
DAP_TASK=$(printf '%s\n' "$TB_BANNER" | sed -n 's/.*DAP demo task *\([A-Za-z0-9_-]*\).*/\1/p')
export DAP_TASK
[ -n "$DAP_TASK" ] || die "no DAP demo task in the banner"
cp "$D/dap-demo-collector.json" "$DAP_CRED"
FLOODPID=
if [ "$FLOOD" -gt 0 ]; then
	rm -f "$W/stop-flood"
	python3 "$here/flood.py" "$W" "$FLOOD" "$PP" "$HP" "$DP" > "$W/flood.out" 2>&1 &
	FLOODPID=$!
	track "$FLOODPID"
	sleep 2
	reads_ok "flood"
fi
load_start 8
load_wait
for s in acme ct dns dap; do [ "$(acked "$s")" -gt 0 ] || die "no $s operation acknowledged in the first load round"; done
check
echo "first round: acme $(acked acme), ct $(acked ct), dns $(acked dns), dap $(acked dap) acknowledged"

# ---- one fault of each kind ----
fault_disk_full() {
	local a0 a1 s
	load_start 0
	sleep 2
	# Fill what is left; the store's next writes fail with ENOSPC.
	dd if=/dev/zero of="$D/filler" bs=1M 2>/dev/null || true
	dd if=/dev/zero of="$D/filler2" bs=4k 2>/dev/null || true
	N[disk_full]=$((N[disk_full] + 1))
	a0=$(($(acked acme) + $(acked ct) + $(acked dns) + $(acked dap)))
	sleep 6
	alive "disk full"
	reads_ok "disk full"
	rm -f "$D/filler" "$D/filler2"
	sleep 8
	alive "after disk full"
	load_wait
	a1=$(($(acked acme) + $(acked ct) + $(acked dns) + $(acked dap)))
	[ "$a1" -gt "$a0" ] || bad "nothing acknowledged once space returned"
	s=$(cat "$W/j/stats-r$ROUND.json")
	echo "  disk full: client outcomes $s"
	check
}
fault_store() { # fault_store NAME P
	load_start 0
	sleep 1
	fault "$1 $2"
	N[$1]=$((N[$1] + 1))
	sleep 5
	fault ""
	alive "$1"
	sleep 4
	load_wait
	echo "  $1: client outcomes $(cat "$W/j/stats-r$ROUND.json")"
	check   # without a restart: what the running process serves
	stop_kill; integrity "kill -9 after $1"; start
	check
}
fault_slow() {
	local f=$W/res/slow-$ROUND.samples
	load_start 0 "acme=3,ct=4,dns=2,dnsq=1,dap=2"
	sleep 1
	fault "store_commit_sleep_ms 400"
	N[slow_disk]=$((N[slow_disk] + 1))
	for _ in $(seq 1 12); do sample "$f"; sleep 1; done
	local t0 t1
	t0=$(date +%s%N)
	curl -sf -m 10 "${CT_URL}checkpoint" -o /dev/null || bad "slow disk: checkpoint not served"
	t1=$(date +%s%N)
	echo "  slow disk: a read took $(((t1 - t0) / 1000000)) ms; RSS KiB over 12 s: $(awk '{print $2}' "$f" | tr '\n' ' ')"
	fault ""
	sleep 3
	load_wait
	echo "  slow disk: client outcomes $(cat "$W/j/stats-r$ROUND.json")"
	check
}
fault_clock() { # forward, kill -9 and restart while ahead; back, SIGTERM and restart while behind; then right
	load_start 0
	sleep 1
	fault "clock_offset 7200"
	N[clock_forward]=$((N[clock_forward] + 1))
	sleep 5
	alive "clock forward"
	load_wait
	stop_kill; integrity "kill -9, clock ahead"; start
	check
	load_start 0
	sleep 1
	fault "clock_offset -7200"
	N[clock_back]=$((N[clock_back] + 1))
	sleep 5
	alive "clock back"
	load_wait
	stop_term; integrity "SIGTERM, clock behind"; start
	check
	fault ""
	local a0 a1 d0 d1
	a0=$(acked acme); d0=$(acked dns)
	load_start 6
	load_wait
	a1=$(acked acme); d1=$(acked dns)
	[ "$a1" -gt "$a0" ] || bad "no issuance once the clock was right again"
	[ "$d1" -gt "$d0" ] || bad "no DNS update once the clock was right again"
	echo "  clock: client outcomes $(cat "$W/j/stats-r$ROUND.json")"
	check
}
kill_round() {
	load_start 0
	sleep "$(python3 -c "import random; random.seed($RANDOM); print(round(random.uniform(0.5, 4), 2))")"
	stop_kill
	load_wait
	integrity "kill -9 $((N[kill9]))"
	start
	reads_ok "after kill -9 $((N[kill9]))"
	check
}
term_round() {
	load_start 0
	sleep 2
	stop_term
	load_wait
	integrity "SIGTERM"
	start
	check
}

echo "== kill -9 and SIGTERM"; echo "=== soak: kills" >> "$W/run.err"
for k in $(seq 1 "$kills"); do
	kill_round
	# Every 10th kill (and once in the short run) a SIGTERM, and in the long
	# run every fault kind again every 25 kills.
	if [ $((k % 10)) = 0 ] || { [ "$mode" = short ] && [ "$k" = 1 ]; }; then term_round; fi
	if [ "$mode" = long ] && [ $((k % 25)) = 0 ]; then
		fault_disk_full; fault_store store_write_error 0.2; fault_store store_fsync_error 0.3; fault_slow; fault_clock
	fi
	echo "kill $k of $kills: lost $LOST, duplicates $DUP, violations $VIOL ($(($(date +%s) - T0)) s)"
done
phase() { echo "== $*"; echo "=== soak: $* ($(date -u +%T))" >> "$W/run.err"; }
only=${SOAK_ONLY:-disk write fsync slow clock}
if [ "$mode" = short ]; then
	case " $only " in *" disk "*) phase "disk full"; fault_disk_full ;; esac
	case " $only " in *" write "*) phase "write errors"; fault_store store_write_error 0.2 ;; esac
	case " $only " in *" fsync "*) phase "fsync errors"; fault_store store_fsync_error 0.3 ;; esac
	case " $only " in *" slow "*) phase "slow disk"; fault_slow ;; esac
	case " $only " in *" clock "*) phase "clock jumps"; fault_clock ;; esac
fi

# ---- steady load, resources sampled ----
echo "== steady load, $steady minute(s)"
RS=$W/res/steady.samples
: > "$RS"
every=$([ "$mode" = short ] && echo 10 || echo 60)
load_start 0
sample "$RS"
end=$(($(date +%s) + steady * 60))
while [ "$(date +%s)" -lt "$end" ]; do
	sleep "$every"; alive "steady"; sample "$RS"
	reads_ok "steady"
done
load_wait
slopes=$(python3 - "$RS" <<'PY'
import sys
rows = [list(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
def slope(i):
    if len(rows) < 2: return 0.0
    t = [(r[0] - rows[0][0]) / 60 for r in rows]; y = [r[i] for r in rows]
    mt, my = sum(t) / len(t), sum(y) / len(y)
    d = sum((a - mt) ** 2 for a in t)
    return sum((a - mt) * (b - my) for a, b in zip(t, y)) / d if d else 0.0
print("RSS %.0f KiB/min (%.0f -> %.0f KiB), fds %.2f /min (%d -> %d), store %.0f KiB/min (%.0f -> %.0f KiB), %d samples" % (
    slope(1), rows[0][1], rows[-1][1], slope(2), rows[0][2], rows[-1][2], slope(3), rows[0][3], rows[-1][3], len(rows)))
# SQLite's heap and the page caches in it (each capped by cache_size): the part
# of the RSS slope they explain, and what is left
n = len(rows)
print("  sqlite heap %.0f KiB/min (%.0f -> %.0f KiB; page caches writer %.0f -> %.0f, reader %.0f -> %.0f KiB), RSS less sqlite heap %.0f KiB/min" % (
    slope(4), rows[0][4], rows[-1][4], rows[0][5], rows[-1][5], rows[0][6], rows[-1][6], slope(1) - slope(4)))
# the same by thirds of the run: a filling cache flattens, a leak does not
if n >= 6:
    k = n // 3
    parts = []
    for a, b in ((0, k), (k, 2 * k), (2 * k, n)):
        seg = rows[a:b]
        dt = (seg[-1][0] - seg[0][0]) / 60 or 1
        parts.append("%.0f/%.0f" % ((seg[-1][1] - seg[0][1]) / dt, (seg[-1][4] - seg[0][4]) / dt))
    print("  by thirds, RSS/sqlite heap KiB/min: " + ", ".join(parts))
PY
)
printf '%s\n' "$slopes" | sed 's/^/  /'

# ---- the end ----
echo "== final check"
check --final
FLOODOUT="off (SOAK_FLOOD=0)"
if [ -n "$FLOODPID" ]; then
	touch "$W/stop-flood"
	wait "$FLOODPID" || bad "flood.py failed: $(tail -3 "$W/flood.out")"
	FLOODOUT=$(tail -1 "$W/flood.out" | sed "s/^flood: //")
	echo "  flood: $FLOODOUT"
fi
stop_term
integrity "the final stop"
# Every process this run started (trustbox, the clients, their nsupdate, dig and
# trustbox dap upload) names the work directory in its command line.
left=$(SOAK_W=$W python3 -c '
import os
for p in os.listdir("/proc"):
    try:
        c = open("/proc/%s/cmdline" % p, "rb").read().replace(b"\0", b" ").decode()
    except (OSError, ValueError):
        continue
    if p.isdigit() and os.environ["SOAK_W"] in c:
        print(p, c[:120])')
[ -z "$left" ] || bad "processes left behind: $left"
grep -q 'ERROR: \(AddressSanitizer\|LeakSanitizer\)\|runtime error:' "$W/run.err" && bad "sanitizer report in run.err"
[ "$(acked sanitizer)" = 0 ] || bad "sanitizer reports from trustbox dap upload (see $W/j/sanitizer.jsonl)"

inj() { grep -c "fault injection: $1" "$W/run.err" || true; }
echo
echo "soak summary ($mode, seed $seed, $(($(date +%s) - T0)) s)"
echo "kills survived: ${N[kill9]} kill -9, ${N[sigterm]} SIGTERM (clean exits), ${N[restart]} starts"
echo "faults injected: disk_full ${N[disk_full]}, store_write_error ${N[store_write_error]} periods ($(inj store_write_error) failed writes), store_fsync_error ${N[store_fsync_error]} periods ($(inj store_fsync_error) failed fsyncs), slow_disk ${N[slow_disk]}, clock_forward ${N[clock_forward]}, clock_back ${N[clock_back]}"
echo "acknowledged: acme $(acked acme) certificates, ct $(acked ct) SCTs, dns $(acked dns) updates, dap $(acked dap) reports"
echo "resources (steady): $slopes"
echo "flood ($FLOOD per address): $FLOODOUT; reads answered at $((READS - READS_BAD)) of $READS checks"
echo "violations = $VIOL"
echo "duplicates = $DUP"
echo "lost = $LOST"
[ "$LOST" = 0 ] && [ "$DUP" = 0 ] && [ "$VIOL" = 0 ] || fail "the soak found problems (see above)"
finish > /dev/null
