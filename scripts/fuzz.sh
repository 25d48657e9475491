#!/usr/bin/env bash
# Runs every fuzz target (tests/fuzz) for SECONDS each (default 60), one after another so each
# has the machine: the nightly-style job. A failure prints the input and BOLERO_RANDOM_SEED to
# replay it with; the input then becomes a regression test beside the code it broke.
#   scripts/fuzz.sh [SECONDS] [TARGET-FILTER]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
filter="${2:-fuzz_}"
export BOLERO_RANDOM_TEST_TIME_MS=$((seconds * 1000))
export RUST_BACKTRACE=0
cargo test --test fuzz --no-run
cargo test --test fuzz "$filter" -- --test-threads=1 --nocapture
