#!/usr/bin/env bash
# The resolver's defaults: dns.iterate and dns.dnssec = "validate" are on out of the box,
# from the built-in IANA root hints and root trust anchors. Inside a private network
# namespace (nothing can leave it): a signed lab on NSD (lib.sh: lab_signed_root; the root
# on 127.53.0.1 delegates example. on 127.53.0.2, both ECDSA P-256) and trustbox with only
# dns.root_hints and dns.trust_anchor_file set (iterate and dnssec left at their defaults):
# `trustbox config dump` says iterate = true and dnssec = "validate", the banner says how
# names are resolved, and dig gets an iterated answer with the AD bit, a validated NXDOMAIN,
# and SERVFAIL with EDE 6 for a record changed after signing; the admin API's cache figures
# name the files. With root_hints alone the built-in anchors do not match the lab root:
# SERVFAIL with EDE 9 (DNSKEY Missing), so validation is on. The embedded default config
# (no -c): the banner and the admin API name the built-in root hints and anchors, and a
# query outside lab.test, for which no root server can be reached here, gets SERVFAIL with
# EDE 22 at once instead of hanging.
set -u
. "$(dirname "$0")/netns.sh"
. "$(dirname "$0")/lib.sh"
need dig bind9-dnsutils
need dnssec-signzone bind9-utils
need dnssec-keygen bind9-utils
need nsd
need ip iproute2
need curl
need jq
ip link set lo up || die "cannot bring lo up in the namespace"
tmp=$TB_WORK

# ---- the signed lab ----
lab_zone example.zone example. <<'EOF'
@ NS ns
ns A 127.53.0.2
www A 192.0.2.7
bad A 192.0.2.8
EOF
lab_sign example. example.zone "-a ECDSAP256SHA256"
# bad.example's A changed after signing: its signature no longer matches
sed -i '/RRSIG/!s/^\(bad\.example\.[[:space:]].*A[[:space:]]*\)192\.0\.2\.8$/\1192.0.2.9/' "$tmp/example.zone.signed"
grep -q '192\.0\.2\.9' "$tmp/example.zone.signed" || die "could not tamper with bad.example"
lab_signed_root example 127.53.0.2
lab_nsd root 127.53.0.1 .:root.zone.signed
lab_nsd tld 127.53.0.2 example.:example.zone.signed
lab_wait 127.53.0.1 127.53.0.2

verdict() { # the status and whether AD is set
	local st ad=
	st=$(sed -n 's/.*status: \([A-Z]*\).*/\1/p' <<< "$1")
	grep -q '^;; flags:[^;]* ad[ ;]' <<< "$1" && ad=" ad"
	echo "$st$ad"
}

# ---- only root_hints and trust_anchor_file set: iterate and validate by default ----
cat > "$tmp/lab.lua" <<EOF
core { data_dir = "$tmp/data" }
listen { name = "https", address = "127.0.0.1", port = 0, tls = true }
listen { name = "http", address = "127.0.0.1", port = 0, tls = false }
dns { listen = { "127.0.0.1:0" }, root_hints = "$tmp/hints", trust_anchor_file = "$tmp/anchor" }
EOF
dump=$("$TRUSTBOX" config dump -c "$tmp/lab.lua" | sed -n '/^dns {/,/^}/p')
expect "config dump: iterate is on by default" "$dump" '^  iterate = true,$'
expect "config dump: dnssec is validate by default" "$dump" '^  dnssec = "validate",$'
tb_start "$tmp/lab.lua"
expect "banner: iterate from the lab's hints, validated from its anchor" "$TB_BANNER" \
	"DNS resolution +iterate from $tmp/hints, DNSSEC validated from $tmp/anchor"
port=$(tb_port 'DNS (udp+tcp)')
hport=$(tb_port 'HTTP listener')
D="dig @127.0.0.1 -p $port +time=5 +tries=1"
expect "admin API: the cache says how names are resolved" \
	"$(curl -sS "http://127.0.0.1:$hport/api/v1/dns/cache" | jq -c '[.iterate, .root_hints, .dnssec, .trust_anchors, .negative_trust_anchors]')" \
	"^\\[true,\"$tmp/hints\",\"validate\",\"$tmp/anchor\",\\[\\]\\]\$"
out=$($D +dnssec www.example. A)
expect "www.example. A: iterated answer" "$out" '^www\.example\.[[:space:]].*IN[[:space:]]+A[[:space:]]+192\.0\.2\.7$'
expect "www.example. A: NOERROR with AD" "$(verdict "$out")" '^NOERROR ad$'
out=$($D +dnssec nope.example. A)
expect "nope.example. A: NXDOMAIN with AD (NSEC proof)" "$(verdict "$out")" '^NXDOMAIN ad$'
out=$($D +dnssec bad.example. A)
expect "bad.example. A (changed after signing): SERVFAIL" "$(verdict "$out")" '^SERVFAIL$'
expect "bad.example. A: EDE 6 (DNSSEC Bogus)" "$out" 'EDE: 6 '
out=$($D www.lab.test. A)
expect "lab.test is still answered locally" "$out" 'status: NOERROR'
expect "lab.test: authoritative, no AD" "$(sed -n 's/^;; flags: \([a-z ]*\);.*/\1/p' <<< "$out")" '^qr aa rd ra$'
tb_stop || fail "stop (lab)"

# ---- root_hints alone: the built-in root anchors do not match the lab root ----
cat > "$tmp/hints-only.lua" <<EOF
core { data_dir = "$tmp/data" }
listen { name = "https", address = "127.0.0.1", port = 0, tls = true }
dns { listen = { "127.0.0.1:0" }, root_hints = "$tmp/hints" }
EOF
tb_start "$tmp/hints-only.lua"
expect "banner: validated from the built-in anchors" "$TB_BANNER" \
	"DNS resolution +iterate from $tmp/hints, DNSSEC validated from the built-in root anchors"
port=$(tb_port 'DNS (udp+tcp)')
out=$(dig @127.0.0.1 -p "$port" +time=5 +tries=1 +dnssec www.example. A)
expect "lab root under the built-in anchors: SERVFAIL" "$(verdict "$out")" '^SERVFAIL$'
expect "lab root under the built-in anchors: EDE 9 (DNSKEY Missing)" "$out" 'EDE: 9 '
out=$(dig @127.0.0.1 -p "$port" +time=5 +tries=1 +cd www.example. A)
expect "with CD the data is returned unchecked" "$out" '^www\.example\.[[:space:]].*192\.0\.2\.7$'
tb_stop || fail "stop (hints only)"

# ---- the embedded default config: the built-in root hints, unreachable here ----
mkdir -p "$tmp/default"
cd "$tmp/default" || die "cd"
dump=$("$TRUSTBOX" config dump | sed -n '/^dns {/,/^}/p')
expect_not "config dump: no root_hints in the default config" "$dump" 'root_hints'
tb_start "" "$tmp/default.out" "$tmp/default.err"
expect "admin API (default config): built-in hints and anchors" \
	"$(curl -sS "http://127.0.0.1:14080/api/v1/dns/cache" | jq -c '[.iterate, .root_hints, .dnssec, .trust_anchors]')" \
	'^\[true,"built-in","validate","built-in"\]$'
expect "banner: iterate from the built-in root hints, validated from the built-in anchors" "$TB_BANNER" \
	'DNS resolution +iterate from the built-in root hints, DNSSEC validated from the built-in root anchors'
t0=$(date +%s%N)
out=$(dig @127.0.0.1 -p 5353 +time=8 +tries=1 www.example.com. A)
ms=$((($(date +%s%N) - t0) / 1000000))
expect "default config, no route to the roots: SERVFAIL" "$out" 'status: SERVFAIL'
expect "default config, no route to the roots: EDE 22 (No Reachable Authority)" "$out" 'EDE: 22 '
if [ "$ms" -lt 2000 ]; then
	ok "answered at once ($ms ms), not after forward_timeout_ms (4000)"
else
	fail "SERVFAIL took $ms ms"
fi
out=$(dig @127.0.0.1 -p 5353 +time=5 +tries=1 anything.lab.test. A)
expect "default config: lab.test answered" "$out" '^anything\.lab\.test\.[[:space:]].*127\.0\.0\.1$'
if grep -q 'priming the root NS set failed' "$tmp/default.err"; then
	ok "priming from the built-in hints was tried (and failed here)"
else
	fail "no priming attempt logged"
fi
tb_stop || fail "stop (default)"
finish
