#!/usr/bin/env bash
# ACME with lego (EC P-256 account key, ES256): http-01, then tls-alpn-01,
# renew, revoke. Each chain verified against `trustbox root`; profiles
# checked with openssl x509. Also times a loop of issuances.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need lego
need openssl
need curl
work=$TB_WORK

https_port=$(free_port); http01_port=$(free_port); alpn_port=$(free_port)
cat > cfg.lua <<LUA
core { data_dir = "$work/data" }
listen { name = "https", address = "127.0.0.1", port = $https_port, tls = true }
dns { enabled = false }
acme { http01_port = $http01_port, tlsalpn01_port = $alpn_port }
LUA
"$TRUSTBOX" root -c cfg.lua > root.pem || die "trustbox root"
tb_start cfg.lua
curl -sf --cacert root.pem "https://127.0.0.1:$https_port/dir" > dir.json || die "directory not served"
grep -q renewalInfo dir.json || die "directory lacks renewalInfo"

lg() {
  LEGO_CA_CERTIFICATES="$work/root.pem" lego --server "https://127.0.0.1:$https_port/dir" --accept-tos \
    --email a@b.test --path "$work/lego" "$@"
}
check_cert() { # name days
  local crt="lego/certificates/$1.crt"
  [ -f "$crt" ] || die "$1: no certificate"
  awk 'BEGIN{n=0} /BEGIN CERT/{n++} n>=2{print}' "$crt" > chain.pem
  openssl verify -CAfile root.pem -untrusted chain.pem "$crt" >/dev/null || fail "$1: chain does not verify"
  openssl x509 -in "$crt" -noout -ext subjectAltName | grep -q "DNS:$1" || fail "$1: SAN"
  local nb na
  nb=$(date -d "$(openssl x509 -in "$crt" -noout -startdate | cut -d= -f2)" +%s)
  na=$(date -d "$(openssl x509 -in "$crt" -noout -enddate | cut -d= -f2)" +%s)
  [ $(( (na - nb + 1) / 86400 )) = "$2" ] || fail "$1: validity $(( (na - nb + 1) / 86400 )) days, want $2"
}

lg --domains b.lab.test --http --http.port "127.0.0.1:$http01_port" run > l1.out 2>&1 || { cat l1.out >&2; die "lego http-01"; }
check_cert b.lab.test 90
grep -rqs '"EC PRIVATE KEY"\|BEGIN EC PRIVATE KEY' lego/accounts || fail "lego account key is not EC"
ok "lego run (http-01): chain verifies, SAN, 90 days"

lg --domains c.lab.test --tls --tls.port "127.0.0.1:$alpn_port" run > l2.out 2>&1 || { cat l2.out >&2; die "lego tls-alpn-01"; }
check_cert c.lab.test 90
grep -q 'tls-alpn-01 for c.lab.test: valid' run.err || fail "tls-alpn-01 was not the method used"
ok "lego run (tls-alpn-01)"

s1=$(openssl x509 -in lego/certificates/b.lab.test.crt -noout -serial)
lg --domains b.lab.test --http --http.port "127.0.0.1:$http01_port" renew --days 365 --no-random-sleep > l3.out 2>&1 || { cat l3.out >&2; die "lego renew"; }
s2=$(openssl x509 -in lego/certificates/b.lab.test.crt -noout -serial)
[ "$s1" != "$s2" ] || fail "renew kept the old certificate"
check_cert b.lab.test 90
ok "lego renew"

lg --domains c.lab.test revoke > l4.out 2>&1 || { cat l4.out >&2; die "lego revoke"; }
ok "lego revoke"

# Timing: N sequential issuances (account reused), each a full newOrder -> http-01 -> finalize -> download.
n=${ACME_BENCH_N:-5}
t0=$(date +%s.%N)
for i in $(seq "$n"); do
  lg --domains "t$i.lab.test" --http --http.port "127.0.0.1:$http01_port" run > lt.out 2>&1 || { cat lt.out >&2; die "timing run $i"; }
done
t1=$(date +%s.%N)
awk -v n="$n" -v a="$t0" -v b="$t1" 'BEGIN{printf "ok: %d sequential lego issuances in %.2f s (%.2f s each, client start-up included)\n", n, b - a, (b - a) / n}'

tb_stop && ok "clean stop" || fail "trustbox exited non-zero"
finish
