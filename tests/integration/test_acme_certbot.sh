#!/usr/bin/env bash
# ACME with certbot (RSA account key, http-01 on certbot's standalone server):
# issue, check the chain against `trustbox root` and the classic profile
# (SAN, 90 days, key usage), renew with --force-renewal, revoke.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need certbot
need openssl
need curl
work=$TB_WORK
show_on_failure cb/logs/letsencrypt.log

https_port=$(free_port); http01_port=$(free_port)
cat > cfg.lua <<LUA
core { data_dir = "$work/data" }
listen { name = "https", address = "127.0.0.1", port = $https_port, tls = true }
dns { enabled = false }
acme { http01_port = $http01_port }
LUA
"$TRUSTBOX" root -c cfg.lua > root.pem || die "trustbox root"
tb_start cfg.lua
curl -sf --cacert root.pem "https://127.0.0.1:$https_port/dir" > dir.json || die "directory not served"
grep -q newAccount dir.json || die "directory lacks newAccount"
ok "directory"

cb() {
  REQUESTS_CA_BUNDLE="$work/root.pem" certbot "$@" --server "https://127.0.0.1:$https_port/dir" \
    --config-dir cb/conf --work-dir cb/work --logs-dir cb/logs --non-interactive
}
t0=$(date +%s.%N)
cb certonly --standalone --http-01-port "$http01_port" --http-01-address 127.0.0.1 \
  --agree-tos -m a@b.test --no-eff-email -d a.lab.test > cb.out 2>&1 || { cat cb.out >&2; die "certbot certonly"; }
t1=$(date +%s.%N)
live=cb/conf/live/a.lab.test
[ -f "$live/cert.pem" ] || die "no certificate written"
openssl verify -CAfile root.pem -untrusted "$live/chain.pem" "$live/cert.pem" >/dev/null || fail "chain does not verify"
openssl x509 -in "$live/cert.pem" -noout -ext subjectAltName | grep -q 'DNS:a.lab.test' || fail "SAN missing"
openssl x509 -in "$live/cert.pem" -noout -ext keyUsage | grep -q 'Digital Signature' || fail "keyUsage"
openssl x509 -in "$live/cert.pem" -noout -ext extendedKeyUsage | grep -q 'TLS Web Server Authentication' || fail "EKU"
nb=$(date -d "$(openssl x509 -in "$live/cert.pem" -noout -startdate | cut -d= -f2)" +%s)
na=$(date -d "$(openssl x509 -in "$live/cert.pem" -noout -enddate | cut -d= -f2)" +%s)
days=$(( (na - nb + 1) / 86400 ))
[ "$days" = 90 ] || fail "validity is $days days, want 90"
grep -rqs "\"kty\": *\"RSA\"" cb/conf/accounts || fail "certbot account key is not RSA"
# The lab CT log runs by default: the certificate carries its SCT (precertificate cycle).
openssl x509 -in "$live/cert.pem" -noout -text | grep -q 'CT Precertificate SCTs' || fail "no embedded SCT"
openssl x509 -in "$live/cert.pem" -noout -text | grep -q 'CT Precertificate Poison' && fail "poison in the final certificate"
ok "certbot certonly: chain verifies, SAN a.lab.test, 90 days, embedded SCT ($(awk "BEGIN{printf \"%.2f\", $t1 - $t0}") s)"

serial1=$(openssl x509 -in "$live/cert.pem" -noout -serial)
cb renew --force-renewal --no-random-sleep-on-renew --standalone --http-01-port "$http01_port" --http-01-address 127.0.0.1 > renew.out 2>&1 \
  || { cat renew.out >&2; die "certbot renew"; }
serial2=$(openssl x509 -in "$live/cert.pem" -noout -serial)
[ "$serial1" != "$serial2" ] || fail "renew did not replace the certificate"
openssl verify -CAfile root.pem -untrusted "$live/chain.pem" "$live/cert.pem" >/dev/null || fail "renewed chain"
ok "certbot renew --force-renewal"

cb revoke --cert-path "$live/cert.pem" --reason keycompromise --no-delete-after-revoke > revoke.out 2>&1 \
  || { cat revoke.out >&2; die "certbot revoke"; }
set +e
cb revoke --cert-path "$live/cert.pem" --no-delete-after-revoke > revoke2.out 2>&1; rc=$?
set -e
[ "$rc" != 0 ] || fail "second revoke succeeded"
grep -qi 'already revoked' revoke2.out cb/logs/letsencrypt.log || fail "second revoke: no alreadyRevoked"
ok "certbot revoke, then alreadyRevoked"

openssl x509 -in "$live/cert.pem" -noout -ext crlDistributionPoints | grep -q "URI:https://127.0.0.1:$https_port/acme/crl" \
  || fail "no CRL distribution point"
curl -sf --cacert root.pem "https://127.0.0.1:$https_port/acme/crl" -o crl.der || fail "CRL download"
openssl crl -inform DER -in crl.der -out crl.pem || fail "CRL does not parse"
openssl crl -in crl.pem -noout -CAfile <(cat root.pem "$live/chain.pem") 2>&1 | grep -q 'verify OK' || fail "CRL signature"
openssl crl -in crl.pem -noout -text | grep -q 'Key Compromise' || fail "CRL lacks the reason"
set +e
openssl verify -crl_check -CAfile root.pem -untrusted "$live/chain.pem" -CRLfile crl.pem "$live/cert.pem" > v.out 2>&1
set -e
grep -q 'certificate revoked' v.out || { cat v.out >&2; fail "openssl does not see the revocation"; }
openssl verify -crl_check -CAfile root.pem -untrusted "$live/chain.pem" -CRLfile crl.pem \
  "cb/conf/archive/a.lab.test/cert1.pem" > /dev/null 2>&1 || fail "the first (unrevoked) certificate fails the CRL check"
ok "CRL: distribution point, signed by the intermediate, lists the revoked certificate (keyCompromise)"

tb_stop && ok "clean stop" || fail "trustbox exited non-zero"
finish
