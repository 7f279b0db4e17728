"""Ingestion end to end against the real Redis: accounting, skips, rejects, chunks."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import redis

from redvec.embeddings import make_provider
from redvec.embeddings.base import Embedder
from redvec.errors import VectorError
from redvec.index import SearchIndex
from redvec.ingest import FieldMap, Ingestor, chunk_text, read_records
from redvec.ingest.pipeline import DeleteRefused
from redvec.schema import IndexSchema, NumericField, TagField, TextField, VectorField

from ..embedding_server import API_KEY, EmbeddingServer


@pytest.fixture()
def provider(server: EmbeddingServer) -> Embedder:
    return make_provider("openai", model="m", base_url=f"{server.url}/v1", api_key=API_KEY, dims=8)


def make_index(r: redis.Redis, storage: str = "json", dims: int = 8) -> SearchIndex:
    schema = IndexSchema(
        "articles",
        "art:",
        (
            TextField("text"),
            TagField("category"),
            NumericField("year"),
            VectorField("embedding", dims=dims, algorithm="FLAT"),
        ),
        storage=storage,  # type: ignore[arg-type]
        document_prefix="artdoc:" if storage == "split" else None,
    )
    return SearchIndex.create(r, schema)


def write_jsonl(path: Path, rows: list[object]) -> Path:
    path.write_text("\n".join(r if isinstance(r, str) else json.dumps(r) for r in rows) + "\n")
    return path


ROWS = [
    {"id": i, "text": f"article {i} about {c}", "category": c, "year": 2000 + i}
    for i, c in enumerate(["finance", "sport", "science", "art", "travel"])
]


def test_second_run_embeds_nothing_and_writes_nothing(
    r: redis.Redis, provider: Embedder, server: EmbeddingServer, tmp_path: Path
) -> None:
    idx = make_index(r)
    src = write_jsonl(tmp_path / "a.jsonl", ROWS)
    first = Ingestor(idx, provider).run(read_records(src))
    assert (first.read, first.written, first.embedded, first.skipped) == (5, 5, 5, 0)
    idx.wait_indexed()
    assert idx.count() == 5
    requests = len(server.requests)
    second = Ingestor(idx, provider).run(read_records(src))
    assert (second.read, second.written, second.embedded, second.skipped) == (5, 0, 0, 5)
    assert len(server.requests) == requests
    changed = [dict(ROWS[0], text="rewritten"), *ROWS[1:]]
    third = Ingestor(idx, provider).run(read_records(write_jsonl(tmp_path / "a.jsonl", changed)))
    assert (third.written, third.embedded, third.skipped) == (1, 1, 4)
    assert idx.get(["0"])[0]["text"] == "rewritten"  # type: ignore[index]


def test_bad_lines_go_to_rejects_and_the_counts_add_up(
    r: redis.Redis, provider: Embedder, tmp_path: Path
) -> None:
    idx = make_index(r)
    rows: list[object] = [
        ROWS[0],
        "{not json",
        {"text": "no id here"},
        ROWS[1],
        {"id": "x", "text": 42},
        {"id": "y", "text": "   "},
        [1, 2],
        {"id": "z", "text": "bad year", "year": "two thousand"},
        ROWS[2],
    ]
    src = write_jsonl(tmp_path / "b.jsonl", rows)
    rejects = io.StringIO()
    summary = Ingestor(idx, provider, rejects=rejects).run(read_records(src))
    assert (summary.read, summary.written, summary.rejected) == (9, 3, 6)
    assert summary.balanced
    bad = [json.loads(line) for line in rejects.getvalue().splitlines()]
    assert [b["line"] for b in bad] == [2, 3, 5, 6, 7, 8]
    reasons = [b["reason"] for b in bad]
    assert reasons[0].startswith("invalid JSON")
    assert reasons[1] == "missing or unusable id field 'id'"
    assert reasons[2] == "text field 'text' must be a string, got int"
    assert reasons[3] == "no text in text"
    assert reasons[4] == "expected a JSON object, got list"
    assert reasons[5] == "document 'z' field 'year': expected a number, got 'two thousand'"
    idx.wait_indexed()
    assert idx.count() == 3


def test_chunks_carry_parent_and_metadata_and_shrink_cleanly(
    r: redis.Redis, provider: Embedder, tmp_path: Path
) -> None:
    idx = make_index(r, storage="split")
    long = " ".join(f"word{i}" for i in range(200))
    src = write_jsonl(tmp_path / "c.jsonl", [{"id": "doc", "text": long, "category": "art"}])
    summary = Ingestor(idx, provider, chunk_size=200, chunk_overlap=40).run(read_records(src))
    n = len(chunk_text(long, 200, 40))
    assert n > 3 and summary.chunks_written == n and summary.written == 1
    first = idx.get(["doc#0"])[0]
    assert first is not None
    assert (first["parent_id"], first["chunk"], first["category"]) == ("doc", 0, "art")
    write_jsonl(src, [{"id": "doc", "text": "now short", "category": "art"}])
    Ingestor(idx, provider, chunk_size=200, chunk_overlap=40).run(read_records(src))
    idx.wait_indexed()
    assert idx.count() == 1
    assert r.exists("artdoc:doc#1") == 0


def test_removing_documents_missing_from_the_source(
    r: redis.Redis, provider: Embedder, tmp_path: Path
) -> None:
    idx = make_index(r, storage="hash")
    src = write_jsonl(tmp_path / "d.jsonl", ROWS)
    Ingestor(idx, provider).run(read_records(src))
    write_jsonl(src, ROWS[:3])
    summary = Ingestor(idx, provider).run(read_records(src), delete_missing=True)
    assert (summary.skipped, summary.deleted) == (3, 2)
    idx.wait_indexed()
    assert idx.count() == 3


def test_dimension_mismatch_is_refused_before_any_write(r: redis.Redis, provider: Embedder) -> None:
    idx = make_index(r, dims=384)
    with pytest.raises(VectorError, match="makes 8-d vectors but index 'articles' expects 384-d"):
        Ingestor(idx, provider)
    assert r.keys("art:*") == []


def test_csv_json_and_folder_readers(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("id,text,category\n1,hello,art\n2,short row\n3,x,y,extra\n")
    records = list(read_records(tmp_path / "a.csv"))
    assert [r.data for r in records if r.error is None] == [
        {"id": "1", "text": "hello", "category": "art"}
    ]
    assert [(r.line, r.error) for r in records if r.error] == [
        (3, "fewer values than columns"),
        (4, "more values than the 3 columns"),
    ]
    (tmp_path / "b.json").write_text(json.dumps([{"id": 1, "text": "a"}, "oops"]))
    assert [r.error for r in read_records(tmp_path / "b.json")] == [
        None,
        "expected an object, got str",
    ]
    folder = tmp_path / "notes"
    (folder / "sub").mkdir(parents=True)
    (folder / "one.md").write_text("# One")
    (folder / "sub" / "two.txt").write_text("two")
    (folder / "skip.bin").write_bytes(b"\0")
    assert [r.data["id"] for r in read_records(folder) if r.data] == ["one.md", "sub/two.txt"]


def test_field_mapping(r: redis.Redis, provider: Embedder, tmp_path: Path) -> None:
    idx = make_index(r)
    src = write_jsonl(tmp_path / "e.jsonl", [{"key": "k1", "title": "T", "body": "B", "secret": 1}])
    fields = FieldMap(id_field="key", text_fields=["title", "body"], metadata_fields=["title"])
    summary = Ingestor(idx, provider, fields=fields).run(read_records(src))
    assert summary.written == 1
    assert idx.get(["k1"])[0] == {"id": "k1", "title": "T", "body": "B"}


def _titled_index(r: redis.Redis, storage: str = "json") -> SearchIndex:
    schema = IndexSchema(
        "titled",
        "tt:",
        (TextField("title"), TextField("body"), VectorField("embedding", dims=8, algorithm="FLAT")),
        storage=storage,  # type: ignore[arg-type]
        document_prefix="ttdoc:" if storage == "split" else None,
    )
    return SearchIndex.create(r, schema)


TITLED = [{"id": f"d{i}", "title": f"title {i}", "body": f"body {i}"} for i in range(40)]


def test_delete_missing_never_deletes_a_rejected_record(
    r: redis.Redis, provider: Embedder, tmp_path: Path
) -> None:
    """With the wrong text field every record was rejected and every document deleted."""
    idx = _titled_index(r)
    src = write_jsonl(tmp_path / "t.jsonl", TITLED)
    assert Ingestor(idx, provider).run(read_records(src)).written == 40
    src = write_jsonl(tmp_path / "t.jsonl", TITLED[:39])  # d39 left the source
    wrong = Ingestor(idx, provider, fields=FieldMap(text_fields=["text"]))
    with pytest.raises(DeleteRefused, match="rejected 39 of 39 records"):
        wrong.run(read_records(src), delete_missing=True)
    assert wrong.missing() == ["d39"]  # rejected ids are in the source: never "missing"
    idx.wait_indexed()
    assert idx.count() == 40
    forced = Ingestor(idx, provider, fields=FieldMap(text_fields=["text"]))
    summary = forced.run(read_records(src), delete_missing=True, force=True)
    assert summary.deleted == 1  # forced: d39 only, never an id the source has
    idx.wait_indexed()
    assert idx.count() == 39


def test_delete_missing_refuses_an_empty_source_and_dry_run_lists(
    r: redis.Redis, provider: Embedder, tmp_path: Path
) -> None:
    idx = _titled_index(r)
    src = write_jsonl(tmp_path / "t.jsonl", TITLED[:5])
    Ingestor(idx, provider).run(read_records(src))
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(DeleteRefused, match="read no records"):
        Ingestor(idx, provider).run(read_records(empty), delete_missing=True)
    bad = write_jsonl(tmp_path / "bad.jsonl", [*TITLED[:2], "{not json"])
    with pytest.raises(DeleteRefused, match="could not be read"):
        Ingestor(idx, provider).run(read_records(bad), delete_missing=True)
    dry = Ingestor(idx, provider)
    dry.run(
        read_records(write_jsonl(tmp_path / "three.jsonl", TITLED[:3])),
        delete_missing=True,
        dry_run=True,
    )
    assert dry.would_delete == ["d3", "d4"] and dry.summary.deleted == 0
    idx.wait_indexed()
    assert idx.count() == 5


@pytest.mark.parametrize("storage", ["hash", "json", "split"])
def test_a_duplicate_id_in_one_source_is_a_reject_and_a_rerun_is_unchanged(
    r: redis.Redis, provider: Embedder, tmp_path: Path, storage: str
) -> None:
    idx = _titled_index(r, storage)
    rows = [*TITLED[:3], {"id": "d1", "title": "other", "body": "version"}]
    src = write_jsonl(tmp_path / "dup.jsonl", rows)
    rejects = io.StringIO()
    first = Ingestor(idx, provider, rejects=rejects).run(read_records(src))
    assert (first.read, first.written, first.skipped, first.rejected) == (4, 3, 0, 1)
    assert first.duplicates == 1 and first.balanced
    reason = json.loads(rejects.getvalue())["reason"]
    assert reason == f"duplicate id 'd1': already read at {src}:2; the first is kept"
    again = Ingestor(idx, provider).run(read_records(src))
    assert (again.written, again.skipped, again.rejected) == (0, 3, 1)
    assert idx.get(["d1"])[0]["title"] == "title 1"  # type: ignore[index]


@pytest.mark.parametrize("storage", ["hash", "json", "split"])
def test_switching_chunking_on_or_off_leaves_no_keys_of_the_old_shape(
    r: redis.Redis, provider: Embedder, tmp_path: Path, storage: str
) -> None:
    idx = _titled_index(r, storage)
    long = " ".join(f"w{i}" for i in range(120))
    src = write_jsonl(tmp_path / "c.jsonl", [{"id": "mid", "title": "t", "body": long}])
    Ingestor(idx, provider).run(read_records(src))
    Ingestor(idx, provider, chunk_size=100).run(read_records(src))
    idx.wait_indexed()
    ids = sorted(h.id for h in idx.search([1.0] * 8, 50).hits)
    assert "mid" not in ids and ids and all(i.startswith("mid#") for i in ids)
    Ingestor(idx, provider).run(read_records(src))
    idx.wait_indexed()
    assert [h.id for h in idx.search([1.0] * 8, 50).hits] == ["mid"]
    assert idx.count() == 1


@pytest.mark.parametrize("storage", ["hash", "json", "split"])
def test_a_poison_record_is_a_reject_and_the_rest_get_in(
    r: redis.Redis, provider: Embedder, tmp_path: Path, storage: str
) -> None:
    """1e999, a 400-digit int, JSON nested past RedisJSON's limit: the run used to die."""
    idx = make_index(r, storage)
    deep: object = "x"
    for _ in range(200):
        deep = [deep]
    rows: list[object] = [
        *ROWS[:2],
        '{"id": "inf", "text": "t", "year": 1e999}',
        {"id": "big", "text": "t", "year": 10**400},
        {"id": "deep", "text": "t", "nested": deep},
        {"id": "huge", "text": "t", "meta": 2**70},
        *ROWS[2:],
    ]
    src = write_jsonl(tmp_path / "p.jsonl", rows)
    rejects = io.StringIO()
    summary = Ingestor(idx, provider, rejects=rejects, batch_size=3).run(read_records(src))
    reasons = {
        json.loads(x)["record"]["id"]: json.loads(x)["reason"]
        for x in rejects.getvalue().splitlines()
    }
    assert summary.written == 5 and summary.balanced
    assert "finite" in reasons["inf"] and "does not fit in 64 bits" in reasons["big"]
    assert summary.rejected == 4 and "64 bits" in reasons["huge"]
    assert "deeper than 127" in reasons["deep"]  # checked before hash refuses nesting
    again = Ingestor(idx, provider).run(read_records(src))
    assert again.skipped == 5 and again.written == 0  # state only for what landed
    idx.wait_indexed()
    assert idx.count() == 5


@pytest.mark.parametrize("storage", ["hash", "json", "split"])
def test_numpy_values_are_stored_as_numbers_and_indexed(r: redis.Redis, storage: str) -> None:
    """np.float64(95.0) was stored as its repr and 20,000 of 20,000 documents failed to index."""
    import numpy as np

    idx = make_index(r, storage)
    docs = [
        {
            "id": str(i),
            "text": np.str_(f"doc {i}"),
            "category": np.str_("art"),
            "year": [np.float64(95.0), np.int32(7), np.float32(2.5), np.uint8(3)][i],
            "embedding": np.ones(8, dtype=np.float64) * (i + 1),
            "flag": np.bool_(True),
            **({} if storage == "hash" else {"extra": np.arange(3)}),
        }
        for i in range(4)
    ]
    assert idx.upsert(docs) == 4
    idx.wait_indexed()
    assert idx.info().hash_indexing_failures == 0
    assert sorted(idx.search([1.0] * 8, 10, filter="year>=7").ids) == ["0", "1"]
    got = idx.get(["0"])[0]
    assert got is not None and got["year"] == 95 and got["text"] == "doc 0"


def test_a_write_rediSearch_cannot_index_is_reported_not_counted(r: redis.Redis) -> None:
    """A document written under the index's prefix that RediSearch then fails to index."""
    from redvec.index import WriteError

    idx = make_index(r, "hash")
    bad = ("HSET", "art:bad", "year", "not-a-number", "embedding", b"\0" * 32)
    report = idx.write_documents(
        [("ok", idx.encode({"id": "ok", "text": "t", "embedding": [1.0] * 8})[1]), ("bad", [bad])]
    )
    assert report.written == ["ok"]
    assert "failed to index" in report.failed["bad"] and "numeric" in report.failed["bad"].lower()
    with pytest.raises(WriteError):
        raise WriteError(report, 1)


@pytest.mark.parametrize("value", ["abc,def", "200,100", [10, 95], "1,2,3", [True, 1]])
def test_an_impossible_geo_value_is_refused_not_silently_unindexed(
    r: redis.Redis, value: object
) -> None:
    from redvec.errors import DocumentError
    from redvec.schema import GeoField

    idx = SearchIndex.create(
        r, IndexSchema("geo", "geo:", (GeoField("loc"), VectorField("v", dims=2, algorithm="FLAT")))
    )
    with pytest.raises(DocumentError, match="loc"):
        idx.upsert([{"id": "1", "loc": value, "v": [1.0, 0.0]}])
    assert idx.upsert([{"id": "2", "loc": [2.35, 48.85], "v": [1.0, 0.0]}]) == 1
    idx.wait_indexed()
    assert idx.info().hash_indexing_failures == 0 and idx.count() == 1


def test_csv_cells_are_converted_by_the_schema_and_a_bom_or_semicolons_do_not_matter(
    r: redis.Redis, provider: Embedder, tmp_path: Path
) -> None:
    idx = make_index(r, "hash")
    (tmp_path / "a.csv").write_text(
        "\ufeffid;text;category;year\n1;hello;art;2001\n2;world;sport;\n"
    )
    summary = Ingestor(idx, provider).run(read_records(tmp_path / "a.csv"))
    assert (summary.written, summary.rejected) == (2, 0)
    idx.wait_indexed()
    assert idx.search([1.0] * 8, 5, filter="year>=2000").ids == ["1"]
    (tmp_path / "b.csv").write_text("id,text,year\n3,x,soon\n")
    rejects = io.StringIO()
    Ingestor(idx, provider, rejects=rejects).run(read_records(tmp_path / "b.csv"))
    assert json.loads(rejects.getvalue())["reason"] == "field 'year': 'soon' is not a number"


@pytest.mark.parametrize("chunk_size", [None, 100])
def test_rerunning_an_ingest_into_a_buffered_index_embeds_nothing_merged_or_not(
    r: redis.Redis, provider: Embedder, tmp_path: Path, chunk_size: int | None
) -> None:
    """The check for an unchanged document looked for its key in the index only, so every
    document still in the write buffer was embedded and written again on a rerun."""
    from redvec.merger import Merger

    schema = IndexSchema.from_dict(
        {
            "name": "bufd",
            "prefix": "bufd:",
            "write_buffer": {"max_docs": 1000},
            "fields": [
                {"name": "title", "type": "text"},
                {"name": "body", "type": "text"},
                {"name": "embedding", "type": "vector", "dims": 8},
            ],
        }
    )
    idx = SearchIndex.create(r, schema)
    long = [{"id": f"d{i}", "title": "t", "body": " ".join(["w"] * 60)} for i in range(6)]
    src = write_jsonl(tmp_path / "b.jsonl", long[:3])
    assert Ingestor(idx, provider, chunk_size=chunk_size).run(read_records(src)).written == 3
    Merger(idx).drain()  # d0..d2 merged; d3..d5 stay buffered
    src = write_jsonl(tmp_path / "b.jsonl", long)
    assert Ingestor(idx, provider, chunk_size=chunk_size).run(read_records(src)).written == 3
    again = Ingestor(idx, provider, chunk_size=chunk_size).run(read_records(src))
    assert (again.written, again.embedded, again.skipped) == (0, 0, 6)
