"""SearchIndex and AsyncSearchIndex run the same plans, and ClusterIndex offers the same
surface over a 3-shard cluster: same calls, same answers, same errors."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import numpy as np
import pytest
import redis
import redis.asyncio as aredis

from redvec import AsyncSearchIndex, SearchIndex
from redvec.cluster import ClusterIndex, LocalCluster
from redvec.errors import IndexNotFoundError, VectorError
from redvec.query import KnnQuery, SearchResult
from redvec.schema import IndexSchema, NumericField, TagField, TextField, VectorField
from redvec.surface import AsyncVectorIndex, VectorIndex


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


def _mixed(storage: str) -> IndexSchema:
    return IndexSchema(
        "cong:three", "cong3:", (TagField("tag"), NumericField("n"), TextField("body"),
        VectorField("vec", dims=8, algorithm="FLAT", distance="L2")), storage=storage,  # type: ignore[arg-type]
    )  # fmt: skip


@pytest.mark.parametrize("storage", ["hash", "json"])
def test_one_node_async_and_a_three_shard_cluster_answer_alike(
    r: redis.Redis, redis_url: str, cluster: LocalCluster, storage: str
) -> None:
    """The shared surface (redvec.surface.VectorIndex): the same calls on one node, on
    one node from asyncio and on a 3-shard cluster give the same answers and errors."""
    schema = _mixed(storage)
    rng = np.random.default_rng(3)
    docs = [
        {"id": f"d{i}", "tag": "abc"[i % 3], "n": i, "body": f"item {i}",
         "vec": rng.standard_normal(8).astype(np.float32)}
        for i in range(300)
    ]  # fmt: skip
    queries = rng.standard_normal((6, 8)).astype(np.float32)
    rc = cluster.client()
    rc.flushall()

    def calls(idx: VectorIndex) -> list[Any]:
        assert idx.upsert(docs) == 300
        idx.wait_indexed()
        knn = [KnnQuery(q, 7, filter="tag:b n>=40", return_fields=["n", "tag"]) for q in queries]
        out: list[Any] = [
            idx.count(),
            [_answer(idx.search(q, 10)) for q in queries],
            [_answer(idx.search(q, 5, offset=4, return_fields=["body"])) for q in queries],
            [_answer(res) for res in idx.search_many(knn)],
            _answer(idx.range_search(queries[0], 7.0, 20, filter="tag:a")),
            idx.get(["d4", "nope", "d299"]),
            idx.delete(["d4", "nope", "d5"]),
        ]
        idx.wait_indexed()
        out.append(idx.count())
        with pytest.raises(VectorError, match="dimension"):
            idx.search([1.0, 2.0], 3)
        with pytest.raises(VectorError, match="searches\\[1\\]"):
            idx.search_many([knn[0], KnnQuery([1.0], 3)])
        return out

    async def from_asyncio() -> list[Any]:
        client = aredis.Redis.from_url(redis_url, protocol=2)
        try:
            idx: AsyncVectorIndex = await AsyncSearchIndex.create(
                client, dataclasses.replace(schema, name="cong:three:aio", prefix="cong3a:")
            )
            knn = [
                KnnQuery(q, 7, filter="tag:b n>=40", return_fields=["n", "tag"]) for q in queries
            ]
            assert await idx.upsert(docs) == 300
            await idx.wait_indexed()
            out: list[Any] = [
                await idx.count(),
                [_answer(await idx.search(q, 10)) for q in queries],
                [
                    _answer(await idx.search(q, 5, offset=4, return_fields=["body"]))
                    for q in queries
                ],
                [_answer(res) for res in await idx.search_many(knn)],
                _answer(await idx.range_search(queries[0], 7.0, 20, filter="tag:a")),
                await idx.get(["d4", "nope", "d299"]),
                await idx.delete(["d4", "nope", "d5"]),
            ]
            await idx.wait_indexed()
            out.append(await idx.count())
            with pytest.raises(VectorError, match="dimension"):
                await idx.search([1.0, 2.0], 3)
            return out
        finally:
            await client.aclose()

    try:
        one = SearchIndex.create(r, schema)
        spread = ClusterIndex.create(rc, schema)
        assert isinstance(one, VectorIndex) and isinstance(spread, VectorIndex)
        assert len(spread.shards) == 3
        want = calls(one)
        assert want[0] == 300 and want[6] == 2 and want[7] == 298
        assert len(want[4][1]) > 3  # the range query found something to compare
        assert calls(spread) == want
        assert all(s.count() > 0 for s in spread.shards)  # every shard held a share
        assert asyncio.run(from_asyncio()) == want
        with pytest.raises(IndexNotFoundError):
            SearchIndex.open(r, "cong:none")
        with pytest.raises(IndexNotFoundError):
            ClusterIndex.open(rc, "cong:none")
    finally:
        rc.close()


def _answer(res: SearchResult) -> tuple[int, list[tuple[str, float, dict[str, Any]]]]:
    """A result as comparable data: total, and (id, distance to 4 places, fields)."""
    return res.total, [(h.id, round(float(h.distance or 0.0), 4), h.fields) for h in res.hits]
