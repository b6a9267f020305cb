#!/usr/bin/env bash
# Installs what the tests need beyond Go, idempotently (fast when already
# there): the official Azure Batch SDK for compat/ (pinned by
# compat/package-lock.json), the Azurite storage emulator for shared/blob,
# and for the portal's browser test (e2e/portal_test.go) playwright-core
# (pinned by e2e/portal/package-lock.json) and Debian's Chromium.
# Used by `make test` and by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

# compat/: npm ci when node_modules is missing or older than the lock file.
if [ -f compat/package-lock.json ] && { [ ! -d compat/node_modules ] || [ compat/package-lock.json -nt compat/node_modules ]; }; then
  (cd compat && npm ci --no-audit --no-fund --loglevel=error)
fi

# e2e/portal: playwright-core (it never downloads a browser; the test drives
# Debian's Chromium).
if [ -f e2e/portal/package-lock.json ] && { [ ! -d e2e/portal/node_modules ] || [ e2e/portal/package-lock.json -nt e2e/portal/node_modules ]; }; then
  (cd e2e/portal && npm ci --no-audit --no-fund --loglevel=error)
fi

# Debian's Chromium for the portal's browser test, at /usr/bin/chromium.
# apt-get update only when the install fails (a fresh machine's lists are
# stale or missing). Needs root (as CI runs) or sudo; a test run without Chromium
# fails with a message that says so.
if [ ! -x /usr/bin/chromium ]; then
  sudo=""
  if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null; then sudo="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  if ! $sudo apt-get install -y --no-install-recommends chromium; then
    $sudo apt-get update
    $sudo apt-get install -y --no-install-recommends chromium
  fi
fi

# Azurite, pinned; keep in step with shared/blob/azuritetest.Version (a test
# checks). 3.35.0 is the last release that runs on Node 20. Tests find it at
# $HOME/.cache/natch-azurite/node_modules/.bin/azurite-blob, or at $AZURITE_BIN.
AZURITE_VERSION=3.35.0
AZURITE_PREFIX="$HOME/.cache/natch-azurite"
if [ "$("$AZURITE_PREFIX/node_modules/.bin/azurite-blob" --version 2>/dev/null)" != "$AZURITE_VERSION" ]; then
  npm install --prefix "$AZURITE_PREFIX" --no-audit --no-fund --loglevel=error "azurite@$AZURITE_VERSION" >/dev/null
fi
