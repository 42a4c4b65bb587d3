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
: "${TRUSTBOX:?TRUSTBOX must point at the trustbox binary}"
for p in dehydrated uacme acme-tiny; do
  command -v "$p" >/dev/null || apt-get install -y "$p" >/dev/null 2>&1 || true
done
work=$(mktemp -d)
pid=""
web=""
alpn=""
cleanup() {
  if [ -n "$web" ]; then kill "$web" 2>/dev/null || true; fi
  if [ -n "$alpn" ]; then kill "$alpn" 2>/dev/null || true; fi
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid"; sleep 1; kill -9 "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"
fail() { echo "FAIL: $*" >&2; [ -f run.err ] && tail -30 run.err >&2; exit 1; }
ok() { echo "ok: $*"; }
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

https_port=$(freeport); http01_port=$(freeport); alpn_port=$(freeport)
cat > cfg.lua <<LUA
core { data_dir = "$work/data" }
listen { name = "https", address = "127.0.0.1", port = $https_port, tls = true }
dns { enabled = false }
acme { http01_port = $http01_port, tlsalpn01_port = $alpn_port }
LUA
"$TRUSTBOX" root -c cfg.lua > root.pem || fail "trustbox root"
"$TRUSTBOX" run -c cfg.lua > run.out 2> run.err &
pid=$!
dir_url="https://127.0.0.1:$https_port/dir"
for _ in $(seq 50); do
  curl -sf --cacert root.pem "$dir_url" > dir.json 2>/dev/null && break
  sleep 0.2
done
grep -q newOrder dir.json || fail "directory not served"

mkdir -p www/.well-known/acme-challenge
python3 -m http.server --bind 127.0.0.1 --directory "$work/www" "$http01_port" > web.log 2>&1 &
web=$!
chal="$work/www/.well-known/acme-challenge"

check_chain() { # file name
  awk 'BEGIN{n=0} /BEGIN CERT/{n++} n>=2{print}' "$1" > chain.pem
  [ -s chain.pem ] || fail "$2: no intermediate in the chain"
  openssl verify -CAfile root.pem -untrusted chain.pem "$1" >/dev/null || fail "$2: chain does not verify"
  openssl x509 -in "$1" -noout -ext subjectAltName | grep -q "DNS:$2" || fail "$2: SAN"
}

# 1. dehydrated
if command -v dehydrated >/dev/null; then
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
  dehydrated -f dh/config --register --accept-terms > dh1.out 2>&1 || { cat dh1.out >&2; fail "dehydrated --register"; }
  dehydrated -f dh/config -c > dh2.out 2>&1 || { cat dh2.out >&2; fail "dehydrated -c"; }
  check_chain dh/certs/dh.lab.test/fullchain.pem dh.lab.test
  openssl x509 -in dh/certs/dh.lab.test/cert.pem -noout -ext subjectAltName | grep -q "DNS:www.dh.lab.test" || fail "dehydrated: second SAN"
  serial=$(openssl x509 -in dh/certs/dh.lab.test/cert.pem -noout -serial | cut -d= -f2)
  dehydrated -f dh/config --revoke dh/certs/dh.lab.test/cert.pem > dh3.out 2>&1 || { cat dh3.out >&2; fail "dehydrated --revoke"; }
  curl -sf --cacert root.pem "https://127.0.0.1:$https_port/acme/crl" -o crl.der || fail "crl"
  openssl crl -inform DER -in crl.der -noout -text | tr -d ' ' | grep -qi "SerialNumber:$serial" || fail "dehydrated: revoked serial not in the CRL"
  ok "dehydrated: register, issue (2 names, http-01), chain verifies, revoke, serial in the CRL"
else
  echo "dehydrated not available: skipped"
fi

# 2. uacme (GnuTLS reads only the system bundle: give it ours in a private mount namespace)
if command -v uacme >/dev/null && unshare -m true 2>/dev/null; then
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
  ua -v -c ua-rsa -y new ua@lab.test > u1.out 2>&1 || { cat u1.out >&2; fail "uacme new (RSA)"; }
  ua -v -c ua-rsa issue ua.lab.test > u2.out 2>&1 || { cat u2.out >&2; fail "uacme issue (RSA)"; }
  check_chain ua-rsa/ua.lab.test/cert.pem ua.lab.test
  openssl x509 -in ua-rsa/ua.lab.test/cert.pem -noout -text | grep -q 'rsaEncryption' || fail "uacme: RSA certificate key"
  ok "uacme: RSA account, issue over http-01 via the hook, chain verifies"

  ua -v -c ua-ec -t EC -b 384 -y new > u3.out 2>&1 || { cat u3.out >&2; fail "uacme new (EC P-384)"; }
  grep -q 'secp384r1\|P-384' <(openssl pkey -in ua-ec/private/key.pem -noout -text 2>/dev/null) || fail "uacme: account key is not P-384"
  ua -v -c ua-ec -t EC -b 384 issue ue.lab.test www.ue.lab.test > u4.out 2>&1 || { cat u4.out >&2; fail "uacme issue (ES384)"; }
  check_chain ua-ec/ue.lab.test/cert.pem ue.lab.test
  ua -v -c ua-ec -t EC -b 384 revoke ua-ec/ue.lab.test/cert.pem > u5.out 2>&1 || { cat u5.out >&2; fail "uacme revoke"; }
  ua -v -c ua-ec -t EC -b 384 -y deactivate > u6.out 2>&1 || { cat u6.out >&2; fail "uacme deactivate"; }
  ok "uacme: EC P-384 account (ES384), issue 2 names, revoke, deactivate"

  # tls-alpn-01 through ualpn (uacme's own responder) and its hook script
  if command -v ualpn >/dev/null && [ -f /usr/share/uacme/ualpn.sh ]; then
    ualpn -b "127.0.0.1@$alpn_port" -c 127.0.0.1@9 -s "$work/ualpn.sock" -l "$work/ualpn.log" > /dev/null 2>&1 &
    alpn=$!
    sed "s#| ualpn)#| ualpn -s $work/ualpn.sock)#" /usr/share/uacme/ualpn.sh > ahook.sh
    chmod +x ahook.sh
    for _ in $(seq 50); do [ -S ualpn.sock ] && break; sleep 0.1; done
    unshare -m sh -c 'mount --bind "$0" /etc/ssl/certs/ca-certificates.crt && exec uacme "$@"' "$work/root.pem" \
      -a "$dir_url" -h "$work/ahook.sh" -v -c ua-rsa issue alpn.lab.test > u7.out 2>&1 || { cat u7.out ualpn.log >&2; fail "uacme issue (tls-alpn-01 via ualpn)"; }
    check_chain ua-rsa/alpn.lab.test/cert.pem alpn.lab.test
    grep -q 'tls-alpn-01 for alpn.lab.test: valid' run.err || fail "tls-alpn-01 was not the method used for alpn.lab.test"
    kill "$alpn"; wait "$alpn" 2>/dev/null || true
    alpn=""
    ok "uacme + ualpn: tls-alpn-01 (RFC 8737), chain verifies"
  fi
else
  echo "uacme (or unshare) not available: skipped"
fi

# 3. acme-tiny: RSA-4096 account, CSR with an empty subject and only SANs
if command -v acme-tiny >/dev/null; then
  openssl genrsa -out tiny-account.key 4096 2>/dev/null
  openssl genrsa -out tiny-domain.key 2048 2>/dev/null
  openssl req -new -key tiny-domain.key -subj / -addext "subjectAltName=DNS:tiny.lab.test,DNS:www.tiny.lab.test" -out tiny.csr 2>/dev/null \
    || fail "openssl req with an empty subject"
  [ -z "$(openssl req -in tiny.csr -noout -subject | sed 's/^subject=//; s/ //g')" ] || fail "CSR subject is not empty"
  SSL_CERT_FILE="$work/root.pem" acme-tiny --account-key tiny-account.key --csr tiny.csr --acme-dir "$chal" \
    --directory-url "$dir_url" --disable-check --contact mailto:tiny@lab.test > tiny.crt 2> tiny.err \
    || { cat tiny.err >&2; fail "acme-tiny"; }
  check_chain tiny.crt tiny.lab.test
  subj=$(openssl x509 -in tiny.crt -noout -subject | sed 's/^subject=//; s/ //g')
  [ -z "$subj" ] || [ "$subj" = "CN=tiny.lab.test" ] || fail "acme-tiny: unexpected subject $subj"
  ok "acme-tiny: RSA-4096 account (RS256), empty-subject CSR, chain verifies (subject '${subj}')"
else
  echo "acme-tiny not available: skipped"
fi

kill "$web"; wait "$web" 2>/dev/null || true
web=""

# 4. protocol edges with the hand-made client (it serves http-01 itself)
if python3 -c 'import cryptography' 2>/dev/null; then
  ACME_DIR="$dir_url" ACME_CA="$work/root.pem" HTTP01_PORT=$http01_port \
    python3 -W ignore "${TB_SOURCE_DIR:-$(dirname "$0")/../..}/tests/integration/test_acme_client.py" qa || fail "qa checks"
fi

kill -TERM "$pid"; wait "$pid" || fail "trustbox exited non-zero"
pid=""
ok "clean stop"

# 5. lifetimes: a second CA whose pending orders and authorizations live 4 s
if python3 -c 'import cryptography' 2>/dev/null; then
  cat > short.lua <<LUA
core { data_dir = "$work/data-short" }
listen { name = "https", address = "127.0.0.1", port = $https_port, tls = true }
dns { enabled = false }
acme { http01_port = $http01_port, order_lifetime_seconds = 4, authz_lifetime_seconds = 4 }
LUA
  "$TRUSTBOX" root -c short.lua > root2.pem || fail "trustbox root (short)"
  "$TRUSTBOX" run -c short.lua > run.out 2> run.err &
  pid=$!
  for _ in $(seq 50); do
    curl -sf --cacert root2.pem "$dir_url" > /dev/null 2>&1 && break
    sleep 0.2
  done
  ACME_DIR="$dir_url" ACME_CA="$work/root2.pem" HTTP01_PORT=$http01_port \
    python3 -W ignore "${TB_SOURCE_DIR:-$(dirname "$0")/../..}/tests/integration/test_acme_client.py" expiry || fail "expiry checks"
  kill -TERM "$pid"; wait "$pid" || fail "trustbox exited non-zero (short)"
  pid=""
fi
