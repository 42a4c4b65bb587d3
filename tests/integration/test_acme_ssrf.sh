#!/usr/bin/env bash
# Server-side request forgery through http-01 under the strict target policy.
# In a private network namespace (1.2.3.4 on lo, nothing else reachable), a
# strict CA validates names that resolve to 1.2.3.4, where an http-01 server
# redirects to 127.0.0.1, ::1, ::ffff:127.0.0.1, a name at 127.0.0.1 and a
# port other than 80/443; one name resolves to 127.0.0.1 itself. Every one
# must fail with a connection problem naming the refused address and port,
# the listeners on 127.0.0.1 / ::1 / 1.2.3.4:8080 must see no request, and a
# body fetched after a redirect is never quoted. Run twice: names from
# trustbox's own DNS zone, and without a resolver (getaddrinfo and a private
# /etc/hosts in a private mount namespace).
set -euo pipefail
: "${TRUSTBOX:?TRUSTBOX must point at the trustbox binary}"
src=${TB_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
fail() { echo "FAIL: $*" >&2; [ -n "${work:-}" ] && [ -f "$work/run.err" ] && tail -30 "$work/run.err" >&2; exit 1; }

# One phase, inside the namespaces: $1 = dns | hosts, $2 = work directory.
if [ "${1:-}" = inner ]; then
  mode=$2 work=$3
  pid=""
  trap '[ -n "$pid" ] && kill -9 "$pid" 2>/dev/null; true' EXIT
  ip link set lo up
  ip addr add 1.2.3.4/32 dev lo
  if [ "$mode" = hosts ]; then
    {
      echo "127.0.0.1 localhost"
      echo "::1 localhost"
      for l in ok redir-leak redir-ip redir-name redir-v6 redir-mapped redir-port; do echo "1.2.3.4 $l.ssrf.test"; done
      echo "127.0.0.1 internal.ssrf.test"
    } > "$work/hosts"
    mount --bind "$work/hosts" /etc/hosts
    dns='dns { enabled = false }'
  else
    dns='dns { listen = { "127.0.0.1:0" }, zones = { { name = "ssrf.test", records = {
      "@ 60 IN SOA ns.ssrf.test. hostmaster.ssrf.test. 1 3600 600 86400 60", "@ NS ns", "ns A 1.2.3.4",
      "* A 1.2.3.4", "internal A 127.0.0.1", "@ CAA 0 issue \"trustbox.test\"" } } } }'
  fi
  cat > "$work/$mode.lua" <<LUA
core { data_dir = "$work/data-$mode" }
listen { name = "https", address = "127.0.0.1", port = 14000, tls = true }
$dns
acme { policy = "strict", http01_port = 80 }
LUA
  "$TRUSTBOX" root -c "$work/$mode.lua" > "$work/root-$mode.pem" || fail "trustbox root ($mode)"
  "$TRUSTBOX" run -c "$work/$mode.lua" > "$work/run.out" 2> "$work/run.err" &
  pid=$!
  for _ in $(seq 50); do
    curl -sf --cacert "$work/root-$mode.pem" "https://127.0.0.1:14000/dir" > /dev/null 2>&1 && break
    sleep 0.2
  done
  ACME_DIR="https://127.0.0.1:14000/dir" ACME_CA="$work/root-$mode.pem" \
    python3 -W ignore "$src/tests/integration/acme_validation_checks.py" ssrf || fail "ssrf checks ($mode)"
  kill -TERM "$pid"; wait "$pid" || fail "trustbox exited non-zero ($mode)"
  pid=""
  exit 0
fi

[ "$(id -u)" = 0 ] || fail "needs root for network namespaces"
for t in unshare ip mount curl; do command -v "$t" > /dev/null || fail "$t not found"; done
if ! python3 -c 'import cryptography' 2>/dev/null; then
  apt-get install -y python3-cryptography > /dev/null 2>&1 || true
  python3 -c 'import cryptography' 2>/dev/null || fail "python3 cryptography not available"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"

unshare -n bash "$0" inner dns "$work" || fail "names from trustbox's DNS zone"
echo "ok: strict policy with trustbox's resolver"
unshare -mn bash "$0" inner hosts "$work" || fail "no resolver: getaddrinfo and /etc/hosts"
echo "ok: strict policy without a resolver (getaddrinfo results checked)"
