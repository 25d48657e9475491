#!/usr/bin/env bash
# Measures headless calls on loopback: dial → ICE connected, dial → first remote frame,
# glass-to-glass latency, CPU and memory per peer; 5 runs at 640x480@30 and at 1280x720@30.
# Usage: scripts/measure-calls.sh [runs] [seconds]   (release build; reports under target/measure/)
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-5}"
secs="${2:-10}"
cargo build --release --bin peercall
target="${CARGO_TARGET_DIR:-target}"
bin="$target/release/peercall"
out="$target/measure"
rm -rf "$out" && mkdir -p "$out"

"$bin" serve --bind 127.0.0.1:0 > "$out/server.txt" 2>/dev/null &
server=$!
trap 'kill $server 2>/dev/null' EXIT
for _ in $(seq 50); do grep -q listening "$out/server.txt" 2>/dev/null && break; sleep 0.1; done
url="ws://$(sed -n 's#listening on http://##p' "$out/server.txt")/ws"

for size in 640x480 1280x720; do
  for run in $(seq "$runs"); do
    "$bin" answer --server "$url" --id "callee-$size-$run" --auto-accept --loopback \
      --video "synthetic:$size@30" --audio synthetic:1000 \
      --report "$out/callee-$size-$run.json" > /dev/null 2>&1 &
    callee=$!
    sleep 0.5
    "$bin" call --server "$url" --id "caller-$size-$run" --dial "callee-$size-$run" --loopback \
      --video "synthetic:$size@30" --audio synthetic:440 --duration "$secs" \
      --report "$out/caller-$size-$run.json" > /dev/null 2>&1
    wait "$callee"
  done
done

python3 - "$out" "$secs" <<'PY'
import json, glob, statistics, sys
out, secs = sys.argv[1], float(sys.argv[2])
def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None
for size in ["640x480", "1280x720"]:
    callers = [json.load(open(f)) for f in sorted(glob.glob(f"{out}/caller-{size}-*.json"))]
    callees = [json.load(open(f)) for f in sorted(glob.glob(f"{out}/callee-{size}-*.json"))]
    both = callers + callees
    print(f"== {size}@30, {len(callers)} runs, medians")
    print(f"  dial → ICE connected   {med([r['setup_ms']['ice_connected'] for r in callers]):.1f} ms")
    print(f"  dial → DTLS connected  {med([r['setup_ms']['connected'] for r in callers]):.1f} ms")
    print(f"  dial → first frame     {med([r['setup_ms']['first_frame'] for r in callers]):.1f} ms")
    print(f"  glass to glass p50     {med([r['video']['latency_ms']['p50'] for r in both]):.1f} ms")
    print(f"  glass to glass p95     {med([r['video']['latency_ms']['p95'] for r in both]):.1f} ms")
    dec = [r['video']['counters_read'] / max(1, o['video']['frames_sent']) for r, o in zip(callers + callees, callees + callers)]
    print(f"  frames decoded / sent  {100*med(dec):.1f} %")
    # CPU over the process's life: registration, setup, `secs` of media, teardown.
    print(f"  CPU per peer           {100*med([r['cpu_s'] for r in both])/ (secs + 1):.0f} % of one core")
    print(f"  peak RSS per peer      {med([r['peak_rss_mb'] for r in both]):.0f} MiB")
    print(f"  bitrate out            {med([r['stats']['bitrate_out_kbps'] for r in both]):.0f} kbps")
PY
