#!/usr/bin/env bash
# docs/configuration.md is what `trustbox config doc` prints: regenerate it with
#   build/trustbox config doc > docs/configuration.md
# whenever an option table changes.
set -euo pipefail
. "$(dirname "$0")/lib.sh"
if diff -u "$TB_SOURCE_DIR/docs/configuration.md" <("$TRUSTBOX" config doc); then
  ok "docs/configuration.md is what trustbox config doc prints"
else
  fail "docs/configuration.md is out of date; run: trustbox config doc > docs/configuration.md"
fi
finish
