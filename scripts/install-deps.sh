#!/usr/bin/env bash
# Installs what peercall needs to build, run and test on Debian 12, skipping what is there.
set -euo pipefail

packages=(
  # build
  pkg-config cmake libclang1-14 libclang-dev libasound2-dev libvpx-dev
  # run and test: audio through a PulseAudio null sink, the window under Xvfb, screenshots
  pulseaudio pulseaudio-utils libasound2-plugins xvfb xauth xdotool imagemagick vpx-tools
  # the browser tests (headless Chromium with a fake camera and microphone) and their screenshots
  chromium fonts-dejavu-core
  # the impaired-network tests: namespaces, random loss, bandwidth caps, offloads off
  iproute2 nftables ethtool
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
if ! command -v cargo >/dev/null; then
  echo "peercall needs Rust 1.95 or newer: https://rustup.rs" >&2
  exit 1
fi
