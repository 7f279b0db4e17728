"""Schemas: files and Python, validation messages, FT.CREATE as the server sees it."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from redvec._resp import pairs, text
from redvec.errors import IndexExistsError, SchemaError
from redvec.index import SearchIndex
from redvec.schema import (
    IndexSchema,
    NumericField,
    TagField,
    TextField,
    VectorField,
    load_schema,
)

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "schemas"


def attributes(r: redis.Redis, name: str) -> dict[str, dict[str, object]]:
    info = pairs(r.execute_command("FT.INFO", name))
    out = {}
    for raw in info["attributes"]:
        a = pairs(raw)
        out[text(a["attribute"])] = {k: text(v) for k, v in a.items()}
    return out


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.name)
def test_example_schemas_create_the_declared_index(r: redis.Redis, path: Path) -> None:
    schema = load_schema(path)
    SearchIndex.create(r, schema)
    attrs = attributes(r, schema.name)
    assert set(attrs) == {f.name for f in schema.fields}
    for vf in schema.vector_fields:
        a = attrs[vf.name]
        assert (a["algorithm"], a["data_type"], a["dim"], a["distance_metric"]) == (
            vf.algorithm,
            vf.datatype,
            vf.dims,
            vf.distance,
        )
        if vf.m is not None:
            assert a["M"] == vf.m and a["ef_construction"] == vf.ef_construction


def test_seed_schema_matches_the_seed(r: redis.Redis) -> None:
    schema = load_schema(EXAMPLES / "seed.yaml")
    SearchIndex.create(r, schema)
    info = pairs(r.execute_command("FT.INFO", "docs"))
    definition = pairs(info["index_definition"])
    assert text(definition["key_type"]) == "JSON"
    assert [text(p) for p in definition["prefixes"]] == ["doc:"]
    attrs = attributes(r, "docs")
    assert attrs["title"]["identifier"] == "$.title"
    raw_title = next(a for a in info["attributes"] if a[3] == b"title")
    assert b"SORTABLE" in raw_title
    assert attrs["embedding"]["dim"] == 1536


def test_reopened_index_knows_its_schema(r: redis.Redis) -> None:
    schema = load_schema(EXAMPLES / "pydoc.yaml")
    SearchIndex.create(r, schema)
    assert SearchIndex.open(r, "pydoc").schema == schema


def test_index_created_elsewhere_is_described_from_ft_info(r: redis.Redis) -> None:
    r.execute_command(
        "FT.CREATE",
        "ext",
        "ON",
        "HASH",
        "PREFIX",
        "1",
        "ext:",
        "SCHEMA",
        "t",
        "TEXT",
        "g",
        "TAG",
        "v",
        "VECTOR",
        "FLAT",
        "6",
        "TYPE",
        "FLOAT32",
        "DIM",
        "8",
        "DISTANCE_METRIC",
        "IP",
    )
    schema = SearchIndex.open(r, "ext").schema
    assert schema.storage == "hash" and schema.prefix == "ext:"
    assert schema.vector_field() == VectorField("v", dims=8, algorithm="FLAT", distance="IP")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"name": "x", "prefix": "doc", "fields": [{"name": "t", "type": "text"}]},
            "index 'x': prefix 'doc' must end with ':' so that one prefix never swallows "
            "another's keys (e.g. 'doc:')",
        ),
        (
            {
                "name": "x",
                "prefix": "d:",
                "fields": [
                    {"name": "v", "type": "vector", "dims": 4, "algorithm": "flat", "m": 16}
                ],
            },
            "field 'v': M applies to HNSW only",
        ),
        (
            {"name": "x", "prefix": "d:", "fields": [{"name": "v", "type": "vector", "dims": 0}]},
            "field 'v': dims must be an integer from 1 to 32768, got 0",
        ),
        (
            {
                "name": "x",
                "prefix": "d:",
                "fields": [{"name": "v", "type": "vector", "dims": 4, "distance": "manhattan"}],
            },
            "field 'v': distance must be COSINE, L2 or IP, got 'MANHATTAN'",
        ),
        (
            {
                "name": "x",
                "prefix": "d:",
                "fields": [{"name": "v", "type": "vector", "dims": 4, "datatype": "INT8"}],
            },
            "field 'v': datatype must be one of FLOAT32, FLOAT64, FLOAT16, BFLOAT16, got 'INT8'",
        ),
        (
            {"name": "x", "prefix": "d:", "fields": [{"name": "t", "type": "text", "colour": 1}]},
            "field 't': unknown option(s) colour for a text field (allowed: sortable, weight)",
        ),
        (
            {
                "name": "x",
                "prefix": "d:",
                "fields": [{"name": "t", "type": "text"}, {"name": "t", "type": "tag"}],
            },
            "field 't' is declared twice",
        ),
        (
            {"name": "x", "prefix": "d:", "fields": [{"name": "t", "type": "blob"}]},
            "field 't': type must be one of text, tag, numeric, geo, vector, got 'blob'",
        ),
        (
            {
                "name": "x",
                "prefix": "d:",
                "storage": "split",
                "fields": [{"name": "t", "type": "text"}],
            },
            "index 'x': split storage needs a vector field",
        ),
        (
            {
                "name": "x",
                "prefix": "d:",
                "storage": "split",
                "document_prefix": "d:x:",
                "fields": [{"name": "v", "type": "vector", "dims": 2}],
            },
            "index 'x': prefix 'd:' and document_prefix 'd:x:' overlap; split storage needs "
            "them apart",
        ),
        (
            {"name": "x", "prefix": "redvec:", "fields": [{"name": "t", "type": "text"}]},
            "index 'x': prefix 'redvec:' is reserved for redvec's own keys",
        ),
        (
            {"name": "x", "prefix": "d:", "fields": [{"name": "bad name", "type": "text"}]},
            "field 'bad name': names start with a letter or _ and use only letters, digits and _",
        ),
    ],
)
def test_schema_errors_name_the_field_and_the_rule(data: dict[str, object], message: str) -> None:
    with pytest.raises(SchemaError) as info:
        IndexSchema.from_dict(data)
    assert str(info.value) == message


def test_overlapping_prefix_is_refused(r: redis.Redis) -> None:
    SearchIndex.create(r, IndexSchema("a", "doc:", (TextField("t"),)))
    with pytest.raises(IndexExistsError) as info:
        SearchIndex.create(r, IndexSchema("b", "doc:news:", (TextField("t"),)))
    assert str(info.value).startswith(
        "prefix 'doc:news:' of index 'b' overlaps prefix 'doc:' of existing index 'a'"
    )
    SearchIndex.create(r, IndexSchema("c", "docs:", (TagField("t"),)))  # distinct: fine


def test_same_name_needs_overwrite_and_keeps_documents(r: redis.Redis) -> None:
    schema = IndexSchema("a", "doc:", (TextField("t"),))
    idx = SearchIndex.create(r, schema)
    idx.upsert([{"id": "1", "t": "hello"}])
    with pytest.raises(IndexExistsError, match="already exists"):
        SearchIndex.create(r, schema)
    again = SearchIndex.create(r, schema, overwrite=True)
    again.wait_indexed()
    assert again.count() == 1


def test_bad_schema_file_is_reported(tmp_path: Path) -> None:
    bad = tmp_path / "s.yaml"
    bad.write_text("name: [unclosed")
    with pytest.raises(SchemaError, match=f"schema file {bad} is not valid yaml"):
        load_schema(bad)
    with pytest.raises(SchemaError, match="cannot read schema file"):
        load_schema(tmp_path / "missing.yaml")


def test_a_numeric_field_indexing_missing_values_is_created_so_and_read_back(
    r: redis.Redis,
) -> None:
    schema = IndexSchema.from_dict(
        {
            "name": "miss",
            "prefix": "miss:",
            "storage": "hash",
            "fields": [
                {"name": "price", "type": "numeric", "index_missing": True},
                {"name": "year", "type": "numeric"},
                {"name": "v", "type": "vector", "dims": 4, "algorithm": "flat"},
            ],
        }
    )
    SearchIndex.create(r, schema)
    raw = {a[3]: a for a in pairs(r.execute_command("FT.INFO", "miss"))["attributes"]}
    assert b"INDEXMISSING" in raw[b"price"] and b"INDEXMISSING" not in raw[b"year"]
    assert SearchIndex.open(r, "miss").schema == schema
    # The default is left out of the schema's JSON, as schemas written before it read.
    fields = {f["name"]: f for f in schema.to_dict()["fields"]}
    assert fields["price"]["index_missing"] is True and "index_missing" not in fields["year"]
    # An index created elsewhere says so in FT.INFO.
    r.execute_command("FT.DROPINDEX", "miss")
    r.execute_command(
        "FT.CREATE", "miss", "ON", "HASH", "PREFIX", 1, "miss:", "SCHEMA",
        "price", "NUMERIC", "INDEXMISSING", "year", "NUMERIC",
    )  # fmt: skip
    opened = SearchIndex.open(r, "miss").schema
    assert opened.field("price") == NumericField("price", index_missing=True)
    assert opened.field("year") == NumericField("year")
