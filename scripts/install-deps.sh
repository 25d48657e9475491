#!/usr/bin/env bash
# Installs what peercall needs to build, run and test on Debian 12, skipping what is there.
set -euo pipefail

packages=(
  # build
  pkg-config cmake libclang1-14 libclang-dev libasound2-dev libvpx-dev
  # echo cancellation, noise suppression, gain control (WebRTC's audio processing 0.3)
  libwebrtc-audio-processing-dev
  # run and test: audio through a PulseAudio null sink, the window under Xvfb, screenshots
  pulseaudio pulseaudio-utils libasound2-plugins xvfb xauth xdotool imagemagick vpx-tools
  # screen sharing tests: monitors on an Xvfb screen (xrandr --setmonitor)
  x11-xserver-utils
  # the browser tests (headless Chromium with a fake camera and microphone) and their screenshots
  chromium fonts-dejavu-core
  # the impaired-network tests: namespaces, random loss, bandwidth caps, offloads off
  iproute2 nftables ethtool
  # NAT and relay tests: a TURN server (started by the test, never as a service)
  coturn
  # desktop notifications: a session bus (the notification test starts its own dbus-daemon)
  dbus-daemon
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# The socket.io test servers (tests/socketio): node and the exact npm packages of its lock file.
if ! command -v npm >/dev/null; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends nodejs npm
fi
socketio="$(dirname "$0")/../tests/socketio"
if [ ! -f "$socketio/node_modules/.package-lock.json" ] \
  || [ "$socketio/package-lock.json" -nt "$socketio/node_modules/.package-lock.json" ]; then
  (cd "$socketio" && npm ci --no-audit --no-fund --loglevel=error)
fi
if ! command -v cargo >/dev/null; then
  echo "peercall needs Rust 1.95 or newer: https://rustup.rs" >&2
  exit 1
fi
