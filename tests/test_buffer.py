"""The write buffer (redvec.buffer, redvec.merger) on the embedded Redis: buffered documents
are found by every search before they are merged, updates shadow, deletes remove both,
merges are atomic (a merger killed with -9 loses nothing), back-pressure, and the HTTP
service and the stream worker use the buffer."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis
import redis.asyncio as aredis

from redvec import AsyncSearchIndex
from redvec.errors import BufferFullError, SchemaError
from redvec.index import SearchIndex, list_indexes
from redvec.ingest.worker import StreamWorker, enqueue
from redvec.merger import Merger
from redvec.query import KnnQuery
from redvec.schema import IndexSchema
from redvec.usecases import SearchSpec, search_by_text

from .conftest import REDVEC
from .embedding_server import API_KEY, EmbeddingServer

DIMS = 4


def buffered_schema(
    name: str = "wb", storage: str = "hash", max_docs: int = 5000, wait: float = 30.0
) -> IndexSchema:
    return IndexSchema.from_dict(
        {
            "name": name,
            "prefix": f"{name}:",
            "storage": storage,
            "write_buffer": {"max_docs": max_docs, "wait_seconds": wait},
            "fields": [
                {"name": "title", "type": "text"},
                {"name": "cat", "type": "tag"},
                {"name": "n", "type": "numeric"},
                {"name": "v", "type": "vector", "dims": DIMS, "distance": "L2"},
            ],
        }
    )


def docs(n: int, seed: int = 0, start: int = 0) -> list[dict[str, Any]]:
    rng = np.random.default_rng(seed)
    return [
        {
            "id": str(i),
            "title": f"doc {i} about {'cats' if i % 2 else 'dogs'}",
            "cat": "odd" if i % 2 else "even",
            "n": i,
            "v": rng.normal(size=DIMS).astype(np.float32),
        }
        for i in range(start, start + n)
    ]


def keys_under(r: redis.Redis, prefix: str) -> set[str]:
    return {k.decode()[len(prefix) :] for k in r.scan_iter(match=f"{prefix}*", count=1000)}


def answers(idx: SearchIndex, q: np.ndarray) -> dict[str, Any]:
    return {
        "knn": idx.search(q, 5).ids,
        "filtered": idx.search(q, 5, filter="cat:odd").ids,
        "range": idx.range_search(q, 4.0, 50).ids,
        "text": sorted(idx.text_search("cats", 100).ids),
        "hybrid": idx.hybrid_search("cats", q, 5).ids,
        "many": [r.ids for r in idx.search_many([KnnQuery(q, 3), KnnQuery(q, 3, "n>=10")])],
        "count": idx.count(),
    }


@pytest.mark.parametrize("storage", ["hash", "json", "split"])
def test_a_buffered_document_is_found_by_every_search_before_it_is_merged(
    r: redis.Redis, storage: str
) -> None:
    idx = SearchIndex.create(r, buffered_schema(storage=storage))
    written = docs(40)
    assert idx.upsert(written) == 40
    idx.wait_indexed()
    assert keys_under(r, "wbuf:wb:") == {d["id"] for d in written} and not keys_under(r, "wb:")
    q = written[7]["v"] + 0.01
    before = answers(idx, q)
    vectors = np.stack([d["v"] for d in written])
    nearest = np.argsort(((vectors - q) ** 2).sum(axis=1))
    assert before["knn"] == [str(i) for i in nearest[:5]]
    assert before["filtered"] == [str(i) for i in nearest if i % 2][:5]
    assert before["text"] == sorted(str(i) for i in range(1, 40, 2))
    assert before["count"] == 40 and idx.get(["7"])[0]["title"] == "doc 7 about cats"
    spec = SearchSpec(text="cats", vector=q, k=5)
    assert search_by_text(idx, spec).result.ids == before["hybrid"]
    assert Merger(idx).drain().moved == 40
    assert keys_under(r, "wb:") == {d["id"] for d in written} and not keys_under(r, "wbuf:wb:")
    idx.wait_indexed()
    after = answers(idx, q)
    assert {k: v for k, v in after.items() if k != "text"} == {
        k: v for k, v in before.items() if k != "text"
    }
    assert after["text"] == before["text"]


@pytest.mark.parametrize("storage", ["hash", "split"])
def test_an_update_in_the_buffer_shadows_the_merged_version_and_a_delete_removes_both(
    r: redis.Redis, storage: str
) -> None:
    idx = SearchIndex.create(r, buffered_schema(storage=storage))
    idx.upsert(docs(10))
    Merger(idx).drain()
    changed = {**docs(10)[3], "title": "renamed entirely", "cat": "moved"}
    idx.upsert([changed])
    assert r.exists("wb:3") == 0 and r.exists("wbuf:wb:3") == 1  # one version only
    assert idx.count() == 10
    assert idx.get(["3"])[0]["title"] == "renamed entirely"
    assert idx.search(changed["v"], 1).hits[0].fields["cat"] == "moved"
    assert idx.search(changed["v"], 10, filter="cat:odd").ids.count("3") == 0
    idx.upsert([{**docs(10)[5], "title": "five again"}])
    assert idx.delete(["3", "4", "5", "nope"]) == 3  # buffered, merged, both
    assert not {"3", "4", "5"} & (keys_under(r, "wb:") | keys_under(r, "wbuf:wb:"))
    assert idx.count() == 7 and "3" not in idx.search(changed["v"], 10).ids
    if storage == "split":  # the JSON documents went with their hashes, the rest stayed
        assert keys_under(r, "doc:") == {str(i) for i in range(10)} - {"3", "4", "5"}


def test_a_merger_killed_mid_move_and_restarted_ends_with_every_document_exactly_once(
    r: redis.Redis, cli_env: dict[str, str]
) -> None:
    idx = SearchIndex.create(r, buffered_schema())
    n = 1500
    idx.upsert(docs(n))
    merger = subprocess.Popen(
        [*REDVEC, "merge", "-i", "wb", "--pause", "0.001"], env=cli_env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while len(keys_under(r, "wb:")) < 200 and time.monotonic() < deadline:
        time.sleep(0.02)
    merger.send_signal(signal.SIGKILL)
    merger.wait()
    moved, left = keys_under(r, "wb:"), keys_under(r, "wbuf:wb:")
    assert moved and left and not moved & left  # killed mid-way: each document in one place
    assert moved | left == {str(i) for i in range(n)}
    done = subprocess.run(
        [*REDVEC, "merge", "-i", "wb", "--once"], env=cli_env, capture_output=True, text=True,
        timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert keys_under(r, "wb:") == {str(i) for i in range(n)} and not keys_under(r, "wbuf:wb:")
    idx.wait_indexed()
    assert idx.count() == n
    assert idx.get(["1234"])[0]["n"] == 1234


def test_two_mergers_on_one_index_never_move_a_document_twice(r: redis.Redis) -> None:
    idx = SearchIndex.create(r, buffered_schema())
    idx.upsert(docs(800))
    mergers = [Merger(SearchIndex.open(r, "wb"), batch=100) for _ in range(2)]
    threads = [threading.Thread(target=m.drain) for m in mergers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sum(m.totals.moved for m in mergers) == 800
    assert keys_under(r, "wb:") == {str(i) for i in range(800)}
    assert idx.count() == 800


def test_a_full_buffer_makes_writers_wait_and_then_refuses_naming_what_was_written(
    r: redis.Redis,
) -> None:
    idx = SearchIndex.create(r, buffered_schema(max_docs=20, wait=0.3))
    with pytest.raises(BufferFullError, match="16 documents of this call were written") as e:
        idx.upsert(docs(30))  # sent 16 a round trip: the next 14 do not fit in 20
    assert e.value.status == 503 and "redvec merge -i wb" in str(e.value)
    assert idx.count() == 16 and len(keys_under(r, "wbuf:wb:")) == 16
    stop = threading.Event()
    Merger(SearchIndex.open(r, "wb")).start(stop)  # a merger makes room: the writer waits
    try:
        assert idx.upsert(docs(200, start=100)) == 200
    finally:
        stop.set()
    assert len(keys_under(r, "wbuf:wb:")) <= 20 + 20


def test_the_schema_of_a_buffer(r: redis.Redis) -> None:
    schema = buffered_schema(max_docs=7)
    assert IndexSchema.from_dict(schema.to_dict()) == schema
    assert schema.to_dict()["write_buffer"] == {"max_docs": 7, "wait_seconds": 30.0}
    buffer = schema.buffer
    assert buffer is not None and buffer.name == "wb.wbuf" and buffer.prefix == "wbuf:wb:"
    assert buffer.vector_field().algorithm == "FLAT"
    bad = buffered_schema().to_dict()
    split = buffered_schema(storage="split").buffer
    assert split is not None and split.document_prefix == "doc:"  # one JSON, two hashes
    flat = {**bad, "fields": [{"name": "v", "type": "vector", "dims": 4, "algorithm": "FLAT"}]}
    with pytest.raises(SchemaError, match="no HNSW vector field"):
        IndexSchema.from_dict(flat)
    with pytest.raises(SchemaError, match="unknown key"):
        IndexSchema.from_dict({**bad, "write_buffer": {"size": 3}})
    SearchIndex.create(r, schema)
    assert list_indexes(r) == ["wb"]  # the buffer's own index is part of its index
    assert SearchIndex.open(r, "wb").schema.write_buffer == schema.write_buffer
    with pytest.raises(SchemaError, match="write buffers"):
        SearchIndex.create(r, IndexSchema.from_dict({**bad, "name": "x.wbuf", "prefix": "x:"}))
    SearchIndex.open(r, "wb").drop(delete_documents=True)
    assert r.execute_command("FT._LIST") == []


def test_the_stream_worker_writes_through_the_buffer_and_merges_it(
    r: redis.Redis, server: EmbeddingServer
) -> None:
    from redvec.embeddings import make_provider

    schema = IndexSchema.from_dict(
        {
            "name": "wq", "prefix": "wq:", "write_buffer": {"max_docs": 50},
            "fields": [{"name": "text", "type": "text"},
                       {"name": "embedding", "type": "vector", "dims": 8}],
        }
    )  # fmt: skip
    idx = SearchIndex.create(r, schema)
    provider = make_provider("openai", model="m", base_url=f"{server.url}/v1", api_key=API_KEY)
    worker = StreamWorker(idx, provider, stream="jq", group="g", consumer="c", block_ms=10,
                          batch_size=16)  # fmt: skip
    enqueue(r, "jq", [{"id": f"d{i}", "text": f"text number {i}"} for i in range(120)])
    worker.run(install_signal_handlers=False, idle_exit=True)
    assert idx.count() == 120
    deadline = time.monotonic() + 30
    while keys_under(r, "wbuf:wq:") and time.monotonic() < deadline:
        Merger(idx).once()
    assert len(keys_under(r, "wq:")) == 120


def test_the_http_service_uses_the_buffer_and_merges_it(
    redis_url: str, r: redis.Redis, tmp_path: Path
) -> None:
    import httpx

    from .api.conftest import start_service

    svc = start_service(redis_url, tmp_path, env={"REDVEC_MERGE": "1"})
    try:
        body = buffered_schema("wh").to_dict()
        with httpx.Client(base_url=svc.url, timeout=30) as c:
            assert c.post("/v1/indexes", json=body).status_code == 201
            sent = [{**d, "v": d["v"].tolist()} for d in docs(30)]
            put = c.put("/v1/indexes/wh/documents", json={"documents": sent})
            assert put.status_code == 200, put.text
            found = c.post("/v1/indexes/wh/search", json={"vector": sent[4]["v"], "k": 1})
            assert found.json()["results"][0]["id"] == "4"  # searchable once acknowledged
            deadline = time.monotonic() + 30
            while keys_under(r, "wbuf:wh:") and time.monotonic() < deadline:
                time.sleep(0.1)
            assert keys_under(r, "wh:") == {str(i) for i in range(30)}  # merged by the service
            assert c.get("/v1/indexes").json()["indexes"] == ["wh"]
            metrics = c.get("/metrics").text
            assert 'redvec_write_buffer_documents{index="wh"} 0.0' in metrics
            assert 'redvec_write_buffer_merged_total{index="wh"} 30.0' in metrics
    finally:
        svc.stop()


@pytest.mark.parametrize("storage", ["hash", "json", "split"])
def test_replacing_vectors_on_a_buffered_index_keeps_every_field_and_each_document_once(
    r: redis.Redis, storage: str
) -> None:
    """update_vectors (the re-embed's write) on an index with a write buffer: it was refused;
    now a merged document moves into the buffer with its new vector (a vector write into the
    graph would stall readers like any write), a buffered one is changed where it is."""
    idx = SearchIndex.create(r, buffered_schema(storage=storage))
    idx.upsert(docs(20))
    Merger(idx).drain()
    idx.upsert(docs(5, seed=1, start=20))  # 20..24 stay buffered
    rng = np.random.default_rng(7)
    fresh = {i: rng.normal(size=DIMS).astype(np.float32) for i in ("3", "4", "21")}
    assert idx.update_vectors(list(fresh), list(fresh.values())) == 3
    assert keys_under(r, "wb:") == {str(i) for i in range(20)} - {"3", "4"}
    assert keys_under(r, "wbuf:wb:") == {"3", "4", *(str(i) for i in range(20, 25))}
    for doc_id, vector in fresh.items():
        got = idx.get([doc_id], with_vectors=True)[0]
        assert got is not None and got["n"] == int(doc_id) and got["cat"] in ("odd", "even")
        np.testing.assert_allclose(got["v"], vector, rtol=1e-6)
        hit = idx.search(vector, 1).hits[0]
        assert hit.id == doc_id and hit.distance == pytest.approx(0.0, abs=1e-5)
        assert doc_id in idx.search(vector, 3, filter=f"n:{doc_id}..{doc_id}").ids
    assert idx.count() == 25
    merged = idx.get(["7"], with_vectors=True)[0]  # untouched, in the index alone
    assert merged is not None and merged["n"] == 7
    np.testing.assert_allclose(merged["v"], docs(20)[7]["v"], rtol=1e-6)
    Merger(idx).drain()
    assert keys_under(r, "wb:") == {str(i) for i in range(25)} and not keys_under(r, "wbuf:wb:")
    idx.wait_indexed()
    assert idx.search(fresh["4"], 1).ids == ["4"] and idx.count() == 25


@pytest.mark.parametrize("storage", ["hash", "split"])
def test_iterating_vectors_of_a_buffered_index_gives_each_document_once_newest_vector(
    r: redis.Redis, redis_url: str, storage: str
) -> None:
    """iter_vectors (ground truth for the tuner and the benchmarks) read the index's keys
    only, so a buffered index's newest documents were missing from exact search."""
    idx = SearchIndex.create(r, buffered_schema(storage=storage))
    idx.upsert(docs(30))
    Merger(idx).drain()
    newer = {**docs(30)[2], "v": np.full(DIMS, 9.0, dtype=np.float32)}
    idx.upsert([newer, *docs(10, start=30)])
    ids, rows = [], []
    for batch_ids, matrix in idx.iter_vectors(batch=7):
        ids += batch_ids
        rows.append(matrix)
    assert sorted(ids, key=int) == [str(i) for i in range(40)]
    np.testing.assert_allclose(np.vstack(rows)[ids.index("2")], newer["v"])

    async def walk_async() -> list[str]:
        client = aredis.Redis.from_url(redis_url, protocol=2)
        try:
            aidx = await AsyncSearchIndex.open(client, "wb")
            return [i async for batch_ids, _ in aidx.iter_vectors(batch=7) for i in batch_ids]
        finally:
            await client.aclose()

    assert sorted(asyncio.run(walk_async()), key=int) == [str(i) for i in range(40)]


@pytest.mark.parametrize("storage", ["hash", "split"])
def test_reembedding_a_buffered_index_replaces_every_vector(
    r: redis.Redis, server: EmbeddingServer, storage: str
) -> None:
    from redvec.embeddings import make_provider
    from redvec.ingest.reembed import reembed

    from .embedding_server import vector_for

    schema = IndexSchema.from_dict(
        {
            "name": "wbr",
            "prefix": "wbr:",
            "storage": storage,
            "write_buffer": {"max_docs": 100},
            "fields": [
                {"name": "text", "type": "text"},
                {"name": "v", "type": "vector", "dims": 8, "distance": "COSINE"},
            ],
        }
    )
    idx = SearchIndex.create(r, schema)
    idx.upsert([{"id": f"d{i}", "text": f"text {i}", "v": np.ones(8)} for i in range(12)])
    Merger(idx).drain()
    idx.upsert([{"id": f"d{i}", "text": f"text {i}", "v": np.ones(8)} for i in range(12, 20)])
    new = make_provider("openai", model="m2", base_url=f"{server.url}/v1", api_key=API_KEY, dims=8)
    summary = reembed(idx, new, ["text"], batch_size=5)
    assert (summary.seen, summary.updated) == (20, 20)
    for i in (0, 11, 12, 19):
        got = idx.get([f"d{i}"], with_vectors=True)[0]
        assert got is not None and got["text"] == f"text {i}"
        np.testing.assert_allclose(got["v"], vector_for(f"text {i}", 8, "m2"), rtol=1e-6)
    assert idx.count() == 20


def test_a_buffered_update_on_a_full_server_is_refused_whole_and_keeps_the_merged_version(
    r: redis.Redis,
) -> None:
    """Over maxmemory, the buffered write's transaction (DEL the merged key, write the
    twin) is aborted whole: the merged version stays, and the write is named as refused."""
    from redvec.core import WriteError

    idx = SearchIndex.create(r, buffered_schema())
    written = docs(10)
    idx.upsert(written)
    Merger(idx).drain()
    try:
        r.config_set("maxmemory", "1")
        with pytest.raises(WriteError) as refused:
            idx.upsert([{**written[3], "title": "lost?"}])
        assert "3" in refused.value.report.failed
    finally:
        r.config_set("maxmemory", "0")
    got = idx.get(["3"])[0]
    assert got is not None and got["title"] == written[3]["title"]
    assert idx.search(written[3]["v"], 1).ids == ["3"]


@pytest.mark.parametrize("storage", ["hash", "json"])
def test_a_stray_key_where_a_buffered_twin_goes_does_not_cost_the_merged_document(
    r: redis.Redis, storage: str
) -> None:
    """A buffered write deletes the merged key and writes the twin. In JSON storage a key
    of another type already under the twin's name made JSON.SET fail after that DEL had
    run: the update was refused and the merged document was gone. The twin's name is the
    buffer's, so the write now replaces whatever is there, as hash storage did."""
    idx = SearchIndex.create(r, buffered_schema(storage=storage))
    written = docs(10)
    idx.upsert(written)
    Merger(idx).drain()
    r.set("wbuf:wb:3", "left over")
    assert idx.upsert([{**written[3], "title": "three, updated"}]) == 1
    got = idx.get(["3"])[0]
    assert got is not None and got["title"] == "three, updated"
    assert idx.search(written[3]["v"], 1).ids == ["3"] and idx.count() == 10
