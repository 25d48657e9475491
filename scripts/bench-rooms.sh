#!/usr/bin/env bash
# Group calls on this one machine: rooms of 2, 3, 4 and 6 headless peercalls (one process each,
# all on loopback, all competing for the same cores: say so when you quote the figures), each
# sending 640×480@30 and its own tone for SECONDS (default 12). Prints per room size: CPU and
# peak memory per peer, what each leg sent (kbit/s), the join → first frame from every member
# time, and the share of frames each decoded of every other. Reports land under target/rooms/.
# Usage: scripts/bench-rooms.sh [SECONDS] [SIZES…]   (PROFILE=debug for the test build)
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:-12}"
shift || true
sizes="${*:-2 3 4 6}"
profile="${PROFILE:-release}"
if [ "$profile" = release ]; then
  cargo build --release --bin peercall
else
  cargo build --bin peercall
fi
target="${CARGO_TARGET_DIR:-target}"
bin="$target/$profile/peercall"
out="$target/rooms"
rm -rf "$out" && mkdir -p "$out"

"$bin" serve --bind 127.0.0.1:0 > "$out/server.txt" 2>/dev/null &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 50); do grep -q listening "$out/server.txt" 2>/dev/null && break; sleep 0.1; done
url="ws://$(sed -n 's#listening on http://##p' "$out/server.txt")/ws"

printf '%-5s %-12s %-14s %-16s %-22s %s\n' size "cpu %/peer" "peak MiB/peer" "sent kbit/s/leg" \
  "last joiner: all, ms" "frames decoded"
for n in $sizes; do
  pids=()
  starts=()
  for i in $(seq "$n"); do
    hz=$((300 + 110 * i))
    start=$(date +%s.%N)
    "$bin" call --server "$url" --id "peer$i" --room "bench$n" --loopback \
      --video synthetic:640x480@30 --audio "synthetic:$hz" --duration "$secs" \
      > "$out/room$n-peer$i.json" 2> "$out/room$n-peer$i.log" &
    pids+=($!)
    starts+=("$start")
    sleep 0.3
  done
  walls=()
  for k in "${!pids[@]}"; do
    wait "${pids[$k]}" || true
    walls+=("${starts[$k]}:$(date +%s.%N)")
  done
  # Each process's CPU share over its own life (start to exit).
  python3 - "$out" "$n" "${walls[@]}" <<'EOF'
import json, sys
out, n = sys.argv[1], int(sys.argv[2])
walls = [float(w.split(":")[1]) - float(w.split(":")[0]) for w in sys.argv[3:]]
cpu, rss, sent, first, share = [], [], [], [], []
for i in range(1, n + 1):
    r = json.load(open(f"{out}/room{n}-peer{i}.json"))
    cpu.append(100 * r["cpu_s"] / walls[i - 1])
    rss.append(r["peak_rss_mb"])
    ps = r["participants"]
    sent += [p["link"]["sent_kbps"] for p in ps if p["link"]["sent_kbps"]]
    frames = [p["video"]["first_frame_ms"] for p in ps if p["video"]["first_frame_ms"] is not None]
    # The last to join meets everyone at once: its join → every member's first frame.
    if i == n and len(frames) == n - 1:
        first.append(max(frames))
    for p in ps:
        v = p["video"]
        read, gaps = v["counters_read"], v["counter_gaps"] or 0
        if read + gaps:
            share.append(read / (read + gaps))
mean = lambda xs: sum(xs) / len(xs) if xs else float("nan")
print(f"{n:<5} {mean(cpu):<12.0f} {mean(rss):<14.0f} {mean(sent):<16.0f} "
      f"{mean(first):<22.0f} "
      f"{100 * min(share) if share else float('nan'):.1f} % (worst pair)")
EOF
done
