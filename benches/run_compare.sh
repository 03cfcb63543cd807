#!/usr/bin/env bash
# Side-by-side comparison: kvstore, RocksDB, fjall, sled and redb in one process, run RUNS times
# (default 3); then the median table (Markdown) and the SVG chart of the medians.
#
#   benches/run_compare.sh [NUM_KEYS] [RUNS]
#
# Needs the `compare` feature, which builds RocksDB's C++ (15-20 min on 2 cores the first time;
# needs clang and libclang-dev: apt-get install -y clang libclang-dev). Outputs go to
# $OUT (default target/bench-compare/): run-N.json, run-N.txt, table.md, benchmarks.svg.
set -euo pipefail
cd "$(dirname "$0")/.."
NUM="${1:-1000000}"
RUNS="${2:-3}"
OUT="${OUT:-target/bench-compare}"
DATA="${DATA:-$OUT/data}"
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
mkdir -p "$OUT" "$DATA"

nice -n 10 cargo build --release -p kvstore-benches --features compare --bins
for i in $(seq 1 "$RUNS"); do
    echo "== run $i of $RUNS ($NUM keys)" >&2
    "$TARGET_DIR/release/db_bench" --engine all --num "$NUM" --dir "$DATA" \
        --json "$OUT/run-$i.json" ${DB_BENCH_ARGS:-} | tee "$OUT/run-$i.txt"
done
files=()
for i in $(seq 1 "$RUNS"); do files+=("$OUT/run-$i.json"); done
"$TARGET_DIR/release/bench_report" --svg "$OUT/benchmarks.svg" "${files[@]}" | tee "$OUT/table.md"
