#!/usr/bin/env bash
# The project's test command (README): formatting, lints, a build of the fuzz targets, every Rust
# test, the Python client tests. It sets up what it needs on a fresh machine (rustfmt and clippy;
# pytest and requests; iptables) and never reads stdin, so CI runs it as it is (`.ci/run`).
set -euo pipefail
cd "$(dirname "$0")/.."

# rustfmt and clippy come with the default rustup profile, not with the minimal one.
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
  echo "== rustup component add rustfmt clippy"
  rustup component add rustfmt clippy >/dev/null 2>&1 || true
fi

# Where cargo builds (CARGO_TARGET_DIR and .cargo/config are honoured): the release binary the
# Python tests start, and the Python test dependencies, live there.
target_dir=$(cargo metadata --format-version 1 --no-deps |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')

if [ -d clients/python/tests ]; then
  # pytest and requests: python3's own when it has them, else installed once into the target
  # directory (no root, no virtualenv, and allowed where the system Python is "externally
  # managed", PEP 668). Checked first so that a missing pip stops the run before the long steps.
  py_deps="$target_dir/python-deps"
  export PYTHONPATH="$py_deps${PYTHONPATH:+:$PYTHONPATH}"
  if ! python3 -c 'import pytest, requests' 2>/dev/null; then
    echo "== pip install pytest requests (into $py_deps)"
    PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check \
      --no-input --upgrade --target "$py_deps" pytest requests </dev/null || {
      echo "cannot install pytest and requests with python3 -m pip;" \
        "install pip (Debian, Ubuntu: apt-get install python3-pip) or those two packages" >&2
      exit 1
    }
  fi
fi

# The partition tests (server/tests/raft_partition.rs, raft_linearizability.rs) cut links between
# loopback addresses with iptables, which needs root. Installed where it is missing; under CI a
# machine where it cannot be installed or used stops here, since those tests would fail (outside
# CI they skip, saying so).
if ! command -v iptables >/dev/null 2>&1; then
  echo "== apt-get install iptables"
  sudo_=""
  [ "$(id -u)" = 0 ] || sudo_="sudo -n"
  { $sudo_ apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq iptables; } </dev/null >/dev/null 2>&1 ||
    echo "cannot install iptables with apt-get" >&2
fi
if ! iptables -w -L INPUT -n >/dev/null 2>&1; then
  if [ "${CI:-}" = true ]; then
    echo "iptables is missing or not permitted: the partition tests need it, as root" >&2
    exit 1
  fi
  echo "warning: no usable iptables (it needs root): the partition tests will be skipped" >&2
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings

# fuzz/ is outside the workspace (cargo-fuzz needs nightly flags to run its targets: see
# fuzz/README.md), so nothing else compiles it. A type check on stable catches a target, helper
# or example that stopped compiling; against its own Cargo.lock, which must be current. In the
# workspace's target directory, with the workspace's dev profile for dependencies (fuzz/Cargo.toml
# sets none), most dependencies are the ones clippy has just checked.
echo "== fuzz targets compile (cargo check)"
cargo check --manifest-path fuzz/Cargo.toml --all-targets --locked --target-dir "$target_dir" \
  --config 'profile.dev.package."*".opt-level = 1'

echo "== cargo test"
cargo test --workspace

if [ -d clients/python/tests ]; then
  echo "== python client tests"
  cargo build --release --bin kvstore
  KVSTORE_BIN="$target_dir/release/kvstore" python3 -m pytest -q clients/python/tests
fi
