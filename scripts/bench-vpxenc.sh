#!/usr/bin/env bash
# Times Debian's vpxenc on the same test-pattern frames our VP8 bench uses,
# with the same realtime settings, so our encoder's fps can be quoted as a
# ratio of libvpx's own command-line encoder.
#
# Usage: scripts/bench-vpxenc.sh [FRAMES]   (default 300)
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/peercall-target}"
frames="${1:-300}"
command -v vpxenc >/dev/null || { echo "vpxenc not found (apt-get install vpx-tools)" >&2; exit 1; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cargo build -q --example write_y4m
for spec in "640 480 1000 2" "1280 720 2500 2"; do
    read -r w h kbps threads <<<"$spec"
    # Our encoder uses 2 threads from 640x480 up, capped by the cores.
    cores="$(nproc)"; (( threads > cores )) && threads="$cores"
    y4m="$tmp/pattern_${w}x${h}.y4m"
    "$CARGO_TARGET_DIR/debug/examples/write_y4m" "$y4m" "$w" "$h" "$frames" 30
    start="$(date +%s.%N)"
    vpxenc --codec=vp8 --rt --cpu-used=-6 --end-usage=cbr --target-bitrate="$kbps" \
        --lag-in-frames=0 --error-resilient=1 --threads="$threads" --kf-max-dist=3000 \
        --min-q=2 --max-q=56 --undershoot-pct=100 --overshoot-pct=15 \
        --buf-initial-sz=500 --buf-optimal-sz=600 --buf-sz=1000 --drop-frame=0 \
        --noise-sensitivity=0 --static-thresh=1 --quiet -o "$tmp/out.ivf" "$y4m" 2>/dev/null
    end="$(date +%s.%N)"
    size="$(stat -c %s "$tmp/out.ivf")"
    awk -v f="$frames" -v s="$start" -v e="$end" -v w="$w" -v h="$h" -v k="$kbps" -v b="$size" -v t="$threads" \
        'BEGIN { printf "vpxenc %dx%d @ %d kbps, %d threads: %d frames in %.2f s = %.1f fps (%.0f kbps produced)\n", w, h, k, t, f, e - s, f / (e - s), b * 8 / (f / 30) / 1000 }'
done
