"""One document checked and encoded for its index: the id rule, each field's type, the
vectors, the metadata that rides along; Redis is not involved."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from redvec.errors import DocumentError, FilterError, RedvecError
from redvec.filters import check_string
from redvec.schema import GeoField, IndexSchema, NumericField, TagField, TextField, VectorField
from redvec.storage import METADATA, plain
from redvec.vectors import check_vector

__all__ = ["document_id", "encode_document", "text_to_embed"]


def document_id(doc: Mapping[str, Any], id_field: str = "id") -> str | None:
    """The document's id as stored, or None when it has no usable one.

    A usable id is a non-empty string or an integer: a float would store as a different
    string than the user wrote (``1.0``), a bool or a container is never meant as one.
    """
    raw = doc.get(id_field)
    if raw is None or raw == "" or isinstance(raw, bool | float | dict | list):
        return None
    return str(raw)


def text_to_embed(parts: Iterable[Any]) -> str:
    """The text a document is embedded from: its text fields' non-blank strings, in the
    given field order, separated by a blank line ("" when there is none). Ingest, the
    HTTP upsert and re-embed all use it, so a document embeds to the same vector
    whichever way it was written."""
    return "\n\n".join(p for p in parts if isinstance(p, str) and p.strip())


def encode_document(
    schema: IndexSchema, doc: Mapping[str, Any], id_field: str = "id"
) -> tuple[str, list[Any]]:
    """Check one document; return its id and the commands that store it.

    Raises :class:`DocumentError` naming the document and the problem.
    """
    if not isinstance(doc, Mapping):
        raise DocumentError(f"a document is a mapping, got {type(doc).__name__}")
    doc_id = document_id(doc, id_field)
    if doc_id is None:
        raise DocumentError(f"document has no usable '{id_field}' (a string or integer)")
    if id_field != "id" and "id" in doc:
        raise DocumentError(
            f"document '{doc_id}' has a field 'id' besides its id field '{id_field}': "
            f"'id' is reserved for the document id (hits and documents carry it), so it "
            f"cannot also be a field; rename it"
        )
    metadata = _metadata(doc_id, doc.get(METADATA))
    values: dict[str, Any] = {}
    vectors: dict[str, np.ndarray] = {}
    for f in schema.fields:
        value = doc.get(f.name)
        if value is None and metadata is not None and not isinstance(f, VectorField):
            value = metadata.get(f.name)  # a declared metadata key is indexed too
        if isinstance(f, VectorField):
            if value is None:
                raise DocumentError(f"document '{doc_id}' has no vector '{f.name}'")
            try:
                vectors[f.name] = check_vector(value, f, what=f"document '{doc_id}' vector")
            except RedvecError as e:
                raise DocumentError(str(e)) from None
        elif value is not None:
            values[f.name] = _check_value(doc_id, f, value)
    store = schema.store
    raw_ok = store.raw_types
    extra = {
        k: v if v.__class__ in raw_ok else plain(v, f"document '{doc_id}' field '{k}'", 1)
        for k, v in doc.items()
        if k != id_field and k not in values and k not in vectors and k != METADATA
    }
    if metadata is not None:
        extra[METADATA] = metadata
    commands: list[Any] = store.encode(schema, doc_id, values, vectors, extra)
    return doc_id, commands


def _check_value(doc_id: str, f: Any, value: Any) -> Any:
    where = f"document '{doc_id}' field '{f.name}'"
    if value.__class__ is not str:
        value = plain(value, where)
    if isinstance(f, TextField):
        if not isinstance(value, str):
            raise DocumentError(f"{where}: text must be a string, got {type(value).__name__}")
    elif isinstance(f, NumericField):
        # plain() above refused non-finite floats and integers beyond 64 bits.
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise DocumentError(f"{where}: expected a number, got {value!r:.60}")
    elif isinstance(f, TagField):
        tags = value if isinstance(value, list) else [value]
        for tag in tags:
            if not isinstance(tag, str):
                raise DocumentError(f"{where}: tags are strings, got {tag!r}")
            try:
                check_string(tag, "tag")
            except FilterError as e:
                raise DocumentError(f"{where}: {e}") from None
            if f.separator in tag:
                raise DocumentError(f"{where}: tag {tag!r} contains the separator {f.separator!r}")
    elif isinstance(f, GeoField):
        value = _geo(where, value)
    return value


def _geo(where: str, value: Any) -> str:
    """A geo value as RediSearch stores it, ``"lon,lat"``, checked: RediSearch accepts any
    string at write time and then silently fails to index one it cannot read."""
    if isinstance(value, list | tuple) and len(value) == 2:
        parts = list(value)
    elif isinstance(value, str) and value.count(",") == 1:
        parts = value.split(",")
    else:
        raise DocumentError(f"{where}: geo values are 'lon,lat' or [lon, lat], got {value!r:.60}")
    try:
        if any(isinstance(p, bool) for p in parts):
            raise ValueError
        lon, lat = (float(p) for p in parts)
    except (TypeError, ValueError):
        raise DocumentError(
            f"{where}: geo values are numbers 'lon,lat', got {value!r:.60}"
        ) from None
    if not (-180 <= lon <= 180 and -85.05112878 <= lat <= 85.05112878):
        raise DocumentError(
            f"{where}: ({lon}, {lat}) is not a valid position: longitude must be within "
            f"[-180, 180] and latitude within [-85.05112878, 85.05112878]"
        )
    return f"{lon!r},{lat!r}"


def _metadata(doc_id: str, value: Any) -> dict[str, Any] | None:
    """A document's ``metadata``: a mapping with string keys of JSON values, checked and
    made plain (numpy values become Python ones) so that it is stored, and read back,
    exactly as given in every storage mode."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise DocumentError(
            f"document '{doc_id}': 'metadata' is a mapping of names to values, got "
            f"{type(value).__name__}"
        )
    out = plain(dict(value), f"document '{doc_id}' metadata", 1)
    if any(not isinstance(k, str) for k in out):
        raise DocumentError(f"document '{doc_id}': metadata keys must be strings")
    return dict(out)
