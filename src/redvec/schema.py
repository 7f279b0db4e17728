"""Declarative index schemas: fields, vector parameters and storage, validated up front.

A schema is checked before anything reaches Redis, so a mistake reads as
"field 'embedding': M applies to HNSW only" instead of a terse server error.
FT.CREATE is built from redis-py's typed field classes, never by pasting strings.

Storage modes:

- ``json``: one JSON document per key; the vector is an array of numbers. Easiest to
  read and to update field by field; vectors cost more to write (text floats).
- ``hash``: one HASH per key; the vector is packed bytes. The fastest to write and the
  smallest in memory; nested metadata does not fit.
- ``split``: the metadata as a JSON document under ``document_prefix`` and the vector
  plus the filterable fields as a HASH under ``prefix``; the index is on the HASH.
  Rich documents with cheap vector rewrites (re-embedding touches no JSON).

Why this file is over 500 lines: every field kind, its validation, its FT.CREATE form and
its schema-file form belong together (a new option is one edit in one place), and the
write buffer's schema is derived from the index's own.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import yaml
from redis.commands.search import field as rf
from redis.commands.search.index_definition import IndexDefinition, IndexType

from redvec.errors import SchemaError

if TYPE_CHECKING:
    from redvec.storage import Storage as StorageMode

__all__ = [
    "Field",
    "GeoField",
    "IndexSchema",
    "NumericField",
    "TagField",
    "TextField",
    "VectorField",
    "WriteBuffer",
    "load_schema",
]

Storage = Literal["json", "hash", "split"]
STORAGES = ("json", "hash", "split")
ALGORITHMS = ("HNSW", "FLAT")
DATATYPES = ("FLOAT32", "FLOAT64", "FLOAT16", "BFLOAT16")
DISTANCES = ("COSINE", "L2", "IP")
RESERVED_PREFIX = "redvec:"
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_WORDLIKE = re.compile(r"^\w+$")
# Names redvec gives things inside a query or a reply (the KNN distance is yielded as
# ``__dist``): a field of that name would clash, so every name starting "__" is redvec's.
RESERVED_FIELD_PREFIX = "__"
_INDEX_NAME = re.compile(r"^[A-Za-z0-9_:.{}\-]+$")
BUFFER_SUFFIX = ".wbuf"  # a write buffer's index: '<name>.wbuf'
BUFFER_PREFIX = "wbuf:"  # ... over '<prefix of the index>' behind this


@dataclass(frozen=True)
class WriteBuffer:
    """An index's write buffer (docs/operations.md, "Reads under writes"): new and changed
    documents are written under a buffer prefix covered by a small FLAT index, where an
    insert is a copy rather than an HNSW graph search, and a merger moves them into the
    index one at a time. ``max_docs`` bounds the buffer: a writer that would exceed it
    waits (up to ``wait_seconds``), then is refused with :class:`BufferFullError`."""

    max_docs: int = 5000
    wait_seconds: float = 30.0
    # How a buffered twin is named: "prefix" puts the buffer's prefix before the key
    # (``wbuf:doc:42``), "slot" wraps the key in a hash tag (``wbuf:{doc:42}``) so that each
    # twin shares its document's cluster slot; a sharded cluster index takes "slot".
    twins: Literal["prefix", "slot"] = "prefix"


@dataclass(frozen=True)
class TextField:
    """A full-text field (BM25); ``weight`` scales its matches."""

    name: str
    weight: float = 1.0
    sortable: bool = False
    kind: Literal["text"] = field(default="text", init=False)


@dataclass(frozen=True)
class TagField:
    """Exact-match values (``separator`` splits several in one string)."""

    name: str
    separator: str = ","
    case_sensitive: bool = False
    sortable: bool = False
    kind: Literal["tag"] = field(default="tag", init=False)


@dataclass(frozen=True)
class NumericField:
    """A number, filterable by range. ``index_missing`` (RediSearch 2.10 and later, Redis 8)
    indexes which documents lack the field, so that a filter can say "has a value": the
    planner then runs a range matching most of an index as the negation of its short
    complement, about three times faster (:mod:`redvec.planner`), in hash and split storage."""

    name: str
    sortable: bool = False
    index_missing: bool = False
    kind: Literal["numeric"] = field(default="numeric", init=False)


@dataclass(frozen=True)
class GeoField:
    """Longitude,latitude pairs; stored as the string ``"lon,lat"``."""

    name: str
    kind: Literal["geo"] = field(default="geo", init=False)


@dataclass(frozen=True)
class VectorField:
    """A vector field: ``dims``, the algorithm (HNSW or FLAT), datatype (FLOAT32, FLOAT64,
    FLOAT16, BFLOAT16), distance (COSINE, L2, IP) and the HNSW parameters (None: Redis'
    defaults). Names are accepted in any case."""

    name: str
    dims: int
    algorithm: str = "HNSW"
    datatype: str = "FLOAT32"
    distance: str = "COSINE"
    m: int | None = None
    ef_construction: int | None = None
    ef_runtime: int | None = None
    epsilon: float | None = None
    initial_cap: int | None = None
    block_size: int | None = None
    kind: Literal["vector"] = field(default="vector", init=False)

    def __post_init__(self) -> None:
        # Accept any case from files and callers; keep one spelling inside.
        for attr in ("algorithm", "datatype", "distance"):
            value = getattr(self, attr)
            if isinstance(value, str):
                object.__setattr__(self, attr, value.upper())

    @property
    def numpy_dtype(self) -> str:
        """The numpy dtype vectors are packed as (BFLOAT16 is packed by hand from float32)."""
        return {"FLOAT32": "<f4", "FLOAT64": "<f8", "FLOAT16": "<f2", "BFLOAT16": "<u2"}[
            self.datatype
        ]


Field = TextField | TagField | NumericField | GeoField | VectorField
_KINDS: dict[str, type[Any]] = {
    "text": TextField,
    "tag": TagField,
    "numeric": NumericField,
    "geo": GeoField,
    "vector": VectorField,
}


def _check_vector(f: VectorField) -> None:
    where = f"field '{f.name}'"
    if f.algorithm not in ALGORITHMS:
        raise SchemaError(f"{where}: algorithm must be HNSW or FLAT, got {f.algorithm!r}")
    if f.datatype not in DATATYPES:
        raise SchemaError(
            f"{where}: datatype must be one of {', '.join(DATATYPES)}, got {f.datatype!r}"
        )
    if f.distance not in DISTANCES:
        raise SchemaError(f"{where}: distance must be COSINE, L2 or IP, got {f.distance!r}")
    if not isinstance(f.dims, int) or isinstance(f.dims, bool) or not 1 <= f.dims <= 32768:
        raise SchemaError(f"{where}: dims must be an integer from 1 to 32768, got {f.dims!r}")
    if f.algorithm == "FLAT":
        for attr in ("m", "ef_construction", "ef_runtime", "epsilon"):
            if getattr(f, attr) is not None:
                raise SchemaError(f"{where}: {attr.upper()} applies to HNSW only")
    limits = {
        "m": (2, 512),
        "ef_construction": (1, 1_000_000),
        "ef_runtime": (1, 1_000_000),
        "initial_cap": (0, 2**31),
        "block_size": (1, 2**31),
    }
    for attr, (lo, hi) in limits.items():
        value = getattr(f, attr)
        if value is not None and (
            not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi
        ):
            raise SchemaError(
                f"{where}: {attr.upper()} must be an integer from {lo} to {hi}, got {value!r}"
            )
    if f.epsilon is not None and not (isinstance(f.epsilon, int | float) and f.epsilon > 0):
        raise SchemaError(f"{where}: EPSILON must be a positive number, got {f.epsilon!r}")


@dataclass(frozen=True)
class IndexSchema:
    """An index: its name, key prefix, storage mode and fields."""

    name: str
    prefix: str
    fields: tuple[Field, ...]
    storage: Storage = "hash"
    document_prefix: str | None = None  # split storage: where the JSON documents live
    # The index's stop words: None is RediSearch's default list, () none at all. Text
    # queries drop exactly these words (an OR of stop words crashes RediSearch 2.10.5).
    stopwords: tuple[str, ...] | None = None
    write_buffer: WriteBuffer | None = None
    # What follows the id in a key: "}" for a write buffer's twins named for their
    # document's slot (WriteBuffer.twins "slot"); set only on a buffer's own schema.
    key_end: str = ""

    def __hash__(self) -> int:
        # Schemas key the query caches; hashing every field on every search is measurable.
        cached: int | None = self.__dict__.get("_hash")
        if cached is None:
            cached = hash(
                (
                    self.name,
                    self.prefix,
                    self.storage,
                    self.document_prefix,
                    self.fields,
                    self.stopwords,
                    self.write_buffer,
                    self.key_end,
                )
            )
            object.__setattr__(self, "_hash", cached)
        return cached

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", tuple(self.fields))
        if self.stopwords is not None:
            if isinstance(self.stopwords, str) or not all(
                isinstance(w, str) and _WORDLIKE.match(w) for w in self.stopwords
            ):
                raise SchemaError(
                    f"index '{self.name}': stopwords is a list of words (letters, digits, _), "
                    f"got {self.stopwords!r}"
                )
            object.__setattr__(
                self, "stopwords", tuple(sorted({w.lower() for w in self.stopwords}))
            )
        if self.storage in STORAGES and self.document_prefix is None:
            object.__setattr__(self, "document_prefix", self.store.default_document_prefix())
        self.validate()

    # -- validation ---------------------------------------------------------------

    def validate(self) -> None:
        """Refuse (:class:`SchemaError`) a schema Redis would refuse or redvec cannot serve: bad
        names, prefixes, field options, no or duplicate fields."""
        if not isinstance(self.name, str) or not _INDEX_NAME.match(self.name):
            raise SchemaError(
                f"index name {self.name!r} must be non-empty and use only letters, digits "
                f"and _ : . - {{ }}"
            )
        if self.storage not in STORAGES:
            raise SchemaError(
                f"index '{self.name}': storage must be json, hash or split, got {self.storage!r}"
            )
        check_prefix(self.name, "prefix", self.prefix)
        if self.key_end not in ("", "}"):
            raise SchemaError(f"index '{self.name}': key_end is '' or '}}', got {self.key_end!r}")
        self.store.validate(self)
        if not self.fields:
            raise SchemaError(f"index '{self.name}': a schema needs at least one field")
        seen: set[str] = set()
        for f in self.fields:
            if not isinstance(f, TextField | TagField | NumericField | GeoField | VectorField):
                raise SchemaError(f"index '{self.name}': {f!r} is not a field")
            if not isinstance(f.name, str) or not _NAME.match(f.name):
                raise SchemaError(
                    f"field {f.name!r}: names start with a letter or _ and use only "
                    f"letters, digits and _"
                )
            if f.name in seen:
                raise SchemaError(f"field '{f.name}' is declared twice")
            seen.add(f.name)
            if f.name == "id":
                raise SchemaError("field 'id' is reserved: a document's id is its key")
            if f.name == "metadata":  # storage.METADATA
                raise SchemaError(
                    "field 'metadata' is reserved for a document's metadata mapping (its "
                    "keys become filterable by declaring them as fields); rename the field"
                )
            if f.name.startswith(RESERVED_FIELD_PREFIX):
                raise SchemaError(
                    f"field '{f.name}': names starting with '__' are reserved for redvec "
                    f"(the KNN distance is returned as '__dist'); rename the field"
                )
            if isinstance(f, VectorField):
                _check_vector(f)
            if isinstance(f, TagField) and len(f.separator) != 1:
                raise SchemaError(
                    f"field '{f.name}': separator must be one character, got {f.separator!r}"
                )
            if isinstance(f, TextField) and not (
                isinstance(f.weight, int | float) and f.weight > 0
            ):
                raise SchemaError(f"field '{f.name}': weight must be positive, got {f.weight!r}")
        if self.write_buffer is not None:
            self._check_buffer(self.write_buffer)

    def _check_buffer(self, wb: WriteBuffer) -> None:
        where = f"index '{self.name}': write_buffer"
        if not isinstance(wb, WriteBuffer):
            raise SchemaError(f"{where} must be a WriteBuffer, got {wb!r}")
        if (
            isinstance(wb.max_docs, bool)
            or not isinstance(wb.max_docs, int)
            or not (1 <= wb.max_docs <= 1_000_000)
        ):
            raise SchemaError(f"{where}: max_docs must be an integer from 1 to 1000000")
        if not isinstance(wb.wait_seconds, int | float) or not 0 <= wb.wait_seconds <= 3600:
            raise SchemaError(f"{where}: wait_seconds must be a number from 0 to 3600")
        if wb.twins not in ("prefix", "slot"):
            raise SchemaError(f"{where}: twins must be 'prefix' or 'slot', got {wb.twins!r}")
        if wb.twins == "slot" and "{" in self.prefix:
            raise SchemaError(
                f"{where}: twins 'slot' wraps each key in a hash tag, but prefix "
                f"'{self.prefix}' has one already (its twins share its slot as they are)"
            )
        if not any(f.algorithm == "HNSW" for f in self.vector_fields):
            raise SchemaError(
                f"{where}: the index has no HNSW vector field, and a FLAT insert is already "
                f"a copy: a buffer would only add work"
            )

    # -- lookups ------------------------------------------------------------------

    @functools.cached_property
    def vector_fields(self) -> list[VectorField]:
        """The schema's vector fields, in order."""
        return [f for f in self.fields if isinstance(f, VectorField)]

    def field(self, name: str) -> Field:
        """The field ``name``; :class:`SchemaError` when there is none."""
        for f in self.fields:
            if f.name == name:
                return f
        names = ", ".join(f.name for f in self.fields)
        raise SchemaError(f"index '{self.name}' has no field '{name}' (fields: {names})")

    def vector_field(self, name: str | None = None) -> VectorField:
        """The vector field ``name``, or the only one; :class:`SchemaError` when there is no
        such field or ``name`` is None and there are several."""
        vectors = self.vector_fields
        if name is None:
            if len(vectors) != 1:
                raise SchemaError(
                    f"index '{self.name}' has {len(vectors)} vector fields; name the one to use"
                )
            return vectors[0]
        f = self.field(name)
        if not isinstance(f, VectorField):
            raise SchemaError(f"field '{name}' of index '{self.name}' is not a vector field")
        return f

    @functools.cached_property
    def store(self) -> StorageMode:
        """The storage mode's behaviour (:mod:`redvec.storage`)."""
        from redvec.storage import storage_for

        return storage_for(self.storage)

    @property
    def key_type(self) -> str:
        """``HASH`` or ``JSON``: the key type RediSearch indexes."""
        return self.store.key_type

    def key(self, doc_id: str) -> str:
        """The Redis key of document ``doc_id`` (the prefix and the id)."""
        return f"{self.prefix}{doc_id}{self.key_end}"

    @functools.cached_property
    def id_span(self) -> slice:
        """Where the id is in one of the index's keys (``key[schema.id_span]``)."""
        return slice(len(self.prefix), -len(self.key_end) or None)

    def id_of(self, key: str) -> str:
        """The id of document key ``key`` (one of this index's)."""
        return key[self.id_span]

    def places(self, doc_id: str) -> list[str]:
        """Every key document ``doc_id`` may be stored under: the index's own and, with a
        write buffer, its buffered twin (a stored document is under exactly one)."""
        if self.buffer is None:
            return [self.key(doc_id)]
        return [self.key(doc_id), self.buffer.key(doc_id)]

    @functools.cached_property
    def buffer(self) -> IndexSchema | None:
        """The write buffer's own schema (None without one): index ``<name>.wbuf`` over
        ``wbuf:<prefix>`` (the same hash tag, so a key and its buffered twin share a
        cluster slot), the same fields, each vector field FLAT. In split storage the
        buffer holds the indexed HASH only; both indexes' hits join the one JSON document."""
        if self.write_buffer is None:
            return None
        slotted = self.write_buffer.twins == "slot"
        fields = tuple(
            VectorField(f.name, f.dims, "FLAT", f.datatype, f.distance)
            if isinstance(f, VectorField)
            else f
            for f in self.fields
        )
        return IndexSchema(
            self.name + BUFFER_SUFFIX, BUFFER_PREFIX + ("{" if slotted else "") + self.prefix,
            fields, self.storage, document_prefix=self.document_prefix,
            stopwords=self.stopwords, key_end="}" if slotted else "",
        )  # fmt: skip

    def document_key(self, doc_id: str) -> str:
        """Where a document's metadata lives: its own key, or the JSON key in split mode."""
        return self.store.document_key(self, doc_id)

    # -- FT.CREATE -----------------------------------------------------------------

    def redis_fields(self) -> list[rf.Field]:
        """The fields as redis-py field objects, for FT.CREATE."""
        json_paths = self.store.json_paths
        out: list[rf.Field] = []
        for f in self.fields:
            name = f"$.{f.name}" if json_paths else f.name
            alias = f.name if json_paths else None
            if isinstance(f, TextField):
                out.append(rf.TextField(name, weight=f.weight, sortable=f.sortable, as_name=alias))
            elif isinstance(f, TagField):
                out.append(
                    rf.TagField(
                        name,
                        separator=f.separator,
                        case_sensitive=f.case_sensitive,
                        sortable=f.sortable,
                        as_name=alias,
                    )
                )
            elif isinstance(f, NumericField):
                out.append(
                    rf.NumericField(
                        name, sortable=f.sortable, index_missing=f.index_missing, as_name=alias
                    )
                )
            elif isinstance(f, GeoField):
                out.append(rf.GeoField(name, as_name=alias))
            else:
                attrs: dict[str, Any] = {
                    "TYPE": f.datatype,
                    "DIM": f.dims,
                    "DISTANCE_METRIC": f.distance,
                }
                for attr in (
                    "m",
                    "ef_construction",
                    "ef_runtime",
                    "epsilon",
                    "initial_cap",
                    "block_size",
                ):
                    value = getattr(f, attr)
                    if value is not None:
                        attrs[attr.upper()] = value
                out.append(rf.VectorField(name, f.algorithm, attrs, as_name=alias))
        return out

    def definition(self) -> IndexDefinition:
        """The FT.CREATE index definition (key type and prefix)."""
        index_type = IndexType.JSON if self.key_type == "JSON" else IndexType.HASH
        return IndexDefinition(prefix=[self.prefix], index_type=index_type)

    # -- (de)serialisation -------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The schema as the schema file's JSON (what ``from_dict`` reads back)."""
        out: dict[str, Any] = {"name": self.name, "prefix": self.prefix, "storage": self.storage}
        if self.document_prefix is not None:
            out["document_prefix"] = self.document_prefix
        if self.stopwords is not None:
            out["stopwords"] = list(self.stopwords)
        if self.write_buffer is not None:
            wb = asdict(self.write_buffer)
            if wb["twins"] == "prefix":  # the default, as schemas written before it say
                del wb["twins"]
            out["write_buffer"] = wb
        out["fields"] = []
        for f in self.fields:
            d = {k: v for k, v in asdict(f).items() if v is not None and k != "kind"}
            if d.get("index_missing") is False:  # the default, as schemas before it say
                del d["index_missing"]
            out["fields"].append({"name": d.pop("name"), "type": f.kind, **d})
        return out

    def to_json(self) -> str:
        """The schema as JSON text."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IndexSchema:
        """A schema from the schema file's JSON; :class:`SchemaError` names what is wrong."""
        if not isinstance(data, dict):
            raise SchemaError(f"a schema is a mapping, got {type(data).__name__}")
        allowed = {
            "name", "prefix", "storage", "document_prefix", "fields", "stopwords", "write_buffer",
        }  # fmt: skip
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise SchemaError(
                f"schema: unknown key(s) {', '.join(unknown)} "
                f"(allowed: {', '.join(sorted(allowed))})"
            )
        for key in ("name", "prefix", "fields"):
            if key not in data:
                raise SchemaError(f"schema: '{key}' is required")
        raw_fields = data["fields"]
        if not isinstance(raw_fields, list):
            raise SchemaError("schema: 'fields' must be a list")
        storage = str(data.get("storage", "hash")).lower()
        stopwords = data.get("stopwords")
        if stopwords is not None and not isinstance(stopwords, list):
            raise SchemaError("schema: 'stopwords' must be a list of words ([] for none)")
        return cls(
            stopwords=None if stopwords is None else tuple(stopwords),
            write_buffer=_buffer_from_dict(data.get("write_buffer")),
            name=data["name"],
            prefix=data["prefix"],
            storage=storage,  # type: ignore[arg-type]
            document_prefix=data.get("document_prefix"),
            fields=tuple(_field_from_dict(f) for f in raw_fields),
        )


def _buffer_from_dict(raw: Any) -> WriteBuffer | None:
    if raw is None or raw is False:
        return None
    if raw is True:
        return WriteBuffer()
    if not isinstance(raw, dict):
        raise SchemaError("schema: 'write_buffer' is a mapping such as {max_docs: 5000}")
    unknown = sorted(set(raw) - {"max_docs", "wait_seconds", "twins"})
    if unknown:
        raise SchemaError(
            f"schema: write_buffer: unknown key(s) {', '.join(unknown)} "
            f"(allowed: max_docs, wait_seconds, twins)"
        )
    return WriteBuffer(**raw)


def _field_from_dict(raw: Any) -> Field:
    if not isinstance(raw, dict):
        raise SchemaError(f"a field is a mapping with 'name' and 'type', got {raw!r}")
    spec = dict(raw)
    name = spec.pop("name", None)
    if name is None:
        raise SchemaError(f"field {raw!r}: 'name' is required")
    kind = str(spec.pop("type", "")).lower()
    if kind not in _KINDS:
        raise SchemaError(
            f"field '{name}': type must be one of {', '.join(_KINDS)}, got {kind or None!r}"
        )
    cls = _KINDS[kind]
    spec = {k.lower(): v for k, v in spec.items()}
    # Accept the RediSearch spellings too (DIM, TYPE, DISTANCE_METRIC).
    for alias, canonical in (("dim", "dims"), ("distance_metric", "distance")):
        if alias in spec:
            spec[canonical] = spec.pop(alias)
    allowed = {f.name for f in fields(cls) if f.init and f.name != "name"}
    unknown = sorted(set(spec) - allowed)
    if unknown:
        raise SchemaError(
            f"field '{name}': unknown option(s) {', '.join(unknown)} for a "
            f"{kind} field (allowed: {', '.join(sorted(allowed))})"
        )
    if kind == "vector" and "dims" not in spec:
        raise SchemaError(f"field '{name}': a vector field needs 'dims'")
    try:
        return cls(name=name, **spec)  # type: ignore[no-any-return]
    except TypeError as e:
        raise SchemaError(f"field '{name}': {e}") from None


def load_schema(path: str | Path) -> IndexSchema:
    """Read a schema from a YAML or JSON file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as e:
        raise SchemaError(f"cannot read schema file {path}: {e.strerror or e}") from None
    except UnicodeDecodeError as e:
        raise SchemaError(
            f"schema file {path} is not UTF-8 text (byte {e.start}: {e.reason}); save it as UTF-8"
        ) from None
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as e:
        raise SchemaError(
            f"schema file {path} is not valid {path.suffix[1:] or 'YAML'}: {e}"
        ) from None
    return IndexSchema.from_dict(data)


def prefixes_overlap(a: str, b: str) -> bool:
    """Whether one key prefix starts with the other (their keys would mix)."""
    return a.startswith(b) or b.startswith(a)


def check_prefix(index: str, what: str, prefix: object) -> None:
    """Refuse a key prefix that does not end with ':' or that is redvec's own."""
    if not isinstance(prefix, str) or not prefix.endswith(":") or len(prefix) < 2:
        raise SchemaError(
            f"index '{index}': {what} {prefix!r} must end with ':' so that one prefix "
            f"never swallows another's keys (e.g. 'doc:')"
        )
    if prefix.startswith(RESERVED_PREFIX):
        raise SchemaError(f"index '{index}': {what} {prefix!r} is reserved for redvec's own keys")
