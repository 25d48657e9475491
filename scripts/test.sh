#!/usr/bin/env bash
# Runs every test: starts the PulseAudio null sink the audio-path tests play into, then cargo test.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=start-test-pulseaudio.sh
. scripts/start-test-pulseaudio.sh

# 1 000 clients and the server share one process in the scale test.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

cargo test --workspace --all-targets "$@"
