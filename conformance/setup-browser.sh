#!/usr/bin/env bash
# Installs what the STOMP browser conformance test (conformance/stomp/test_10_websocket_browser.py)
# needs on a fresh Debian machine: Debian's Chromium (/usr/bin/chromium) and the npm packages
# of conformance/browser (@stomp/stompjs, playwright-core). Node.js and npm must be present.
set -euo pipefail
cd "$(dirname "$0")"

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
if ! command -v chromium >/dev/null 2>&1; then
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
cd browser
if [[ -f package-lock.json ]]; then
  npm ci --no-audit --no-fund
else
  npm install --no-audit --no-fund
fi
