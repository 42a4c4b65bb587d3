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
: "${TRUSTBOX:?TRUSTBOX must point at the trustbox binary}"
src=${TB_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
if ! python3 -c 'import cryptography' 2>/dev/null; then
  apt-get install -y python3-cryptography > /dev/null 2>&1 || true
  python3 -c 'import cryptography' 2>/dev/null || { echo "FAIL: python3 cryptography not available" >&2; exit 1; }
fi
command -v curl > /dev/null || { echo "FAIL: curl not found" >&2; exit 1; }
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

https_port=$(freeport); tarpit_port=$(freeport)
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
"$TRUSTBOX" root -c cfg.lua > root.pem || fail "trustbox root"
"$TRUSTBOX" run -c cfg.lua > run.out 2> run.err &
pid=$!
for _ in $(seq 50); do
  curl -sf --cacert root.pem "https://127.0.0.1:$https_port/dir" > /dev/null 2>&1 && break
  sleep 0.2
done
ACME_DIR="https://127.0.0.1:$https_port/dir" ACME_CA="$work/root.pem" TARPIT_PORT=$tarpit_port \
  python3 -W ignore "$src/tests/integration/acme_validation_checks.py" caps || fail "validation caps"
# Two validations still hang at the tarpit: stop must cancel them and exit cleanly.
kill -TERM "$pid"; wait "$pid" || fail "trustbox exited non-zero with validations in flight"
pid=""
echo "ok: clean stop with validations in flight"
