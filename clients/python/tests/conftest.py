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


def start_server(data, extra_args=(), node_id="py-node"):
    """Starts ``kvstore serve`` on a free port with its data in ``data``, named ``node_id``; a
    generator that yields ``(host, port)`` once the node is healthy and stops it afterwards."""
    # --port 0: the server picks a free port and prints "kvstore listening on http://HOST:PORT".
    env = {**os.environ, "RUST_LOG": "warn"}
    # A developer's own settings must not turn authentication on under every test.
    env.pop("KVSTORE_AUTH_TOKEN_FILE", None)
    env.pop("KVSTORE_READ_TOKEN_FILE", None)
    proc = subprocess.Popen(
        [_binary(), "serve", "--port", "0", "--data-dir", str(data), "--node-id", node_id,
         *extra_args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=env,
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


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    yield from start_server(tmp_path_factory.mktemp("kvstore") / "data")
