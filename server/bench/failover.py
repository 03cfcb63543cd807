#!/usr/bin/env python3
"""Failover time, side by side: a 3-node kvstore raft cluster and a 3-member etcd cluster
(Debian's etcd-server), on loopback, same run.

    server/bench/failover.py [ROUNDS=20] [KVSTORE_BIN=target/release/kvstore]

Each round, for each cluster in turn: find the leader, kill -9 it, and time until a write sent
to a survivor is acknowledged (the survivor forwards it to whoever leads; the time a client
waits). Both clusters get a light write load meanwhile (one write every 10 ms to a survivor,
each with a 0.5 s timeout) — the first acknowledged one after the kill ends the round. Then the
killed member restarts on its own data directory and the round waits until every member names
the same leader again. Prints each round and the median and max per cluster. Both clusters run
with their defaults (etcd: 100 ms heartbeat, 1 s election timeout). Standard library only.
"""
import base64
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 20
KV_BIN = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "target/release/kvstore")
DIR = os.environ.get("BENCH_DIR", "/tmp/kvstore-failover-bench")


def http(method, url, body=None, timeout=0.5):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, None
    except Exception:
        return None, None


def wait(what, pred, secs=30):
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {what}")


class Kvstore:
    name = "kvstore"

    def __init__(self):
        self.ports = [5191 + i for i in range(3)]
        self.procs = [None] * 3
        for i in range(3):
            self.start(i)
        for i in range(3):
            wait(f"kvstore node{i+1}", lambda i=i: http("GET", self.url(i, "/health"))[0] == 200)
        peers = [{"node_id": f"node{i+1}", "url": self.url(i, "")} for i in (1, 2)]
        status, _ = http("POST", self.url(0, "/cluster/join"), {"peers": peers}, timeout=30)
        assert status == 200, f"join answered {status}"

    def url(self, i, path):
        return f"http://127.0.0.1:{self.ports[i]}{path}"

    def start(self, i):
        log = open(f"{DIR}/kv{i+1}.log", "a")
        self.procs[i] = subprocess.Popen(
            [KV_BIN, "serve", str(self.ports[i]), "--mode", "raft",
             "--node-id", f"node{i+1}", "--data-dir", f"{DIR}/kv{i+1}"],
            stdout=log, stderr=log)

    def leader(self, i):
        status, body = http("GET", self.url(i, "/cluster/status"))
        if status != 200 or body.get("role") not in ("primary", "secondary"):
            return None
        return body.get("leader_id")

    def leader_index(self, i):
        lead = self.leader(i)
        return int(lead[4:]) - 1 if lead else None

    def write(self, i, n):
        return http("POST", self.url(i, "/set"), {"key": f"fo{n}", "value": "x"})[0] == 200


class Etcd:
    name = "etcd"

    def __init__(self):
        self.procs = [None] * 3
        self.ids = {}
        for i in range(3):
            self.start(i)
        for i in range(3):
            wait(f"etcd e{i+1}", lambda i=i: http("GET", self.url(i, "/health"))[0] == 200)
        for i in range(3):
            _, body = http("POST", self.url(i, "/v3/maintenance/status"), {})
            self.ids[body["header"]["member_id"]] = i

    def url(self, i, path):
        return f"http://127.0.0.1:{2381 + i}{path}"

    def start(self, i):
        cluster = ",".join(f"e{j+1}=http://127.0.0.1:{2481 + j}" for j in range(3))
        log = open(f"{DIR}/etcd{i+1}.log", "a")
        self.procs[i] = subprocess.Popen(
            ["etcd", "--name", f"e{i+1}", "--data-dir", f"{DIR}/etcd{i+1}",
             "--listen-client-urls", self.url(i, ""), "--advertise-client-urls", self.url(i, ""),
             "--listen-peer-urls", f"http://127.0.0.1:{2481 + i}",
             "--initial-advertise-peer-urls", f"http://127.0.0.1:{2481 + i}",
             "--initial-cluster", cluster, "--initial-cluster-state", "new"],
            stdout=log, stderr=log)

    def leader_index(self, i):
        status, body = http("POST", self.url(i, "/v3/maintenance/status"), {})
        if status != 200 or not body.get("leader"):
            return None
        return self.ids.get(body["leader"])

    def write(self, i, n):
        b64 = lambda s: base64.b64encode(s.encode()).decode()
        return http("POST", self.url(i, "/v3/kv/put"), {"key": b64(f"fo{n}"), "value": b64("x")})[0] == 200


def agreed_leader(c):
    named = {c.leader_index(i) for i in range(3)}
    return named.pop() if len(named) == 1 and None not in named else None


def round_once(c, n):
    wait(f"{c.name}: an agreed leader", lambda: agreed_leader(c) is not None)
    old = agreed_leader(c)
    survivor = (old + 1) % 3
    assert c.write(survivor, f"{n}-before"), f"{c.name}: a write before the kill failed"
    c.procs[old].send_signal(signal.SIGKILL)
    c.procs[old].wait()
    killed = time.monotonic()
    k = 0
    while not c.write(survivor, f"{n}-{k}"):
        k += 1
        if time.monotonic() - killed > 30:
            raise SystemExit(f"{c.name}: no write acknowledged 30 s after the kill")
        time.sleep(0.01)
    took = time.monotonic() - killed
    c.start(old)
    wait(f"{c.name}: the old leader back", lambda: agreed_leader(c) is not None
         and c.leader_index(old) is not None)
    return took


def main():
    for tool in ("etcd",):
        if not shutil.which(tool):
            raise SystemExit("needs etcd (apt-get install -y etcd-server)")
    shutil.rmtree(DIR, ignore_errors=True)
    os.makedirs(DIR)
    clusters = []
    try:
        clusters.append(Kvstore())
        clusters.append(Etcd())
        times = {c.name: [] for c in clusters}
        for r in range(ROUNDS):
            for c in clusters:
                t = round_once(c, r)
                times[c.name].append(t)
                print(f"round={r + 1} target={c.name} failover_ms={t * 1000:.0f}", flush=True)
        print("| target | rounds | median ms | max ms |")
        print("|---|---|---|---|")
        for name, ts in times.items():
            print(f"| {name} | {len(ts)} | {statistics.median(ts) * 1000:.0f} | {max(ts) * 1000:.0f} |")
    finally:
        for c in clusters:
            for p in c.procs:
                if p and p.poll() is None:
                    p.kill()
                    p.wait()


if __name__ == "__main__":
    main()
