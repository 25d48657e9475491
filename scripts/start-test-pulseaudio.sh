#!/usr/bin/env bash
# Starts a PulseAudio daemon with a 48 kHz null sink as default sink and its
# monitor as default source, for tests/media_audio_device.rs. Source this
# script (". scripts/start-test-pulseaudio.sh") so XDG_RUNTIME_DIR stays set.
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp/xdg-runtime-$(id -u)}"
mkdir -p "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR"
if ! pactl info >/dev/null 2>&1; then
    pulseaudio -n --daemonize=yes --exit-idle-time=-1 \
        --load=module-native-protocol-unix \
        --load="module-null-sink sink_name=vsink rate=48000"
    for _ in $(seq 50); do pactl info >/dev/null 2>&1 && break; sleep 0.1; done
fi
pactl set-default-sink vsink
pactl set-default-source vsink.monitor
