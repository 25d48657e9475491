#!/usr/bin/env bash
# Load figures for the signaling server (latency, throughput on one core, RSS with 1k/10k clients).
# Usage: scripts/bench-signaling.sh [latency] [throughput] [idle]   (no argument: all)
set -euo pipefail
cd "$(dirname "$0")/.."
ulimit -n "$(ulimit -Hn)"
cargo build --release --bin peercall --example signaling_load
target="${CARGO_TARGET_DIR:-target}"
"$target/release/examples/signaling_load" "$target/release/peercall" "$@"
