#!/usr/bin/env bash
# The project's test command (README): formatting, lints, every Rust test, the Python client tests.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

echo "== cargo test"
cargo test --workspace

if [ -d clients/python/tests ]; then
  echo "== python client tests"
  cargo build --release --bin kvstore
  KVSTORE_BIN="$PWD/target/release/kvstore" python3 -m pytest -q clients/python/tests
fi
