#!/usr/bin/env bash
# Caps on validations in flight. With max_validations = 3,
# max_validations_per_account = 2 and max_queued_validations = 3, challenge
# POSTs against a tarpit (accepts, never answers) on 127.0.0.1: one account
# holds at most 2 connections, all accounts at most 3; the queue drains in
# the end; a POST beyond the queue is answered 429 rateLimited with
# Retry-After and leaves the challenge pending. The failed-validation bucket
# (2 per name) is charged when a validation starts: a third concurrent
# validation of one name is refused.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
need_py cryptography python3-cryptography
work=$TB_WORK

https_port=$(free_port); tarpit_port=$(free_port)
cat > cfg.lua <<LUA
core { data_dir = "$work/data" }
listen { name = "https", address = "127.0.0.1", port = $https_port, tls = true }
dns { enabled = false }
acme {
  http01_port = $tarpit_port,
  validation_timeout_ms = 3000,
  max_validations = 3,
  max_validations_per_account = 2,
  max_queued_validations = 3,
  rate_limits = { failed_validations_per_identifier_per_hour = 2 },
}
LUA
"$TRUSTBOX" root -c cfg.lua > root.pem || die "trustbox root"
tb_start cfg.lua
ACME_DIR="https://127.0.0.1:$https_port/dir" ACME_CA="$work/root.pem" TARPIT_PORT=$tarpit_port \
  python3 -W ignore "$TB_SOURCE_DIR/tests/integration/acme_validation_checks.py" caps || fail "validation caps"
# Two validations still hang at the tarpit: stop must cancel them and exit cleanly.
if tb_stop; then ok "clean stop with validations in flight"; else fail "trustbox exited non-zero with validations in flight"; fi
finish
