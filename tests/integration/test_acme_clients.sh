#!/usr/bin/env bash
# ACME with three more independent clients than certbot and lego, plus the
# protocol behaviour RFC 8555 implies and no other test names:
#   dehydrated 0.7 (bash + curl + openssl): http-01 through its WELLKNOWN dir,
#     register, issue, chain check, --revoke;
#   uacme 1.7 (C, own ACME code, GnuTLS): RSA account, then an EC P-384
#     account (ES384 in the JWS layer), http-01 through its hook API, revoke;
#     tls-alpn-01 through ualpn, uacme's own responder;
#   acme-tiny (Python): RSA-4096 account key (RS256 with a large key) and a
#     CSR with an empty subject and only SANs;
#   the hand-made client's `qa` mode for the remaining edges.
# Challenge files are served by python3's http.server on the http-01 port.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need dehydrated
need uacme
need ualpn uacme
[ -f /usr/share/uacme/ualpn.sh ] || skip "/usr/share/uacme/ualpn.sh is missing (Debian package uacme)"
need acme-tiny
need unshare util-linux
unshare -m true 2>/dev/null || skip "unshare -m does not work here (uacme needs a private mount namespace: run as root)"
need_py cryptography python3-cryptography
need openssl
need curl
work=$TB_WORK
client=$TB_SOURCE_DIR/tests/integration/test_acme_client.py

https_port=$(free_port); http01_port=$(free_port); alpn_port=$(free_port)
cat > cfg.lua <<LUA
core { data_dir = "$work/data" }
listen { name = "https", address = "127.0.0.1", port = $https_port, tls = true }
dns { enabled = false }
acme { http01_port = $http01_port, tlsalpn01_port = $alpn_port }
LUA
"$TRUSTBOX" root -c cfg.lua > root.pem || die "trustbox root"
tb_start cfg.lua
dir_url="https://127.0.0.1:$https_port/dir"
curl -sf --cacert root.pem "$dir_url" > dir.json || die "directory not served"
grep -q newOrder dir.json || die "directory lacks newOrder"

mkdir -p www/.well-known/acme-challenge
python3 -m http.server --bind 127.0.0.1 --directory "$work/www" "$http01_port" > web.log 2>&1 &
web=$!
track "$web"
chal="$work/www/.well-known/acme-challenge"

check_chain() { # file name
  awk 'BEGIN{n=0} /BEGIN CERT/{n++} n>=2{print}' "$1" > chain.pem
  [ -s chain.pem ] || die "$2: no intermediate in the chain"
  openssl verify -CAfile root.pem -untrusted chain.pem "$1" >/dev/null || fail "$2: chain does not verify"
  openssl x509 -in "$1" -noout -ext subjectAltName | grep -q "DNS:$2" || fail "$2: SAN"
}

# 1. dehydrated
mkdir -p dh
cat > dh/config <<CFG
CA="$dir_url"
BASEDIR="$work/dh"
WELLKNOWN="$chal"
CHALLENGETYPE="http-01"
CURL_OPTS="--cacert $work/root.pem"
CONTACT_EMAIL="dh@lab.test"
KEYSIZE=2048
CFG
echo "dh.lab.test www.dh.lab.test" > dh/domains.txt
dehydrated -f dh/config --register --accept-terms > dh1.out 2>&1 || { cat dh1.out >&2; die "dehydrated --register"; }
dehydrated -f dh/config -c > dh2.out 2>&1 || { cat dh2.out >&2; die "dehydrated -c"; }
check_chain dh/certs/dh.lab.test/fullchain.pem dh.lab.test
openssl x509 -in dh/certs/dh.lab.test/cert.pem -noout -ext subjectAltName | grep -q "DNS:www.dh.lab.test" || fail "dehydrated: second SAN"
serial=$(openssl x509 -in dh/certs/dh.lab.test/cert.pem -noout -serial | cut -d= -f2)
dehydrated -f dh/config --revoke dh/certs/dh.lab.test/cert.pem > dh3.out 2>&1 || { cat dh3.out >&2; die "dehydrated --revoke"; }
curl -sf --cacert root.pem "https://127.0.0.1:$https_port/acme/crl" -o crl.der || fail "crl"
openssl crl -inform DER -in crl.der -noout -text | tr -d ' ' | grep -qi "SerialNumber:$serial" || fail "dehydrated: revoked serial not in the CRL"
ok "dehydrated: register, issue (2 names, http-01), chain verifies, revoke, serial in the CRL"

# 2. uacme (GnuTLS reads only the system bundle: give it ours in a private mount namespace)
cat > uhook.sh <<HOOK
#!/bin/sh
# uacme hook: method type ident token auth
[ "\$2" = "http-01" ] || exit 1
case "\$1" in
  begin) printf '%s' "\$5" > "$chal/\$4" ;;
  done|failed) rm -f "$chal/\$4" ;;
esac
HOOK
chmod +x uhook.sh
ua() {
  unshare -m sh -c 'mount --bind "$0" /etc/ssl/certs/ca-certificates.crt && exec uacme "$@"' "$work/root.pem" \
    -a "$dir_url" -h "$work/uhook.sh" "$@"
}
ua -v -c ua-rsa -y new ua@lab.test > u1.out 2>&1 || { cat u1.out >&2; die "uacme new (RSA)"; }
ua -v -c ua-rsa issue ua.lab.test > u2.out 2>&1 || { cat u2.out >&2; die "uacme issue (RSA)"; }
check_chain ua-rsa/ua.lab.test/cert.pem ua.lab.test
openssl x509 -in ua-rsa/ua.lab.test/cert.pem -noout -text | grep -q 'rsaEncryption' || fail "uacme: RSA certificate key"
ok "uacme: RSA account, issue over http-01 via the hook, chain verifies"

ua -v -c ua-ec -t EC -b 384 -y new > u3.out 2>&1 || { cat u3.out >&2; die "uacme new (EC P-384)"; }
grep -q 'secp384r1\|P-384' <(openssl pkey -in ua-ec/private/key.pem -noout -text 2>/dev/null) || fail "uacme: account key is not P-384"
ua -v -c ua-ec -t EC -b 384 issue ue.lab.test www.ue.lab.test > u4.out 2>&1 || { cat u4.out >&2; die "uacme issue (ES384)"; }
check_chain ua-ec/ue.lab.test/cert.pem ue.lab.test
ua -v -c ua-ec -t EC -b 384 revoke ua-ec/ue.lab.test/cert.pem > u5.out 2>&1 || { cat u5.out >&2; die "uacme revoke"; }
ua -v -c ua-ec -t EC -b 384 -y deactivate > u6.out 2>&1 || { cat u6.out >&2; die "uacme deactivate"; }
ok "uacme: EC P-384 account (ES384), issue 2 names, revoke, deactivate"

# tls-alpn-01 through ualpn (uacme's own responder) and its hook script
ualpn -b "127.0.0.1@$alpn_port" -c 127.0.0.1@9 -s "$work/ualpn.sock" -l "$work/ualpn.log" > /dev/null 2>&1 &
alpn=$!
track "$alpn"
sed "s#| ualpn)#| ualpn -s $work/ualpn.sock)#" /usr/share/uacme/ualpn.sh > ahook.sh
chmod +x ahook.sh
for _ in $(seq 50); do [ -S ualpn.sock ] && break; sleep 0.1; done
unshare -m sh -c 'mount --bind "$0" /etc/ssl/certs/ca-certificates.crt && exec uacme "$@"' "$work/root.pem" \
  -a "$dir_url" -h "$work/ahook.sh" -v -c ua-rsa issue alpn.lab.test > u7.out 2>&1 || { cat u7.out ualpn.log >&2; die "uacme issue (tls-alpn-01 via ualpn)"; }
check_chain ua-rsa/alpn.lab.test/cert.pem alpn.lab.test
grep -q 'tls-alpn-01 for alpn.lab.test: valid' run.err || fail "tls-alpn-01 was not the method used for alpn.lab.test"
stop_pid "$alpn"
ok "uacme + ualpn: tls-alpn-01 (RFC 8737), chain verifies"

# 3. acme-tiny: RSA-4096 account, CSR with an empty subject and only SANs
openssl genrsa -out tiny-account.key 4096 2>/dev/null
openssl genrsa -out tiny-domain.key 2048 2>/dev/null
openssl req -new -key tiny-domain.key -subj / -addext "subjectAltName=DNS:tiny.lab.test,DNS:www.tiny.lab.test" -out tiny.csr 2>/dev/null \
  || fail "openssl req with an empty subject"
[ -z "$(openssl req -in tiny.csr -noout -subject | sed 's/^subject=//; s/ //g')" ] || fail "CSR subject is not empty"
SSL_CERT_FILE="$work/root.pem" acme-tiny --account-key tiny-account.key --csr tiny.csr --acme-dir "$chal" \
  --directory-url "$dir_url" --disable-check --contact mailto:tiny@lab.test > tiny.crt 2> tiny.err \
  || { cat tiny.err >&2; die "acme-tiny"; }
check_chain tiny.crt tiny.lab.test
subj=$(openssl x509 -in tiny.crt -noout -subject | sed 's/^subject=//; s/ //g')
[ -z "$subj" ] || [ "$subj" = "CN=tiny.lab.test" ] || fail "acme-tiny: unexpected subject $subj"
ok "acme-tiny: RSA-4096 account (RS256), empty-subject CSR, chain verifies (subject '${subj}')"

stop_pid "$web"

# 4. protocol edges with the hand-made client (it serves http-01 itself)
ACME_DIR="$dir_url" ACME_CA="$work/root.pem" HTTP01_PORT=$http01_port \
  python3 -W ignore "$client" qa && ok "qa checks" || fail "qa checks"

tb_stop && ok "clean stop" || fail "trustbox exited non-zero"

# 5. lifetimes: a second CA whose pending orders and authorizations live 4 s
cat > short.lua <<LUA
core { data_dir = "$work/data-short" }
listen { name = "https", address = "127.0.0.1", port = $https_port, tls = true }
dns { enabled = false }
acme { http01_port = $http01_port, order_lifetime_seconds = 4, authz_lifetime_seconds = 4 }
LUA
"$TRUSTBOX" root -c short.lua > root2.pem || die "trustbox root (short)"
tb_start short.lua
curl -sf --cacert root2.pem "$dir_url" > /dev/null || die "directory not served (short.lua)"
ACME_DIR="$dir_url" ACME_CA="$work/root2.pem" HTTP01_PORT=$http01_port \
  python3 -W ignore "$client" expiry && ok "expiry checks" || fail "expiry checks"
tb_stop || fail "trustbox exited non-zero (short)"
finish
