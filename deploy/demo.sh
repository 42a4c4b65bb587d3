#!/bin/sh
# The compose quickstart's client (the `demo` service): waits for trustbox,
# gets a certificate for www.lab.test from its ACME CA with certbot's RFC 2136
# plugin (dns-01 through trustbox's DNS, signed with the lab TSIG key read from
# trustbox's volume, mounted read-only at /tbdata), checks the certificate's
# chain and its SCT from the lab CT log, asks the DNS server, and prints what
# it did. Results stay in /work (its own volume): root.pem, cert.pem, chain.pem.
# Exit status 0 only when every step worked.
set -eu
TB=${TB_HOST:-trustbox}
http="http://$TB:14080"
acme="https://$TB:14000/dir"
out=${DEMO_OUT:-/work}
cd "$out"
step() { echo "demo: $*"; }
die() { echo "demo: FAILED: $*" >&2; exit 1; }

# No depends_on health condition (not every compose honours it): poll /healthz.
i=0
until curl -fsS -o /dev/null "$http/healthz" 2>/dev/null; do
  i=$((i + 1)); [ "$i" -le 120 ] || die "trustbox not healthy at $http/healthz after 120 s"
  sleep 1
done
step "trustbox is healthy ($http/healthz)"

# The root comes over plain HTTP inside the compose network: this client trusts
# the network it runs in (a lab); from the host, see the README.
curl -fsS -o root.pem "$http/api/v1/root.pem" || die "root.pem"
step "root CA: $(openssl x509 -in root.pem -noout -subject -fingerprint -sha256 | tr '\n' ' ')"
curl -fsS --cacert root.pem -o /dev/null "$acme" || die "ACME directory at $acme (TLS with the root)"
step "ACME directory: $acme"

# The lab key trustbox generated (hmac-sha256:NAME:SECRET), scoped to lab.test.
i=0
while [ ! -s /tbdata/lab.test.tsig ]; do
  i=$((i + 1)); [ "$i" -le 30 ] || die "no /tbdata/lab.test.tsig (is trustbox's volume mounted?)"
  sleep 1
done
IFS=: read -r alg keyname secret < /tbdata/lab.test.tsig
# certbot's RFC 2136 plugin wants an address, not a name.
addr=$(getent hosts "$TB" | awk '{print $1; exit}')
[ -n "$addr" ] || die "cannot resolve $TB"
umask 077
cat > rfc2136.ini <<INI
dns_rfc2136_server = $addr
dns_rfc2136_port = 5353
dns_rfc2136_name = $keyname
dns_rfc2136_secret = $secret
dns_rfc2136_algorithm = HMAC-SHA256
INI
step "TSIG key $keyname ($alg) from trustbox's volume; DNS server $addr:5353"
[ "$alg" = hmac-sha256 ] || die "unexpected TSIG algorithm $alg"

REQUESTS_CA_BUNDLE="$out/root.pem" certbot certonly --non-interactive --agree-tos \
  -m demo@lab.test --server "$acme" --dns-rfc2136 --dns-rfc2136-credentials rfc2136.ini \
  --dns-rfc2136-propagation-seconds 1 -d www.lab.test --force-renewal \
  --config-dir cb/config --work-dir cb/work --logs-dir cb/logs > certbot.log 2>&1 \
  || { cat certbot.log >&2; die "certbot dns-01 for www.lab.test"; }
cp cb/config/live/www.lab.test/cert.pem cert.pem
cp cb/config/live/www.lab.test/chain.pem chain.pem
step "certbot (dns-01, RFC 2136) got a certificate for www.lab.test:"
openssl x509 -in cert.pem -noout -subject -issuer -enddate -ext subjectAltName | sed 's/^/demo:   /'

openssl verify -CAfile root.pem -untrusted chain.pem cert.pem > /dev/null || die "chain does not verify"
step "the chain verifies against the root"

# The SCT the CA embedded must come from the lab CT log: its log ID is the
# one in the log list trustbox exports.
sct=$(openssl x509 -in cert.pem -noout -text | sed -n '/CT Precertificate SCTs/,/Signature Algorithm/p')
[ -n "$sct" ] || die "no SCT in the certificate"
got=$(printf '%s\n' "$sct" | sed -n '/Log ID/,/Timestamp/p' | grep -v Timestamp | sed 's/.*Log ID *://' | tr -d ' :\n' | tr 'a-f' 'A-F')
want=$(sed -n 's/.*"log_id":[[:space:]]*"\([^"]*\)".*/\1/p' /tbdata/ctlog-loglist.json | head -1 | base64 -d | od -An -tx1 | tr -d ' \n' | tr 'a-f' 'A-F')
[ -n "$want" ] || die "no log_id in /tbdata/ctlog-loglist.json"
[ "$got" = "$want" ] || die "SCT log ID $got is not the lab log's $want"
step "SCT present, from the lab CT log (log ID $got)"

ans=$(dig +short @"$addr" -p 5353 www.lab.test A) || die "dig"
[ -n "$ans" ] || die "no answer for www.lab.test A"
step "DNS: www.lab.test A -> $ans (dig @$TB -p 5353)"
step "done: ACME dns-01, CT and DNS all worked"
