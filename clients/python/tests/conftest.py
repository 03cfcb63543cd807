"""Starts the real kvstore binary on a free port with a temporary data directory."""

import os
import pathlib
import subprocess
import sys
import time

import pytest
import requests

ROOT = pathlib.Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "clients" / "python"))


def _binary():
    path = os.environ.get("KVSTORE_BIN") or str(ROOT / "target" / "release" / "kvstore")
    if not os.path.exists(path):
        pytest.exit(f"kvstore binary not found at {path}; build it or set KVSTORE_BIN", 2)
    return path


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data = tmp_path_factory.mktemp("kvstore") / "data"
    # --port 0: the server picks a free port and prints "kvstore listening on http://HOST:PORT".
    proc = subprocess.Popen(
        [_binary(), "serve", "--port", "0", "--data-dir", str(data), "--node-id", "py-node"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "RUST_LOG": "warn"},
        text=True,
    )
    try:
        line = proc.stdout.readline().strip()
        prefix = "kvstore listening on http://"
        assert line.startswith(prefix), f"unexpected first line {line!r}"
        host, port = line[len(prefix):].rsplit(":", 1)
        deadline = time.time() + 20
        while True:
            try:
                if requests.get(f"http://{host}:{port}/health", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.time() < deadline, "server never became healthy"
            time.sleep(0.05)
        yield host, int(port)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
