"""SearchIndex and AsyncSearchIndex run the same plans: same calls, same answers, same
errors, in every storage mode."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import numpy as np
import pytest
import redis
import redis.asyncio as aredis

from redvec import AsyncSearchIndex, SearchIndex
from redvec.errors import IndexNotFoundError, VectorError
from redvec.schema import IndexSchema, NumericField, TagField, TextField, VectorField


def _schema(storage: str) -> IndexSchema:
    return IndexSchema(
        f"cong_{storage}", f"cong_{storage}:", (TextField("body"), TagField("tag"),
        NumericField("n"), VectorField("vec", dims=4, algorithm="FLAT")), storage=storage,  # type: ignore[arg-type]
    )  # fmt: skip


def _docs(n: int) -> list[dict[str, Any]]:
    rng = np.random.default_rng(7)
    words = ["red apple", "green pear", "blue sky", "red sky"]
    return [
        {"id": f"d{i}", "body": words[i % 4], "tag": ["a", "b"][i % 2], "n": i,
         "vec": rng.random(4).astype(np.float32)}
        for i in range(n)
    ]  # fmt: skip


@pytest.mark.parametrize("storage", ["hash", "json", "split"])
def test_sync_and_async_give_the_same_answers(r: redis.Redis, redis_url: str, storage: str) -> None:
    schema = _schema(storage)
    sync = SearchIndex.create(r, schema)
    docs = _docs(40)
    q = docs[3]["vec"]

    async def run() -> list[Any]:
        client = aredis.Redis.from_url(redis_url, protocol=2)
        try:
            idx = await AsyncSearchIndex.open(client, schema.name)
            assert idx.schema == sync.schema
            out = [
                await idx.upsert(docs[20:]),
                await idx.count(),
                [h.id for h in (await idx.search(q, 5, filter="tag:a")).hits],
                [h.id for h in (await idx.text_search("red", 5)).hits],
                [h.id for h in (await idx.hybrid_search("sky", q, 5)).hits],
                await idx.get(["d1", "d25", "nope"]),
                await idx.delete(["d25", "nope"]),
            ]
            with pytest.raises(VectorError, match="dimension"):
                await idx.search([1.0, 2.0], 3)
            gone = AsyncSearchIndex(client, dataclasses.replace(schema, name="cong_missing"))
            with pytest.raises(IndexNotFoundError):
                await gone.count()
            return out
        finally:
            await client.aclose()

    sync.upsert(docs[:20])
    answers = asyncio.run(run())
    sync.upsert([docs[25]])  # what the async side deleted, back for the sync side
    assert answers[0] == 20 and answers[1] == 40
    assert answers[2] == [h.id for h in sync.search(q, 5, filter="tag:a").hits]
    assert answers[3] == [h.id for h in sync.text_search("red", 5).hits]
    assert answers[4] == [h.id for h in sync.hybrid_search("sky", q, 5).hits]
    got = sync.get(["d1", "d25", "nope"])
    assert [d and d["id"] for d in answers[5]] == [d and d["id"] for d in got]
    assert answers[6] == sync.delete(["d25", "nope"]) == 1
    with pytest.raises(VectorError, match="dimension"):
        sync.search([1.0, 2.0], 3)
