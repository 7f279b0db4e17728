"""The use cases every front-end calls (redvec.usecases), against the embedded Redis and
the local OpenAI-protocol embedding server: the same rule for every way in."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest
import redis
import redis.asyncio as aredis

from redvec import AsyncSearchIndex, SearchIndex
from redvec.documents import document_id, text_to_embed
from redvec.embeddings import make_provider
from redvec.embeddings.base import Embedder
from redvec.errors import ValidationError
from redvec.providers import provider_spec, remember_provider
from redvec.query import SearchMode
from redvec.schema import IndexSchema, TagField, TextField, VectorField
from redvec.usecases import (
    DocumentsRefused,
    SearchSpec,
    search_by_text,
    search_by_text_async,
    upsert_documents,
)

from .embedding_server import API_KEY, EmbeddingServer

SCHEMA = IndexSchema(
    "uc", "uc:", (TextField("title"), TextField("body"), TagField("tag"), VectorField("v", 8))
)


def _embedder(server: EmbeddingServer) -> Embedder:
    return make_provider("openai", model="m", base_url=f"{server.url}/v1", api_key=API_KEY, dims=8)


def test_the_id_and_text_rules() -> None:
    assert document_id({"id": 7}) == "7" and document_id({"key": "a"}, "key") == "a"
    for bad in (None, "", 1.5, True, [1], {"a": 1}):
        assert document_id({"id": bad}) is None
    assert text_to_embed(["A title", None, "  ", 5, "the body"]) == "A title\n\nthe body"
    assert text_to_embed([None, " "]) == ""


def test_upsert_embeds_what_lacks_a_vector_and_refuses_all_or_none(
    r: redis.Redis, server: EmbeddingServer
) -> None:
    idx = SearchIndex.create(r, SCHEMA)
    embedder = _embedder(server)
    given = np.ones(8, dtype=np.float32)
    done = upsert_documents(
        idx,
        [{"id": "a", "title": "red apple", "body": "sweet"}, {"id": "b", "v": given}],
        embedder=embedder,
        text_fields=["title", "body"],
    )
    assert done.written == ["a", "b"] and done.embedded == 1 and done.failed == {}
    stored = idx.get(["a"], with_vectors=True)[0]
    assert stored is not None
    want = embedder.embed(["red apple\n\nsweet"])[0]
    np.testing.assert_allclose(stored["v"], want, rtol=1e-6)
    # One document with nothing to embed refuses the whole request; nothing is written.
    with pytest.raises(DocumentsRefused, match="'c' has no vector 'v' and no text") as e:
        upsert_documents(
            idx, [{"id": "d", "title": "ok"}, {"id": "c", "tag": "x"}], embedder=embedder,
            text_fields=["title"],
        )  # fmt: skip
    assert e.value.code == "invalid_request"
    with pytest.raises(DocumentsRefused, match="repeats id 'e'") as e:
        upsert_documents(idx, [{"id": "e", "v": given}, {"id": "e", "v": given}])
    assert e.value.code == "invalid_document" and e.value.refused == 1
    with pytest.raises(DocumentsRefused, match="no embedding provider"):
        upsert_documents(idx, [{"id": "f", "title": "no vector, no embedder"}])
    assert idx.get(["c", "d", "e", "f"]) == [None] * 4


def test_search_by_text_picks_the_mode_by_one_rule(r: redis.Redis, server: EmbeddingServer) -> None:
    idx = SearchIndex.create(r, SCHEMA)
    embedder = _embedder(server)
    docs: list[dict[str, Any]] = [
        {"id": str(i), "title": t, "body": "", "tag": "x"}
        for i, t in enumerate(["red apple", "green pear", "blue sky", "red sky"])
    ]
    upsert_documents(idx, docs, embedder=embedder, text_fields=["title"])
    # No provider recorded: text alone falls back to BM25, and the answer says the rule chose it.
    done = search_by_text(idx, SearchSpec(text="sky", k=4))
    assert done.mode is SearchMode.BM25 and done.chosen
    assert sorted(done.result.ids) == ["2", "3"]
    with pytest.raises(ValidationError, match="no embedding provider"):
        search_by_text(idx, SearchSpec(text="sky", mode="dense"))
    remember_provider(idx, provider_spec("openai", "m", f"{server.url}/v1"), ["title"])
    idx.refresh()
    dense = search_by_text(idx, SearchSpec(text="red apple", k=1), embedder=embedder)
    assert dense.mode is SearchMode.DENSE and dense.result.ids == ["0"]
    vector = embedder.embed(["blue sky"])[0]
    hybrid = search_by_text(idx, SearchSpec(text="sky", vector=vector, k=2), embedder=embedder)
    assert hybrid.mode is SearchMode.HYBRID and hybrid.result.ids[0] == "2"
    with pytest.raises(ValidationError, match="offset"):
        search_by_text(idx, SearchSpec(text="sky", vector=vector, offset=1))
    timed: list[str] = []

    class Timer:
        def __init__(self, op: str) -> None:
            timed.append(op)

        def __enter__(self) -> None: ...

        def __exit__(self, *exc: object) -> None: ...

    search_by_text(idx, SearchSpec(text="sky", mode="bm25"), timed=Timer)
    assert timed == ["text"]


def test_search_by_text_answers_alike_from_asyncio(
    r: redis.Redis, redis_url: str, server: EmbeddingServer
) -> None:
    idx = SearchIndex.create(r, SCHEMA)
    embedder = _embedder(server)
    docs = [
        {"id": str(i), "title": f"item {i} sky" if i % 2 else f"item {i}", "tag": "xy"[i % 3 % 2]}
        for i in range(12)
    ]
    upsert_documents(idx, docs, embedder=embedder, text_fields=["title"])
    specs = [
        SearchSpec(text="sky", k=5),
        SearchSpec(text="item 3", k=3, mode="dense"),
        SearchSpec(text="sky", k=3, mode="hybrid", filter="tag:x"),
    ]

    async def embed(texts: list[str]) -> Any:
        return embedder.embed(texts)

    async def run() -> list[tuple[str, list[str]]]:
        client = aredis.Redis.from_url(redis_url, protocol=2)
        try:
            aidx = await AsyncSearchIndex.open(client, "uc")
            out = []
            for spec in specs:
                done = await search_by_text_async(aidx, spec, embed=embed)
                out.append((done.mode.value, done.result.ids))
            return out
        finally:
            await client.aclose()

    remember_provider(idx, provider_spec("openai", "m", f"{server.url}/v1"), ["title"])
    idx.refresh()
    want = []
    for spec in specs:
        done = search_by_text(idx, spec, embedder=embedder)
        want.append((done.mode.value, done.result.ids))
    assert [m for m, _ in want] == ["dense", "dense", "hybrid"] and all(ids for _, ids in want)
    assert asyncio.run(run()) == want
