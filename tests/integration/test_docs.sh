#!/usr/bin/env bash
# docs/configuration.md is what `trustbox config doc` prints: regenerate it with
#   build/trustbox config doc > docs/configuration.md
# whenever an option table changes.
set -euo pipefail
: "${TRUSTBOX:?}" "${TB_SOURCE_DIR:?}"
if ! diff -u "$TB_SOURCE_DIR/docs/configuration.md" <("$TRUSTBOX" config doc); then
  echo "FAIL: docs/configuration.md is out of date; run: trustbox config doc > docs/configuration.md" >&2
  exit 1
fi
echo "docs: 1 passed, 0 failed"
