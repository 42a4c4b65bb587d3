#!/bin/sh
# Entry point of compose's two trustbox services (see compose.yaml).
#   trustbox-start helper: exports the helper's root CA (only that, not its
#     store) to $TRUSTBOX_HELPER_CA on the helper-ca volume, then runs the helper;
#   trustbox-start leader: waits for that root (the leader reads it at start to
#     trust the helper's certificate), then runs trustbox as the DAP leader.
set -eu
ca=${TRUSTBOX_HELPER_CA:-/helper-ca/root.pem}
case ${1:-} in
helper)
  trustbox root -c /etc/trustbox/helper.lua > "$ca.tmp"
  mv "$ca.tmp" "$ca"
  exec trustbox run -c /etc/trustbox/helper.lua ;;
leader)
  i=0
  until [ -s "$ca" ]; do
    i=$((i + 1))
    [ "$i" -le 300 ] || { echo "trustbox-start: no helper root at $ca after 300 s" >&2; exit 1; }
    [ "$i" != 1 ] || echo "trustbox-start: waiting for the helper's root at $ca"
    sleep 1
  done
  exec trustbox run -c /etc/trustbox/trustbox.lua ;;
*)
  echo "usage: trustbox-start leader|helper" >&2
  exit 2 ;;
esac
