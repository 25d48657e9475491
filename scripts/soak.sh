#!/usr/bin/env bash
# Soak: CALLS consecutive headless calls (default 100, SECONDS of media each, default 3) from
# fresh caller processes to one long-lived callee (`peercall answer --calls`), all on one server,
# on loopback. After each call it records the callee's resident memory and open file
# descriptors (from its report) and the server's (from /proc), then prints the growth from
# call 10 to the last. Reports land under target/soak/.
# Usage: scripts/soak.sh [CALLS] [SECONDS]   (PROFILE=debug for the test build; default release)
set -euo pipefail
cd "$(dirname "$0")/.."
calls="${1:-100}"
secs="${2:-3}"
profile="${PROFILE:-release}"
if [ "$profile" = release ]; then
  cargo build --release --bin peercall
else
  cargo build --bin peercall
fi
target="${CARGO_TARGET_DIR:-target}"
bin="$target/$profile/peercall"
out="$target/soak"
rm -rf "$out" && mkdir -p "$out"

"$bin" serve --bind 127.0.0.1:0 > "$out/server.txt" 2>/dev/null &
server=$!
callee=
trap 'kill $server $callee 2>/dev/null || true' EXIT
for _ in $(seq 50); do grep -q listening "$out/server.txt" 2>/dev/null && break; sleep 0.1; done
url="ws://$(sed -n 's#listening on http://##p' "$out/server.txt")/ws"

"$bin" answer --server "$url" --id soak-callee --auto-accept --loopback --calls "$calls" \
  --wait 60 > "$out/callee.jsonl" 2> "$out/callee.log" &
callee=$!
sleep 0.5

server_cost() {
  local rss fds
  rss=$(awk '/^VmRSS:/ {print $2}' "/proc/$server/status")
  fds=$(find "/proc/$server/fd" -mindepth 1 -maxdepth 1 | wc -l)
  echo "{\"server_rss_kib\": $rss, \"server_fds\": $fds}"
}

for i in $(seq "$calls"); do
  "$bin" call --server "$url" --dial soak-callee --loopback --duration "$secs" \
    > "$out/caller-$i.json" 2> "$out/caller-$i.log" || echo "call $i failed" >&2
  # The callee prints its report a moment after the caller's hang-up reaches it.
  for _ in $(seq 100); do
    [ "$(wc -l < "$out/callee.jsonl")" -ge "$i" ] && break
    sleep 0.1
  done
  server_cost >> "$out/server.jsonl"
done
wait "$callee" || true

python3 - "$out" "$calls" <<'PY'
import json, sys
out, calls = sys.argv[1], int(sys.argv[2])
callee = [json.loads(l) for l in open(f"{out}/callee.jsonl")]
server = [json.loads(l) for l in open(f"{out}/server.jsonl")]
print(f"{len(callee)} of {calls} calls reported by the callee")
print(" call  callee_rss_MiB  callee_fds  server_rss_MiB  server_fds  frames_decoded  ended")
for i, (c, s) in enumerate(zip(callee, server), 1):
    if i <= 3 or i % 10 == 0 or i == len(callee):
        print(f"{i:5d}  {c['rss_mb']:14.1f}  {c['open_fds']:10d}  {s['server_rss_kib']/1024:14.1f}"
              f"  {s['server_fds']:10d}  {c['video']['frames_decoded']:14d}  {c['ended']['reason']}")
if len(callee) >= 10:
    a, b = callee[9], callee[-1]
    sa, sb = server[9], server[-1]
    print(f"growth from call 10 to call {len(callee)}:")
    print(f"  callee  {b['rss_mb'] - a['rss_mb']:+.1f} MiB  {b['open_fds'] - a['open_fds']:+d} fds")
    print(f"  server  {(sb['server_rss_kib'] - sa['server_rss_kib'])/1024:+.1f} MiB"
          f"  {sb['server_fds'] - sa['server_fds']:+d} fds")
bad = [i for i, c in enumerate(callee, 1) if c['video']['frames_decoded'] == 0]
print(f"calls with no video decoded: {bad or 'none'}")
PY
