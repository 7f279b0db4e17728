"""One search index in Redis: create it, write and read documents, search it.

The schema of every index redvec creates is kept beside it (``redvec:schema:<name>``),
so that any process can open the index by name and know its storage mode, vector
parameters and defaults (such as a tuned EF_RUNTIME). An index created by someone
else is described from ``FT.INFO`` instead.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ParamSpec, TypeVar

import numpy as np
import redis

from redvec import keys
from redvec._resp import pairs, text
from redvec.connection import index_progress, is_missing_index, unavailable, wait_ready
from redvec.errors import (
    DocumentError,
    FilterError,
    IndexExistsError,
    IndexNotFoundError,
    RedvecError,
    SchemaError,
    ValidationError,
    VectorError,
)
from redvec.filters import Filter, check_string
from redvec.query import (
    Hit,
    KnnQuery,
    RangeQuery,
    SearchResult,
    TextQuery,
    build_knn,
    build_range,
    build_text,
    parse_reply,
    return_names,
    rrf_fuse,
)
from redvec.schema import (
    GeoField,
    IndexSchema,
    NumericField,
    TagField,
    TextField,
    VectorField,
)
from redvec.storage import SPLIT_SEARCH_SCRIPT, plain
from redvec.vectors import check_vector, query_blob

__all__ = [
    "IndexInfo",
    "SearchIndex",
    "WriteError",
    "WriteReport",
    "list_indexes",
    "plain",
    "redis_message",
    "search_error",
]

META_PREFIX = keys.SCHEMA
SETTINGS_PREFIX = keys.SETTINGS

# Split storage: search, then fetch each hit's JSON document, in one round trip.


def list_indexes(client: redis.Redis) -> list[str]:
    return sorted(text(n) for n in client.execute_command("FT._LIST"))


@dataclass
class IndexInfo:
    name: str
    num_docs: int
    percent_indexed: float
    indexing: bool
    hash_indexing_failures: int
    vector_index_mb: float
    total_index_mb: float
    schema: IndexSchema

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "num_docs": self.num_docs,
            "percent_indexed": self.percent_indexed,
            "indexing": self.indexing,
            "hash_indexing_failures": self.hash_indexing_failures,
            "vector_index_mb": self.vector_index_mb,
            "total_index_mb": self.total_index_mb,
            "schema": self.schema.to_dict(),
        }


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
            fields.append(NumericField(fname))
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


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _reachable(method: Callable[_P, _R]) -> Callable[_P, _R]:
    """A lost or refused connection leaves the method as :class:`RedisUnavailableError`,
    so ``except RedvecError`` catches everything redvec raises (as the async and cluster
    paths do)."""

    @functools.wraps(method)
    def call(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return method(*args, **kwargs)
        except (redis.ConnectionError, redis.TimeoutError) as e:
            raise unavailable(e) from e  # the cause: redis-py's own words, for callers

    return call


class SearchIndex:
    """An index and the documents under its prefix.

    Documents are mappings with an ``id`` and the schema's fields; in ``json`` and
    ``split`` storage any other (nested) metadata rides along.
    """

    def __init__(self, client: redis.Redis, schema: IndexSchema, *, batch_size: int = 500) -> None:
        self.client = client
        self.schema = schema
        self.batch_size = batch_size
        self._split_script = client.register_script(SPLIT_SEARCH_SCRIPT)
        self._cached_settings: dict[str, str] | None = None
        self.alias: str | None = None  # the alias this index was opened through, if any
        # Whether writes compare FT.INFO's indexing failures before and after (off for a
        # writer with no index of its own name, such as a cluster's router).
        self.check_indexing = True
        self._failures_seen: int | None = None  # FT.INFO's indexing failures after our last write

    @property
    def name(self) -> str:
        """The index's own name (an alias it was opened through is ``alias``)."""
        return self.schema.name

    @property
    def search_name(self) -> str:
        """The name searches are sent to: the alias when opened through one, so that a
        long-lived handle follows the alias when a reindex swaps it."""
        return self.alias or self.schema.name

    # -- lifecycle -----------------------------------------------------------------

    @classmethod
    @_reachable
    def open(cls, client: redis.Redis, name: str, **kwargs: Any) -> SearchIndex:
        """The index ``name``, or the index the alias ``name`` points to: opening an
        alias gives exactly what opening its index gives (schema, storage mode, stop
        words, settings such as a tuned EF_RUNTIME); ``alias`` records the name used."""
        try:
            info = pairs(client.execute_command("FT.INFO", name))
        except redis.ResponseError as e:
            if is_missing_index(e):
                raise IndexNotFoundError(f"no index named '{name}'") from None
            raise
        real = text(info.get("index_name", name)) or name
        stored = client.get(META_PREFIX + real)
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
                recorded
                if own == recorded.stopwords
                else dataclasses.replace(recorded, stopwords=own)
            )
        else:
            assert live is not None
            schema = live  # not redvec's, or recreated behind redvec's back: FT.INFO rules
        idx = cls(client, schema, **kwargs)
        idx.alias = name if name != real else None
        return idx

    @classmethod
    @_reachable
    def create(
        cls,
        client: redis.Redis,
        schema: IndexSchema,
        *,
        overwrite: bool = False,
        successor_of: str | None = None,
        shares_prefix_with: Iterable[str] = (),
        scan_timeout: float = 3600.0,
        **kwargs: Any,
    ) -> SearchIndex:
        """FT.CREATE the index, and return once it is ready to take writes.

        Refuses a prefix that overlaps another index's, except ``successor_of``'s (a
        reindex builds a second index over the same documents) and those named in
        ``shares_prefix_with`` (a restore of indexes that shared one).

        FT.CREATE starts a background scan of the whole keyspace, every key and not only
        those under the prefix; a document written while it runs is indexed twice and
        leaves a deleted node in the HNSW graph, which costs recall (measured on
        siftsmall with 100,000 unrelated keys: recall@10 at EF 10 fell from 0.934 to
        0.87-0.90, docs/benchmarks.md). So this waits until FT.INFO reports the scan
        done (``indexing`` 0, ``percent_indexed`` 1): at once on an empty database,
        about 0.2 s per 100,000 keys otherwise (measured here), up to ``scan_timeout``.
        """
        existing = list_indexes(client)
        if schema.name in existing:
            if not overwrite:
                raise IndexExistsError(
                    f"index '{schema.name}' already exists (use overwrite to replace it; "
                    f"its documents are kept)"
                )
            client.execute_command("FT.DROPINDEX", schema.name)
            existing.remove(schema.name)
        ours = [p for p in (schema.prefix, schema.document_prefix) if p]
        allowed = {successor_of, *shares_prefix_with}
        for other in existing:
            if other in allowed:
                continue
            for theirs in _prefixes_of(client, other):
                for mine in ours:
                    if mine.startswith(theirs) or theirs.startswith(mine):
                        raise IndexExistsError(
                            f"prefix '{mine}' of index '{schema.name}' overlaps prefix "
                            f"'{theirs}' of existing index '{other}': each would see the "
                            f"other's documents; choose a prefix that neither starts with"
                        )
        client.ft(schema.name).create_index(
            schema.redis_fields(),
            definition=schema.definition(),
            stopwords=None if schema.stopwords is None else list(schema.stopwords),
        )
        client.set(META_PREFIX + schema.name, schema.to_json())
        wait_ready(client, [schema.name], timeout=scan_timeout)
        return cls(client, schema, **kwargs)

    @_reachable
    def drop(self, *, delete_documents: bool = False) -> None:
        """Drop the index; with ``delete_documents`` also every key under its prefix."""
        try:
            if delete_documents:
                self.client.execute_command("FT.DROPINDEX", self.name, "DD")
            else:
                self.client.execute_command("FT.DROPINDEX", self.name)
        except redis.ResponseError as e:
            raise IndexNotFoundError(f"no index named '{self.name}'") from e
        if delete_documents:
            for pattern in self.schema.store.other_patterns(self.schema):
                self._delete_matching(pattern)
        self.client.delete(META_PREFIX + self.name, SETTINGS_PREFIX + self.name)

    def _delete_matching(self, pattern: str) -> None:
        batch: list[Any] = []
        for key in self.client.scan_iter(match=pattern, count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                self.client.unlink(*batch)
                batch = []
        if batch:
            self.client.unlink(*batch)

    @_reachable
    def info(self) -> IndexInfo:
        raw = pairs(self.client.execute_command("FT.INFO", self.name))
        progress = index_progress(self.client, self.name)
        return IndexInfo(
            name=self.name,
            num_docs=progress.num_docs,
            percent_indexed=progress.percent_indexed,
            indexing=progress.indexing,
            hash_indexing_failures=progress.hash_indexing_failures,
            vector_index_mb=float(raw.get("vector_index_sz_mb", 0) or 0),
            total_index_mb=float(raw.get("total_index_memory_sz_mb", 0) or 0),
            schema=self.schema,
        )

    @_reachable
    def wait_indexed(self, timeout: float = 600.0) -> None:
        wait_ready(self.client, [self.name], timeout=timeout)

    # -- settings kept with the index (e.g. a tuned EF_RUNTIME) --------------------------

    def _settings(self) -> dict[str, str]:
        # Read once per SearchIndex: a search must not pay a round trip for its defaults.
        if self._cached_settings is None:
            raw = self.client.hgetall(SETTINGS_PREFIX + self.name)
            self._cached_settings = {text(k): text(v) for k, v in raw.items()}
        return self._cached_settings

    def refresh(self) -> None:
        """Forget cached settings (another process may have tuned the index)."""
        self._cached_settings = None

    @_reachable
    def get_setting(self, key: str) -> str | None:
        return self._settings().get(key)

    @_reachable
    def set_setting(self, key: str, value: str | int | float) -> None:
        self.client.hset(SETTINGS_PREFIX + self.name, key, str(value))
        self.refresh()

    @property
    def default_ef_runtime(self) -> int | None:
        value = self.get_setting("ef_runtime")
        return int(value) if value is not None else None

    # -- writing ---------------------------------------------------------------------

    def encode(self, doc: Mapping[str, Any], id_field: str = "id") -> tuple[str, list[Any]]:
        """Check one document; return its id and the commands that store it.

        Raises :class:`DocumentError` naming the document and the problem.
        """
        if not isinstance(doc, Mapping):
            raise DocumentError(f"a document is a mapping, got {type(doc).__name__}")
        raw_id = doc.get(id_field)
        if raw_id is None or raw_id == "" or isinstance(raw_id, bool | float | dict | list):
            raise DocumentError(f"document has no usable '{id_field}' (a string or integer)")
        doc_id = str(raw_id)
        if id_field != "id" and "id" in doc:
            raise DocumentError(
                f"document '{doc_id}' has a field 'id' besides its id field '{id_field}': "
                f"'id' is reserved for the document id (hits and documents carry it), so it "
                f"cannot also be a field; rename it"
            )
        schema = self.schema
        values: dict[str, Any] = {}
        vectors: dict[str, np.ndarray] = {}
        for f in schema.fields:
            value = doc.get(f.name)
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
            if k != id_field and k not in values and k not in vectors
        }
        commands: list[Any] = store.encode(schema, doc_id, values, vectors, extra)
        return doc_id, commands

    def upsert(self, docs: Iterable[Mapping[str, Any]], *, id_field: str = "id") -> int:
        """Write documents (the same id replaces the whole document), pipelined in
        batches, no transactions; returns how many were written and indexed.

        Every document of a batch is checked before any of it is sent, so a bad
        document stops the call with a :class:`DocumentError` naming it, and nothing
        of its batch is written. A document Redis refuses at write time, or writes but
        RediSearch then fails to index, is never counted: the call ends with a
        :class:`WriteError` naming each such document and why, once the rest of its
        batch is written.
        """
        written = 0
        for batch in _batches(docs, self.batch_size):
            encoded = [self.encode(d, id_field) for d in batch]
            report = self.write_documents(encoded)
            written += len(report.written)
            if report.failed:
                raise WriteError(report, written)
        return written

    @_reachable
    def write_documents(
        self, encoded: Sequence[tuple[str, list[Any]]], extra: list[Any] | None = None
    ) -> WriteReport:
        """Send encoded documents (``(id, commands)`` from :meth:`encode`) in one
        pipeline, and say which landed: a document whose command Redis refused, or that
        RediSearch failed to index (FT.INFO's ``hash_indexing_failures`` rises across
        the batch; each document is then looked up), is in ``failed`` with the reason.
        ``extra`` commands (bookkeeping) are sent after the documents; their errors raise.
        """
        # The failure count after this batch rides in the batch's own pipeline; the one
        # before is the previous batch's (a failure someone else caused in between is
        # told apart by looking each document up).
        before = after = 0
        if self.check_indexing:
            before = (
                self._failures_seen if self._failures_seen is not None else self.indexing_failures()
            )
            probe = [("FT.INFO", self.name)]
        else:
            probe = []
        errors, replies = self._write(
            [commands for _, commands in encoded], [*(extra or []), *probe]
        )
        for reply in replies[: len(extra or [])]:
            if isinstance(reply, Exception):
                raise reply
        if self.check_indexing:
            info = replies[-1]
            if isinstance(info, Exception):
                raise search_error(self.name, info)  # type: ignore[arg-type]
            after = int(pairs(info).get("hash_indexing_failures", 0) or 0)
            self._failures_seen = after
        report = WriteReport()
        for (doc_id, _), error in zip(encoded, errors, strict=True):
            if error is None:
                report.written.append(doc_id)
            else:
                report.failed[doc_id] = f"Redis refused the write: {error}"
        if report.written and after > before:
            for doc_id, reason in self._unindexed(report.written, pairs(info)).items():
                report.failed[doc_id] = reason
            report.written = [i for i in report.written if i not in report.failed]
        return report

    @_reachable
    def indexing_failures(self) -> int:
        """FT.INFO's count of documents RediSearch failed to index (hash_indexing_failures)."""
        try:
            raw = pairs(self.client.execute_command("FT.INFO", self.name))
        except redis.ResponseError as e:
            raise search_error(self.name, e) from None
        return int(raw.get("hash_indexing_failures", 0) or 0)

    def _unindexed(self, ids: Sequence[str], info: dict[str, Any]) -> dict[str, str]:
        """Which of ``ids`` (just written) the index does not hold, with RediSearch's
        reason where ``info`` (FT.INFO after the write) names it: it keeps the last
        error of each field."""
        reasons: dict[str, str] = {}
        for raw in info.get("field statistics", []) or []:
            stats = pairs(raw)
            errs = pairs(stats.get("Index Errors"))
            key = text(errs.get("last indexing error key", ""))
            if key and key != "N/A":
                reasons[key] = (
                    f"field '{text(stats.get('attribute'))}': "
                    f"{text(errs.get('last indexing error'))}"
                )
        pipe = self.client.pipeline(transaction=False)
        doc_keys = [self.schema.key(i) for i in ids]
        for key in doc_keys:
            pipe.execute_command("FT.DEBUG", "DOCINFO", self.name, key)
        missing: dict[str, str] = {}
        try:
            replies = pipe.execute(raise_on_error=False)
        except redis.ResponseError:
            replies = []
        if not replies or all(
            isinstance(r, redis.ResponseError) and "unknown" in str(r).lower() for r in replies
        ):
            # FT.DEBUG is not allowed here (a managed Redis, an ACL): name what FT.INFO names.
            for doc_id, key in zip(ids, doc_keys, strict=True):
                if key in reasons:
                    missing[doc_id] = f"written, but RediSearch failed to index it: {reasons[key]}"
            return missing
        for doc_id, key, reply in zip(ids, doc_keys, replies, strict=True):
            if isinstance(reply, redis.ResponseError) and "not found" in str(reply).lower():
                why = reasons.get(key, "see FT.INFO's 'Index Errors'")
                missing[doc_id] = f"written, but RediSearch failed to index it: {why}"
        return missing

    @_reachable
    def write(self, encoded: list[list[Any]], extra: list[Any] | None = None) -> list[str | None]:
        """Send encoded documents (and ``extra`` commands) in one pipeline, no transaction;
        per document, None when Redis took every command of it, else Redis's refusal.

        Replies are read command by command, so one refused document neither hides the
        others' success nor lets its bookkeeping pass for a write; an ``extra`` command
        refused raises.
        """
        errors, replies = self._write(encoded, extra)
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply
        return errors

    def _write(
        self, encoded: list[list[Any]], extra: list[Any] | None
    ) -> tuple[list[str | None], list[Any]]:
        """Per-document errors, and the ``extra`` commands' replies (errors included)."""
        pipe = self.client.pipeline(transaction=False)
        sizes = []
        for commands in encoded:
            for command in commands:
                pipe.execute_command(*command)
            sizes.append(len(commands))
        for command in extra or []:
            pipe.execute_command(*command)
        replies = pipe.execute(raise_on_error=False)
        out: list[str | None] = []
        at = 0
        for size in sizes:
            refused = [r for r in replies[at : at + size] if isinstance(r, Exception)]
            out.append(redis_message(refused[0]) if refused else None)
            at += size
        return out, list(replies[at:])

    @_reachable
    def update_vectors(
        self, ids: Sequence[str], vectors: Sequence[Any], *, vector_field: str | None = None
    ) -> int:
        """Replace only vectors; in split storage no JSON document is rewritten."""
        vf = self.schema.vector_field(vector_field)
        if len(ids) != len(vectors):
            raise ValidationError(f"{len(ids)} ids but {len(vectors)} vectors")
        checked = [
            check_vector(v, vf, what=f"vector for '{i}'") for i, v in zip(ids, vectors, strict=True)
        ]
        store = self.schema.store
        for start in range(0, len(ids), self.batch_size):
            pipe = self.client.pipeline(transaction=False)
            for doc_id, vec in zip(
                ids[start : start + self.batch_size],
                checked[start : start + self.batch_size],
                strict=True,
            ):
                key = self.schema.key(str(doc_id))
                pipe.execute_command(*store.vector_command(key, vf, vec))
            pipe.execute()
        return len(ids)

    @_reachable
    def get(self, ids: Sequence[str], *, with_vectors: bool = False) -> list[dict[str, Any] | None]:
        """Documents by id, in order; ``None`` where an id is not stored."""
        schema, store = self.schema, self.schema.store
        pipe = self.client.pipeline(transaction=False)
        sizes = []
        for doc_id in ids:
            commands = store.read_commands(schema, str(doc_id))
            for command in commands:
                pipe.execute_command(*command)
            sizes.append(len(commands))
        replies = pipe.execute()
        out: list[dict[str, Any] | None] = []
        at = 0
        for doc_id, size in zip(ids, sizes, strict=True):
            doc = store.decode(schema, replies[at : at + size], with_vectors)
            at += size
            out.append(None if doc is None else {**doc, "id": str(doc_id)})
        return out

    @_reachable
    def delete(self, ids: Sequence[str]) -> int:
        """Delete documents; returns how many ids were stored."""
        if not ids:
            return 0
        schema = self.schema
        # One DEL per kind of key (a cluster client splits each by slot): a document
        # counts once whichever of its keys was there.
        keys = [schema.store.keys_of(schema, str(i)) for i in dict.fromkeys(ids)]
        return max(int(self.client.delete(*[k[j] for k in keys])) for j in range(len(keys[0])))

    def iter_vectors(
        self, vector_field: str | None = None, batch: int = 1000
    ) -> Iterator[tuple[list[str], np.ndarray]]:
        """Every stored vector, in batches of (ids, float32 matrix); for ground truth."""
        vf = self.schema.vector_field(vector_field)
        prefix = self.schema.prefix
        store = self.schema.store
        keys: list[bytes] = []

        def fetch() -> tuple[list[str], np.ndarray]:
            pipe = self.client.pipeline(transaction=False)
            for key in keys:
                pipe.execute_command(*store.vector_read(key, vf))
            ids, rows = [], []
            for key, raw in zip(keys, pipe.execute(), strict=True):
                row = store.vector_decode(raw, vf)
                if row is not None and row.shape == (vf.dims,):
                    ids.append(text(key)[len(prefix) :])
                    rows.append(row)
            keys.clear()
            matrix = np.vstack(rows) if rows else np.zeros((0, vf.dims), dtype=np.float32)
            return ids, matrix

        for key in self.client.scan_iter(match=f"{prefix}*", count=batch):
            keys.append(key)
            if len(keys) >= batch:
                yield fetch()
        if keys:
            yield fetch()

    @_reachable
    def count(self) -> int:
        return index_progress(self.client, self.name).num_docs

    # -- searching ---------------------------------------------------------------------

    def _blob(self, vector: Any, field: VectorField) -> bytes:
        return query_blob(vector, field)

    def _knn_args(self, q: KnnQuery) -> tuple[list[Any], VectorField]:
        vf = self.schema.vector_field(q.vector_field)
        ef = self.default_ef_runtime if q.ef_runtime is None else None
        return build_knn(self.schema, q, self._blob(q.vector, vf), ef), vf

    def _run(self, target: Any, args: list[Any], *, scored: bool = False) -> Any:
        """Send one FT.SEARCH on ``target`` (client or pipeline); split storage joins JSON."""
        return self.schema.store.send_search(
            target, self.schema, self.search_name, args, scored=scored, script=self._split_script
        )

    def _parse(
        self,
        reply: Any,
        vf: VectorField | None,
        *,
        scored: bool = False,
        return_fields: list[str] | None = None,
    ) -> SearchResult:
        joined = self.schema.store.joined
        keep = None
        if joined and return_fields is not None:
            keep = return_names(self.schema, tuple(return_fields))
        return parse_reply(reply, self.schema, vf, with_scores=scored, joined=joined, keep=keep)

    def search(
        self,
        vector: Any,
        k: int = 10,
        *,
        filter: Filter | str | None = None,
        vector_field: str | None = None,
        ef_runtime: int | None = None,
        hybrid_policy: str | None = None,
        batch_size: int | None = None,
        return_fields: list[str] | None = None,
        offset: int = 0,
    ) -> SearchResult:
        """KNN: the ``k`` nearest documents to ``vector`` among those matching ``filter``."""
        q = KnnQuery(
            vector,
            k,
            filter,
            vector_field,
            ef_runtime,
            hybrid_policy,
            batch_size,
            return_fields,
            offset,
        )
        return self.query(q)

    @_reachable
    def query(self, q: KnnQuery) -> SearchResult:
        args, vf = self._knn_args(q)
        return self._parse(self._call(args), vf, return_fields=q.return_fields)

    def _call(self, args: list[Any], *, scored: bool = False) -> Any:
        try:
            return self._run(self.client, args, scored=scored)
        except redis.ResponseError as e:
            raise search_error(self.name, e) from None

    @_reachable
    def search_many(self, queries: Sequence[KnnQuery]) -> list[SearchResult]:
        """Many KNN queries in one pipelined round trip."""
        built = [self._knn_args(q) for q in queries]
        pipe = self.client.pipeline(transaction=False)
        for args, _ in built:
            self._run(pipe, args)
        try:
            replies = pipe.execute()
        except redis.ResponseError as e:
            raise search_error(self.name, e) from None
        return [
            self._parse(reply, vf, return_fields=q.return_fields)
            for reply, (_, vf), q in zip(replies, built, queries, strict=True)
        ]

    @_reachable
    def range_search(
        self,
        vector: Any,
        radius: float,
        k: int = 10,
        *,
        filter: Filter | str | None = None,
        vector_field: str | None = None,
        epsilon: float | None = None,
        return_fields: list[str] | None = None,
        offset: int = 0,
    ) -> SearchResult:
        """Documents within ``radius`` (in the metric's distance) of ``vector``, nearest first."""
        vf = self.schema.vector_field(vector_field)
        q = RangeQuery(vector, radius, k, filter, vector_field, epsilon, return_fields, offset)
        args = build_range(self.schema, q, self._blob(vector, vf))
        return self._parse(self._call(args), vf, return_fields=return_fields)

    @_reachable
    def text_search(
        self,
        text_query: str,
        k: int = 10,
        *,
        filter: Filter | str | None = None,
        text_field: str | None = None,
        match_all: bool = False,
        return_fields: list[str] | None = None,
        offset: int = 0,
    ) -> SearchResult:
        """BM25 full-text search (RediSearch's scorer); ``score`` is the BM25 score."""
        q = TextQuery(text_query, k, filter, text_field, match_all, return_fields, offset)
        reply = self._call(build_text(self.schema, q), scored=True)
        return self._parse(reply, None, scored=True, return_fields=return_fields)

    @_reachable
    def hybrid_search(
        self,
        text_query: str,
        vector: Any,
        k: int = 10,
        *,
        filter: Filter | str | None = None,
        text_weight: float = 1.0,
        vector_weight: float = 1.0,
        candidates: int | None = None,
        text_field: str | None = None,
        vector_field: str | None = None,
        ef_runtime: int | None = None,
        rrf_k: int = 60,
        return_fields: list[str] | None = None,
    ) -> SearchResult:
        """BM25 and KNN in one round trip, fused by weighted reciprocal rank fusion.

        ``distance`` is the vector distance where the KNN run found the document,
        else None; ``score`` is the fused RRF score.
        """
        plan = self.hybrid_plan(
            text_query,
            vector,
            k,
            filter=filter,
            text_weight=text_weight,
            vector_weight=vector_weight,
            candidates=candidates,
            text_field=text_field,
            vector_field=vector_field,
            ef_runtime=ef_runtime,
            rrf_k=rrf_k,
            return_fields=return_fields,
        )
        pipe = self.client.pipeline(transaction=False)
        self._run(pipe, plan.text_args, scored=True)
        self._run(pipe, plan.knn_args)
        try:
            text_reply, knn_reply = pipe.execute()
        except redis.ResponseError as e:
            raise search_error(self.name, e) from None
        return self.hybrid_fuse(plan, text_reply, knn_reply)

    def hybrid_plan(
        self,
        text_query: str,
        vector: Any,
        k: int = 10,
        *,
        filter: Filter | str | None = None,
        text_weight: float = 1.0,
        vector_weight: float = 1.0,
        candidates: int | None = None,
        text_field: str | None = None,
        vector_field: str | None = None,
        ef_runtime: int | None = None,
        rrf_k: int = 60,
        return_fields: list[str] | None = None,
    ) -> HybridPlan:
        """The two requests of a hybrid search, checked and built, for any client to send."""
        for name, w in (("text_weight", text_weight), ("vector_weight", vector_weight)):
            if not (isinstance(w, int | float) and math.isfinite(w) and w >= 0):
                raise ValidationError(f"{name} must be a non-negative number, got {w!r}")
        if not (text_weight or vector_weight):
            raise ValidationError(
                "text_weight and vector_weight are both 0: nothing would rank the results; "
                "give one of them a positive weight"
            )
        n = candidates or max(50, 2 * k)
        text_args = build_text(
            self.schema,
            TextQuery(text_query, n, filter, text_field, return_fields=return_fields),
        )
        knn_args, vf = self._knn_args(
            KnnQuery(vector, n, filter, vector_field, ef_runtime, return_fields=return_fields)
        )
        return HybridPlan(
            text_args, knn_args, vf, k, (text_weight, vector_weight), rrf_k, return_fields
        )

    def hybrid_fuse(self, plan: HybridPlan, text_reply: Any, knn_reply: Any) -> SearchResult:
        keep = plan.return_fields
        text_hits = self._parse(text_reply, None, scored=True, return_fields=keep).hits
        knn_hits = self._parse(knn_reply, plan.vector_field, return_fields=keep).hits
        fused: list[Hit] = rrf_fuse(
            [text_hits, knn_hits], list(plan.weights), plan.k, rrf_k=plan.rrf_k
        )
        return SearchResult(len({h.id for h in text_hits} | {h.id for h in knn_hits}), fused)


@dataclass
class WriteReport:
    """What a write did: ids written and indexed, and each failed id with its reason."""

    written: list[str] = dataclasses.field(default_factory=list)
    failed: dict[str, str] = dataclasses.field(default_factory=dict)


class WriteError(DocumentError):
    """Documents that were not stored or not indexed, each with its reason; the other
    documents of their batch were written (``written`` counts all so far)."""

    def __init__(self, report: WriteReport, written: int) -> None:
        self.report = report
        self.written = written
        first, reason = next(iter(report.failed.items()))
        more = len(report.failed) - 1
        super().__init__(
            f"document '{first}': {reason}"
            + (f" (and {more} more documents)" if more else "")
            + f"; {written} documents were written"
        )


@dataclass(frozen=True, slots=True)
class HybridPlan:
    text_args: list[Any]
    knn_args: list[Any]
    vector_field: VectorField
    k: int
    weights: tuple[float, float]
    rrf_k: int
    return_fields: list[str] | None = None


_PIPELINE_PREFIX = re.compile(r"^Command # \d+ \(.*?\) of pipeline caused error: ", re.DOTALL)
_BLOB_SIZE = re.compile(r"blob size \((\d+)\) does not match index's expected size \((\d+)\)")


def redis_message(e: Exception) -> str:
    """What Redis said, without redis-py's wrapping (``Command # 1 (FT.SEARCH ...) of
    pipeline caused error:`` repeats the whole request, vector bytes included)."""
    return _PIPELINE_PREFIX.sub("", str(e)).strip()


def search_error(index: str, e: redis.ResponseError) -> RedvecError:
    """The redvec error for RediSearch's refusal of a request on ``index``: a missing
    index, a vector of the wrong size, a malformed query; else the refusal as it is."""
    message = redis_message(e)
    if is_missing_index(e):
        return IndexNotFoundError(f"no index named '{index}'")
    if m := _BLOB_SIZE.search(message):
        return VectorError(
            f"the query vector has {int(m[1])} bytes where index '{index}' expects "
            f"{int(m[2])}: it has another dimension or type than the index's vector field "
            f"(blob size mismatch)"
        )
    return ValidationError(f"Redis refused the query on index '{index}': {message}")


def _prefixes_of(client: redis.Redis, index: str) -> list[str]:
    info = pairs(client.execute_command("FT.INFO", index))
    prefixes = [text(p) for p in pairs(info.get("index_definition")).get("prefixes", [])]
    stored = client.get(META_PREFIX + index)
    if stored is not None:
        doc_prefix = json.loads(stored).get("document_prefix")
        if doc_prefix:
            prefixes.append(doc_prefix)
    return [p for p in prefixes if p]


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


def _batches(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
