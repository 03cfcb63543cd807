"""The Python client against a node that needs a bearer token (--auth-token-file and
--read-token-file; docs/security.md): the full token does everything, the read-only token
reads and searches, no token or a wrong one is a 401 that never repeats the token."""

import pytest
import requests

from conftest import start_server
from kvstore_client import KVStoreClient, KVStoreError

FULL = "py-full-Rb7Kq2Xw9Mz4Ln1"
READ = "py-read-Gc3Vt8Hs5Jd0Pe6"


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory):
    d = tmp_path_factory.mktemp("kvstore-auth")
    (d / "full.token").write_text(FULL + "\n")
    (d / "read.token").write_text(READ + "\n")
    yield from start_server(
        d / "data",
        ["--auth-token-file", str(d / "full.token"), "--read-token-file", str(d / "read.token")],
    )


def test_full_token_reads_and_writes(auth_server):
    host, port = auth_server
    with KVStoreClient(host=host, port=port, token=FULL + "\n") as c:
        assert c.set("doc/1", "the quick brown fox") is True
        assert c.get("doc/1") == "the quick brown fox"
        assert c.bulk_set([("doc/2", "lazy dog")]) == 1
        assert "levels" in c.stats()
        assert c.delete("doc/2") is True


def test_read_token_reads_and_searches_but_cannot_write(auth_server):
    host, port = auth_server
    with KVStoreClient(host=host, port=port, token=FULL) as full:
        full.set("r/1", "searchable words here")
    with KVStoreClient(host=host, port=port, token=READ) as c:
        assert c.get("r/1") == "searchable words here"
        assert [r["key"] for r in c.search("searchable", k=5)] == ["r/1"]
        assert c.scan(prefix="r/")["items"][0]["key"] == "r/1"
        assert c.cluster_status()["mode"] == "standalone"
        for write in (
            lambda: c.set("r/1", "changed"),
            lambda: c.bulk_set([("r/2", "x")]),
            lambda: c.delete("r/1"),
            c.stats,
        ):
            with pytest.raises(KVStoreError) as e:
                write()
            assert e.value.status == 403
            assert "full token" in e.value.message
        assert c.get("r/1") == "searchable words here"
        assert c.get("r/2") is None


def test_no_token_or_a_wrong_one_is_401(auth_server):
    host, port = auth_server
    with KVStoreClient(host=host, port=port) as c:
        assert c.health()["status"] == "ok"  # /health stays open
        with pytest.raises(KVStoreError) as e:
            c.get("doc/1")
        assert e.value.status == 401
    wrong = "py-wrong-Tn4Ua9Yc2Fk7Wm5"
    with KVStoreClient(host=host, port=port, token=wrong) as c:
        with pytest.raises(KVStoreError) as e:
            c.set("doc/1", "x")
        assert e.value.status == 401
        assert wrong not in str(e.value) and FULL not in str(e.value)
        assert wrong not in repr(c) and wrong not in str(vars(c).keys())
    r = requests.get(f"http://{host}:{port}/metrics", timeout=5)
    assert 'kvstore_auth_failures_total{reason="invalid"}' in r.text
    assert wrong not in r.text and FULL not in r.text and READ not in r.text


def test_old_call_forms_still_work(server):
    host, port = server
    # positional host, port and timeout, as before the token argument existed
    with KVStoreClient(host, port, 10.0) as c:
        assert c.set("compat", "yes") is True
        assert c.get("compat") == "yes"
    assert "Authorization" not in KVStoreClient(host, port)._session.headers


def test_unusable_tokens_are_refused_before_sending():
    for bad in ["", "  \n", "two words", "clé"]:
        with pytest.raises(ValueError) as e:
            KVStoreClient(token=bad)
        assert bad.strip() == "" or bad not in str(e.value)
