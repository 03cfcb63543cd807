"""Search through the Python client, by content: which keys come back, in what order, and that
deleted or overwritten documents leave the results. A module of its own, so its server (one per
module, see conftest.py) holds only these documents."""

import pytest

from kvstore_client import KVStoreClient, KVStoreError


@pytest.fixture
def client(server):
    host, port = server
    with KVStoreClient(host=host, port=port) as c:
        yield c


def keys(results):
    """The keys of a result list, checking it is best first."""
    scores = [r["score"] for r in results]
    assert scores == sorted(scores, reverse=True), results
    return [r["key"] for r in results]


def dimension(client):
    """The vector index's dimension, read from the 400 a one-number vector gets."""
    with pytest.raises(KVStoreError) as e:
        client.semantic_search([1.0], k=1)
    assert e.value.status == 400
    return int(e.value.message.split("expects ")[1].split()[0])


def axis(dim, i):
    return [1.0 if j == i else 0.0 for j in range(dim)]


def test_full_text_returns_the_matching_keys_best_first(client):
    client.set("fox-many", "fox fox fox fox")
    client.set(
        "fox-once",
        "a long report on the weather in the northern hills, where one cold morning a fox "
        "was seen crossing the road near the old mill before the rain came down",
    )
    client.set("dog", "a lazy dog sleeps in the sun")
    # Four occurrences in a four-word document outrank one in a thirty-word one.
    assert keys(client.search("fox")) == ["fox-many", "fox-once"]
    assert keys(client.search("fox", k=1)) == ["fox-many"]
    assert keys(client.search("sleeping")) == ["dog"]
    assert client.search("zebra") == []


def test_deleted_and_overwritten_documents_leave_the_results(client):
    client.set("d1", "the river otter swims")
    client.set("d2", "otter otter otter")
    client.set("d3", "a mountain goat climbs")
    assert keys(client.search("otter")) == ["d2", "d1"]
    assert client.delete("d2")
    assert keys(client.search("otter")) == ["d1"]
    client.set("d1", "a sea lion swims")
    assert client.search("otter") == []
    assert keys(client.search("lion")) == ["d1"]
    client.bulk_set([("d3", "an otter and a goat")])
    assert keys(client.search("otter")) == ["d3"]
    assert client.search("mountain") == []


def test_semantic_search_puts_the_document_sharing_the_query_words_first(client):
    client.set("volcano", "volcano lava eruption ash crater")
    client.set("bank", "bank interest rates loans mortgage")
    client.set("bread", "bread oven flour yeast dough")
    assert keys(client.semantic_search("volcano lava eruption", k=3))[0] == "volcano"
    assert keys(client.semantic_search("bread flour yeast", k=1)) == ["bread"]
    assert client.delete("volcano")
    assert "volcano" not in keys(client.semantic_search("volcano lava eruption", k=10))


def test_semantic_search_by_vector_finds_the_nearest_vector(client):
    dim = dimension(client)
    client.set("along-0", "with vector", vector=axis(dim, 0))
    client.set("along-1", "with vector", vector=axis(dim, 1))
    client.set("between", "with vector", vector=[1.0, 1.0] + [0.0] * (dim - 2))
    # Cosine with axis 1: along-1 1.0, between 0.71, along-0 0.
    got = client.semantic_search(axis(dim, 1), k=2)
    assert keys(got) == ["along-1", "between"]
    assert got[0]["score"] == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize("k", [0, -1, 1001, 5000, 1.5, "abc"])
def test_k_outside_1_to_1000_is_400_naming_the_limit(client, k):
    dim = dimension(client)
    for call in (
        lambda: client.search("fox", k=k),
        lambda: client.semantic_search("fox", k=k),  # GET
        lambda: client.semantic_search(axis(dim, 0), k=k),  # POST
    ):
        with pytest.raises(KVStoreError) as e:
            call()
        assert e.value.status == 400
        assert "from 1 to 1000" in e.value.message, e.value.message


def test_k_of_1000_is_accepted(client):
    assert isinstance(client.search("fox", k=1000), list)
    assert isinstance(client.semantic_search("fox", k=1000), list)
    assert isinstance(client.semantic_search(axis(dimension(client), 0), k=1000), list)
