"""Cluster membership through the Python client, against real ``kvstore serve --mode raft``
processes: the seed's join, a join through a member, leadership transfer, removal, and the
errors each refusal raises."""

import pytest

from conftest import start_server
from kvstore_client import KVStoreClient, KVStoreError


@pytest.fixture(scope="module")
def raft_nodes(tmp_path_factory):
    """Three raft-mode nodes, py1..py3, never joined; yields their clients and URLs."""
    base = tmp_path_factory.mktemp("raft")
    servers = [
        start_server(base / f"py{i}", ("--mode", "raft"), node_id=f"py{i}") for i in (1, 2, 3)
    ]
    try:
        addrs = [next(s) for s in servers]
        clients = [KVStoreClient(host=h, port=p) for h, p in addrs]
        urls = [f"http://{h}:{p}" for h, p in addrs]
        yield clients, urls
        for c in clients:
            c.close()
    finally:
        for s in servers:
            s.close()


def test_join_move_leadership_and_leave(raft_nodes):
    (c1, c2, c3), (u1, u2, u3) = raft_nodes
    # The seed's form, on node1: forms the cluster with py2.
    r = c1.cluster_join("py2", u2)
    assert sorted(m["node_id"] for m in r["members"]) == ["py1", "py2"]
    # py3 joins through a secondary.
    r = c3.cluster_join(via=u2)
    assert sorted(m["node_id"] for m in r["members"]) == ["py1", "py2", "py3"]
    assert all(m["voter"] for m in r["members"])
    s = c3.cluster_status()
    assert s["role"] == "secondary" and len(s["members"]) == 3
    assert c3.set("written-through-py3", "v")

    # Leadership moves to py3; it cannot then be removed before moving it away again.
    r = c3.become_primary()
    assert r["role"] == "primary" and r["node_id"] == "py3"
    with pytest.raises(KVStoreError) as e:
        c3.cluster_leave()
    assert e.value.status == 409 and "become_primary" in e.value.message

    # An unknown id.
    with pytest.raises(KVStoreError) as e:
        c1.cluster_leave("py9")
    assert e.value.status == 404

    # py2 leaves (its own call, forwarded to the primary): it says it was removed and refuses
    # writes; the others go on.
    r = c2.cluster_leave()
    assert r["removed"] == "py2" and r["notified"] is True
    assert sorted(m["node_id"] for m in r["members"]) == ["py1", "py3"]
    assert c2.cluster_status()["role"] == "removed"
    with pytest.raises(KVStoreError) as e:
        c2.set("k", "v")
    assert e.value.status == 503 and "removed" in e.value.message
    assert c1.set("after-leave", "v")
    assert c3.get("after-leave") == "v"


def test_a_via_url_nobody_answers_is_named(tmp_path):
    gen = start_server(tmp_path / "fresh", ("--mode", "raft"), node_id="py-fresh")
    try:
        host, port = next(gen)
        with KVStoreClient(host=host, port=port) as c:
            with pytest.raises(KVStoreError) as e:
                c.cluster_join(via="http://127.0.0.1:9")
            assert e.value.status == 503 and "127.0.0.1:9" in e.value.message
    finally:
        gen.close()


def test_standalone_refuses_membership_calls(server):
    host, port = server
    with KVStoreClient(host=host, port=port) as c:
        for call in (
            lambda: c.cluster_join(via="http://127.0.0.1:9"),
            lambda: c.cluster_join("n2", "127.0.0.1:9"),
            lambda: c.cluster_leave("n2"),
            c.become_primary,
        ):
            with pytest.raises(KVStoreError) as e:
                call()
            assert e.value.status == 409 and "standalone" in e.value.message


def test_cluster_join_takes_exactly_one_form():
    c = KVStoreClient(host="127.0.0.1", port=9)
    for kwargs in ({}, {"via": "http://h:1", "peers": []}, {"node_id": "n2"}):
        with pytest.raises(ValueError):
            c.cluster_join(**kwargs)
