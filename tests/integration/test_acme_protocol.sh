#!/usr/bin/env bash
# ACME protocol edges with a hand-made client (python3 + cryptography):
# malformed and hostile JWS requests answered with the right problem type
# and no state change; profiles (invalidProfile, shortlived IP orders,
# tlsserver without CN); orderNotReady; wildcard needs dns-01; account update,
# deactivation and keyChange; revocation by certificate key and reason codes;
# ARI renewalInfo and `replaces` (alreadyReplaced); EAB; rate limits.
set -euo pipefail
: "${TRUSTBOX:?TRUSTBOX must point at the trustbox binary}"
if ! python3 -c 'import cryptography' 2>/dev/null; then
  apt-get install -y python3-cryptography >/dev/null 2>&1 || true
  python3 -c 'import cryptography' 2>/dev/null || { echo "python3 cryptography not available: skipped"; exit 0; }
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
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

https_port=$(freeport); http01_port=$(freeport)
cat > cfg.lua <<LUA
core { data_dir = "$work/data" }
listen { name = "https", address = "127.0.0.1", port = $https_port, tls = true }
dns { enabled = false }
acme {
  http01_port = $http01_port,
  eab_keys = { ["kid-1"] = "c2VjcmV0LWhtYWMta2V5LWZvci10ZXN0cy0wMDAwMDAwMA" },
  rate_limits = { new_orders_per_account_per_hour = 40, failed_validations_per_identifier_per_hour = 1 },
}
LUA
"$TRUSTBOX" root -c cfg.lua > root.pem || fail "trustbox root"
"$TRUSTBOX" run -c cfg.lua > run.out 2> run.err &
pid=$!
for _ in $(seq 50); do
  curl -sf --cacert root.pem "https://127.0.0.1:$https_port/dir" > /dev/null 2>&1 && break
  sleep 0.2
done
ACME_DIR="https://127.0.0.1:$https_port/dir" ACME_CA="$work/root.pem" HTTP01_PORT=$http01_port \
  python3 -W ignore "${TB_SOURCE_DIR:-$(dirname "$0")/../..}/tests/integration/test_acme_client.py" protocol || fail "protocol checks"
kill -TERM "$pid"; wait "$pid" || fail "trustbox exited non-zero"
pid=""
echo "ok: clean stop"

# Configuration errors name the option.
printf 'core { data_dir = "%s/data2" }\nacme { default_profile = "nope" }\n' "$work" > bad.lua
set +e
"$TRUSTBOX" run -c bad.lua > /dev/null 2> bad.err; rc=$?
set -e
[ "$rc" = 2 ] || fail "bad acme config: exit $rc, want 2"
grep -q 'acme.default_profile' bad.err || fail "config error does not name the option: $(cat bad.err)"
echo "ok: configuration error names acme.default_profile"

# The strict policy, on a fresh CA without a resolver.
cat > strict.lua <<LUA
core { data_dir = "$work/data3" }
listen { name = "https", address = "127.0.0.1", port = $https_port, tls = true }
dns { enabled = false }
acme { http01_port = $http01_port, policy = "strict" }
LUA
"$TRUSTBOX" root -c strict.lua > root3.pem || fail "trustbox root (strict)"
"$TRUSTBOX" run -c strict.lua > run.out 2> run.err &
pid=$!
for _ in $(seq 50); do
  curl -sf --cacert root3.pem "https://127.0.0.1:$https_port/dir" > /dev/null 2>&1 && break
  sleep 0.2
done
ACME_DIR="https://127.0.0.1:$https_port/dir" ACME_CA="$work/root3.pem" HTTP01_PORT=$http01_port \
  python3 -W ignore "${TB_SOURCE_DIR:-$(dirname "$0")/../..}/tests/integration/test_acme_client.py" strict || fail "strict checks"
kill -TERM "$pid"; wait "$pid" || fail "trustbox exited non-zero (strict)"
pid=""

# The lab switches.
cat > lab.lua <<LUA
core { data_dir = "$work/data4" }
listen { name = "https", address = "127.0.0.1", port = $https_port, tls = true }
dns { enabled = false }
acme { lab_always_valid = true, lab_reject_nonce_fraction = 0.3, lab_validation_delay_ms = 300 }
LUA
"$TRUSTBOX" root -c lab.lua > root4.pem || fail "trustbox root (lab)"
"$TRUSTBOX" run -c lab.lua > run.out 2> run.err &
pid=$!
for _ in $(seq 50); do
  curl -sf --cacert root4.pem "https://127.0.0.1:$https_port/dir" > /dev/null 2>&1 && break
  sleep 0.2
done
ACME_DIR="https://127.0.0.1:$https_port/dir" ACME_CA="$work/root4.pem" \
  python3 -W ignore "${TB_SOURCE_DIR:-$(dirname "$0")/../..}/tests/integration/test_acme_client.py" lab || fail "lab checks"
kill -TERM "$pid"; wait "$pid" || fail "trustbox exited non-zero (lab)"
pid=""
