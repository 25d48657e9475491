#!/usr/bin/env bash
# Runs every test: starts the PulseAudio null sink the audio-path tests play into, then cargo test.
set -euo pipefail
cd "$(dirname "$0")/.."

export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/peercall-xdg-$(id -u)}"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
if ! pactl info >/dev/null 2>&1; then
  pulseaudio -n --daemonize=yes --exit-idle-time=-1 \
    --load=module-native-protocol-unix \
    --load="module-null-sink sink_name=vsink rate=48000"
  for _ in $(seq 50); do pactl info >/dev/null 2>&1 && break; sleep 0.1; done
fi
pactl set-default-sink vsink 2>/dev/null || true
pactl set-default-source vsink.monitor 2>/dev/null || true
export PEERCALL_REQUIRE_AUDIO=1

# 1 000 clients and the server share one process in the scale test.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

cargo test --workspace --all-targets "$@"
