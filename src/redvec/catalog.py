"""The indexes Redis holds, as plans: list them, open one by name (redvec's record of its
schema, or what FT.INFO says of an index redvec did not create), create one."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from typing import Any

import redis

from redvec import keys
from redvec._resp import pairs, text
from redvec.connection import is_missing_index
from redvec.errors import IndexExistsError, IndexNotFoundError, SchemaError
from redvec.plans import Plan, checked, one, wait_ready
from redvec.schema import (
    BUFFER_SUFFIX,
    GeoField,
    IndexSchema,
    NumericField,
    TagField,
    TextField,
    VectorField,
)

__all__ = ["create_plan", "list_plan", "open_plan"]

META_PREFIX = keys.SCHEMA


def _stopwords_in(info: dict[str, Any]) -> tuple[str, ...] | None:
    """The index's own stop-word list as FT.INFO reports it; None for the default list
    (FT.INFO names the list only when the index was created with one)."""
    if "stopwords_list" not in info:
        return None
    return tuple(sorted(text(w).lower() for w in info["stopwords_list"] or []))


def _agrees(stored: IndexSchema, live: IndexSchema) -> bool:
    """Whether redvec's record of an index still describes the index FT.INFO reports
    (an index dropped and recreated by hand keeps the old record)."""
    if stored.prefix != live.prefix or stored.store.key_type != live.store.key_type:
        return False
    shape = {f.name: f.kind for f in stored.fields}
    if shape != {f.name: f.kind for f in live.fields}:
        return False
    for vf in live.vector_fields:
        mine = stored.vector_field(vf.name)
        if (mine.dims, mine.datatype, mine.distance, mine.algorithm) != (
            vf.dims,
            vf.datatype,
            vf.distance,
            vf.algorithm,
        ):
            return False
    return True


def _schema_from_ft_info(name: str, info: dict[str, Any]) -> IndexSchema:
    """Describe an index redvec did not create, from what FT.INFO says of it."""
    definition = pairs(info.get("index_definition"))
    storage = "json" if text(definition.get("key_type")) == "JSON" else "hash"
    prefixes = [text(p) for p in definition.get("prefixes", [])]
    fields: list[Any] = []
    for raw in info.get("attributes", []):
        attr = pairs(raw)
        fname = text(attr.get("attribute"))
        kind = text(attr.get("type"))
        if kind == "TEXT":
            fields.append(TextField(fname, weight=float(attr.get("WEIGHT", 1))))
        elif kind == "TAG":
            sep = text(attr.get("SEPARATOR", ",")) or ","
            fields.append(TagField(fname, separator=sep))
        elif kind == "NUMERIC":
            flags = {text(a) for a in raw if isinstance(a, bytes | str)}
            fields.append(NumericField(fname, index_missing="INDEXMISSING" in flags))
        elif kind == "GEO":
            fields.append(GeoField(fname))
        elif kind == "VECTOR":
            algorithm = text(attr.get("algorithm"))
            hnsw = algorithm == "HNSW"
            fields.append(
                VectorField(
                    fname,
                    dims=int(attr["dim"]),
                    algorithm=algorithm,
                    datatype=text(attr.get("data_type")),
                    distance=text(attr.get("distance_metric")),
                    m=int(attr["M"]) if hnsw and "M" in attr else None,
                    ef_construction=int(attr["ef_construction"])
                    if hnsw and "ef_construction" in attr
                    else None,
                )
            )
    prefix = prefixes[0] if prefixes and prefixes[0] else "__all__:"
    try:
        return IndexSchema(
            name=name,
            prefix=prefix,
            storage=storage,  # type: ignore[arg-type]
            fields=tuple(fields),
            stopwords=_stopwords_in(info),
        )
    except SchemaError as e:
        raise SchemaError(f"index '{name}' cannot be used by redvec: {e}") from None


def list_plan() -> Plan[list[str]]:
    """The plan of FT._LIST: the index names, sorted (write buffers' indexes left out:
    they are part of their index)."""
    names = (text(n) for n in (yield from one(("FT._LIST",))))
    return sorted(n for n in names if not n.endswith(BUFFER_SUFFIX))


def open_plan(name: str) -> Plan[tuple[IndexSchema, str | None]]:
    """The schema of the index ``name`` (or the alias ``name``), and the alias used."""
    (info_reply,) = yield [("FT.INFO", name)]
    if isinstance(info_reply, redis.ResponseError):
        if is_missing_index(info_reply):
            raise IndexNotFoundError(f"no index named '{name}'")
        raise info_reply
    info = pairs(info_reply)
    real = text(info.get("index_name", name)) or name
    stored = yield from one(("GET", META_PREFIX + real))
    try:
        live: IndexSchema | None = _schema_from_ft_info(real, info)
    except SchemaError:
        if stored is None:
            raise
        live = None
    recorded = None if stored is None else IndexSchema.from_dict(json.loads(stored))
    if recorded is not None and (live is None or _agrees(recorded, live)):
        # FT.INFO is the truth about stop words (the index may predate redvec's record).
        own = live.stopwords if live is not None else _stopwords_in(info)
        schema = (
            recorded if own == recorded.stopwords else dataclasses.replace(recorded, stopwords=own)
        )
    else:
        assert live is not None
        schema = live  # not redvec's, or recreated behind redvec's back: FT.INFO rules
    return schema, (name if name != real else None)


def create_plan(
    schema: IndexSchema,
    *,
    overwrite: bool,
    successor_of: str | None,
    shares_prefix_with: Iterable[str],
    scan_timeout: float,
) -> Plan[None]:
    """FT.CREATE, after the overlap checks of :meth:`SearchIndex.create`; then wait for
    the initial scan. An index with a write buffer gets its buffer's index too (replaced
    if there is one: it holds no data of its own, its documents are keys)."""
    if schema.name.endswith(BUFFER_SUFFIX):
        raise SchemaError(
            f"index name '{schema.name}': names ending '{BUFFER_SUFFIX}' are write buffers'"
        )
    existing = yield from list_plan()
    if schema.name in existing:
        if not overwrite:
            raise IndexExistsError(
                f"index '{schema.name}' already exists (use overwrite to replace it; "
                f"its documents are kept)"
            )
        yield from one(("FT.DROPINDEX", schema.name))
        existing.remove(schema.name)
    ours = [p for p in (schema.prefix, schema.document_prefix) if p]
    allowed = {successor_of, *shares_prefix_with}
    for other in existing:
        if other in allowed:
            continue
        for theirs in (yield from _prefixes_of(other)):
            for mine in ours:
                if mine.startswith(theirs) or theirs.startswith(mine):
                    raise IndexExistsError(
                        f"prefix '{mine}' of index '{schema.name}' overlaps prefix "
                        f"'{theirs}' of existing index '{other}': each would see the "
                        f"other's documents; choose a prefix that neither starts with"
                    )
    yield from one(_ft_create(schema))
    yield from one(("SET", META_PREFIX + schema.name, schema.to_json()))
    buffer = schema.buffer
    if buffer is not None:
        yield [("FT.DROPINDEX", buffer.name)]  # a leftover buffer index; none is no error
        yield from one(_ft_create(buffer))
        yield from wait_ready(buffer.name, scan_timeout)
    yield from wait_ready(schema.name, scan_timeout)


def _ft_create(schema: IndexSchema) -> tuple[Any, ...]:
    args: list[Any] = ["FT.CREATE", schema.name, *schema.definition().args]
    if schema.stopwords is not None:
        args += ["STOPWORDS", len(schema.stopwords), *schema.stopwords]
    args.append("SCHEMA")
    for f in schema.redis_fields():
        args += f.redis_args()
    return tuple(args)


def _prefixes_of(index: str) -> Plan[list[str]]:
    info_reply, stored = checked((yield [("FT.INFO", index), ("GET", META_PREFIX + index)]))
    info = pairs(info_reply)
    prefixes = [text(p) for p in pairs(info.get("index_definition")).get("prefixes", [])]
    if stored is not None:
        doc_prefix = json.loads(stored).get("document_prefix")
        if doc_prefix:
            prefixes.append(doc_prefix)
    return [p for p in prefixes if p]
