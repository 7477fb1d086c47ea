#!/usr/bin/env bash
# The browser of the end-to-end tests (tests/browser/): Debian's `chromium` package, driven by
# Playwright through its executable path (no browser is ever downloaded by Playwright).
#
#   scripts/browser.sh          install chromium when /usr/bin/chromium is missing; print its version
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/env.sh"
LOG="$CHAT_VAR_DIR/log"; mkdir -p "$LOG"
CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"

if [ ! -x "$CHROMIUM" ]; then
  command -v apt-get >/dev/null || { echo "[browser] ERROR: apt-get not found: install chromium by hand" >&2; exit 1; }
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "[browser] installing Debian's chromium"
  if ! $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >"$LOG/apt-chromium.log" 2>&1; then
    $sudo apt-get update >>"$LOG/apt-chromium.log" 2>&1 || true
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium >>"$LOG/apt-chromium.log" 2>&1 \
      || { echo "[browser] ERROR: could not install chromium (see $LOG/apt-chromium.log)" >&2; exit 1; }
  fi
fi
echo "[browser] $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
