#!/usr/bin/env bash
# `trustbox dns flush [NAME]`: the CLI calls POST /api/v1/dns/cache/flush on the
# running instance with the token from <data_dir>/admin.token. Inside a private
# network namespace, trustbox iterates through an NSD lab (lab_two_level); dig
# fills the cache; flushing one name sends that name's next query upstream again
# (tb_dns_upstream_duration_seconds_count grows) while another name is still
# answered from the cache; flushing everything empties it. The CLI reaches the
# instance over its plain listener, and over HTTPS (verified against the CA's
# root) when that is the only one; a wrong token, a bad name and an instance
# that is not running are clear errors with exit status 1.
set -u
. "$(dirname "$0")/netns.sh"
. "$(dirname "$0")/lib.sh"
need dig bind9-dnsutils
need nsd
need curl
need jq
need ip iproute2
ip link set lo up || die "cannot bring lo up in the namespace"
tmp=$TB_WORK
lab_two_level example

hport=$(free_port)
sport=$(free_port)
dport=$(free_port)
cat > "$tmp/trustbox.lua" <<EOF
core { data_dir = "$tmp/data" }
listen { name = "https", address = "127.0.0.1", port = $sport, tls = true }
listen { name = "http", address = "127.0.0.1", port = $hport, tls = false }
dns { listen = { "127.0.0.1:$dport" }, iterate = true, root_hints = "$tmp/hints", dnssec = "off" }
EOF
tb_start "$tmp/trustbox.lua"
D="dig @127.0.0.1 -p $dport +time=5 +tries=1"
upstream() { # upstream exchanges so far (iteration)
	curl -sS "http://127.0.0.1:$hport/metrics" |
		sed -n 's/^tb_dns_upstream_duration_seconds_count{mode="iterate"} \([0-9]*\)$/\1/p'
}
entries() { curl -sS "http://127.0.0.1:$hport/api/v1/dns/cache" | jq .entries; }

expect "a.example from the lab" "$($D +short a.example A)" '^192\.0\.2\.7$'
expect "b.example from the lab" "$($D +short b.example A)" '^192\.0\.2\.7$'
$D +short a.example TXT > /dev/null
n0=$(upstream)
$D +short a.example A > /dev/null
$D +short b.example A > /dev/null
expect "cached: no upstream query for names asked before" "$(upstream)" "^$n0\$"
expect "the cache holds the three answers" "$(entries)" '^([3-9]|[1-9][0-9]+)$'

out=$("$TRUSTBOX" dns flush a.example -c "$tmp/trustbox.lua" 2>&1)
expect "dns flush NAME: a.example's entries removed" "$out" '^flushed [1-9][0-9]* cache entr(y|ies) for a\.example'
$D +short b.example A > /dev/null
expect "b.example still answered from the cache" "$(upstream)" "^$n0\$"
$D +short a.example A > /dev/null
n1=$(upstream)
[ "$n1" -gt "$n0" ] && ok "a.example goes upstream again after its flush ($n0 -> $n1)" ||
	fail "a.example did not go upstream after its flush ($n0 -> $n1)"
grep -q 'cache flushed (a.example' "$TB_ERR" && ok "the flush is logged with the name" || fail "no log line for the flush"

out=$("$TRUSTBOX" dns flush -c "$tmp/trustbox.lua" 2>&1)
expect "dns flush: everything" "$out" '^flushed [1-9][0-9]* cache entries \(0 left\)'
expect "the cache is empty" "$(entries)" '^0$'
$D +short b.example A > /dev/null
[ "$(upstream)" -gt "$n1" ] && ok "b.example goes upstream after the full flush" ||
	fail "b.example did not go upstream after the full flush"

rc=0
out=$("$TRUSTBOX" dns flush 'bad..name' -c "$tmp/trustbox.lua" 2>&1) || rc=$?
expect "a bad name: exit 1 with the API's answer" "$rc $out" '^1 .*HTTP 400.*not a domain name'

# the token of another data directory
mkdir -p "$tmp/other"
printf 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n' > "$tmp/other/admin.token"
sed "s#$tmp/data#$tmp/other#" "$tmp/trustbox.lua" > "$tmp/other.lua"
rc=0
out=$("$TRUSTBOX" dns flush -c "$tmp/other.lua" 2>&1) || rc=$?
expect "a wrong token: exit 1, refused" "$rc $out" '^1 .*refused the admin token.*HTTP 403'
rm -f "$tmp/other/admin.token"
rc=0
out=$("$TRUSTBOX" dns flush -c "$tmp/other.lua" 2>&1) || rc=$?
expect "no token file: exit 1, says so" "$rc $out" '^1 .*no usable admin token.*missing'

tb_stop || fail "stop"
rc=0
out=$("$TRUSTBOX" dns flush -c "$tmp/trustbox.lua" 2>&1) || rc=$?
expect "not running: exit 1, says so" "$rc $out" '^1 .*nothing answers at http://127\.0\.0\.1:'"$hport"'.*is trustbox running'

# only an HTTPS listener: the CLI verifies it against the CA's root for localhost
grep -v 'name = "http"' "$tmp/trustbox.lua" > "$tmp/https.lua"
tb_start "$tmp/https.lua"
$D +short c.example A > /dev/null
out=$("$TRUSTBOX" dns flush c.example -c "$tmp/https.lua" 2>&1)
expect "dns flush over HTTPS" "$out" '^flushed [1-9][0-9]* cache entr(y|ies) for c\.example'
tb_stop || fail "stop"

finish
