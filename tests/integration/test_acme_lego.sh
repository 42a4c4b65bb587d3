#!/usr/bin/env bash
# ACME with lego (EC P-256 account key, ES256): http-01, then tls-alpn-01,
# renew, revoke. Each chain verified against `trustbox root`; profiles
# checked with openssl x509. Also times a loop of issuances.
set -euo pipefail
: "${TRUSTBOX:?TRUSTBOX must point at the trustbox binary}"
if ! command -v lego >/dev/null; then
  apt-get install -y lego >/dev/null 2>&1 || { echo "lego not available: skipped"; exit 0; }
fi
work=$(mktemp -d)
pid=""
cleanup() {
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
for _ in $(seq 50); do
  curl -sf --cacert root.pem "https://127.0.0.1:$https_port/dir" > dir.json 2>/dev/null && break
  sleep 0.2
done
grep -q renewalInfo dir.json || fail "directory not served"

lg() {
  LEGO_CA_CERTIFICATES="$work/root.pem" lego --server "https://127.0.0.1:$https_port/dir" --accept-tos \
    --email a@b.test --path "$work/lego" "$@"
}
check_cert() { # name days
  local crt="lego/certificates/$1.crt"
  [ -f "$crt" ] || fail "$1: no certificate"
  awk 'BEGIN{n=0} /BEGIN CERT/{n++} n>=2{print}' "$crt" > chain.pem
  openssl verify -CAfile root.pem -untrusted chain.pem "$crt" >/dev/null || fail "$1: chain does not verify"
  openssl x509 -in "$crt" -noout -ext subjectAltName | grep -q "DNS:$1" || fail "$1: SAN"
  local nb na
  nb=$(date -d "$(openssl x509 -in "$crt" -noout -startdate | cut -d= -f2)" +%s)
  na=$(date -d "$(openssl x509 -in "$crt" -noout -enddate | cut -d= -f2)" +%s)
  [ $(( (na - nb + 1) / 86400 )) = "$2" ] || fail "$1: validity $(( (na - nb + 1) / 86400 )) days, want $2"
}

lg --domains b.lab.test --http --http.port "127.0.0.1:$http01_port" run > l1.out 2>&1 || { cat l1.out >&2; fail "lego http-01"; }
check_cert b.lab.test 90
grep -rqs '"EC PRIVATE KEY"\|BEGIN EC PRIVATE KEY' lego/accounts || fail "lego account key is not EC"
ok "lego run (http-01): chain verifies, SAN, 90 days"

lg --domains c.lab.test --tls --tls.port "127.0.0.1:$alpn_port" run > l2.out 2>&1 || { cat l2.out >&2; fail "lego tls-alpn-01"; }
check_cert c.lab.test 90
grep -q 'tls-alpn-01 for c.lab.test: valid' run.err || fail "tls-alpn-01 was not the method used"
ok "lego run (tls-alpn-01)"

s1=$(openssl x509 -in lego/certificates/b.lab.test.crt -noout -serial)
lg --domains b.lab.test --http --http.port "127.0.0.1:$http01_port" renew --days 365 --no-random-sleep > l3.out 2>&1 || { cat l3.out >&2; fail "lego renew"; }
s2=$(openssl x509 -in lego/certificates/b.lab.test.crt -noout -serial)
[ "$s1" != "$s2" ] || fail "renew kept the old certificate"
check_cert b.lab.test 90
ok "lego renew"

lg --domains c.lab.test revoke > l4.out 2>&1 || { cat l4.out >&2; fail "lego revoke"; }
ok "lego revoke"

# Timing: N sequential issuances (account reused), each a full newOrder -> http-01 -> finalize -> download.
n=${ACME_BENCH_N:-5}
t0=$(date +%s.%N)
for i in $(seq "$n"); do
  lg --domains "t$i.lab.test" --http --http.port "127.0.0.1:$http01_port" run > lt.out 2>&1 || { cat lt.out >&2; fail "timing run $i"; }
done
t1=$(date +%s.%N)
awk -v n="$n" -v a="$t0" -v b="$t1" 'BEGIN{printf "ok: %d sequential lego issuances in %.2f s (%.2f s each, client start-up included)\n", n, b - a, (b - a) / n}'

kill -TERM "$pid"; wait "$pid" || fail "trustbox exited non-zero"
pid=""
ok "clean stop"
