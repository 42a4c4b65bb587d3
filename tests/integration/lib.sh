# The harness shared by the integration scripts (tests/integration/test_*.sh).
#
# Usage, at the top of a script:
#   set -euo pipefail                # or set -u: the library works under both
#   . "$(dirname "$0")/lib.sh"       # cd's into $TB_WORK, a fresh directory removed on exit
#   need certbot                     # missing tool: exit 77, ctest reports "skipped", never "passed"
#   need_py cryptography python3-cryptography
#   port=$(free_port)                # free for TCP and UDP on 127.0.0.1 (free_port ::1 for IPv6)
#   cat > cfg.lua <<EOF ... EOF
#   tb_start cfg.lua                 # trustbox run -c cfg.lua, waits for its ready banner;
#                                    # TB_PID, TB_BANNER; output appended to run.out / run.err
#   dport=$(tb_port 'DNS (udp+tcp)') # a port bound to 0, read from the banner
#   cmd || fail "what went wrong"    # counts the failure and goes on
#   cmd || die "what went wrong"     # counts it and stops: later steps depend on this one
#   ok "what passed"; expect NAME "$out" REGEX; expect_not NAME "$out" REGEX
#   tb_stop || fail "exit status"    # SIGTERM (or tb_stop INT, ...), wait, trustbox's status
#   python3 -m http.server ... &  track $!;  stop_pid $!   # other daemons
#   finish                           # the last line: exit 1 when any check failed
#   npm_install DIR PKG; link_tool SRC OUT   # npm peers and C tools of the DAP interop scripts
#   divviup_ts                               # @divviup/dap for dap/client.mjs (DAP_NODE_MODULES)
# On exit the trap stops every process it knows of (trustbox and tracked pids), runs the
# script's own tb_cleanup function if it defines one, prints the end of run.err and of each
# file named with show_on_failure when the script failed, and removes $TB_WORK.
# Set TB_KEEP=1 to keep $TB_WORK for a look afterwards.

: "${TRUSTBOX:?TRUSTBOX must point at the trustbox binary}"
TB_SOURCE_DIR=${TB_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
TB_NAME=$(basename "$0" .sh)
TB_WORK=$(mktemp -d "${TMPDIR:-/tmp}/tb-${TB_NAME#test_}.XXXXXX")
TB_PID=
TB_BANNER=
TB_TRACKED=()
TB_SHOW=()
: > "$TB_WORK/.failures"
: > "$TB_WORK/.passes"
: > "$TB_WORK/.ports"
cd "$TB_WORK"

# ---- results ----
# Both counters are files, so that checks run in subshells and pipelines count too.

ok() { echo "ok: $*"; echo >> "$TB_WORK/.passes"; }

# fail MESSAGE: report a failed check and go on.
fail() { echo "FAIL: $*" >&2; echo >> "$TB_WORK/.failures"; }

# die MESSAGE: report a failed check and stop the script.
die() { fail "$@"; TB_DIED=1; exit 1; }

# skip REASON: the script cannot run here (exit 77, which ctest reports as skipped).
skip() { echo "SKIP: $*" >&2; exit 77; }

tb_failures() { wc -l < "$TB_WORK/.failures"; }

# expect NAME TEXT REGEX: TEXT must match the extended regular expression.
expect() {
	if printf '%s\n' "$2" | grep -Eq -- "$3"; then
		ok "$1"
	else
		fail "$1: no match for /$3/ in:"
		printf '%s\n' "$2" | tail -40 | sed 's/^/     /' >&2
	fi
}

# expect_not NAME TEXT REGEX: TEXT must not match.
expect_not() {
	if printf '%s\n' "$2" | grep -Eq -- "$3"; then
		fail "$1: unexpected /$3/ in:"
		printf '%s\n' "$2" | tail -40 | sed 's/^/     /' >&2
	else
		ok "$1"
	fi
}

# finish: the summary line; exit 1 when anything failed, 0 otherwise.
finish() {
	local n p
	n=$(tb_failures)
	p=$(wc -l < "$TB_WORK/.passes")
	if [ "$n" -gt 0 ]; then
		echo "$TB_NAME: $n check(s) failed, $p passed" >&2
		TB_DIED=1
		exit 1
	fi
	echo "$TB_NAME: all $p checks passed"
	exit 0
}

# ---- what the script needs ----

# need TOOL [DEBIAN-PACKAGE]: TOOL must be on PATH.
need() {
	command -v "$1" >/dev/null 2>&1 ||
		skip "$1 is not installed (Debian package ${2:-$1}; scripts/deps.sh --test installs it)"
}

# need_py MODULE [DEBIAN-PACKAGE]: python3 must import MODULE.
need_py() {
	need python3
	python3 -c "import $1" 2>/dev/null ||
		skip "python3 cannot import $1 (Debian package ${2:-python3-$1}; scripts/deps.sh --test installs it)"
}

# ---- hermetic DNS labs (inside a network namespace the script created) ----

# lab_nsd NAME ADDRESS ZONE:FILE...: one NSD on ADDRESS port 53 serving these zones (file
# names relative to $TB_WORK), its files under $TB_WORK/NAME; stopped when the script exits.
lab_nsd() {
	local name=$1 addr=$2 z dir=$TB_WORK/$1
	shift 2
	mkdir -p "$dir"
	{
		printf 'server:\n  ip-address: %s@53\n  username: ""\n  chroot: ""\n  zonesdir: "%s"\n' "$addr" "$TB_WORK"
		printf '  pidfile: "%s/nsd.pid"\n  database: ""\n  zonelistfile: "%s/zone.list"\n' "$dir" "$dir"
		printf '  xfrdfile: "%s/xfrd.state"\n  xfrdir: "%s"\n  logfile: "%s/nsd.log"\n' "$dir" "$dir" "$dir"
		# no response rate limiting (on by default, 200 answers/s per /24): a resolver under
		# load asks the lab far faster, and would see drops and truncation that no test means
		printf '  server-count: 1\n  verbosity: 1\n  rrl-ratelimit: 0\nremote-control:\n  control-enable: no\n'
		for z in "$@"; do
			printf 'zone:\n  name: "%s"\n  zonefile: "%s"\n' "${z%%:*}" "${z#*:}"
		done
	} > "$dir/nsd.conf"
	nsd -d -c "$dir/nsd.conf" > "$dir/out.log" 2>&1 &
	track $!
	show_on_failure "$dir/nsd.log" "$dir/out.log"
}

# lab_wait ADDRESS...: wait until a DNS server answers on each ADDRESS port 53 (dies after 10 s).
lab_wait() {
	local a up
	for a in "$@"; do
		up=
		for _ in $(seq 1 100); do
			if dig @"$a" +norec +time=1 +tries=1 . SOA 2>/dev/null | grep -q 'status: \(NOERROR\|REFUSED\|NXDOMAIN\)'; then
				up=1
				break
			fi
			sleep 0.1
		done
		[ -n "$up" ] || die "the lab server $a never answered"
	done
}

# lab_two_level CHILD: the smallest iterating lab: a root on 127.53.0.1 delegating CHILD. to
# 127.53.0.2, where every name has A 192.0.2.7 and TXT "CHILD"; writes $TB_WORK/hints (for
# dns.root_hints) and waits until both answer.
lab_two_level() {
	local c=$1
	printf '$ORIGIN .\n$TTL 300\n@ SOA a.root-servers.lab. hostmaster.lab. 1 3600 600 86400 60\n@ NS a.root-servers.lab.\n' > "$TB_WORK/lab-root.zone"
	printf 'a.root-servers.lab. A 127.53.0.1\n%s. NS ns.%s.\nns.%s. A 127.53.0.2\n' "$c" "$c" "$c" >> "$TB_WORK/lab-root.zone"
	printf '$ORIGIN %s.\n$TTL 300\n@ SOA ns hostmaster 1 3600 600 86400 60\n@ NS ns\nns A 127.53.0.2\n' "$c" > "$TB_WORK/lab-child.zone"
	printf '* A 192.0.2.7\n* TXT "%s"\n' "$c" >> "$TB_WORK/lab-child.zone"
	lab_nsd lab-root 127.53.0.1 .:lab-root.zone
	lab_nsd lab-child 127.53.0.2 "$c.:lab-child.zone"
	lab_wait 127.53.0.1 127.53.0.2
	printf '.  3600000 NS a.root-servers.lab.\na.root-servers.lab. 3600000 A 127.53.0.1\n' > "$TB_WORK/hints"
}

# Signed labs (DNSSEC; Debian's bind9-utils): zones in $TB_WORK, keys in $TB_WORK/keys.
# lab_zone FILE ORIGIN: writes $TB_WORK/FILE: $ORIGIN, $TTL 300, an SOA naming ns, then stdin.
lab_zone() {
	{
		printf '$ORIGIN %s\n$TTL 300\n' "$2"
		printf '@ SOA ns hostmaster 1 3600 600 86400 60\n'
		cat
	} > "$TB_WORK/$1"
}

# lab_sign ZONE FILE KEYGEN-OPTIONS [SIGNZONE-OPTIONS]: a KSK and a ZSK, then FILE.signed and
# keys/dsset-ZONE (dnssec-signzone; options as "-a ED25519", "-3 - -A" for NSEC3 opt-out).
lab_sign() {
	local z=$1 f=$2 kg=$3 so=${4:-}
	mkdir -p "$TB_WORK/keys"
	# shellcheck disable=SC2086
	(cd "$TB_WORK/keys" && dnssec-keygen -q $kg -f KSK "$z" >/dev/null && dnssec-keygen -q $kg "$z" >/dev/null) ||
		die "dnssec-keygen $kg $z"
	# shellcheck disable=SC2086
	dnssec-signzone -q -P -S -K "$TB_WORK/keys" -d "$TB_WORK/keys" -o "$z" -f "$TB_WORK/$f.signed" $so "$TB_WORK/$f" \
		> /dev/null 2>"$TB_WORK/sign.err" || die "dnssec-signzone $z: $(cat "$TB_WORK/sign.err")"
}

# lab_ds ZONE: the DS records of a zone signed by lab_sign (no trailing dot in ZONE).
lab_ds() { cat "$TB_WORK/keys/dsset-$1."; }

# lab_signed_root TLD ADDRESS: root.zone.signed (ECDSA P-256, NSEC) for a root server on
# 127.53.0.1 delegating TLD. to ns.TLD. at ADDRESS with the DS of TLD (signed before);
# writes $TB_WORK/hints (dns.root_hints) and $TB_WORK/anchor (the root's DS, trust_anchor_file).
lab_signed_root() {
	{
		printf '@ NS a.root-servers.lab.\na.root-servers.lab. A 127.53.0.1\n'
		printf '%s. NS ns.%s.\nns.%s. A %s\n' "$1" "$1" "$1" "$2"
		lab_ds "$1"
	} | lab_zone root.zone .
	sed -i 's/^@ SOA ns hostmaster/@ SOA a.root-servers.lab. hostmaster.lab./' "$TB_WORK/root.zone"
	lab_sign . root.zone "-a ECDSAP256SHA256"
	printf '.  3600000 NS a.root-servers.lab.\na.root-servers.lab. 3600000 A 127.53.0.1\n' > "$TB_WORK/hints"
	cp "$TB_WORK/keys/dsset-." "$TB_WORK/anchor"
}

# ---- ports ----

# free_port [ADDRESS]: a port free for both TCP and UDP on ADDRESS (default 127.0.0.1),
# below the kernel's ephemeral range so that no outgoing connection of another program
# takes it between this check and the bind of whatever it is for, and never one this
# script was handed before.
free_port() {
	local p
	p=$(python3 - "${1:-127.0.0.1}" "$TB_WORK/.ports" <<'PY'
import random, socket, sys
addr, used_file = sys.argv[1], sys.argv[2]
fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
used = set(open(used_file).read().split())
lo = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
for _ in range(500):
    p = random.randrange(20000, min(lo, 32000))
    if str(p) in used:
        continue
    try:
        for t in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
            s = socket.socket(fam, t)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((addr, p))
            s.close()
    except OSError:
        continue
    print(p)
    break
PY
	) || true
	[ -n "$p" ] || die "no free port on ${1:-127.0.0.1}"
	echo "$p" >> "$TB_WORK/.ports"
	echo "$p"
}

# ---- peers built or installed for a script ----

# npm_install DIR PACKAGE: install the dependencies of DIR/package.json into DIR unless
# PACKAGE is there already (kept between runs). No registry means the client is missing.
npm_install() {
	need node nodejs
	need npm
	[ -f "$1/node_modules/$2/package.json" ] && return 0
	npm install --prefix "$1" --no-audit --no-fund --loglevel=error >&2 ||
		skip "npm could not install $2 into $1"
}

# divviup_ts: install @divviup/dap 0.9.1 (divviup-ts) once per build directory, the way the
# DAP scripts share it, and export DAP_NODE_MODULES for tests/integration/dap/client.mjs.
divviup_ts() {
	local nm="$TB_BUILD_DIR/dap-interop" ver
	mkdir -p "$nm"
	cp "$TB_SOURCE_DIR/tests/integration/dap/package.json" "$nm/"
	npm_install "$nm" @divviup/dap
	ver=$(node -p "require('$nm/node_modules/@divviup/dap/package.json').version")
	[ "$ver" = "0.9.1" ] || die "expected @divviup/dap 0.9.1, found $ver"
	export DAP_NODE_MODULES="$nm/node_modules"
}

# link_tool SOURCE OUTPUT: compile a C test tool against this build's tb_dap and tb_core
# (built first if missing), with the build's compiler and sanitizer flags.
link_tool() {
	: "${TB_BUILD_DIR:?TB_BUILD_DIR must point at the build directory}"
	local lib cc san=""
	for lib in tb_dap tb_core; do
		if [ ! -f "$TB_BUILD_DIR/lib$lib.a" ]; then
			cmake --build "$TB_BUILD_DIR" --target "$lib" >&2 || die "cannot build $lib"
		fi
	done
	cc=$(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' "$TB_BUILD_DIR/CMakeCache.txt")
	if grep -q '^TB_SANITIZE:BOOL=ON' "$TB_BUILD_DIR/CMakeCache.txt"; then
		san="-fsanitize=address,undefined -fno-omit-frame-pointer"
	fi
	# shellcheck disable=SC2046,SC2086
	"${cc:-cc}" -std=c11 -O2 -Wall -Wextra -Werror -D_GNU_SOURCE $san -I"$TB_SOURCE_DIR" \
		"$1" "$TB_BUILD_DIR/libtb_dap.a" "$TB_BUILD_DIR/libtb_core.a" \
		$(pkg-config --libs libcjson libsodium libuv sqlite3 lua5.4) \
		-lmbedtls -lmbedx509 -lmbedcrypto $(pkg-config --libs libcrypto) -lhttp_parser -lpthread -lm -o "$2" ||
		die "cannot compile $1"
}

# tb_sanitized: true when this build has the sanitizers on (slower: run fewer cases).
tb_sanitized() { grep -q '^TB_SANITIZE:BOOL=ON' "$TB_BUILD_DIR/CMakeCache.txt"; }

# ---- trustbox ----

# tb_private_net: true inside a network namespace with no interface but loopback (netns.sh),
# where nothing can leave the machine.
tb_private_net() {
	[ -z "$(sed -n '3,$s/^ *\([^:]*\):.*/\1/p' /proc/net/dev | grep -vx lo)" ]
}

# tb_hermetic [CONFIG]: die unless trustbox with CONFIG (the embedded default when empty)
# keeps every DNS query on the machine. dns.iterate is on by default, from the built-in
# IANA root hints: a config that iterates must set dns.root_hints (a loopback lab) or the
# script must run inside a private network namespace (netns.sh). Tests never ask the real
# root servers. A config that does not load is left to `trustbox run` to report.
tb_hermetic() {
	local dump it hints
	dump=$("$TRUSTBOX" config dump ${1:+-c "$1"} 2>/dev/null) || return 0
	dump=$(printf '%s\n' "$dump" | sed -n '/^dns {/,/^}/p')
	[ -n "$dump" ] || return 0
	printf '%s\n' "$dump" | grep -qx '  enabled = false,' && return 0
	it=$(printf '%s\n' "$dump" | grep -cx '  iterate = true,' || true)
	hints=$(printf '%s\n' "$dump" | grep -c '^  root_hints = "..*",$' || true)
	if [ "$it" != 0 ] && [ "$hints" = 0 ] && ! tb_private_net; then
		die "tb_start: ${1:-the default config} iterates from the built-in root hints outside a private" \
			"network namespace; set dns.iterate = false or dns.root_hints to a lab, or run in netns.sh"
	fi
	return 0
}

# tb_start [CONFIG [OUT [ERR]]]: start `trustbox run` (with -c CONFIG unless CONFIG is empty)
# in the background, stdout appended to OUT (run.out), stderr to ERR (run.err; may be OUT),
# and wait until it prints its ready banner (every subsystem started, every listener bound).
# Refuses (dies) a config that would ask the real root servers (tb_hermetic).
# Sets TB_PID and TB_BANNER (this start's banner). Dies when trustbox exits first or the
# banner takes longer than TB_START_TIMEOUT seconds (30).
tb_start() {
	local cfg=${1:-} out=${2:-$TB_WORK/run.out} err=${3:-$TB_WORK/run.err}
	local from=0 deadline rc
	[ -n "$TB_PID" ] && die "tb_start: trustbox is already running (pid $TB_PID)"
	tb_hermetic "$cfg"
	# Created here, not by the child's redirection, so that the loop below can read it at once.
	: >> "$out"
	: >> "$err"
	from=$(stat -c %s "$out")
	TB_OUT=$out
	TB_ERR=$err
	if [ -n "$cfg" ]; then
		"$TRUSTBOX" run -c "$cfg" >> "$out" 2>> "$err" &
	else
		"$TRUSTBOX" run >> "$out" 2>> "$err" &
	fi
	TB_PID=$!
	deadline=$(($(date +%s) + ${TB_START_TIMEOUT:-30}))
	while :; do
		TB_BANNER=$(tail -c +$((from + 1)) "$out")
		case "$TB_BANNER" in *'root CA SHA-256'*) break ;; esac
		if ! kill -0 "$TB_PID" 2>/dev/null; then
			rc=0
			wait "$TB_PID" || rc=$?
			TB_PID=
			die "trustbox exited during start-up (status $rc)${cfg:+ with $cfg}"
		fi
		if [ "$(date +%s)" -ge "$deadline" ]; then
			die "trustbox printed no ready banner within ${TB_START_TIMEOUT:-30} s${cfg:+ with $cfg}"
		fi
		sleep 0.1
	done
}

# tb_port PATTERN: the port of the banner line that contains PATTERN (a sed basic regular
# expression; the first ":digits" after it), for listeners configured with port 0.
tb_port() {
	local p
	p=$(printf '%s\n' "$TB_BANNER" | sed -n "s/.*$1.*:\([0-9][0-9]*\).*/\1/p" | head -1)
	[ -n "$p" ] || die "no '$1' line in the banner: $TB_BANNER"
	echo "$p"
}

# tb_stop [SIGNAL]: send SIGNAL (TERM) to trustbox, wait for it to exit and return its exit
# status. Call it as `tb_stop || fail ...` or `rc=0; tb_stop || rc=$?` under set -e.
tb_stop() {
	local rc=0 pid=$TB_PID
	[ -n "$pid" ] || die "tb_stop: trustbox is not running"
	TB_PID=
	kill -"${1:-TERM}" "$pid" 2>/dev/null || true
	wait "$pid" || rc=$?
	return "$rc"
}

# ---- other processes ----

# track PID: stop PID (SIGTERM, then SIGKILL) when the script exits.
track() { TB_TRACKED+=("$1"); }

# stop_pid PID [SIGNAL]: signal PID (TERM), wait for it, forget it. Returns 0.
stop_pid() {
	local keep=() p
	for p in "${TB_TRACKED[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
	TB_TRACKED=("${keep[@]+"${keep[@]}"}")
	kill -"${2:-TERM}" "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

# show_on_failure FILE...: print the end of FILE when the script fails.
show_on_failure() { TB_SHOW+=("$@"); }

# Stop PID within a few seconds: SIGTERM, then SIGKILL.
tb__reap() {
	kill -TERM "$1" 2>/dev/null || return 0
	for _ in $(seq 1 30); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$1" 2>/dev/null || true
	wait "$1" 2>/dev/null || true
}

tb__exit() {
	local rc=$? n f p
	set +e
	trap - EXIT
	n=$(tb_failures 2>/dev/null || echo 0)
	if [ "$rc" != 0 ] && [ "$rc" != 77 ] && [ -z "${TB_DIED:-}" ]; then
		# Stopped by set -e or an exit of its own, not by die or finish.
		echo "FAIL: $TB_NAME stopped with status $rc${TB_LAST_ERR:+ after $TB_LAST_ERR}" >&2
	fi
	if [ "${n:-0}" -gt 0 ]; then rc=1; fi
	[ -n "$TB_PID" ] && tb__reap "$TB_PID"
	for p in "${TB_TRACKED[@]}"; do tb__reap "$p"; done
	if declare -F tb_cleanup >/dev/null; then tb_cleanup; fi
	if [ "$rc" != 0 ] && [ "$rc" != 77 ]; then
		for f in "${TB_ERR:-$TB_WORK/run.err}" "${TB_SHOW[@]}"; do
			[ -s "$f" ] || continue
			echo "---- last lines of $f" >&2
			tail -30 "$f" >&2
		done
	fi
	cd /
	if [ -n "${TB_KEEP:-}" ]; then echo "kept $TB_WORK" >&2; else rm -rf "$TB_WORK"; fi
	exit "$rc"
}
trap tb__exit EXIT
# Under set -e, say which command stopped the script (-E: in functions too).
set -E
trap 'TB_LAST_ERR="line $LINENO: $BASH_COMMAND"' ERR
