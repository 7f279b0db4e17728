"""The three ways an index's documents live in Redis keys, one class each.

- :class:`HashStorage` (``hash``): one HASH per document; vectors as packed bytes, other
  fields as strings. Flat fields only.
- :class:`JsonStorage` (``json``): one JSON document per key; vectors as arrays of floats;
  any nesting RedisJSON takes.
- :class:`SplitStorage` (``split``): the vectors and the indexed fields in a HASH under
  the index prefix (what RediSearch indexes), the whole document as JSON under
  ``document_prefix``; a vector update rewrites no JSON, and searches join each hit's JSON
  document in a server-side script, in the same round trip.

Everything that differs between the modes is a method here, so the index, the query
builder, the async and cluster executors and the ingest pipeline ask the storage instead of
testing its name. These classes build commands and decode replies; they send nothing
(except :meth:`Storage.send_search`, which sends on the connection it is given).

Why this file is over 500 lines: the three modes and their base are kept side by side so
that a rule one mode overrides is read next to the rule it replaces.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from redvec._resp import text
from redvec.errors import DocumentError, SchemaError

if TYPE_CHECKING:
    from redvec.schema import IndexSchema, VectorField

METADATA = "metadata"
WHOLE = "*"
"""As a return field: the whole stored document (vectors only when also named)."""
"""The document key of a free-form metadata mapping: stored and read back exactly, in
every storage mode (a HASH holds it as JSON text); its keys that the schema declares as
fields are indexed too. A schema may not declare a field of this name."""

__all__ = [
    "JSON_MAX_DEPTH",
    "METADATA",
    "SPLIT_SEARCH_SCRIPT",
    "STORAGES",
    "HashStorage",
    "JsonStorage",
    "SplitStorage",
    "Storage",
    "plain",
    "storage_for",
]

Command = tuple[Any, ...]

SPLIT_SEARCH_SCRIPT = """
-- Split storage's search: FT.SEARCH, then each hit's JSON document, in one round trip.
local prefix = ARGV[1]
local docprefix = ARGV[2]
local scored = ARGV[3] == '1'
local args = {}
for i = 4, #ARGV do args[#args + 1] = ARGV[i] end
local res = redis.call('FT.SEARCH', unpack(args))
local out = {res[1]}
local i = 2
while i <= #res do
  local key = res[i]
  out[#out + 1] = key
  i = i + 1
  if scored then out[#out + 1] = res[i]; i = i + 1 end
  if type(res[i]) == 'table' then out[#out + 1] = res[i]; i = i + 1 else out[#out + 1] = {} end
  out[#out + 1] = redis.call('JSON.GET', docprefix .. string.sub(key, #prefix + 1))
end
return out
"""


class Storage:
    """One storage mode. Instances are stateless; :func:`storage_for` gives the shared one."""

    name: ClassVar[str]
    key_type: ClassVar[str]
    """What RediSearch indexes under the prefix: ``HASH`` or ``JSON``."""
    joined: ClassVar[bool] = False
    """Whether search replies carry the JSON document joined by the split-search script."""
    shardable: ClassVar[bool] = True
    """Whether an index can span the shards of a cluster (each document wholly on one)."""
    raw_types: ClassVar[tuple[type, ...]] = (str,)
    """Values of unindexed fields stored as given, without the JSON-compatibility check."""

    # -- the schema ----------------------------------------------------------------------

    def default_document_prefix(self) -> str | None:
        """The prefix of documents kept outside the index prefix (split storage), else None."""
        return None

    def validate(self, schema: IndexSchema) -> None:
        """Refuse, with :class:`SchemaError`, what this mode cannot hold."""
        if schema.document_prefix is not None:
            raise SchemaError(
                f"index '{schema.name}': document_prefix applies to split storage only"
            )

    @property
    def json_paths(self) -> bool:
        """Whether FT.CREATE addresses fields as JSON paths (``$.name AS name``)."""
        return self.key_type == "JSON"

    def document_key(self, schema: IndexSchema, doc_id: str) -> str:
        """The key holding the document's metadata."""
        return schema.key(doc_id)

    def keys_of(self, schema: IndexSchema, doc_id: str) -> list[str]:
        """Every key of one document: what a delete removes."""
        return [schema.key(doc_id)]

    def other_patterns(self, schema: IndexSchema) -> list[str]:
        """Key patterns of documents outside the index prefix (dropped with the documents)."""
        return []

    # -- writing ---------------------------------------------------------------------------

    def encode(
        self,
        schema: IndexSchema,
        doc_id: str,
        values: Mapping[str, Any],
        vectors: Mapping[str, np.ndarray],
        extra: Mapping[str, Any],
    ) -> list[Command]:
        """Commands that replace the whole document (no field of an earlier version
        survives). ``values`` are checked schema fields, ``vectors`` checked vectors,
        ``extra`` the unindexed fields."""
        raise NotImplementedError

    def vector_command(self, key: str, field: VectorField, vector: np.ndarray) -> Command:
        """The command that replaces one vector and nothing else."""
        from redvec.vectors import to_bytes

        return ("HSET", key, field.name, to_bytes(vector, field))

    # -- reading ---------------------------------------------------------------------------

    def read_commands(self, schema: IndexSchema, doc_id: str) -> list[Command]:
        """Commands that read one document whole; their replies go to :meth:`decode`."""
        return [("HGETALL", schema.key(doc_id))]

    def decode(
        self, schema: IndexSchema, replies: list[Any], with_vectors: bool
    ) -> dict[str, Any] | None:
        """The document from the replies of :meth:`read_commands`; None when not stored."""
        raise NotImplementedError

    def vector_read(self, key: Any, field: VectorField) -> Command:
        """The command that reads one document's vector ``field`` from ``key``."""
        return ("HGET", key, field.name)

    def vector_decode(self, raw: Any, field: VectorField) -> np.ndarray | None:
        """One stored vector from the reply of :meth:`vector_read`; None when absent."""
        from redvec.vectors import from_bytes

        return None if raw is None else from_bytes(raw, field)

    # -- searching -------------------------------------------------------------------------

    def send_search(
        self,
        target: Any,
        schema: IndexSchema,
        index_name: str,
        args: list[Any],
        *,
        scored: bool,
        script: Callable[..., Any] | None,
    ) -> Any:
        """Send one FT.SEARCH on ``target`` (a client or pipeline, sync or async); the
        split mode runs it inside ``script`` (the registered join script)."""
        return target.execute_command("FT.SEARCH", index_name, *args)

    def returned_in_search(
        self, schema: IndexSchema, asked: tuple[str, ...] | None
    ) -> list[str] | None:
        """The RETURN clause's arguments for ``asked`` (None: every field but vectors;
        ``*``: the whole document, which a HASH gives without a RETURN clause, so None
        here); the rest, if any, comes from the joined document."""
        if asked is None:
            return [f.name for f in schema.fields if f.kind != "vector"]
        if WHOLE in asked:
            return None
        return list(asked)

    @property
    def tags_as_arrays(self) -> bool:
        """Whether a search reply holds multi-valued tags as a JSON array (else joined by
        the field's separator)."""
        return False

    def vector_decoder(self, field: VectorField) -> Callable[[bytes], Any]:
        """Decodes a vector returned by FT.SEARCH into a list of floats."""
        from redvec.vectors import from_bytes

        return lambda raw: from_bytes(raw, field).tolist()


_SCALARS = (str, int, float, bool, type(None))
JSON_MAX_DEPTH = 127  # RedisJSON refuses a document nested 128 levels deep
_INT64 = (-(2**63), 2**63 - 1)


def plain(value: Any, where: str, depth: int = 0) -> Any:
    """``value`` as plain JSON-compatible Python: numpy scalars and arrays (of numbers,
    booleans or strings) become Python numbers, booleans, strings and lists; anything
    that cannot be stored exactly is refused with :class:`DocumentError` naming it
    (non-finite or out-of-range numbers, integers beyond 64 bits, which RedisJSON would
    turn into inexact floats, nesting RedisJSON refuses, other objects)."""
    kind = value.__class__
    if kind is str or kind is bool or value is None:
        return value
    if kind is float:
        if not math.isfinite(value):
            raise DocumentError(f"{where}: numbers must be finite, got {value!r}")
        return value
    if kind is int:
        if not _INT64[0] <= value <= _INT64[1]:
            raise DocumentError(
                f"{where}: the integer {str(value)[:24]}... does not fit in 64 bits and would "
                f"not be stored exactly; send it as a string"
            )
        return value
    if isinstance(value, np.generic):
        if isinstance(value, np.bool_):
            return bool(value)
        if isinstance(value, np.str_ | np.bytes_):
            return plain(str(value) if isinstance(value, np.str_) else value.decode(), where)
        if isinstance(value, np.integer | np.floating):
            return plain(value.item(), where)
        raise DocumentError(f"{where}: numpy {value.dtype} values cannot be stored")
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biufUS":
            raise DocumentError(f"{where}: numpy arrays of {value.dtype} cannot be stored")
        return plain(value.tolist(), where, depth)
    if depth >= JSON_MAX_DEPTH:
        raise DocumentError(
            f"{where}: nested deeper than {JSON_MAX_DEPTH} levels, which RedisJSON refuses"
        )
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise DocumentError(f"{where}: keys are strings, got {k!r}")
            out[k] = plain(v, f"{where}.{k}", depth + 1)
        return out
    if isinstance(value, list | tuple):
        return [plain(v, f"{where}[{n}]", depth + 1) for n, v in enumerate(value)]
    # Subclasses of the plain types (an IntEnum, a str subclass): their plain value.
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return plain(int(value), where)
    if isinstance(value, float):
        return plain(float(value), where)
    if isinstance(value, str):
        return str(value)
    raise DocumentError(f"{where}: a {kind.__name__} cannot be stored (numbers, strings, lists)")


def decode_hash(schema: IndexSchema, raw: dict[bytes, bytes], with_vectors: bool) -> dict[str, Any]:
    """A document from a HASH: numbers parsed, multi-valued tags split, vectors as lists
    (only ``with_vectors``)."""
    from redvec.vectors import from_bytes

    kinds = {f.name: f for f in schema.fields}
    doc: dict[str, Any] = {}
    for k, v in raw.items():
        name = text(k)
        f = kinds.get(name)
        if name == METADATA and f is None:
            doc[name] = json.loads(v)
        elif f is None or f.kind == "text" or f.kind == "geo":
            doc[name] = text(v)
        elif f.kind == "vector":
            if with_vectors:
                doc[name] = from_bytes(v, f).tolist()
        elif f.kind == "numeric":
            doc[name] = json.loads(v)
        else:  # tag
            s = text(v)
            sep = f.separator
            doc[name] = s.split(sep) if sep in s else s
    return doc


def hash_mapping(
    schema: IndexSchema, values: Mapping[str, Any], vectors: Mapping[str, np.ndarray]
) -> dict[str, Any]:
    """The HASH fields of the indexed values and vectors (vectors packed as bytes)."""
    from redvec.vectors import to_bytes

    mapping: dict[str, Any] = {}
    for f in schema.fields:
        if f.name in vectors:
            mapping[f.name] = to_bytes(vectors[f.name], f)  # type: ignore[arg-type]
        elif f.name in values:
            mapping[f.name] = hash_value(f, values[f.name])
    return mapping


def hash_value(f: Any, value: Any) -> Any:
    """One value as a HASH field holds it (tags joined, booleans 0/1, floats exact)."""
    if f is not None and f.kind == "tag" and isinstance(value, list):
        return str(f.separator.join(value))
    if value.__class__ not in _SCALARS and value.__class__ is not bytes:
        value = plain(value, f"field '{getattr(f, 'name', '?')}'")
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, float):
        return repr(value)
    return value


def dumps(doc_id: str, body: dict[str, Any]) -> str:
    """A document as JSON text, refusing what JSON cannot hold exactly (NaN, objects)."""
    try:
        return json.dumps(body, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise DocumentError(f"document '{doc_id}' cannot be stored as JSON: {e}") from None


def _flatten(mapping: Mapping[str, Any]) -> list[Any]:
    out: list[Any] = []
    for k, v in mapping.items():
        out += [k, v]
    return out


class HashStorage(Storage):
    """One HASH per document: vectors as packed bytes, other fields as strings, flat only."""

    name = "hash"
    key_type = "HASH"
    raw_types = (str, bytes)  # a hash holds bytes

    def encode(
        self,
        schema: IndexSchema,
        doc_id: str,
        values: Mapping[str, Any],
        vectors: Mapping[str, np.ndarray],
        extra: Mapping[str, Any],
    ) -> list[Command]:
        """DEL then HSET: an upsert replaces the whole document, leaving no stale field."""
        mapping = hash_mapping(schema, values, vectors)
        for k, v in extra.items():
            if k == METADATA:  # the one nested value a HASH holds: as JSON text, exactly
                mapping[k] = json.dumps(v, allow_nan=False)
                continue
            if isinstance(v, dict | list):
                raise DocumentError(
                    f"document '{doc_id}': field '{k}' is nested; hash storage keeps "
                    f"flat fields only (use json or split storage)"
                )
            mapping[k] = hash_value(None, v)
        # DEL then HSET, back to back, as JSON.SET replaces a whole document.
        key = schema.key(doc_id)
        return [("DEL", key), ("HSET", key, *_flatten(mapping))]

    def decode(
        self, schema: IndexSchema, replies: list[Any], with_vectors: bool
    ) -> dict[str, Any] | None:
        """A HGETALL reply as a document (numbers and tags by the schema, vectors on request)."""
        (raw,) = replies
        return decode_hash(schema, raw, with_vectors) if raw else None


class JsonStorage(Storage):
    """One JSON document per key: vectors as float arrays, any nesting RedisJSON takes."""

    name = "json"
    key_type = "JSON"

    def returned_in_search(
        self, schema: IndexSchema, asked: tuple[str, ...] | None
    ) -> list[str] | None:
        """Indexed fields by name; the metadata by its path; ``*`` as the whole document
        (``$``)."""
        if asked is None:
            return [f.name for f in schema.fields if f.kind != "vector"]
        if WHOLE in asked:
            return ["$", *(n for n in asked if n != WHOLE)]
        out: list[str] = []
        for n in asked:
            out += [f"$.{METADATA}", "AS", METADATA] if n == METADATA else [n]
        return out

    def encode(
        self,
        schema: IndexSchema,
        doc_id: str,
        values: Mapping[str, Any],
        vectors: Mapping[str, np.ndarray],
        extra: Mapping[str, Any],
    ) -> list[Command]:
        """JSON.SET of the whole document at ``$``."""
        body = {**extra, **values}
        body.update({n: v.tolist() for n, v in vectors.items()})
        return [("JSON.SET", schema.key(doc_id), "$", dumps(doc_id, body))]

    def vector_command(self, key: str, field: VectorField, vector: np.ndarray) -> Command:
        """JSON.SET of one vector field."""
        return ("JSON.SET", key, f"$.{field.name}", json.dumps(vector.tolist()))

    def read_commands(self, schema: IndexSchema, doc_id: str) -> list[Command]:
        """JSON.GET of the whole document."""
        return [("JSON.GET", schema.key(doc_id))]

    def decode(
        self, schema: IndexSchema, replies: list[Any], with_vectors: bool
    ) -> dict[str, Any] | None:
        """A JSON.GET reply as a document (vectors on request)."""
        (raw,) = replies
        if raw is None:
            return None
        doc: dict[str, Any] = json.loads(raw)
        if not with_vectors:
            for vf in schema.vector_fields:
                doc.pop(vf.name, None)
        return doc

    def vector_read(self, key: Any, field: VectorField) -> Command:
        """JSON.GET of one vector field."""
        return ("JSON.GET", key, f"$.{field.name}")

    def vector_decode(self, raw: Any, field: VectorField) -> np.ndarray | None:
        """A vector from its JSON.GET reply, or None when absent."""
        found = None if raw is None else json.loads(raw)
        return np.asarray(found[0], dtype=np.float32) if found else None

    @property
    def tags_as_arrays(self) -> bool:
        """Search replies hold multi-valued tags as JSON arrays."""
        return True

    def vector_decoder(self, field: VectorField) -> Callable[[bytes], Any]:
        """Vectors come back from FT.SEARCH as JSON arrays."""
        return json.loads


class SplitStorage(Storage):
    """The indexed fields and vectors in a HASH under the index prefix, the whole document as
    JSON under ``document_prefix``; searches join each hit's JSON in one server-side script."""

    name = "split"
    key_type = "HASH"
    joined = True
    # The join script runs on the shard that answers; the JSON document may live on another.
    shardable = False
    # With a write buffer only the HASH is buffered (wbuf:<prefix><id>): the JSON document
    # keeps its one key, written with the HASH in the buffered write's transaction, so the
    # merge's one RENAME moves all that moves.

    def default_document_prefix(self) -> str | None:
        """``doc:``, unless the schema names another."""
        return "doc:"

    def validate(self, schema: IndexSchema) -> None:
        """The document prefix must be a prefix (ending in ':') that overlaps no index prefix."""
        from redvec.schema import check_prefix, prefixes_overlap

        assert schema.document_prefix is not None  # defaulted at construction
        check_prefix(schema.name, "document_prefix", schema.document_prefix)
        if prefixes_overlap(schema.prefix, schema.document_prefix):
            raise SchemaError(
                f"index '{schema.name}': prefix {schema.prefix!r} and document_prefix "
                f"{schema.document_prefix!r} overlap; split storage needs them apart"
            )
        if not schema.vector_fields:
            raise SchemaError(f"index '{schema.name}': split storage needs a vector field")

    def document_key(self, schema: IndexSchema, doc_id: str) -> str:
        """The key of the document's JSON (under ``document_prefix``)."""
        return f"{schema.document_prefix}{doc_id}"

    def keys_of(self, schema: IndexSchema, doc_id: str) -> list[str]:
        """Both keys of a document: the indexed HASH and the JSON."""
        return [schema.key(doc_id), self.document_key(schema, doc_id)]

    def other_patterns(self, schema: IndexSchema) -> list[str]:
        """The JSON documents' pattern, dropped with the documents."""
        return [f"{schema.document_prefix}*"]

    def encode(
        self,
        schema: IndexSchema,
        doc_id: str,
        values: Mapping[str, Any],
        vectors: Mapping[str, np.ndarray],
        extra: Mapping[str, Any],
    ) -> list[Command]:
        """DEL and HSET the indexed HASH anew (no stale field), JSON.SET the whole document
        (which replaces it)."""
        key = schema.key(doc_id)
        body = {**extra, **values}
        return [
            ("DEL", key),
            ("HSET", key, *_flatten(hash_mapping(schema, values, vectors))),
            ("JSON.SET", self.document_key(schema, doc_id), "$", dumps(doc_id, body)),
        ]

    def read_commands(self, schema: IndexSchema, doc_id: str) -> list[Command]:
        """HGETALL of the indexed HASH and JSON.GET of the document."""
        return [("JSON.GET", self.document_key(schema, doc_id)), ("HGETALL", schema.key(doc_id))]

    def decode(
        self, schema: IndexSchema, replies: list[Any], with_vectors: bool
    ) -> dict[str, Any] | None:
        """The JSON document with the HASH's vectors (on request)."""
        from redvec.vectors import from_bytes

        raw, hash_fields = replies
        if raw is None:
            return None
        doc: dict[str, Any] = json.loads(raw)
        if with_vectors and hash_fields:
            for vf in schema.vector_fields:
                if vf.name.encode() in hash_fields:
                    doc[vf.name] = from_bytes(hash_fields[vf.name.encode()], vf).tolist()
        return doc

    def send_search(
        self,
        target: Any,
        schema: IndexSchema,
        index_name: str,
        args: list[Any],
        *,
        scored: bool,
        script: Callable[..., Any] | None,
    ) -> Any:
        """FT.SEARCH inside the join script: one round trip gives each hit with its document."""
        assert script is not None, "split storage searches through its join script"
        return script(
            keys=[],
            args=[
                schema.prefix,
                schema.document_prefix or "",
                "1" if scored else "0",
                index_name,
                *args,
            ],
            client=target,
        )

    def returned_in_search(
        self, schema: IndexSchema, asked: tuple[str, ...] | None
    ) -> list[str] | None:
        """What FT.SEARCH returns itself: the distance or score; the fields come from the JSON."""
        # Metadata comes from the joined JSON document; vectors, when asked for, from the hash.
        vectors = {f.name for f in schema.vector_fields}
        return [] if asked is None else [n for n in asked if n in vectors]


STORAGES: dict[str, Storage] = {s.name: s for s in (HashStorage(), JsonStorage(), SplitStorage())}


def storage_for(name: str) -> Storage:
    """The storage mode called ``name`` (``json``, ``hash`` or ``split``)."""
    try:
        return STORAGES[name]
    except KeyError:
        raise SchemaError(f"storage must be json, hash or split, got {name!r}") from None
