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
. "$(dirname "$0")/lib.sh"

# One phase, inside the namespaces: $2 = dns | hosts, $3 = the outer work directory.
if [ "${1:-}" = inner ]; then
  mode=$2 work=$3
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
    dns='dns { listen = { "127.0.0.1:0" }, iterate = false, zones = { { name = "ssrf.test", records = {
      "@ 60 IN SOA ns.ssrf.test. hostmaster.ssrf.test. 1 3600 600 86400 60", "@ NS ns", "ns A 1.2.3.4",
      "* A 1.2.3.4", "internal A 127.0.0.1", "@ CAA 0 issue \"trustbox.test\"" } } } }'
  fi
  # A private network namespace: the fixed port collides with nothing.
  cat > "$work/$mode.lua" <<LUA
core { data_dir = "$work/data-$mode" }
listen { name = "https", address = "127.0.0.1", port = 14000, tls = true }
$dns
acme { policy = "strict", http01_port = 80 }
LUA
  "$TRUSTBOX" root -c "$work/$mode.lua" > "$work/root-$mode.pem" || die "trustbox root ($mode)"
  tb_start "$work/$mode.lua"
  ACME_DIR="https://127.0.0.1:14000/dir" ACME_CA="$work/root-$mode.pem" \
    python3 -W ignore "$TB_SOURCE_DIR/tests/integration/acme_validation_checks.py" ssrf || fail "ssrf checks ($mode)"
  tb_stop || fail "trustbox exited non-zero ($mode)"
  finish
fi

[ "$(id -u)" = 0 ] || skip "needs root for network namespaces"
need unshare util-linux
need ip iproute2
need mount mount
need_py cryptography python3-cryptography
work=$TB_WORK
chmod 755 "$work"

if unshare -n bash "$0" inner dns "$work"; then ok "strict policy with trustbox's resolver"
else fail "names from trustbox's DNS zone"; fi
if unshare -mn bash "$0" inner hosts "$work"; then ok "strict policy without a resolver (getaddrinfo results checked)"
else fail "no resolver: getaddrinfo and /etc/hosts"; fi
finish
