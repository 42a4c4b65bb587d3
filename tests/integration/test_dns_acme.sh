#!/usr/bin/env bash
# dns-01 end to end against trustbox's own DNS: lego (rfc2136 provider) and
# certbot (python3-certbot-dns-rfc2136) publish the challenge TXT with RFC 2136
# signed by the generated lab TSIG key, trustbox's CA checks it through the
# tb_resolver service (and CAA at lab.test), and both get certificates,
# a wildcard among them.
set -u
. "$(dirname "$0")/lib.sh"
need lego
need certbot
need dig bind9-dnsutils
need openssl
dpkg -s python3-certbot-dns-rfc2136 >/dev/null 2>&1 ||
	skip "certbot's RFC 2136 plugin is not installed (Debian package python3-certbot-dns-rfc2136)"
tmp=$TB_WORK

cat > "$tmp/trustbox.lua" <<LUA
core { data_dir = "$tmp/data", log_level = "warn" }
listen { name = "https", address = "127.0.0.1", port = 0, tls = true }
listen { name = "http", address = "127.0.0.1", port = 0, tls = false }
dns { listen = { "127.0.0.1:0" }, iterate = false }
LUA
tb_start "$tmp/trustbox.lua" "$tmp/out.log" "$tmp/err.log"
dport=$(tb_port 'DNS (udp+tcp)')
aport=$(tb_port 'ACME directory')
"$TRUSTBOX" root -c "$tmp/trustbox.lua" > "$tmp/root.pem" 2>/dev/null
secret=$(cut -d: -f3 "$tmp/data/lab.test.tsig")
dir="https://127.0.0.1:$aport/dir"

# lego: a name and the wildcard in one order (its propagation check would ask the
# zone's NS, ns.lab.test, through the system resolver, which cannot know it)
out=$(LEGO_CA_CERTIFICATES="$tmp/root.pem" RFC2136_NAMESERVER="127.0.0.1:$dport" \
	RFC2136_TSIG_KEY=lab.test RFC2136_TSIG_SECRET="$secret" RFC2136_TSIG_ALGORITHM=hmac-sha256. \
	RFC2136_SEQUENCE_INTERVAL=1 RFC2136_POLLING_INTERVAL=1 RFC2136_PROPAGATION_TIMEOUT=30 \
	timeout 180 lego -s "$dir" --accept-tos -m ci@lab.test --path "$tmp/lego" \
	-d lego.lab.test -d '*.lab.test' --dns rfc2136 --dns.resolvers "127.0.0.1:$dport" --dns.disable-cp run 2>&1)
expect "lego dns-01 (rfc2136 + TSIG)" "$out" 'Server responded with a certificate'
if [ -f "$tmp/lego/certificates/lego.lab.test.crt" ]; then
	san=$(openssl x509 -in "$tmp/lego/certificates/lego.lab.test.crt" -noout -ext subjectAltName 2>&1)
	expect "lego certificate names the wildcard" "$san" 'DNS:\*\.lab\.test'
	expect "lego certificate chains to trustbox's root" \
		"$(openssl verify -CAfile "$tmp/root.pem" -untrusted "$tmp/lego/certificates/lego.lab.test.issuer.crt" "$tmp/lego/certificates/lego.lab.test.crt" 2>&1)" ': OK$'
else
	fail "lego certificate file"
fi
expect "challenge TXT removed after lego" "$(dig @127.0.0.1 -p "$dport" _acme-challenge.lego.lab.test TXT)" 'ANSWER: 0,'

# certbot with the Debian RFC 2136 plugin
cat > "$tmp/rfc2136.ini" <<INI
dns_rfc2136_server = 127.0.0.1
dns_rfc2136_port = $dport
dns_rfc2136_name = lab.test
dns_rfc2136_secret = $secret
dns_rfc2136_algorithm = HMAC-SHA256
INI
chmod 600 "$tmp/rfc2136.ini"
out=$(REQUESTS_CA_BUNDLE="$tmp/root.pem" timeout 180 certbot certonly --non-interactive --agree-tos \
	-m ci@lab.test --server "$dir" --dns-rfc2136 --dns-rfc2136-credentials "$tmp/rfc2136.ini" \
	--dns-rfc2136-propagation-seconds 1 -d certbot.lab.test \
	--config-dir "$tmp/cb/config" --work-dir "$tmp/cb/work" --logs-dir "$tmp/cb/logs" 2>&1)
expect "certbot dns-01 (dns-rfc2136 plugin)" "$out" 'Successfully received certificate'
expect "certbot certificate on disk" "$(ls "$tmp/cb/config/live/certbot.lab.test/" 2>&1)" 'fullchain\.pem'

rc=0
tb_stop || rc=$?
if [ "$rc" -ne 0 ] && grep -q LeakSanitizer "$tmp/err.log" && ! grep -q '/dns/' "$tmp/err.log"; then rc=0; fi
[ "$rc" -ne 0 ] && { grep -A40 "ERROR: AddressSanitizer" "$tmp/err.log" | grep -E "ERROR|#[0-9]+ |freed by|allocated by" | head -60; tail -5 "$tmp/err.log"; }
expect "clean exit" "$rc" '^0$'

finish
