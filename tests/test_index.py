"""SearchIndex as users rely on it: an upsert replaces, return fields mean the same in
every storage mode, an alias opens exactly its index. Against the real embedded Redis."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis

from redvec.errors import DocumentError, SchemaError, ValidationError
from redvec.index import SearchIndex
from redvec.schema import IndexSchema, NumericField, TagField, TextField, VectorField

STORAGES = ["hash", "json", "split"]


def _schema(storage: str, name: str = "ix") -> IndexSchema:
    return IndexSchema(
        name,
        f"{name}{storage}:",
        (
            TextField("title"),
            TagField("tag"),
            NumericField("n"),
            VectorField("v", dims=3, algorithm="FLAT", distance="L2"),
        ),
        storage=storage,  # type: ignore[arg-type]
        document_prefix=f"{name}{storage}doc:" if storage == "split" else None,
    )


def _doc(i: int, **extra: Any) -> dict[str, Any]:
    return {"id": str(i), "title": f"title {i}", "tag": "t", "n": i, "v": [float(i), 1.0, 0.0]}


@pytest.mark.parametrize("storage", STORAGES)
def test_an_upsert_replaces_the_whole_document(r: redis.Redis, storage: str) -> None:
    """Hash storage used to keep every non-schema field of the previous version."""
    idx = SearchIndex.create(r, _schema(storage))
    idx.upsert([{**_doc(1), "note": "old", "n": 5}])
    idx.upsert([{"id": "1", "title": "new", "v": [1.0, 1.0, 0.0]}])
    idx.wait_indexed()
    doc = idx.get(["1"])[0]
    assert doc == {"id": "1", "title": "new"}
    assert idx.search([1.0, 1.0, 0.0], 5, filter="n>=0").ids == []  # n is gone from the index


@pytest.mark.parametrize("storage", STORAGES)
def test_a_field_named_id_beside_another_id_field_is_refused(r: redis.Redis, storage: str) -> None:
    idx = SearchIndex.create(r, _schema(storage))
    with pytest.raises(DocumentError, match="'id' is reserved for the document id"):
        idx.upsert([{"doc_id": "a", "id": "b", "v": [1.0, 0.0, 0.0]}], id_field="doc_id")
    idx.upsert([{"doc_id": "a", "title": "x", "v": [1.0, 0.0, 0.0]}], id_field="doc_id")
    assert idx.get(["a"])[0] == {"id": "a", "title": "x"}


def _searches(idx: SearchIndex, fields: list[str] | None) -> list[dict[str, Any]]:
    q = [1.0, 1.0, 0.0]
    return [
        idx.search(q, 1, return_fields=fields).hits[0].fields,
        idx.range_search(q, 100.0, 1, return_fields=fields).hits[0].fields,
        idx.text_search("title", 1, return_fields=fields).hits[0].fields,
        idx.hybrid_search("title", q, 1, return_fields=fields).hits[0].fields,
    ]


@pytest.mark.parametrize("storage", STORAGES)
def test_return_fields_are_the_same_in_every_storage_mode(r: redis.Redis, storage: str) -> None:
    idx = SearchIndex.create(r, _schema(storage))
    idx.upsert([_doc(1)])
    idx.wait_indexed()
    for fields in _searches(idx, ["title", "n"]):
        assert fields == {"title": "title 1", "n": 1}
    for fields in _searches(idx, ["$.title"]):
        assert fields == {"title": "title 1"}
    for fields in _searches(idx, ["v", "tag"]):
        assert fields == {"v": [1.0, 1.0, 0.0], "tag": "t"}  # a vector as a list of floats
    for fields in _searches(idx, None):
        assert "v" not in fields and fields["title"] == "title 1"
    with pytest.raises(ValidationError, match="unknown return field 'nope'"):
        idx.search([1.0, 1.0, 0.0], 1, return_fields=["nope"])


@pytest.mark.parametrize("storage", STORAGES)
def test_an_alias_opens_exactly_its_index(r: redis.Redis, storage: str) -> None:
    """Through an alias the settings, storage mode and stop words used to be lost."""
    schema = IndexSchema(
        "real",
        "real:",
        (TextField("title"), VectorField("v", dims=3, algorithm="HNSW", distance="L2")),
        storage=storage,  # type: ignore[arg-type]
        document_prefix="realdoc:" if storage == "split" else None,
        stopwords=("hip",),
    )
    idx = SearchIndex.create(r, schema)
    idx.set_setting("ef_runtime", 77)
    idx.upsert([{"id": "1", "title": "hip art", "v": [1.0, 0.0, 0.0], "meta": "kept"}])
    idx.wait_indexed()
    r.execute_command("FT.ALIASADD", "current", "real")
    via = SearchIndex.open(r, "current")
    assert via.schema == idx.schema
    assert via.alias == "current" and via.name == "real"
    assert via.default_ef_runtime == 77
    assert via.text_search("hip art").ids == ["1"]
    assert (
        via.search(np.array([1, 0, 0], np.float32), 1).hits[0].fields
        == idx.search(np.array([1, 0, 0], np.float32), 1).hits[0].fields
    )


ANN = Path(__file__).resolve().parents[2] / "shared" / "data" / "ann"


@pytest.mark.skipif(
    not (ANN / "siftsmall_base.fvecs").is_file(),
    reason=f"siftsmall is not at {ANN} (the team's shared data; never redistributed)",
)
def test_writing_right_after_create_on_a_full_database_keeps_the_graphs_recall(
    r: redis.Redis,
) -> None:
    """With 100,000 unrelated keys in the database, vectors written at once after
    FT.CREATE were indexed twice during its scan: recall@10 at EF 10 was 0.87-0.90 and
    max_doc_id about 19,000 for 10,000 documents. `create` now returns after the scan."""
    hnswlib = pytest.importorskip("hnswlib")
    from redvec._resp import pairs
    from redvec.bench.datasets import read_vecs

    base = read_vecs(ANN / "siftsmall_base.fvecs", "<f4").astype(np.float32)
    queries = read_vecs(ANN / "siftsmall_query.fvecs", "<f4").astype(np.float32)
    truth = read_vecs(ANN / "siftsmall_groundtruth.ivecs", "<i4")
    reference = hnswlib.Index(space="l2", dim=128)
    reference.init_index(max_elements=len(base), M=16, ef_construction=200, random_seed=100)
    reference.add_items(base, np.arange(len(base)))
    reference.set_ef(10)
    labels, _ = reference.knn_query(queries, k=10)
    expected = sum(len(set(a) & set(t[:10])) for a, t in zip(labels, truth, strict=True)) / 1000
    schema = IndexSchema(
        "sift",
        "sift:",
        (VectorField("v", dims=128, distance="L2", m=16, ef_construction=200),),
    )
    for _ in range(3):
        r.flushall()
        pipe = r.pipeline(transaction=False)
        for i in range(100_000):
            pipe.set(f"other:{i}", "x")
        pipe.execute()
        idx = SearchIndex.create(r, schema)
        for lo in range(0, len(base), 1000):  # at once, pipelined, as the issue measured
            pipe = r.pipeline(transaction=False)
            for i in range(lo, lo + 1000):
                pipe.hset(f"sift:{i}", "v", base[i].tobytes())
            pipe.execute()
        idx.wait_indexed()
        assert int(pairs(r.execute_command("FT.INFO", "sift"))["max_doc_id"]) == len(base)
        found = 0
        for q, t in zip(queries, truth, strict=True):
            ids = {int(h) for h in idx.search(q, 10, ef_runtime=10).ids}
            found += len(ids & set(t[:10].tolist()))
        assert abs(found / 1000 - expected) <= 0.01, (found / 1000, expected)


def test_an_app_that_catches_redvec_error_also_catches_redis_going_away(
    tmp_path: Path,
) -> None:
    """errors.py promises one base class for everything redvec raises; a lost connection
    used to escape the sync index as redis-py's ConnectionError."""
    from redvec.errors import RedisUnavailableError, RedvecError
    from redvec.server import EmbeddedServer

    server = EmbeddedServer(tmp_path / "redis").start()
    try:
        client = server.client()
        idx = SearchIndex.create(
            client, IndexSchema("gone", "gone:", (VectorField("v", dims=2, algorithm="FLAT"),))
        )
        idx.upsert([{"id": "1", "v": [0.1, 0.2]}])
    finally:
        server.stop()
    calls = {
        "search": lambda: idx.search([0.1, 0.2], 1),
        "upsert": lambda: idx.upsert([{"id": "2", "v": [0.3, 0.4]}]),
        "get": lambda: idx.get(["1"]),
        "delete": lambda: idx.delete(["1"]),
        "count": idx.count,
    }
    for name, call in calls.items():
        with pytest.raises(RedvecError) as caught:
            call()
        assert isinstance(caught.value, RedisUnavailableError), name
        assert str(caught.value).startswith("cannot reach Redis: "), (name, str(caught.value))


def test_a_user_tunes_the_write_batch_of_an_open_index(r: redis.Redis) -> None:
    """`idx.batch_size = n` on an open index (benchmarks/ingest.py does it) sizes the
    pipelines of the next writes; the one-core refactor had made it read-only."""
    idx = SearchIndex.create(r, _schema("hash"))
    idx.batch_size = 7
    assert idx.batch_size == 7 == idx.core.batch_size
    assert idx.upsert([_doc(i) for i in range(21)]) == 21
    assert idx.count() == 21


def _meta_schema(storage: str, metric: str) -> IndexSchema:
    return IndexSchema(
        f"meta_{storage}", f"meta_{storage}:", (TextField("text"), TagField("source"),
        NumericField("year"), VectorField("v", 3, algorithm="FLAT", distance=metric)),
        storage=storage,  # type: ignore[arg-type]
        document_prefix=f"meta_{storage}_doc:" if storage == "split" else None,
    )  # fmt: skip


@pytest.mark.parametrize("storage", STORAGES)
@pytest.mark.parametrize("metric", ["COSINE", "L2", "IP"])
def test_metadata_comes_back_exactly_and_its_declared_keys_filter(
    r: redis.Redis, storage: str, metric: str
) -> None:
    """A RAG document's metadata (ints, nesting, null, a key named 'id') is stored and
    returned as given in every mode; keys the schema declares are filterable."""
    idx = SearchIndex.create(r, _meta_schema(storage, metric))
    meta = {"id": 1, "source": "a", "year": 2001, "nested": {"x": [1, 2.5, None, True]}, "s": "1"}
    idx.upsert([
        {"id": "d1", "text": "hello", "v": [1.0, 0.0, 0.0], "metadata": meta},
        {"id": "d2", "text": "world", "v": [0.0, 1.0, 0.0],
         "metadata": {"source": "b", "year": 1999}},
    ])  # fmt: skip
    stored = idx.get(["d1"])[0]
    assert stored is not None and stored["id"] == "d1" and stored["metadata"] == meta
    hits = idx.search([1.0, 0.0, 0.0], 2, return_fields=["text", "metadata"]).hits
    assert hits[0].fields == {"text": "hello", "metadata": meta}
    assert hits[0].similarity == pytest.approx(1.0, abs=1e-6)
    assert all(0.0 <= (h.similarity or -1) <= 1.0 for h in hits)
    assert hits[1].similarity is not None and hits[1].similarity < hits[0].similarity
    found = idx.search([1.0, 0.0, 0.0], 2, filter="source:b year>=1990", return_fields=["*"])
    assert found.ids == ["d2"]
    assert found.hits[0].fields["metadata"] == {"source": "b", "year": 1999}
    assert found.hits[0].fields["text"] == "world" and "v" not in found.hits[0].fields
    with_vector = idx.search([1.0, 0.0, 0.0], 1, return_fields=["*", "v"]).hits[0].fields
    assert with_vector["v"] == [1.0, 0.0, 0.0] and with_vector["metadata"] == meta


@pytest.mark.parametrize("storage", STORAGES)
def test_clear_empties_the_index_and_keeps_it(r: redis.Redis, storage: str) -> None:
    idx = SearchIndex.create(r, _meta_schema(storage, "COSINE"))
    r.set("other:key", "untouched")
    idx.upsert([{"id": f"d{i}", "text": "t", "v": [1.0, float(i), 0.0]} for i in range(2500)])
    assert idx.clear() == 2500
    idx.wait_indexed()
    assert idx.count() == 0 and r.keys(f"meta_{storage}*") == []
    assert r.get("other:key") == b"untouched"
    idx.upsert([{"id": "again", "text": "t", "v": [1.0, 0.0, 0.0]}])
    assert idx.search([1.0, 0.0, 0.0], 1).ids == ["again"]


def test_a_field_named_metadata_is_refused() -> None:
    with pytest.raises(SchemaError, match="reserved for a document's metadata"):
        IndexSchema("x", "x:", (TextField("metadata"), VectorField("v", 3)))


@pytest.mark.parametrize("storage", STORAGES)
def test_a_bad_document_in_a_later_batch_stops_the_upsert_after_the_earlier_batches(
    r: redis.Redis, storage: str
) -> None:
    """Batches are encoded while the previous one is written: a bad document still
    stops the call with its reason, every earlier batch written and counted, nothing of
    its own batch or after it."""
    idx = SearchIndex.create(r, _schema(storage, f"later_{storage}"))
    idx.batch_size = 5
    docs = [_doc(i) for i in range(23)]
    docs[12]["v"] = [1.0, 2.0]  # in the third batch
    with pytest.raises(DocumentError, match="document '12' vector for field 'v' has dimension 2"):
        idx.upsert(docs)
    idx.wait_indexed()
    assert sorted(int(d["id"]) for d in idx.get([str(i) for i in range(23)]) if d) == list(
        range(10)
    )
    docs[12]["v"] = [12.0, 1.0, 0.0]
    assert idx.upsert(docs) == 23
    assert idx.count() == 23


def test_the_next_batch_is_prepared_while_redis_takes_the_last(
    r: redis.Redis, redis_url: str
) -> None:
    """A Meanwhile step's work runs during its round trip, on sync and asyncio clients
    alike: here the round trip is a BLPOP that only the work can answer (run after the
    round trip, it would time out and reply None), and a work that fails is handed to the
    plan after the replies, never lost."""
    import asyncio

    import redis.asyncio as aredis

    from redvec.aio import AsyncSearchIndex
    from redvec.plans import Meanwhile, Plan

    idx = SearchIndex.create(r, _schema("hash", "meanwhile"))
    other = redis.Redis.from_url(redis_url, protocol=2)

    def plan(key: str, fail: bool) -> Plan[tuple[Any, Any, Any]]:
        def work() -> str:
            other.lpush(key, "ready")
            if fail:
                raise ValueError("bad batch")
            return "encoded"

        replies, result, error = yield Meanwhile([("BLPOP", key, 5)], work)
        return replies, result, error

    replies, result, error = idx.run(plan("mw:sync", False))
    assert [list(map(bytes, replies[0])), result, error] == [
        [b"mw:sync", b"ready"],
        "encoded",
        None,
    ]
    replies, result, error = idx.run(plan("mw:fail", True))
    assert replies[0] is not None and result is None and str(error) == "bad batch"

    async def main() -> Any:
        client = aredis.Redis.from_url(redis_url, protocol=2)
        try:
            aidx = await AsyncSearchIndex.open(client, "meanwhile")
            return await aidx.run(plan("mw:async", False))
        finally:
            await client.aclose()

    replies, result, _ = asyncio.run(main())
    assert list(map(bytes, replies[0])) == [b"mw:async", b"ready"] and result == "encoded"
    other.close()


def test_an_asyncio_upsert_encodes_ahead_and_stops_at_a_bad_document(redis_url: str) -> None:
    import asyncio

    import redis.asyncio as aredis

    from redvec.aio import AsyncSearchIndex

    async def main() -> tuple[int, str, int]:
        client = aredis.Redis.from_url(redis_url, protocol=2)
        try:
            aidx = await AsyncSearchIndex.create(client, _schema("hash", "ahead"), overwrite=True)
            aidx.core.batch_size = 4
            written = await aidx.upsert([_doc(i) for i in range(10)])
            bad = [_doc(i) for i in range(10, 20)]
            bad[5]["n"] = "many"
            try:
                await aidx.upsert(bad)
                refused = ""
            except DocumentError as e:
                refused = str(e)
            await aidx.wait_indexed()
            return written, refused, await aidx.count()
        finally:
            await client.aclose()

    written, refused, count = asyncio.run(main())
    assert written == 10 and "document '15' field 'n'" in refused
    assert count == 14  # the batch before the bad one was written, the bad one's was not
