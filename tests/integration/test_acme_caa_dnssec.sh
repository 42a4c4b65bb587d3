#!/usr/bin/env bash
# The CA behind a validating resolver. Inside a private network namespace, a
# signed lab (lib.sh: lab_signed_root, lab_sign) on NSD: the root (ECDSA P-256)
# delegates test. (ECDSA P-256, NSEC), which delegates, with DS records,
# caaok.test (CAA naming this CA), caaother.test (CAA naming another CA) and
# caabad.test (CAA naming this CA, changed after signing: bogus), all Ed25519.
# trustbox resolves with dns.iterate, dns.dnssec = "validate", root_hints and
# trust_anchor_file naming the lab, and lego asks its CA for certificates:
# www.caabad.test fails closed with a caa problem (the CAA lookup is SERVFAIL),
# www.caaother.test fails with caa, www.caaok.test is issued (http-01, its A
# record read through the validating resolver too), and dns-01 for a name in
# the local lab.test zone (RFC 2136 with the lab key) still works.
set -u
. "$(dirname "$0")/netns.sh"
. "$(dirname "$0")/lib.sh"
need lego
need dig bind9-dnsutils
need dnssec-signzone bind9-utils
need dnssec-keygen bind9-utils
need nsd
need openssl
need ip iproute2
ip link set lo up || die "cannot bring lo up in the namespace"
tmp=$TB_WORK

# ---- the signed lab ----
child() { # child NAME CAA-ISSUER
	lab_zone "$1.zone" "$1.test." <<EOF
@ NS ns
ns A 127.53.0.3
www A 127.0.0.1
@ CAA 0 issue "$2"
EOF
	lab_sign "$1.test." "$1.zone" "-a ED25519" "-O full"
}
child caaok trustbox.test
child caaother otherca.example
child caabad trustbox.test
# the CAA RRset changed after signing: its signature no longer matches
sed -i '/RRSIG/!s/\(^caabad\.test\..*CAA.*issue[[:space:]]*"\)trustbox\.test"/\1trustbox.tesu"/' "$tmp/caabad.zone.signed"
grep -q 'trustbox\.tesu' "$tmp/caabad.zone.signed" || die "could not tamper with caabad.test's CAA"
{
	printf '@ NS ns\nns A 127.53.0.2\n'
	for c in caaok caaother caabad; do
		printf '%s NS ns.%s\nns.%s A 127.53.0.3\n' "$c" "$c" "$c"
		lab_ds "$c.test"
	done
} | lab_zone test.zone test.
lab_sign test. test.zone "-a ECDSAP256SHA256"
lab_signed_root test 127.53.0.2
lab_nsd root 127.53.0.1 .:root.zone.signed
lab_nsd tld 127.53.0.2 test.:test.zone.signed
lab_nsd leaves 127.53.0.3 caaok.test.:caaok.zone.signed caaother.test.:caaother.zone.signed \
	caabad.test.:caabad.zone.signed
lab_wait 127.53.0.1 127.53.0.2 127.53.0.3

sport=$(free_port)
h01=$(free_port)
cat > "$tmp/trustbox.lua" <<EOF
core { data_dir = "$tmp/data" }
listen { name = "https", address = "127.0.0.1", port = $sport, tls = true }
dns {
  listen = { "127.0.0.1:0" },
  iterate = true,
  dnssec = "validate",
  root_hints = "$tmp/hints",
  trust_anchor_file = "$tmp/anchor",
}
acme { http01_port = $h01 }
EOF
"$TRUSTBOX" root -c "$tmp/trustbox.lua" > "$tmp/root.pem" || die "trustbox root"
tb_start "$tmp/trustbox.lua"
dport=$(tb_port 'DNS (udp+tcp)')
D="dig @127.0.0.1 -p $dport +time=5 +tries=1"

# the lab is what the test says it is (through trustbox's own resolver)
expect "caaok.test's CAA is secure (AD)" "$($D +adflag caaok.test CAA)" 'flags: qr rd ra ad;'
out=$($D caabad.test CAA)
expect "caabad.test's CAA is bogus: SERVFAIL" "$out" 'status: SERVFAIL'
expect "caabad.test's CAA is bogus: EDE 6" "$out" 'EDE: 6'
expect "caaother.test's CAA names another CA" "$($D +short caaother.test CAA)" 'otherca\.example'

lg() { # lg OUTPUT-NAME LEGO-ARGS...: lego against trustbox's CA, output in $tmp/OUTPUT-NAME.out
	local o=$1
	shift
	LEGO_CA_CERTIFICATES="$tmp/root.pem" timeout 180 lego --server "https://127.0.0.1:$sport/dir" --accept-tos \
		--email ci@lab.test --path "$tmp/lego" "$@" run > "$tmp/$o.out" 2>&1
}

rc=0
lg bad --domains www.caabad.test --http --http.port "127.0.0.1:$h01" || rc=$?
out=$(cat "$tmp/bad.out")
[ "$rc" != 0 ] && ok "bogus CAA: lego gets no certificate" || fail "bogus CAA: lego got a certificate"
expect "bogus CAA: a caa problem (fail closed)" "$out" 'urn:ietf:params:acme:error:caa'
expect "bogus CAA: the problem says the lookup failed" "$out" 'SERVFAIL looking up CAA for caabad\.test'

rc=0
lg other --domains www.caaother.test --http --http.port "127.0.0.1:$h01" || rc=$?
out=$(cat "$tmp/other.out")
[ "$rc" != 0 ] && ok "CAA for another CA: lego gets no certificate" || fail "CAA for another CA: lego got a certificate"
expect "CAA for another CA: a caa problem" "$out" 'urn:ietf:params:acme:error:caa.*CAA record for caaother\.test prevents issuance'

lg ok --domains www.caaok.test --http --http.port "127.0.0.1:$h01" ||
	fail "signed CAA naming this CA: lego failed: $(tail -5 "$tmp/ok.out")"
crt=$tmp/lego/certificates/www.caaok.test.crt
if [ -f "$crt" ]; then
	expect "signed CAA naming this CA: issued for www.caaok.test" \
		"$(openssl x509 -in "$crt" -noout -ext subjectAltName 2>&1)" 'DNS:www\.caaok\.test'
else
	fail "signed CAA naming this CA: no certificate file"
fi

# dns-01 through the local lab zone, with the validating resolver in place
secret=$(cut -d: -f3 "$tmp/data/lab.test.tsig")
RFC2136_NAMESERVER="127.0.0.1:$dport" RFC2136_TSIG_KEY=lab.test RFC2136_TSIG_SECRET="$secret" \
	RFC2136_TSIG_ALGORITHM=hmac-sha256. RFC2136_SEQUENCE_INTERVAL=1 RFC2136_POLLING_INTERVAL=1 \
	RFC2136_PROPAGATION_TIMEOUT=30 lg dns01 --domains dns01.lab.test --dns rfc2136 \
	--dns.resolvers "127.0.0.1:$dport" --dns.disable-cp ||
	fail "dns-01 for dns01.lab.test: $(tail -5 "$tmp/dns01.out")"
[ -f "$tmp/lego/certificates/dns01.lab.test.crt" ] && ok "dns-01 through the local lab zone: issued" ||
	fail "dns-01 through the local lab zone: no certificate"

tb_stop || fail "stop"
finish
