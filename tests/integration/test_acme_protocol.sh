#!/usr/bin/env bash
# ACME protocol edges with a hand-made client (python3 + cryptography):
# malformed and hostile JWS requests answered with the right problem type
# and no state change; profiles (invalidProfile, shortlived IP orders,
# tlsserver without CN); orderNotReady; wildcard needs dns-01; account update,
# deactivation and keyChange; revocation by certificate key and reason codes;
# ARI renewalInfo and `replaces` (alreadyReplaced); EAB; rate limits.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need_py cryptography python3-cryptography
need curl
work=$TB_WORK
client=$TB_SOURCE_DIR/tests/integration/test_acme_client.py

https_port=$(free_port); http01_port=$(free_port)
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
"$TRUSTBOX" root -c cfg.lua > root.pem || die "trustbox root"
tb_start cfg.lua
curl -sf --cacert root.pem "https://127.0.0.1:$https_port/dir" > /dev/null || die "directory not served (cfg.lua)"
ACME_DIR="https://127.0.0.1:$https_port/dir" ACME_CA="$work/root.pem" HTTP01_PORT=$http01_port \
  python3 -W ignore "$client" protocol && ok "protocol checks" || fail "protocol checks"
tb_stop && ok "clean stop" || fail "trustbox exited non-zero"

# Configuration errors name the option.
printf 'core { data_dir = "%s/data2" }\nacme { default_profile = "nope" }\n' "$work" > bad.lua
set +e
"$TRUSTBOX" run -c bad.lua > /dev/null 2> bad.err; rc=$?
set -e
[ "$rc" = 2 ] || fail "bad acme config: exit $rc, want 2"
grep -q 'acme.default_profile' bad.err && ok "configuration error names acme.default_profile" ||
  fail "config error does not name the option: $(cat bad.err)"

# The strict policy, on a fresh CA without a resolver.
cat > strict.lua <<LUA
core { data_dir = "$work/data3" }
listen { name = "https", address = "127.0.0.1", port = $https_port, tls = true }
dns { enabled = false }
acme { http01_port = $http01_port, policy = "strict" }
LUA
"$TRUSTBOX" root -c strict.lua > root3.pem || die "trustbox root (strict)"
tb_start strict.lua
curl -sf --cacert root3.pem "https://127.0.0.1:$https_port/dir" > /dev/null || die "directory not served (strict.lua)"
ACME_DIR="https://127.0.0.1:$https_port/dir" ACME_CA="$work/root3.pem" HTTP01_PORT=$http01_port \
  python3 -W ignore "$client" strict && ok "strict checks" || fail "strict checks"
tb_stop || fail "trustbox exited non-zero (strict)"

# The lab switches.
cat > lab.lua <<LUA
core { data_dir = "$work/data4" }
listen { name = "https", address = "127.0.0.1", port = $https_port, tls = true }
dns { enabled = false }
acme { lab_always_valid = true, lab_reject_nonce_fraction = 0.3, lab_validation_delay_ms = 300 }
LUA
"$TRUSTBOX" root -c lab.lua > root4.pem || die "trustbox root (lab)"
tb_start lab.lua
curl -sf --cacert root4.pem "https://127.0.0.1:$https_port/dir" > /dev/null || die "directory not served (lab.lua)"
ACME_DIR="https://127.0.0.1:$https_port/dir" ACME_CA="$work/root4.pem" \
  python3 -W ignore "$client" lab && ok "lab checks" || fail "lab checks"
tb_stop || fail "trustbox exited non-zero (lab)"
finish
