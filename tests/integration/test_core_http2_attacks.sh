#!/usr/bin/env bash
# The known HTTP/2 attacks, driven with raw frames (h2_attack.py), against a
# TLS listener with the default limits: Rapid Reset (CVE-2023-44487),
# CONTINUATION without END_HEADERS (CVE-2024-27316 class), SETTINGS, PING,
# empty-DATA and WINDOW_UPDATE floods (on the connection, an open stream
# and a closed one), an HPACK bomb -> each answered GOAWAY
# ENHANCE_YOUR_CALM (0xb); zero-window connections that never take their
# responses are held without output piling up. Meanwhile a polite client
# (curl --http2) stays answered quickly, and the server's memory stays
# bounded. Flow control that earns its WINDOW_UPDATEs is not a flood: h2load
# with a one-byte stream window (an update for nearly every DATA frame) and
# curl fetching many responses on one connection are served in full.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need curl
need python3
need h2load nghttp2-client
W=$TB_WORK
curl --version | grep -q HTTP2 || skip "this curl has no HTTP/2"

P_TLS=$(free_port)
S=https://localhost:$P_TLS
cat > t.lua <<EOF
core { data_dir = "$W/data", log_level = "warn" }
listen { name = "https", address = "127.0.0.1", port = $P_TLS, tls = true }
if dns then dns { enabled = false } end
if dap then dap { enabled = false } end
if acme then acme { enabled = false } end
if ctlog then ctlog { enabled = false } end
EOF
# Under AddressSanitizer freed memory sits in quarantine (256 MiB by default), which
# would make the RSS bound below measure the sanitizer: keep that small.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=4"
tb_start t.lua
"$TRUSTBOX" root -c t.lua > root.pem || die "trustbox root"
A=(python3 "$TB_SOURCE_DIR/tests/integration/h2_attack.py" "$P_TLS" root.pem)

rss() { awk '/^VmRSS/ {print $2}' "/proc/$TB_PID/status"; }
# polite LABEL: 5 requests by curl --http2; each must answer 200 within 1 s.
polite() {
	local i t c worst=0
	for i in 1 2 3 4 5; do
		read -r c t < <(curl -sS --http2 --cacert root.pem -m 5 -o /dev/null -w '%{http_code} %{time_total}\n' "$S/healthz" || echo "000 9")
		[ "$c" = 200 ] || { fail "$1: a polite client got $c"; return; }
		worst=$(python3 -c "print(max($worst, $t))")
	done
	python3 -c "import sys; sys.exit(0 if $worst < 1.0 else 1)" &&
		ok "$1: a polite client is answered (slowest of 5: ${worst}s)" ||
		fail "$1: a polite client waited ${worst}s"
}

[ "$("${A[@]}" polite)" = answered ] || die "the raw-frame client cannot talk h2 to the server"
polite "before the attacks"
rss0=$(rss)

# attack MODE [N] [COPIES]: COPIES attackers at once; each must get GOAWAY 0xb.
attack() {
	local mode=$1 n=${2:-2000} copies=${3:-1} i pids=()
	for i in $(seq 1 "$copies"); do
		timeout 60 "${A[@]}" "$mode" "$n" > "$mode.$i.out" 2>&1 &
		pids+=($!)
	done
	polite "during $mode"
	for i in "${pids[@]}"; do wait "$i" || true; done
	for i in $(seq 1 "$copies"); do
		expect "$mode ($i/$copies) -> GOAWAY ENHANCE_YOUR_CALM" "$(cat "$mode.$i.out")" '^goaway 0xb$'
	done
}

attack rapid-reset 5000 4
attack continuation 200
attack settings 2000
attack ping 2000
attack empty-data 2000
attack hpack-bomb
attack window-update 2000
attack window-update-stream 2000
attack window-update-closed 2000

# Normal flow control is not a flood. A one-byte stream window makes every
# response byte its own DATA frame, each followed by the client's
# WINDOW_UPDATE: thousands of them per second, all earned by our DATA.
out=$(h2load -n 300 -c 1 -m 4 -w 1 "$S/" 2>&1) || fail "h2load with a tiny window: $out"
expect "h2load, one-byte stream window: every response arrives" "$out" \
	'requests: 300 total, 300 started, 300 done, 300 succeeded, 0 failed'
urls=()
for i in $(seq 1 200); do urls+=("$S/" -o /dev/null); done
got=$(curl -sS --http2 --cacert root.pem -w '%{http_code}\n' "${urls[@]}" | grep -c '^200$' || true)
[ "$got" = 200 ] && ok "curl: 200 responses on one h2 connection" || fail "curl: $got of 200 responses on one connection"

# Zero window: 20 connections x 100 streams whose responses may not be sent.
pids=()
for i in $(seq 1 20); do
	timeout 60 "${A[@]}" zero-window 4 > "zw.$i.out" 2>&1 &
	pids+=($!)
done
sleep 1
polite "during 20 zero-window connections"
for i in "${pids[@]}"; do wait "$i" || true; done
for i in $(seq 1 20); do
	expect "zero-window $i: held, no DATA sent past a zero window" "$(cat "zw.$i.out")" '^(held 4 data=0|goaway 0x0|eof)$'
done

polite "after the attacks"
rss1=$(rss)
grow=$(( (rss1 - rss0) / 1024 ))
[ "$grow" -lt 64 ] && ok "memory bounded: RSS grew by ${grow} MiB (${rss0} -> ${rss1} KiB)" ||
	fail "RSS grew by ${grow} MiB (${rss0} -> ${rss1} KiB)"
grep -q 'ENHANCE_YOUR_CALM' run.err && ok "the defences are logged" || fail "no defence in the log"

tb_stop || fail "exit status"
ok "SIGTERM -> exit 0"
finish
