#!/usr/bin/env bash
# Leader stability under load: a 3-node raft cluster on loopback takes durable writes (wrk,
# c=16, to the primary) and linearizable reads (wrk, c=16, to a secondary) for SECONDS with no
# fault injected; then every node's term and leader-change count (/metrics) must be what they
# were when the load began. A leader change here is an election no fault asked for: a missed
# heartbeat under load.
#
#   server/bench/steady.sh [SECONDS=300] [KVSTORE_BIN=target/release/kvstore]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
secs=${1:-300}
kv_bin=${2:-$root/target/release/kvstore}
dir=${BENCH_DIR:-/tmp/kvstore-steady-bench}
command -v wrk >/dev/null || { echo "needs wrk (apt-get install -y wrk)" >&2; exit 1; }
rm -rf "$dir" && mkdir -p "$dir"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
for i in 1 2 3; do
  "$kv_bin" serve $((5290 + i)) --mode raft --node-id node$i --data-dir "$dir/kv$i" \
    >"$dir/kv$i.log" 2>&1 & pids+=($!)
done
for i in 1 2 3; do
  for _ in $(seq 100); do curl -sf http://127.0.0.1:$((5290 + i))/health >/dev/null && break; sleep 0.1; done
done
curl -sf -X POST http://127.0.0.1:5291/cluster/join -H 'content-type: application/json' \
  -d '{"peers": [{"node_id": "node2", "url": "http://127.0.0.1:5292"},
                 {"node_id": "node3", "url": "http://127.0.0.1:5293"}]}' >/dev/null
stat() { # port name
  curl -s http://127.0.0.1:$1/metrics | awk -v n="kvstore_cluster{stat=\"$2\"}" '$1 == n {print $2}'
}
snapshot() {
  for i in 1 2 3; do
    echo "node$i term=$(stat $((5290 + i)) term) leader_changes=$(stat $((5290 + i)) leader_changes)"
  done
}
python3 "$here/preload.py" 127.0.0.1 5291 kv
before=$(snapshot)
echo "before:"; echo "$before"
wrk -t1 -c16 -d"${secs}s" -s "$here/set.lua" http://127.0.0.1:5291 >"$dir/wrk-set.txt" &
writer=$!
wrk -t1 -c16 -d"${secs}s" -s "$here/get.lua" http://127.0.0.1:5292 >"$dir/wrk-get.txt"
wait "$writer"
after=$(snapshot)
echo "after ${secs} s:"; echo "$after"
for w in set get; do
  echo "$w: $(awk '/requests in/ {print $1}' "$dir/wrk-$w.txt") requests," \
    "$(awk '/Requests\/sec/ {print $2}' "$dir/wrk-$w.txt")/s, $(awk '/Non-2xx/ {print $5}' "$dir/wrk-$w.txt") non-2xx"
done
if [[ "$before" == "$after" ]]; then echo "no leader change"; else echo "LEADER CHANGED"; exit 1; fi
