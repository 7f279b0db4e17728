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
