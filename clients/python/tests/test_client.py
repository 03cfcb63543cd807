import pytest

from kvstore_client import KVStoreClient, KVStoreError


@pytest.fixture
def client(server):
    host, port = server
    with KVStoreClient(host=host, port=port) as c:
        yield c


def test_set_get_delete(client):
    assert client.set("greeting", "hello") is True
    assert client.get("greeting") == "hello"
    assert client.set("greeting", "hi again")
    assert client.get("greeting") == "hi again"
    assert client.delete("greeting") is True
    assert client.get("greeting") is None
    assert client.delete("greeting") is False


def test_any_utf8_key_including_slashes(client):
    for key in ["a/b", "sp ace", "clé/🚀?#&=%", "x" * 4096]:
        client.set(key, "v:" + key[:10])
        assert client.get(key) == "v:" + key[:10]


def test_bulk_set_all_or_nothing(client):
    assert client.bulk_set([("b1", "one"), ("b2", "two")]) == 2
    assert client.get("b2") == "two"
    with pytest.raises(KVStoreError) as e:
        client.bulk_set([("c1", "one"), ("", "empty key")])
    assert e.value.status == 400
    assert "items[1]" in e.value.message
    assert client.get("c1") is None


def test_errors_carry_status_and_message(client):
    with pytest.raises(KVStoreError) as e:
        client.set("", "v")
    assert e.value.status == 400 and "empty" in e.value.message
    with pytest.raises(KVStoreError) as e:
        client.set("k" * 4097, "v")
    assert e.value.status == 413
    with pytest.raises(KVStoreError) as e:
        client.search("x", k=0)
    assert e.value.status == 400
    with pytest.raises(KVStoreError) as e:
        client.semantic_search("x", k=5000)
    assert e.value.status == 400


def test_debug_fail_is_accepted(client):
    # With the default 1% probability most calls succeed; a failure is a 500
    # "simulated failure" after which the write is wholly present or wholly absent.
    for i in range(20):
        try:
            assert client.set(f"df{i}", "v", debug_fail=True)
            assert client.get(f"df{i}") == "v"
        except KVStoreError as e:
            assert e.status == 500 and e.message == "simulated failure"
            assert client.get(f"df{i}") in (None, "v")
        items = [(f"dfb{i}/{j}", str(j)) for j in range(3)]
        try:
            assert client.bulk_set(items, debug_fail=True) == 3
        except KVStoreError as e:
            assert e.status == 500
        got = [client.get(k) for k, _ in items]
        assert got in ([None] * 3, ["0", "1", "2"]), got


def test_scan(client):
    client.bulk_set([("s/1", "a"), ("s/2", "b"), ("s/3", "c")])
    page = client.scan(prefix="s/", limit=2)
    assert [i["key"] for i in page["items"]] == ["s/1", "s/2"]
    assert page["next"] == "s/3"


def test_health_and_cluster_status(client):
    h = client.health()
    assert h["status"] == "ok" and h["node_id"] == "py-node"
    assert client.cluster_status() == {
        "node_id": "py-node",
        "mode": "standalone",
        "role": "standalone",
    }
    assert "levels" in client.stats()
