"""The LangChain vector store against the embedded Redis: LangChain's own standard suite,
unmodified, for every storage mode and both algorithms (sync and native async), and the
behaviour RAG applications rely on beyond it: filters, MMR, relevance scores, metadata
round trips, an existing index."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import redis

pytest.importorskip("langchain_core", reason="the langchain extra is not installed")
pytest.importorskip("langchain_tests", reason="langchain-tests (dev extra) is not installed")

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_tests.integration_tests import VectorStoreIntegrationTests

from redvec.errors import ConfigError, FilterError, IndexNotFoundError
from redvec.filters import Tag
from redvec.integrations.langchain import RedvecVectorStore
from redvec.schema import NumericField, TagField
from redvec.server import EmbeddedServer


def _store(server: EmbeddedServer, embeddings: Embeddings, **options: Any) -> RedvecVectorStore:
    client = server.client()
    client.flushall()
    return RedvecVectorStore(embeddings, index_name="lc", redis_url=server.url, client=client,
                             **options)  # fmt: skip


class _Suite(VectorStoreIntegrationTests):
    storage = "hash"
    algorithm = "HNSW"

    @pytest.fixture()
    def vectorstore(self, redis_server: EmbeddedServer) -> Iterator[RedvecVectorStore]:
        store = _store(
            redis_server, self.get_embeddings(), storage=self.storage, algorithm=self.algorithm
        )
        try:
            yield store
        finally:
            store.delete()


class TestHashHnsw(_Suite):
    storage, algorithm = "hash", "HNSW"


class TestHashFlat(_Suite):
    storage, algorithm = "hash", "FLAT"


class TestJsonHnsw(_Suite):
    storage, algorithm = "json", "HNSW"


class TestJsonFlat(_Suite):
    storage, algorithm = "json", "FLAT"


class TestSplitHnsw(_Suite):
    storage, algorithm = "split", "HNSW"


class TestSplitFlat(_Suite):
    storage, algorithm = "split", "FLAT"


class Axes(Embeddings):
    """Texts like "x2 y1" embed to (2, 1, 0.1): distances a test can reason about."""

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self.embed_query(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        parts = dict((p[0], float(p[1:])) for p in text.split())
        return [parts.get("x", 0.0), parts.get("y", 0.0), 0.1]


@pytest.mark.parametrize("storage", ["hash", "json", "split"])
def test_metadata_round_trips_exactly(redis_server: EmbeddedServer, storage: str) -> None:
    store = _store(redis_server, Axes(), storage=storage)
    meta = {"id": 7, "year": 2001, "score": 0.5, "tags": ["a", "b"], "nested": {"k": [1, None]},
            "ok": True}  # fmt: skip
    ids = store.add_documents([Document("x1", metadata=meta), Document("y1", metadata={})])
    assert store.get_by_ids(ids) == [
        Document("x1", metadata=meta, id=ids[0]),
        Document("y1", metadata={}, id=ids[1]),
    ]
    hit = store.similarity_search("x1", k=1)[0]
    assert hit.metadata == meta and isinstance(hit.metadata["id"], int)
    assert asyncio.run(store.asimilarity_search("x1", k=1))[0] == hit


@pytest.mark.parametrize("storage", ["hash", "json", "split"])
def test_filters_as_langchain_users_write_them(redis_server: EmbeddedServer, storage: str) -> None:
    store = _store(
        redis_server, Axes(), storage=storage,
        metadata_fields=[TagField("source"), NumericField("year")],
    )  # fmt: skip
    docs = [
        Document(f"x{i} y{i % 3}", metadata={"source": "abc"[i % 3], "year": 2000 + i}, id=str(i))
        for i in range(12)
    ]
    store.add_documents(docs)

    def ids(flt: Any, k: int = 12) -> set[str]:
        return {d.id or "" for d in store.similarity_search("x0", k=k, filter=flt)}

    assert ids({"source": "a"}) == {"0", "3", "6", "9"}
    assert ids({"source": {"$ne": "a"}, "year": {"$lt": 2004}}) == {"1", "2"}
    assert ids({"source": {"$in": ["b", "c"]}, "year": {"$gte": 2009}}) == {"10", "11"}
    assert ids({"source": {"$nin": ["a", "b"]}}) == {"2", "5", "8", "11"}
    assert ids({"$or": [{"year": 2000}, {"year": {"$gt": 2010}}]}) == {"0", "11"}
    assert ids({"$and": [{"source": "a"}, {"$not": {"year": {"$lte": 2003}}}]}) == {"6", "9"}
    assert ids(Tag("source") == "c") == {"2", "5", "8", "11"}  # redvec's own filter objects
    assert ids("source:b year<2002") == {"1"}  # and its string form
    # A pre-filter: the nearest 'c' documents, not the nearest documents then filtered.
    assert [d.id for d in store.similarity_search("x0", k=2, filter={"source": "c"})] == ["2", "5"]
    with pytest.raises(FilterError, match="declare it in metadata_fields"):
        store.similarity_search("x0", filter={"author": "me"})
    with pytest.raises(FilterError, match="compares numbers"):
        store.similarity_search("x0", filter={"source": {"$gt": 3}})
    got = asyncio.run(store.asimilarity_search("x0", k=12, filter={"source": "a"}))
    assert {d.id for d in got} == {"0", "3", "6", "9"}


def test_mmr_trades_relevance_for_diversity(redis_server: EmbeddedServer) -> None:
    store = _store(redis_server, Axes())
    # Three near-copies close to the query, one different document a little further.
    store.add_texts(["x10 y1", "x10 y1.1", "x10 y0.9", "x1 y10"], ids=["a", "b", "c", "far"])
    plain = [d.id for d in store.similarity_search("x10 y2", k=2)]
    assert "far" not in plain
    diverse = store.max_marginal_relevance_search("x10 y2", k=2, fetch_k=4, lambda_mult=0.1)
    assert [d.id for d in diverse][1] == "far"  # the second pick is the unlike one
    relevant = store.max_marginal_relevance_search("x10 y2", k=2, fetch_k=4, lambda_mult=1.0)
    assert [d.id for d in relevant] == plain
    async_diverse = asyncio.run(
        store.amax_marginal_relevance_search("x10 y2", k=2, fetch_k=4, lambda_mult=0.1)
    )
    assert [d.id for d in async_diverse] == [d.id for d in diverse]
    mmr_kwargs = {"k": 2, "fetch_k": 4, "lambda_mult": 0.1}
    retriever = store.as_retriever(search_type="mmr", search_kwargs=mmr_kwargs)
    assert [d.id for d in retriever.invoke("x10 y2")] == [d.id for d in diverse]
    with pytest.raises(ConfigError, match="fetch_k"):
        store.max_marginal_relevance_search("x1", k=5, fetch_k=2)


@pytest.mark.parametrize("distance", ["COSINE", "L2", "IP"])
def test_relevance_scores_are_in_zero_one_for_every_metric(
    redis_server: EmbeddedServer, distance: str
) -> None:
    store = _store(redis_server, Axes(), distance=distance, algorithm="FLAT")
    store.add_texts(["x1", "y1", "x-1", "x0.6 y-0.8"])  # unit length: IP is a similarity
    scored = store.similarity_search_with_relevance_scores("x1", k=4)
    scores = [s for _, s in scored]
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert scored[0][0].page_content == "x1" and scores[0] == pytest.approx(1.0, abs=1e-3)
    assert scores == sorted(scores, reverse=True)
    threshold = store.as_retriever(
        search_type="similarity_score_threshold",
        search_kwargs={"score_threshold": scores[1] + 1e-6, "k": 4},
    ).invoke("x1")
    assert [d.page_content for d in threshold] == ["x1"]
    distances = [s for _, s in store.similarity_search_with_score("x1", k=2)]
    assert distances[0] == pytest.approx(0.0, abs=0.02) and distances[1] > distances[0]


def test_from_existing_index_and_from_texts(redis_server: EmbeddedServer) -> None:
    store = _store(redis_server, Axes(), storage="json")
    store.add_texts(["x1", "y1"], metadatas=[{"n": 1}, {"n": 2}], ids=["p", "q"])
    again = RedvecVectorStore.from_existing_index("lc", Axes(), redis_url=redis_server.url)
    assert again.similarity_search("y1", k=1) == [Document("y1", metadata={"n": 2}, id="q")]
    assert again.index is not None and again.index.schema.storage == "json"
    with pytest.raises(IndexNotFoundError):
        RedvecVectorStore.from_existing_index("nope", Axes(), redis_url=redis_server.url)
    made = RedvecVectorStore.from_texts(
        ["x2"], Axes(), index_name="lc2", redis_url=redis_server.url, ids=["only"]
    )
    assert made.get_by_ids(["only"])[0].page_content == "x2"


def test_delete_all_empties_the_index_and_keeps_it(redis_server: EmbeddedServer) -> None:
    store = _store(redis_server, Axes(), storage="split")
    store.add_texts([f"x{i}" for i in range(30)])
    assert store.delete() is True
    assert store.similarity_search("x1", k=5) == []
    assert store.index is not None and store.index.count() == 0
    store.add_texts(["y1"], ids=["back"])
    assert [d.id for d in store.similarity_search("y1", k=5)] == ["back"]


def test_async_paths_use_an_asyncio_client(redis_server: EmbeddedServer) -> None:
    """Native async: the store's async methods talk through redis.asyncio, not threads."""
    store = _store(redis_server, Axes())

    async def run() -> list[Any]:
        ids = await store.aadd_texts(["x1", "y1"], ids=["a", "b"])
        found = await store.asimilarity_search("x1", k=1)
        got = await store.aget_by_ids(["b", "zz"])
        await store.adelete(["a"])
        left = await store.asimilarity_search("x1", k=5)
        return [ids, found, got, left]

    ids, found, got, left = asyncio.run(run())
    assert ids == ["a", "b"] and found[0].id == "a" and [d.id for d in got] == ["b"]
    assert [d.id for d in left] == ["b"]
    aindex = store._async_index()
    assert aindex is not None and isinstance(aindex.client, redis.asyncio.Redis)
    assert np.isclose(store.similarity_search_with_score("y1", k=1)[0][1], 0.0, atol=1e-3)
