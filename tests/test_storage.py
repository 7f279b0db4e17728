"""The storage modes: each writes, reads and deletes a document with its own keys, and is
the only place where the modes differ."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import redis

from redvec.errors import DocumentError, SchemaError
from redvec.schema import IndexSchema, NumericField, TagField, TextField, VectorField
from redvec.storage import STORAGES, storage_for

SRC = Path(__file__).resolve().parents[1] / "src" / "redvec"


def _schema(storage: str) -> IndexSchema:
    return IndexSchema(
        f"s_{storage}",
        f"s{storage}:",
        (
            TextField("title"),
            TagField("tags"),
            NumericField("year"),
            VectorField("vec", dims=3, algorithm="FLAT"),
        ),
        storage=storage,  # type: ignore[arg-type]
    )


@pytest.mark.parametrize("storage", sorted(STORAGES))
def test_a_document_round_trips_through_its_own_keys(r: redis.Redis, storage: str) -> None:
    schema = _schema(storage)
    store = schema.store
    values = {"title": "Dune", "tags": ["sf", "classic"], "year": 1965}
    vectors = {"vec": np.array([0.1, 0.2, 0.3], dtype=np.float32)}
    for command in store.encode(schema, "d1", values, vectors, {"lang": "en"}):
        r.execute_command(*command)
    pipe = r.pipeline(transaction=False)
    for command in store.read_commands(schema, "d1"):
        pipe.execute_command(*command)
    doc = store.decode(schema, pipe.execute(), with_vectors=True)
    assert doc is not None
    assert {k: doc[k] for k in ("title", "tags", "year", "lang")} == {**values, "lang": "en"}
    np.testing.assert_allclose(doc["vec"], vectors["vec"], rtol=1e-6)
    stored = sorted(k.decode() for k in r.keys("*"))
    assert stored == sorted(store.keys_of(schema, "d1"))  # every key it wrote, and no other
    raw = r.execute_command(
        *store.vector_read(store.keys_of(schema, "d1")[0], schema.vector_fields[0])
    )
    np.testing.assert_allclose(store.vector_decode(raw, schema.vector_fields[0]), vectors["vec"])


def test_hash_storage_refuses_nested_fields_and_split_needs_apart_prefixes() -> None:
    schema = _schema("hash")
    with pytest.raises(DocumentError, match="field 'meta' is nested; hash storage keeps flat"):
        schema.store.encode(schema, "d", {}, {}, {"meta": {"a": 1}})
    with pytest.raises(SchemaError, match="overlap; split storage needs them apart"):
        IndexSchema("x", "a:", (VectorField("v", dims=2),), storage="split", document_prefix="a:b:")
    with pytest.raises(SchemaError, match="document_prefix applies to split storage only"):
        IndexSchema("x", "a:", (VectorField("v", dims=2),), storage="json", document_prefix="d:")
    with pytest.raises(SchemaError, match="storage must be json, hash or split, got 'xml'"):
        storage_for("xml")


def test_no_module_but_storage_tests_a_storage_mode_by_name() -> None:
    """A rule that differs between modes is a method of the storage classes, so a new mode
    or a fix to one lands in one place."""
    pattern = re.compile(r"storage\s*(==|!=)\s*[\"']|storage\s+(not\s+)?in\s*[(\[{]")
    offenders = [
        f"{p.relative_to(SRC)}:{n}"
        for p in SRC.rglob("*.py")
        if p.name != "storage.py"
        for n, line in enumerate(p.read_text().splitlines(), start=1)
        if pattern.search(line) and not line.lstrip().startswith("#")
    ]
    assert offenders == []
