#!/usr/bin/env bash
# RFC 2136 dynamic update with TSIG (RFC 8945) using nsupdate from BIND:
# add and remove a TXT record with the generated lab key, refusals for a bad
# key, an unsigned update and a name outside the zone, prerequisites, SOA
# serial increments, and the change surviving a restart.
set -u
. "$(dirname "$0")/lib.sh"
need nsupdate bind9-dnsutils
need dig bind9-dnsutils
tmp=$TB_WORK

cat > "$tmp/trustbox.lua" <<EOF
core { data_dir = "$tmp/data", log_level = "warn" }
-- other subsystems mount their routes on the usual listener names; port 0 keeps them out of the way
listen { name = "https", address = "127.0.0.1", port = 0, tls = true }
listen { name = "http", address = "127.0.0.1", port = 0, tls = false }
dns {
  listen = { "127.0.0.1:0" },
  iterate = false,
  tsig_keys = { { name = "ci-key", secret = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0IQ==", zones = { "lab.test" } } },
}
EOF

start() {
	tb_start "$tmp/trustbox.lua" "$tmp/out.log" "$tmp/err.log"
	port=$(tb_port 'DNS (udp+tcp)')
}
stop() {
	local rc=0
	tb_stop || rc=$?
	if [ "$rc" -ne 0 ] && grep -q LeakSanitizer "$tmp/err.log" && ! grep -q '/dns/' "$tmp/err.log"; then rc=0; fi
	[ "$rc" -ne 0 ] && tail -20 "$tmp/err.log"
	expect "clean exit" "$rc" '^0$'
}
upd() { # KEY COMMANDS...
	local key=$1; shift
	{ echo "server 127.0.0.1 $port"; echo "zone lab.test"; printf '%s\n' "$@"; echo send; } |
		nsupdate ${key:+-y "$key"} 2>&1
	echo "rc=$?"
}
serial() { dig @127.0.0.1 -p "$port" +short lab.test SOA | awk '{print $3}'; }
q() { dig @127.0.0.1 -p "$port" +short +time=2 +tries=1 "$@"; }

start
expect "lab key file written" "$(cat "$tmp/data/lab.test.tsig")" '^hmac-sha256:lab\.test:[A-Za-z0-9+/]{43}=$'
KEY=$(cat "$tmp/data/lab.test.tsig")
s0=$(serial)

out=$(upd "$KEY" "update add _acme-challenge.www.lab.test. 60 TXT \"dns-01-token\"")
expect "nsupdate add (signed answer verified by nsupdate)" "$out" '^rc=0$'
expect "TXT visible" "$(q _acme-challenge.www.lab.test TXT)" '^"dns-01-token"$'
s1=$(serial)
expect "serial incremented" "$s1" "^$((s0 + 1))\$"

out=$(upd "hmac-sha256:ci-key:c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0IQ==" "update add other.lab.test. 60 A 192.0.2.7")
expect "configured key works too" "$out" '^rc=0$'
expect "A visible" "$(q other.lab.test A)" '^192\.0\.2\.7$'

out=$(upd "hmac-sha256:lab.test:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" "update add bad.lab.test. 60 TXT \"x\"")
expect "wrong secret: BADSIG" "$out" 'NOTAUTH\(BADSIG\)'
out=$(upd "hmac-sha256:nokey:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" "update add bad.lab.test. 60 TXT \"x\"")
expect "unknown key: BADKEY" "$out" 'NOTAUTH\(BADKEY\)'
out=$(upd "" "update add bad.lab.test. 60 TXT \"x\"")
expect "unsigned update refused" "$out" 'REFUSED'
expect "nothing was added" "$(q bad.lab.test TXT)" '^"?'"$"
expect "rejected updates left the serial alone" "$(serial)" "^$((s0 + 2))\$"
out=$(upd "$KEY" "update add www.example.org. 60 TXT \"x\"")
expect "name outside the zone: NOTZONE" "$out" 'NOTZONE'

# TSIG on queries: the answer comes back signed and dig verifies it
out=$(dig @127.0.0.1 -p "$port" -y "$KEY" other.lab.test A 2>&1)
expect "signed query answered" "$out" '192\.0\.2\.7'
expect "signed answer carries TSIG" "$out" 'TSIG[[:space:]]+hmac-sha256\. [0-9]+ 300 32 '
if printf '%s\n' "$out" | grep -q "Couldn't verify"; then fail "dig verifies the signed answer"; else ok "dig verifies the signed answer"; fi
out=$(dig @127.0.0.1 -p "$port" -y "hmac-sha256:lab.test:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" other.lab.test A 2>&1)
expect "query signed with a wrong secret: NOTAUTH/BADSIG" "$out" 'status: NOTAUTH'

# prerequisites (RFC 2136 2.4)
out=$(upd "$KEY" "prereq nxdomain other.lab.test." "update add p.lab.test. 60 TXT \"p\"")
expect "prerequisite 'name not in use' fails" "$out" 'YXDOMAIN'
out=$(upd "$KEY" "prereq yxrrset other.lab.test. A" "update add p.lab.test. 60 TXT \"p\"")
expect "prerequisite 'rrset exists' holds" "$out" '^rc=0$'

out=$(upd "$KEY" "update delete _acme-challenge.www.lab.test. TXT \"dns-01-token\"")
expect "nsupdate delete" "$out" '^rc=0$'
out=$(dig @127.0.0.1 -p "$port" _acme-challenge.www.lab.test TXT)
expect "TXT gone" "$out" 'ANSWER: 0,'
out=$(upd "$KEY" "update add keep.lab.test. 60 TXT \"survives\"" "update delete other.lab.test. A")
expect "add and delete in one update" "$out" '^rc=0$'
before=$(serial)
stop

start
expect "added record survives a restart" "$(q keep.lab.test TXT)" '^"survives"$'
# the name is gone with its last record, so the lab wildcard answers for it again
expect "deleted record stays deleted (the wildcard answers again)" "$(q other.lab.test A)" '^127\.0\.0\.1$'
expect "serial survives a restart" "$(serial)" "^$before\$"
expect "lab key is the same after a restart" "$(cat "$tmp/data/lab.test.tsig")" "^$(printf '%s' "$KEY" | sed 's/[+/]/./g')\$"
out=$(upd "$KEY" "update add again.lab.test. 60 A 192.0.2.8")
expect "updates after a restart" "$out" '^rc=0$'
expect "serial keeps counting" "$(serial)" "^$((before + 1))\$"
stop

finish
