#!/usr/bin/env bash
# Regenerates the README's pictures from the tests that take them: the window under Xvfb (idle
# with the preview, calling, in a call, a room, a shared screen) and the browser page in a call.
# Usage: scripts/update-screenshots.sh   (needs what scripts/install-deps.sh installs)
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
shots="$target/tmp/screenshots"
cargo test --test ui_window -- --test-threads 1
PEERCALL_SCREENSHOT="$PWD/docs/screenshots/browser-call.png" \
  cargo test --test browser_call peercall_dials_a_browser_mutes_and_hangs_up
cp "$shots/idle.png" docs/screenshots/idle.png
cp "$shots/calling.png" docs/screenshots/calling.png
cp "$shots/in-call-1.png" docs/screenshots/in-call.png
cp "$shots/room-1.png" docs/screenshots/room.png
cp "$shots/share.png" docs/screenshots/share.png
echo "docs/screenshots/ updated from the tests"
