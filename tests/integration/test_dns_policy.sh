#!/usr/bin/env bash
# The DNS policy hook runs per query, under core's hook limits: a pattern that
# would backtrack for seconds is refused at once, and a hook whose time goes
# to C functions (few Lua instructions, so the instruction budget trips late)
# is stopped by core.hook_deadline_ms. Either way the query is answered
# normally and quickly, and the server keeps answering.
set -u
. "$(dirname "$0")/lib.sh"
need dig bind9-dnsutils
tmp=$TB_WORK

# fast NAME DIG-OUTPUT: dig's reported query time is under a second
fast() {
	local ms
	ms=$(printf '%s\n' "$2" | sed -n 's/^;; Query time: \([0-9]*\) msec.*/\1/p')
	if [ -n "$ms" ] && [ "$ms" -lt 1000 ]; then ok "$1 (${ms} ms)"; else fail "$1: query time '${ms:-none}' ms"; fi
}

cat > "$tmp/trustbox.lua" <<EOF
core { data_dir = "$tmp/data", log_level = "warn" }
listen { name = "https", address = "127.0.0.1", port = 0, tls = true }
listen { name = "http", address = "127.0.0.1", port = 0, tls = false }
local big = ("x"):rep(1 << 20)
dns {
  listen = { "127.0.0.1:0" },
  iterate = false,
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

tb_start "$tmp/trustbox.lua" "$tmp/out.log" "$tmp/err.log"
port=$(tb_port 'DNS (udp+tcp)')
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

# the server kept answering through all of it and stops cleanly
tb_stop && ok "clean stop" || fail "trustbox exited non-zero"
finish
