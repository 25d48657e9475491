#!/usr/bin/env bash
# After `cargo install --path .`: peercall in the desktop's menu, with its icon, for this user.
set -euo pipefail
cd "$(dirname "$0")/.."
data="${XDG_DATA_HOME:-$HOME/.local/share}"
install -Dm644 assets/peercall.desktop "$data/applications/peercall.desktop"
install -Dm644 assets/icons/peercall.svg "$data/icons/hicolor/scalable/apps/peercall.svg"
for size in 48 128 256; do
  install -Dm644 "assets/icons/peercall-$size.png" "$data/icons/hicolor/${size}x${size}/apps/peercall.png"
done
echo "peercall is in the menu (the binary must be on PATH: ~/.cargo/bin after cargo install)"
