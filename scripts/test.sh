#!/usr/bin/env bash
# Runs every test: starts the PulseAudio null sink the audio-path tests play into, then cargo test.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=start-test-pulseaudio.sh
. scripts/start-test-pulseaudio.sh

# 1 000 clients and the server share one process in the scale test.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# Each fuzz target (tests/fuzz) runs 10 s here; scripts/fuzz.sh runs them longer.
export BOLERO_RANDOM_TEST_TIME_MS="${BOLERO_RANDOM_TEST_TIME_MS:-10000}"

# Every test's temporary files (peercall's, Chromium's, node's: all follow TMPDIR) go in one folder
# that is removed when the run ends, passed or failed.
TMPDIR="$(mktemp -d "${TMPDIR:-/tmp}/peercall-tests.XXXXXX")"
export TMPDIR
trap 'rm -rf "$TMPDIR"' EXIT

cargo test --workspace --all-targets "$@"
