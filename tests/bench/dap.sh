#!/usr/bin/env bash
# DAP pipeline benchmark (not a timed test): N reports are made and sealed
# before the clock starts (tests/bench/dap_reports.c), then uploaded over
# HTTPS keep-alive by curl --parallel (C connections) to the leader,
# aggregated, and collected with `trustbox dap collect`. Prints reports/s for
# upload, aggregation and the whole pipeline, server CPU per report (leader
# and helper together) and peak RSS; the collected aggregate must equal what
# was uploaded. Then, after the clock: the leader's group commits and its
# connections to the helper (from /metrics), and @divviup/prio3's own
# preparation time per report for scale (node; installed on first use).
#
#   tests/bench/dap.sh [N] [C] [build-dir]     defaults: 2000 8 build-bench
#
# DAP_BENCH_VDAF=count (default) or histogram (Prio3Histogram, length 100,
# chunk length 10); DAP_BENCH_LAYOUT=one (default: leader and helper in one
# process) or two (two `trustbox run` processes with their own stores and
# roots); DAP_BENCH_PERIOD_MS (aggregation period, 500), DAP_BENCH_LOG,
# DAP_BENCH_WRAP (a command to run the server under, e.g. perf record),
# DAP_BENCH_KEEP=1 keeps the work directory.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
n=${1:-2000}
c=${2:-8}
build=${3:-$root/build-bench}
vdaf=${DAP_BENCH_VDAF:-count}
layout=${DAP_BENCH_LAYOUT:-one}
case $vdaf in
  count) vlua='vdaf = "count"'; vgen=count; vcli=(--vdaf count) ;;
  histogram) vlua='vdaf = "histogram", length = 100, chunk_length = 10'; vgen=histogram:100:10
    vcli=(--vdaf histogram --length 100 --chunk-length 10) ;;
  *) echo "DAP_BENCH_VDAF is count or histogram" >&2; exit 2 ;;
esac
case $layout in one|two) ;; *) echo "DAP_BENCH_LAYOUT is one or two" >&2; exit 2 ;; esac
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTB_TESTS=OFF >/dev/null
fi
cmake --build "$build" -j2 --target trustbox tb_core tb_dap >/dev/null
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; [ -n "${DAP_BENCH_KEEP:-}" ] && echo "kept $work" || rm -rf "$work"' EXIT
cc -std=c11 -O2 -D_GNU_SOURCE -I"$root" "$root/tests/bench/dap_reports.c" "$build/libtb_dap.a" "$build/libtb_core.a" \
  $(pkg-config --libs libsodium libuv sqlite3 libcjson lua5.4 zlib) -lmbedtls -lmbedx509 -lmbedcrypto \
  $(pkg-config --libs libcrypto) -lhttp_parser -lpthread -lm -o "$work/dap_reports"

freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
b64u() { python3 -c "import sys,base64;print(base64.urlsafe_b64encode(bytes.fromhex(sys.argv[1])).rstrip(b'=').decode())" "$1"; }
rhex() { od -An -v -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }
openssl genpkey -algorithm X25519 -out "$work/c.pem" 2>/dev/null
sk=$(openssl pkey -in "$work/c.pem" -outform DER | tail -c 32 | od -An -v -tx1 | tr -d ' \n')
pk=$(openssl pkey -in "$work/c.pem" -pubout -outform DER | tail -c 32 | od -An -v -tx1 | tr -d ' \n')
tok=$(b64u "$(rhex 16)"); tid_hex=$(rhex 32); tid=$(b64u "$tid_hex"); vk=$(b64u "$(rhex 16)")
printf '{"aead":"AesGcm128","id":1,"kdf":"Sha256","kem":"X25519HkdfSha256","private_key":"%s","public_key":"%s","token":"%s"}\n' \
  "$(b64u "$sk")" "$(b64u "$pk")" "$tok" > "$work/cred.json"
port=$(freeport); hport=$port
[ "$layout" = two ] && hport=$(freeport)
L="https://127.0.0.1:$port/dap/leader/"; H="https://127.0.0.1:$hport/dap/helper/"
config() { # config NAME PORT ROLE EXTRA
  cat > "$work/$1.lua" <<LUA
core { data_dir = "$work/$1", log_level = "${DAP_BENCH_LOG:-warn}" }
if acme then acme { enabled = false } end
if ctlog then ctlog { enabled = false } end
if dns then dns { enabled = false } end
listen { name = "https", address = "127.0.0.1", port = $2, tls = true }
dap { demo_task = false, role = "$3", aggregation_period_ms = ${DAP_BENCH_PERIOD_MS:-500},
  max_aggregation_job_size = 1000, $4
  tasks = { { id = "$tid", $vlua, verify_key = "$vk", min_batch_size = 1, role = "$3",
    leader_url = "$L", helper_url = "$H",
    aggregator_auth_token = "$tok", collector_auth_token = "$tok",
    collector_hpke_config = "$(b64u "01002000010001""0020$pk")" } } }
LUA
}
start() { # start NAME: runs trustbox with NAME.lua, waits for its banner
  ${DAP_BENCH_WRAP:-} "$build/trustbox" run -c "$work/$1.lua" > "$work/$1.out" 2> "$work/$1.err" &
  pids+=($!)
  for _ in $(seq 1 100); do grep -q 'root CA' "$work/$1.out" && return 0; sleep 0.1; done
  echo "trustbox ($1) did not start" >&2; cat "$work/$1.err" >&2; exit 1
}
if [ "$layout" = one ]; then
  config cfg "$port" both ""
  start cfg
  "$build/trustbox" root -c "$work/cfg.lua" > "$work/root.pem"
else
  config helper "$hport" helper ""
  "$build/trustbox" root -c "$work/helper.lua" > "$work/helper-root.pem"
  config cfg "$port" leader "helper_ca_file = \"$work/helper-root.pem\","
  start helper
  start cfg
  "$build/trustbox" root -c "$work/cfg.lua" > "$work/leader-root.pem"
  cat "$work/leader-root.pem" "$work/helper-root.pem" > "$work/root.pem"
fi
hexof() { curl -sS --cacert "$work/root.pem" "$1" | od -An -v -tx1 | tr -d ' \n'; }
now=$(date +%s)
mkdir "$work/r"
t0=$(date +%s.%N)
want=$("$work/dap_reports" "$tid_hex" "$(hexof "${L}hpke_config")" "$(hexof "${H}hpke_config")" \
  $((now / 3600 * 3600)) "$n" "$work/r" "$vgen")
t1=$(date +%s.%N)
echo "generated $n $vdaf reports in $(echo "$t1 - $t0" | bc) s (client side, before the clock)"
for i in $(seq 0 $((n - 1))); do
  # ("next" resets every option, so each request carries its own.)
  printf 'url = "%stasks/%s/reports"\nhttp1.1\nrequest = "PUT"\ncacert = "%s/root.pem"\nheader = "Content-Type: application/dap-report"\ndata-binary = "@%s/r/r%d"\noutput = "/dev/null"\nwrite-out = "%%{http_code}\\n"\n' \
    "$L" "$tid" "$work" "$work" "$i"
  [ "$i" -lt $((n - 1)) ] && echo next
done > "$work/curl.cfg"
cpu() { local s=0 p; for p in "${pids[@]}"; do s=$((s + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo $s; }
cpu0=$(cpu)
t0=$(date +%s.%N)
# HTTP/1.1 keep-alive, as the figures in docs/dap.md were taken (curl 7.88 drops an
# occasional transfer with "Error in the HTTP2 framing layer" when it runs parallel
# transfers over h2; h2load and nghttp see no such error from the server)
curl -sS --http1.1 --cacert "$work/root.pem" --parallel --parallel-max "$c" -K "$work/curl.cfg" > "$work/codes"
t1=$(date +%s.%N)
okc=$(grep -c '^200$' "$work/codes" || true)
db="$work/cfg/trustbox.db"
while :; do
  left=$(python3 -c "import sqlite3,sys;print(sqlite3.connect('file:'+sys.argv[1]+'?mode=ro',uri=True).execute('SELECT count(*) FROM dap_reports WHERE state<2').fetchone()[0])" "$db")
  [ "$left" = 0 ] && break
  sleep 0.05
done
t2=$(date +%s.%N)
got=$("$build/trustbox" dap collect -c "$work/cfg.lua" --task-id "$tid" --leader "$L" --cacert "$work/root.pem" \
  "${vcli[@]}" --collector-credential-file "$work/cred.json" --batch-interval-start $((now / 3600 * 3600 - 3600)) \
  --batch-interval-duration 7200)
t3=$(date +%s.%N)
cpu1=$(cpu)
# After the clock: the store's group commits and the leader's connections to its helper.
curl -sS --cacert "$work/root.pem" "https://127.0.0.1:$port/metrics" > "$work/leader.prom" || : > "$work/leader.prom"
metric() { awk -v k="$1" '$1 == k { v = $2 } END { printf "%.6f", v + 0 }' "$work/leader.prom"; }
hz=$(getconf CLK_TCK)
rss=""
for p in "${pids[@]}"; do rss="$rss${rss:+ + }$(awk '/VmHWM/ {print $2}' "/proc/$p/status") kB"; done
echo "layout: $layout process(es), $vdaf"
echo "uploads acknowledged: $okc of $n"
echo "collected: $got"
echo "expected:  $want"
case $got in *"\"aggregate\":$want}"*) echo "aggregate: exact" ;; *) echo "aggregate: MISMATCH" ;; esac
printf 'upload:      %.0f reports/s (%d connections)\n' "$(echo "$n / ($t1 - $t0)" | bc -l)" "$c"
printf 'aggregation: %.0f reports/s (after the last upload: %.2f s)\n' "$(echo "$n / ($t2 - $t0)" | bc -l)" "$(echo "$t2 - $t1" | bc -l)"
printf 'pipeline:    %.0f reports/s (upload + aggregation + collection, %.2f s)\n' "$(echo "$n / ($t3 - $t0)" | bc -l)" "$(echo "$t3 - $t0" | bc -l)"
printf 'server CPU:  %.0f us per report\n' "$(echo "($cpu1 - $cpu0) * 1000000 / $hz / $n" | bc -l)"
echo "peak RSS:    $rss"
commits=$(metric tb_store_commits_total); jobs=$(metric 'tb_store_jobs_total{result="ok"}')
csum=$(metric tb_store_commit_duration_seconds_sum)
[ "${commits%.*}" -gt 0 ] && printf 'leader store: %.0f group commits, %.1f write jobs each, %.2f ms per COMMIT\n' \
  "$commits" "$(echo "$jobs / $commits" | bc -l)" "$(echo "$csum * 1000 / $commits" | bc -l)"
printf 'leader to helper connections: %.0f new, %.0f resumed, %.0f reused\n' \
  "$(metric 'tb_http_client_connections_total{kind="new"}')" \
  "$(metric 'tb_http_client_connections_total{kind="resumed"}')" \
  "$(metric 'tb_http_client_connections_total{kind="reused"}')"
# For scale: @divviup/prio3's own preparation (both aggregators) per report, same machine, now.
vw="$build/bench-vdaf"
if command -v node > /dev/null && mkdir -p "$vw" && cp "$root/tests/integration/prio3/package.json" "$root/tests/integration/prio3/prio3.mjs" "$vw/" &&
   { [ -f "$vw/node_modules/@divviup/prio3/package.json" ] || npm install --prefix "$vw" --no-audit --no-fund --loglevel=error >&2; }; then
  case $vdaf in count) ncfg=count; nn=1000 ;; *) ncfg=hist100; nn=100 ;; esac
  node "$vw/prio3.mjs" bench "$ncfg" "$nn" | python3 -c 'import json,sys;d=json.load(sys.stdin);print("divviup-ts prep: %.0f us per report (@divviup/prio3, both aggregators, one thread)" % d["prep_us"])' || true
else
  echo "divviup-ts prep: not measured (node or @divviup/prio3 missing)"
fi
