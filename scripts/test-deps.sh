#!/usr/bin/env bash
# Installs what the tests need beyond Go, idempotently (fast when already
# there): the official Azure Batch SDK for compat/ (pinned by
# compat/package-lock.json) and the Azurite storage emulator for shared/blob.
# Used by `make test` and by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

# compat/: npm ci when node_modules is missing or older than the lock file.
if [ -f compat/package-lock.json ] && { [ ! -d compat/node_modules ] || [ compat/package-lock.json -nt compat/node_modules ]; }; then
  (cd compat && npm ci --no-audit --no-fund --loglevel=error)
fi

# Azurite, pinned; keep in step with shared/blob/azuritetest.Version (a test
# checks). 3.35.0 is the last release that runs on Node 20. Tests find it at
# $HOME/.cache/natch-azurite/node_modules/.bin/azurite-blob, or at $AZURITE_BIN.
AZURITE_VERSION=3.35.0
AZURITE_PREFIX="$HOME/.cache/natch-azurite"
if [ "$("$AZURITE_PREFIX/node_modules/.bin/azurite-blob" --version 2>/dev/null)" != "$AZURITE_VERSION" ]; then
  npm install --prefix "$AZURITE_PREFIX" --no-audit --no-fund --loglevel=error "azurite@$AZURITE_VERSION" >/dev/null
fi
