#!/usr/bin/env bash
# The DNS policy hook runs per query, under core's hook limits: a pattern that
# would backtrack for seconds is refused at once, and a hook whose time goes
# to C functions (few Lua instructions, so the instruction budget trips late)
# is stopped by core.hook_deadline_ms. Either way the query is answered
# normally and quickly, and the server keeps answering.
set -u

command -v dig >/dev/null || apt-get install -y -qq bind9-dnsutils >/dev/null
command -v dig >/dev/null || { echo "dig needed"; exit 1; }

TRUSTBOX=${TRUSTBOX:?TRUSTBOX must point at the binary}
tmp=$(mktemp -d)
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

fails=0
pass() { echo "ok   $1"; }
fail() { echo "FAIL $1"; fails=$((fails + 1)); }
expect() {
	if printf '%s\n' "$2" | grep -Eq -- "$3"; then pass "$1"; else fail "$1: no match for /$3/ in:"; printf '%s\n' "$2" | sed 's/^/     /'; fi
}
# fast NAME DIG-OUTPUT: dig's reported query time is under a second
fast() {
	local ms
	ms=$(printf '%s\n' "$2" | sed -n 's/^;; Query time: \([0-9]*\) msec.*/\1/p')
	if [ -n "$ms" ] && [ "$ms" -lt 1000 ]; then pass "$1 (${ms} ms)"; else fail "$1: query time '${ms:-none}' ms"; fi
}

cat > "$tmp/trustbox.lua" <<EOF
core { data_dir = "$tmp/data", log_level = "warn" }
listen { name = "https", address = "127.0.0.1", port = 0, tls = true }
listen { name = "http", address = "127.0.0.1", port = 0, tls = false }
local big = ("x"):rep(1 << 20)
dns {
  listen = { "127.0.0.1:0" },
  allow_query = { "127.0.0.0/8" },
  policy = function(name, qtype, client)
    -- took about 10 s per query before patterns were guarded
    if name == "backtrack.lab.test." then
      return string.find(("a"):rep(27), ("a?"):rep(27) .. ("a"):rep(27)) and "refuse"
    end
    if name == "method.lab.test." then
      return ("a"):rep(27):match(("a?"):rep(27) .. ("a"):rep(27)) and "refuse"
    end
    -- ~200,000 plain finds over 1 MiB fit in a million instructions: seconds without a deadline
    if name == "slow.lab.test." then
      for i = 1, 1e9 do big:find(name, 1, true) end
    end
    if name:match("^blocked%.") then return "refuse" end
  end,
}
EOF

"$TRUSTBOX" run -c "$tmp/trustbox.lua" > "$tmp/out.log" 2> "$tmp/err.log" &
pid=$!
port=
for _ in $(seq 1 100); do
	port=$(sed -n 's/.*DNS (udp+tcp) *127\.0\.0\.1:\([0-9]*\).*/\1/p' "$tmp/out.log" | head -1)
	[ -n "$port" ] && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
if [ -z "$port" ]; then
	echo "trustbox did not start"; cat "$tmp/out.log" "$tmp/err.log"; exit 1
fi
echo "trustbox DNS on 127.0.0.1:$port"

D="dig @127.0.0.1 -p $port +time=3 +tries=1"

out=$($D backtrack.lab.test A)
expect "backtracking pattern: answered normally" "$out" 'status: NOERROR'
expect "backtracking pattern: lab answer" "$out" 'backtrack\.lab\.test\.[[:space:]].*A[[:space:]]+127\.0\.0\.1'
fast "backtracking pattern: refused at once" "$out"
expect "backtracking pattern: logged" "$(cat "$tmp/err.log" "$tmp/out.log")" 'pattern has 27 quantifiers'
out=$($D method.lab.test A)
expect "method form: answered normally" "$out" 'status: NOERROR'
fast "method form: refused at once" "$out"
out=$($D slow.lab.test A)
expect "slow hook: answered normally" "$out" 'status: NOERROR'
fast "slow hook: stopped by the deadline" "$out"
out=$($D slow.lab.test AAAA)
fast "slow hook again: stopped by the deadline" "$out"
expect "ordinary pattern still works" "$($D blocked.lab.test A)" 'status: REFUSED'
expect "other names answered" "$($D +short www.lab.test A)" '^127\.0\.0\.1$'

if [ "$fails" -ne 0 ]; then
	echo "$fails check(s) failed"; exit 1
fi
echo "all DNS policy limit checks passed"
