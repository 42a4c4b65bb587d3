#!/usr/bin/env bash
# DNS over TCP must not queue answers without bound for clients that do not read
# them. The attack: a 52 KB RRset (200 TXT records), 1000 pipelined queries for
# it sent in one write on each of 4 connections, answers never read (before the
# fix each such connection grew the process by about 105 MB per 2000 queries).
# - with the defaults (tcp_queue_bytes 1 MiB, tcp_queue_bytes_total 32 MiB) the
#   resident size grows by less than 16 MiB per connection and 64 MiB in all;
# - with only the total cap binding (tcp_queue_bytes at its 64 MiB maximum,
#   tcp_queue_bytes_total 1 MiB) 8 such connections grow it by less than 8 MiB in
#   all (without the total cap, 64 answers queued per connection are ~3 MiB each);
# - meanwhile dig still gets answers over UDP and TCP;
# - once the clients read, every answer arrives, in order (reading resumes);
# - answers owed for forwarded queries count too: 1000 pipelined queries for
#   names an upstream never answers start at most 64 upstream queries.
set -u
. "$(dirname "$0")/lib.sh"
need dig bind9-dnsutils
need python3
tmp=$TB_WORK
pass() { ok "$@"; }

python3 -c '
print("@ SOA ns hostmaster 1 3600 600 86400 60\n@ NS ns\nns A 127.0.0.1\nsmall A 192.0.2.1")
for i in range(200): print("big TXT \"%03d %s\"" % (i, "x" * 250))
' > "$tmp/big.zone"

write_config() { # EXTRA-OPTIONS
	cat > "$tmp/trustbox.lua" <<EOF
core { data_dir = "$tmp/data", log_level = "warn" }
listen { name = "https", address = "127.0.0.1", port = 0, tls = true }
listen { name = "http", address = "127.0.0.1", port = 0, tls = false }
dns {
  listen = { "127.0.0.1:0" },
  iterate = false,
  tcp_idle_ms = 30000,
  zones = { { name = "big.test", file = "$tmp/big.zone" } },
  $1
}
EOF
}
start() {
	# under ASan, freed answers would stay resident in its quarantine and count as growth
	ASAN_OPTIONS="${ASAN_OPTIONS:-}:quarantine_size_mb=0:thread_local_quarantine_size_kb=0" \
		tb_start "$tmp/trustbox.lua" "$tmp/out.log" "$tmp/err.log"
	pid=$TB_PID
	port=$(tb_port 'DNS (udp+tcp)')
}
stop() {
	local rc=0
	tb_stop || rc=$?
	expect "clean exit" "$rc" '^0$'
}

# attack.py PORT PID CONNS QUERIES: prints the RSS growth (KiB), what dig got during
# the attack, then per connection how many answers arrived in order once read.
cat > "$tmp/attack.py" <<'EOF'
import socket, struct, subprocess, sys, time
port, pid, conns, nq = (int(a) for a in sys.argv[1:5])
def rss():
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
def query(qid, name, qtype=16):
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    q += b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\x00" + struct.pack(">HH", qtype, 1)
    return struct.pack(">H", len(q)) + q
def dig(*args):
    r = subprocess.run(["dig", "@127.0.0.1", "-p", str(port), "+time=3", "+tries=1"] + list(args),
                       capture_output=True, text=True)
    return r.stdout
# warm up: one full answer over TCP, so the first large answer is not counted as growth
dig("+tcp", "big.big.test", "TXT")
time.sleep(0.5)
base = rss()
socks = []
for c in range(conns):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"".join(query(i, "big.big.test") for i in range(nq)))
    socks.append(s)
peak = base
for _ in range(25):
    time.sleep(0.2)
    peak = max(peak, rss())
print("growth_kib %d" % (peak - base))
out = dig("+short", "small.big.test", "A")
print("udp %s" % (out.strip() or "-"))
out = dig("+tcp", "+short", "small.big.test", "A")
print("tcp %s" % (out.strip() or "-"))
peak = max(peak, rss())
print("growth_after_dig_kib %d" % (peak - base))
# now read everything: every answer, in order
for n, s in enumerate(socks):
    s.settimeout(20)
    buf, got, ok = b"", 0, True
    try:
        while got < nq:
            while len(buf) < 2 or len(buf) < 2 + struct.unpack(">H", buf[:2])[0]:
                d = s.recv(1 << 20)
                if not d:
                    raise EOFError
                buf += d
            ml = struct.unpack(">H", buf[:2])[0]
            m = buf[2:2 + ml]
            buf = buf[2 + ml:]
            if struct.unpack(">H", m[:2])[0] != got or struct.unpack(">H", m[6:8])[0] != 200:
                ok = False
            got += 1
    except (EOFError, OSError):
        pass
    print("conn%d answers=%d inorder=%s" % (n, got, "yes" if ok else "no"))
    s.close()
EOF

# --- the defaults: 16 MiB per connection, 64 MiB in all ---
write_config ""
start
out=$(python3 "$tmp/attack.py" "$port" "$pid" 4 1000)
growth=$(printf '%s\n' "$out" | sed -n 's/^growth_after_dig_kib //p')
echo "     RSS growth with 4 connections x 1000 queries: ${growth:-?} KiB"
if [ -n "$growth" ] && [ "$growth" -lt $((64 * 1024)) ]; then pass "RSS growth under 16 MiB per connection and 64 MiB in all"
else fail "RSS growth ${growth:-?} KiB: not under 64 MiB"; printf '%s\n' "$out" | sed 's/^/     /'; fi
expect "UDP answered during the attack" "$out" '^udp 192\.0\.2\.1$'
expect "TCP answered during the attack" "$out" '^tcp 192\.0\.2\.1$'
expect "every answer arrives, in order, once read" "$(printf '%s\n' "$out" | grep -c '^conn[0-9] answers=1000 inorder=yes$')" '^4$'
stop

# --- only the total cap binding ---
write_config 'tcp_queue_bytes = 67108864, tcp_queue_bytes_total = 1048576,'
start
out=$(python3 "$tmp/attack.py" "$port" "$pid" 8 1000)
growth=$(printf '%s\n' "$out" | sed -n 's/^growth_after_dig_kib //p')
echo "     RSS growth with 8 connections and the total cap at 1 MiB: ${growth:-?} KiB"
if [ -n "$growth" ] && [ "$growth" -lt $((8 * 1024)) ]; then pass "RSS growth under 8 MiB with the total cap at 1 MiB"
else fail "RSS growth ${growth:-?} KiB: not under 8 MiB"; printf '%s\n' "$out" | sed 's/^/     /'; fi
expect "UDP answered at the total cap" "$out" '^udp 192\.0\.2\.1$'
expect "TCP answered at the total cap" "$out" '^tcp 192\.0\.2\.1$'
expect "every answer arrives, in order, once read (total cap)" "$(printf '%s\n' "$out" | grep -c '^conn[0-9] answers=1000 inorder=yes$')" '^8$'
stop

# --- answers owed (forwarded queries) count against the pipeline cap ---
cat > "$tmp/owed.py" <<'EOF'
import socket, struct, sys, threading, time
up = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
up.bind(("127.0.0.1", 0))
print(up.getsockname()[1], flush=True)
port = int(sys.stdin.readline())
seen = set()
def blackhole():
    while True:
        try:
            d, _ = up.recvfrom(4096)
        except OSError:
            return
        seen.add(d[12:].lower())  # the question: one per client query (retries repeat it)
threading.Thread(target=blackhole, daemon=True).start()
def query(qid, name):
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    q += b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\x00" + struct.pack(">HH", 1, 1)
    return struct.pack(">H", len(q)) + q
s = socket.create_connection(("127.0.0.1", port))
s.sendall(b"".join(query(i, "q%d.slow.test" % i) for i in range(1000)))
time.sleep(1.5)
print("upstream_queries %d" % len(seen), flush=True)
s.close()
EOF
coproc OWED { python3 "$tmp/owed.py"; }
read -r uport <&"${OWED[0]}"
write_config "forwarders = { { zone = \"slow.test\", servers = { \"127.0.0.1:$uport\" } } }, forward_attempt_ms = 5000, forward_timeout_ms = 10000,"
start
echo "$port" >&"${OWED[1]}"
read -r out <&"${OWED[0]}"
echo "     $out"
n=${out#upstream_queries }
if [ -n "$n" ] && [ "$n" -ge 1 ] && [ "$n" -le 64 ]; then pass "1000 pipelined forwarded queries: at most 64 owed at once"
else fail "1000 pipelined forwarded queries started ${n:-?} upstream queries (want 1 to 64)"; fi
expect "local names still answered over TCP" "$(dig @127.0.0.1 -p "$port" +tcp +short +time=3 +tries=1 small.big.test A)" '^192\.0\.2\.1$'
stop

finish
