#!/usr/bin/env bash
# Side-by-side HTTP load benchmark: kvstore vs etcd (Debian's etcd-server, JSON gateway) vs a
# bare in-memory warp map (the HTTP ceiling), with wrk (Debian's `wrk`) as the load generator:
# one wrk thread, so the client takes as little of the machine as possible.
#
#   server/bench/run.sh [ROUNDS=3] [SECONDS=5] [KVSTORE_BIN=target/release/kvstore]
#
# BASE_BIN=path/to/other/kvstore adds a fourth target, "base" (port 5073), run interleaved with
# the others (before/after comparisons in one session). TARGETS and CONCURRENCY narrow a run.
#
# Starts the three servers on fresh data directories under $BENCH_DIR (default
# /tmp/kvstore-http-bench), preloads 10,000 `bench%08d` keys into each (preload.py), then runs
# ROUNDS rounds; each round runs, for each target, SET (distinct new keys, ~100-byte English-
# like values) then GET (preloaded keys) at concurrency 1, 16 and 64 for SECONDS each. Prints
# one line per case and a median table (summarize.py). Stops only the servers it started.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
rounds=${1:-3}
secs=${2:-5}
kv_bin=${3:-$root/target/release/kvstore}
map_bin=${MAP_BIN:-$root/target/release/kvstore-http-bench}
dir=${BENCH_DIR:-/tmp/kvstore-http-bench}
conc=${CONCURRENCY:-1 16 64}
base_bin=${BASE_BIN:-}
targets=${TARGETS:-kvstore ${base_bin:+base }etcd map}
for tool in wrk etcd python3; do
  command -v $tool >/dev/null || { echo "needs $tool (apt-get install -y wrk etcd-server)" >&2; exit 1; }
done
rm -rf "$dir" && mkdir -p "$dir"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
"$kv_bin" serve 5071 --data-dir "$dir/kv" >"$dir/kv.log" 2>&1 & pids+=($!)
if [[ -n "$base_bin" ]]; then
  "$base_bin" serve 5073 --data-dir "$dir/base" >"$dir/base.log" 2>&1 & pids+=($!)
fi
"$map_bin" serve-map --port 5072 >"$dir/map.log" 2>&1 & pids+=($!)
etcd --data-dir "$dir/etcd" --listen-client-urls http://127.0.0.1:2379 \
  --advertise-client-urls http://127.0.0.1:2379 >"$dir/etcd.log" 2>&1 & pids+=($!)
for url in http://127.0.0.1:5071/health ${base_bin:+http://127.0.0.1:5073/health} http://127.0.0.1:2379/version; do
  for _ in $(seq 100); do curl -sf "$url" >/dev/null && break; sleep 0.1; done
done
sleep 0.5
python3 "$here/preload.py" 127.0.0.1 5071 kv
python3 "$here/preload.py" 127.0.0.1 5072 kv
[[ -z "$base_bin" ]] || python3 "$here/preload.py" 127.0.0.1 5073 kv
python3 "$here/preload.py" 127.0.0.1 2379 etcd
declare -A url=([kvstore]=http://127.0.0.1:5071 [base]=http://127.0.0.1:5073 [etcd]=http://127.0.0.1:2379 [map]=http://127.0.0.1:5072)
script() { # target op
  case "$1/$2" in
    etcd/set) echo etcd_put.lua ;; etcd/get) echo etcd_range.lua ;;
    */set) echo set.lua ;; */get) echo get.lua ;;
  esac
}
out="$dir/results.txt"
: >"$out"
for r in $(seq "$rounds"); do
  for t in $targets; do
    for op in set get; do
      for c in $conc; do
        res=$(wrk -t1 -c"$c" -d"${secs}s" --latency -s "$here/$(script $t $op)" "${url[$t]}")
        rps=$(awk '/Requests\/sec/ {print $2}' <<<"$res")
        p50=$(awk '$1=="50%" {print $2}' <<<"$res")
        p99=$(awk '$1=="99%" {print $2}' <<<"$res")
        bad=$(awk '/Non-2xx/ {print $5} /Socket errors/ {print "sock"}' <<<"$res" | paste -sd, -)
        line="round=$r target=$t op=$op c=$c rps=$rps p50=$p50 p99=$p99 errors=${bad:-0}"
        echo "$line" | tee -a "$out"
      done
    done
  done
done
for port in 5071 5073; do
  stats=$(curl -s http://127.0.0.1:$port/admin/stats || true)
  [[ -z "$stats" ]] || python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print("port", sys.argv[2], "wal_syncs", d["wal_syncs"], "mean fsync us", d["wal_sync_micros"]//max(1,d["wal_syncs"]))' "$stats" $port | tee -a "$out"
done
python3 "$here/summarize.py" "$out"
