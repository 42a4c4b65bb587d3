#!/usr/bin/env bash
# Core end to end: the CLI, `trustbox run` with the embedded default config,
# /healthz, /metrics and /api/v1/status over HTTPS trusted through
# `trustbox root`, key reuse across a restart, SIGTERM -> exit 0. Inside a private
# network namespace: the default config iterates from the built-in root hints, and
# its fixed ports (14000, 14080, 5353, 8853) collide with nothing there.
set -euo pipefail
. "$(dirname "$0")/netns.sh"
. "$(dirname "$0")/lib.sh"
need curl
need openssl
need ip iproute2
ip link set lo up || die "cannot bring lo up in the namespace"

# --- CLI ---
"$TRUSTBOX" version | grep -q '^trustbox [0-9]' || fail "version"
ok "version"
"$TRUSTBOX" --help | grep -q 'config check FILE' || fail "--help"
for c in run init root config version; do
  "$TRUSTBOX" $c --help >/dev/null || fail "$c --help exits non-zero"
done
ok "--help on every command"
set +e
"$TRUSTBOX" frobnicate 2>err.txt; rc=$?
set -e
[ "$rc" = 2 ] || fail "unknown command: exit $rc, want 2"
[ "$(wc -l < err.txt)" = 1 ] || fail "unknown command: want one error line, got: $(cat err.txt)"
ok "unknown command -> exit 2, one line"

printf 'listen { name = "x", port = "eighty" }\n' > bad.lua
set +e
"$TRUSTBOX" config check bad.lua 2>err.txt; rc=$?
set -e
[ "$rc" = 2 ] || fail "bad config: exit $rc, want 2"
grep -q 'listen.port: expected integer in \[0, 65535\], got string "eighty"' err.txt || fail "bad config message: $(cat err.txt)"
grep -q 'bad.lua:1:' err.txt || fail "bad config message lacks file:line: $(cat err.txt)"
ok "config check names file, line, option, type and value"

"$TRUSTBOX" init starter >/dev/null || fail "init"
[ -f starter/trustbox.lua ] || fail "init wrote no file"
"$TRUSTBOX" config check starter/trustbox.lua >/dev/null || fail "the starter file does not pass config check"
set +e
"$TRUSTBOX" init starter >/dev/null 2>&1; rc=$?
set -e
[ "$rc" = 1 ] || fail "init over an existing file: exit $rc, want 1"
ok "init writes a starter that passes config check, and refuses to overwrite"

"$TRUSTBOX" config dump | grep -q 'port = 14000' || fail "config dump lacks the default listener"
printf 'core { log_level = "debug" }\n' > user.lua
"$TRUSTBOX" config dump -c user.lua | grep -q 'log_level = "debug"' || fail "config dump does not apply the user file"
ok "config dump"

# --- run with the embedded default config ---
"$TRUSTBOX" root > root1.pem || fail "root"
openssl x509 -in root1.pem -noout -subject | grep -q 'root CA' || fail "root is not a certificate"
tb_start "" run.out run.err
grep -q 'is running' run.out || fail "banner lacks 'is running'"
grep -q 'root CA SHA-256' run.out || fail "banner lacks the root fingerprint"
grep -q '^next: ' run.out || fail "banner lacks the next command"
base=https://127.0.0.1:14000

body=$(curl -sS --cacert <("$TRUSTBOX" root) "$base/healthz") || fail "curl /healthz over HTTPS"
[ "$body" = ok ] || fail "/healthz body: $body"
ok "/healthz over HTTPS with curl --cacert <(trustbox root)"

if curl -sS -o /dev/null "$base/healthz" 2>/dev/null; then fail "curl without the root trusted the server"; fi
ok "the certificate does not verify without trustbox's root"

curl -sS --cacert root1.pem "$base/metrics" > metrics.txt || fail "/metrics"
grep -q '^tb_build_info{version="' metrics.txt || fail "/metrics lacks build info"
grep -Eq 'tb_http_requests_total\{route="/healthz",code="2xx",protocol="(http/1.1|h2)"\} [1-9]' metrics.txt || fail "/metrics lacks the /healthz count"
grep -q '^tb_store_commits_total ' metrics.txt || fail "/metrics lacks store commits"
ok "/metrics"

curl -sS --cacert root1.pem "$base/api/v1/status" > status.json || fail "/api/v1/status"
python3 - status.json <<'PY' || fail "/api/v1/status content"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["version"], s
names = [x["name"] for x in s["subsystems"]]
assert "status" in names, names
ports = sorted(l["port"] for l in s["listeners"])
assert ports == [14000, 14080], ports
assert len(s["root_sha256"]) == 95, s["root_sha256"]
PY
ok "/api/v1/status lists subsystems and listeners"

code=$(curl -sS --cacert root1.pem -o nf.json -w '%{http_code}' "$base/no/such/thing")
[ "$code" = 404 ] || fail "unknown path: $code"
grep -q '"status":404' nf.json || fail "404 is not a problem document: $(cat nf.json)"
code=$(curl -sS --cacert root1.pem -o /dev/null -w '%{http_code}' -X DELETE "$base/healthz")
[ "$code" = 405 ] || fail "DELETE /healthz: $code, want 405"
[ "$(curl -sS http://127.0.0.1:14080/healthz)" = ok ] || fail "plain HTTP listener"
ok "404, 405 and the plain listener"

curl -sS --cacert root1.pem "$base/" | grep -q '<title>trustbox</title>' || fail "web UI at /"
curl -sS --cacert root1.pem "$base/api/v1/root.pem" | cmp -s - root1.pem || fail "/api/v1/root.pem differs from trustbox root"
ok "web UI page and root download"

kill -HUP "$TB_PID"
sleep 0.3
kill -0 "$TB_PID" 2>/dev/null || die "SIGHUP stopped the process"
ok "SIGHUP reload keeps running"

rc=0
tb_stop TERM || rc=$?
[ "$rc" = 0 ] || fail "exit status after SIGTERM: $rc"
ok "SIGTERM -> exit 0"

# --- restart: the same CA is reused ---
tb_start "" run2.out run2.err
[ "$(grep 'root CA SHA-256' run.out)" = "$(grep 'root CA SHA-256' run2.out)" ] || fail "root changed across restart"
"$TRUSTBOX" root | cmp -s - root1.pem || fail "trustbox root changed across restart"
curl -sS --cacert root1.pem "$base/healthz" >/dev/null || fail "after restart"
rc=0
tb_stop INT || rc=$?
[ "$rc" = 0 ] || fail "exit status after SIGINT: $rc"
ok "restart reuses the CA; SIGINT -> exit 0"
finish
