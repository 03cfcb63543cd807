#!/usr/bin/env bash
# Side-by-side cluster benchmark: a 3-node kvstore raft cluster vs a 3-member etcd cluster
# (Debian's etcd-server), all on loopback, wrk (one thread) as the load generator.
#
#   server/bench/cluster.sh [ROUNDS=3] [SECONDS=5] [KVSTORE_BIN=target/release/kvstore]
#
# Each round, for each target: durable writes (`/set` | etcd put) sent to the primary/leader,
# linearizable reads (`/get` | etcd range), and stale reads (`/get?consistency=stale` | etcd
# serializable range) sent to a secondary/follower, at concurrency CONCURRENCY (default
# "1 16 64"), SECONDS each; OPS (default "set get stale") picks the cases. Prints one line per case and a median table (summarize.py). Both
# clusters fsync every write on every member (their defaults). Stops only what it started.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
rounds=${1:-3}
secs=${2:-5}
kv_bin=${3:-$root/target/release/kvstore}
dir=${BENCH_DIR:-/tmp/kvstore-cluster-bench}
conc=${CONCURRENCY:-1 16 64}
ops=${OPS:-set get stale}
for tool in wrk etcd python3 curl; do
  command -v $tool >/dev/null || { echo "needs $tool (apt-get install -y wrk etcd-server)" >&2; exit 1; }
done
rm -rf "$dir" && mkdir -p "$dir"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
for i in 1 2 3; do
  KVSTORE_NODE_ID=node$i "$kv_bin" serve $((5090 + i)) --mode raft --data-dir "$dir/kv$i" \
    >"$dir/kv$i.log" 2>&1 & pids+=($!)
done
# etcd member i: client port 2380+i, peer port 2480+i.
etcd_client() { echo $((2380 + $1)); }
cluster="e1=http://127.0.0.1:2481,e2=http://127.0.0.1:2482,e3=http://127.0.0.1:2483"
for i in 1 2 3; do
  etcd --name e$i --data-dir "$dir/etcd$i" \
    --listen-client-urls http://127.0.0.1:$(etcd_client $i) \
    --advertise-client-urls http://127.0.0.1:$(etcd_client $i) \
    --listen-peer-urls http://127.0.0.1:$((2480 + i)) \
    --initial-advertise-peer-urls http://127.0.0.1:$((2480 + i)) \
    --initial-cluster "$cluster" --initial-cluster-state new \
    >"$dir/etcd$i.log" 2>&1 & pids+=($!)
done
for i in 1 2 3; do
  for _ in $(seq 100); do curl -sf http://127.0.0.1:$((5090 + i))/health >/dev/null && break; sleep 0.1; done
  for _ in $(seq 100); do curl -sf http://127.0.0.1:$(etcd_client $i)/health >/dev/null && break; sleep 0.1; done
done
curl -sf -X POST http://127.0.0.1:5091/cluster/join -H 'content-type: application/json' \
  -d '{"peers": [{"node_id": "node2", "url": "http://127.0.0.1:5092"},
                 {"node_id": "node3", "url": "http://127.0.0.1:5093"}]}' >/dev/null
python3 "$here/preload.py" 127.0.0.1 5091 kv
python3 "$here/preload.py" 127.0.0.1 "$(etcd_client 1)" etcd
# Primary/leader for writes and linearizable reads, a secondary/follower for stale reads.
etcd_leader="" etcd_follower=""
for i in 1 2 3; do
  p=$(etcd_client $i)
  lead=$(curl -s -X POST http://127.0.0.1:$p/v3/maintenance/status -d '{}' |
    python3 -c 'import json,sys; d=json.load(sys.stdin); print(int(d["leader"]==d["header"]["member_id"]))')
  if [[ $lead == 1 ]]; then etcd_leader=$p; else etcd_follower=$p; fi
done
[[ -n $etcd_leader && -n $etcd_follower ]] || { echo "no etcd leader/follower found" >&2; exit 1; }
out="$dir/results.txt"
: >"$out"
run() { # target op url script envs...
  local t=$1 op=$2 u=$3 s=$4; shift 4
  [[ " $ops " == *" $op "* ]] || return 0
  for c in $conc; do
    res=$(env "$@" wrk -t1 -c"$c" -d"${secs}s" --latency -s "$here/$s" "$u")
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$res")
    p50=$(awk '$1=="50%" {print $2}' <<<"$res")
    p99=$(awk '$1=="99%" {print $2}' <<<"$res")
    bad=$(awk '/Non-2xx/ {print $5} /Socket errors/ {print "sock"}' <<<"$res" | paste -sd, -)
    echo "round=$r target=$t op=$op c=$c rps=$rps p50=$p50 p99=$p99 errors=${bad:-0}" | tee -a "$out"
  done
}
for r in $(seq "$rounds"); do
  run kvstore set http://127.0.0.1:5091 set.lua X=1
  run kvstore get http://127.0.0.1:5091 get.lua X=1
  run kvstore stale http://127.0.0.1:5092 get.lua QUERY='?consistency=stale'
  run etcd set "http://127.0.0.1:$etcd_leader" etcd_put.lua X=1
  run etcd get "http://127.0.0.1:$etcd_leader" etcd_range.lua X=1
  run etcd stale "http://127.0.0.1:$etcd_follower" etcd_range.lua SERIALIZABLE=1
done
curl -s http://127.0.0.1:5091/cluster/status | python3 -c 'import json,sys; d=json.load(sys.stdin); print("kvstore primary", d["leader_id"], "term", d["term"])' | tee -a "$out"
python3 "$here/summarize.py" "$out"
