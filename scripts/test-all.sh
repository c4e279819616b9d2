#!/usr/bin/env bash
# Installs what the tests need on a fresh Debian machine (apt, pip) and runs every test:
# formatting, lints, unit/property/channel tests, end-to-end tests, the conformance suite
# with third-party clients, and a build of the fuzz targets.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
# mosquitto-clients and libcoap3-bin: third-party clients of the conformance suite;
# libssl-dev and pkg-config: OpenSSL for DTLS; make: the jemalloc build (the binary's allocator).
APT_PACKAGES=(mosquitto-clients libcoap3-bin libssl-dev pkg-config make)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi
python3 -m pip install -q -r conformance/requirements.txt 2>/dev/null \
  || python3 -m pip install -q --break-system-packages -r conformance/requirements.txt
# Headless Chromium and @stomp/stompjs for the browser test.
bash conformance/setup-browser.sh

echo "== fmt"
cargo fmt --all -- --check
echo "== clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "== protocol crates stay pure (no tokio, no bus)"
for p in gw-mqtt gw-stomp gw-mqttsn gw-coap gw-lwm2m; do
  if cargo tree -p "$p" -e normal --prefix none | grep -qE '^(tokio|gw-core|rustls) '; then
    echo "$p depends on tokio/gw-core/rustls" >&2; exit 1
  fi
done
echo "== fuzz targets build"
cargo check --manifest-path fuzz/Cargo.toml --bins -q
echo "== cargo test"
cargo test --workspace --no-fail-fast
echo "== conformance (third-party clients)"
cargo build -p gw-server
GATEWAY_BIN="$PWD/target/debug/gateway" python3 -m pytest conformance -q -p no:cacheprovider
