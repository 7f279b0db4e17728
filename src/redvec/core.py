"""The I/O-free core of an index: every operation written once, as a plan of round trips.

Each operation is a plan (:mod:`redvec.plans`): it yields the round trips it needs and
returns its result, so the same plan runs on a sync client (:class:`SearchIndex`), an
asyncio client (:class:`redvec.aio.AsyncSearchIndex`) or a cluster router. That is why
the sync and async indexes cannot drift apart: neither holds a rule of its own.

Validation, encoding, request building, reply parsing and error mapping all live here
or in the modules this one calls (storage, query, schema, vectors).

Why this file is over 500 lines: :class:`IndexCore` is the one class every index
operation lives in, which is what keeps the executors free of rules; what stands alone
is already elsewhere (plans, catalog, documents, storage, query).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Generator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

import redis

from redvec import keys
from redvec._resp import pairs, text
from redvec.buffer import (
    MERGE_GROUP,
    PIPELINE,
    BufferRoom,
    MergeReport,
    buffered_commands,
    buffered_vector,
    make_room,
    merge_plan,
    merged,
)
from redvec.connection import progress_of
from redvec.documents import encode_document
from redvec.errors import DocumentError, IndexNotFoundError, ValidationError
from redvec.filters import Filter
from redvec.planner import (
    AUTO,
    FLAT,
    UNFILTERED,
    MatchCounts,
    RecallGuard,
    SearchPlan,
    choose,
    forced,
    guard_key,
    narrowable,
    narrowed_plan,
    narrowed_where,
    outside_ranges,
    own_batch,
    policy_of,
    single_condition,
)
from redvec.plans import (
    Command,
    Meanwhile,
    Plan,
    Search,
    checked,
    one,
    redis_message,
    run_work,
    search_error,
    wait_ready,
)
from redvec.query import (
    Hit,
    KnnQuery,
    RangeQuery,
    SearchResult,
    TextQuery,
    build_knn,
    build_range,
    build_text,
    check_batch_size,
    parse_reply,
    render_filter,
    return_names,
    rrf_fuse,
)
from redvec.schema import IndexSchema, VectorField
from redvec.storage import WHOLE
from redvec.vectors import check_vector, query_blob

__all__ = ["DocumentWalk", "HybridPlan", "IndexCore", "IndexInfo", "WriteError", "WriteReport"]

_W = TypeVar("_W")  # what a write's meanwhile work returns

SETTINGS_PREFIX = keys.SETTINGS


@dataclass
class IndexInfo:
    """An index's description for people and for ``GET /v1/indexes/{name}``: schema, storage,
    documents, indexing state, failures, memory."""

    name: str
    num_docs: int
    percent_indexed: float
    indexing: bool
    hash_indexing_failures: int
    vector_index_mb: float
    total_index_mb: float
    schema: IndexSchema

    def to_dict(self) -> dict[str, Any]:
        """The description as JSON-ready data."""
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


@dataclass
class WriteReport:
    """What a write did: ids written and indexed, and each failed id with its reason."""

    written: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


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
    """A hybrid search's two requests (BM25 and KNN) and how to fuse their rankings."""

    text_args: list[Any]
    knn_args: list[Any]
    vector_field: VectorField
    k: int
    weights: tuple[float, float]
    rrf_k: int
    return_fields: list[str] | None = None
    knn_plan: SearchPlan | None = None  # how the KNN side runs (redvec.planner)
    fresh: HybridPlan | None = None  # the same two requests of the write buffer


@dataclass(frozen=True, slots=True)
class _Check:
    """A search sent a second time as ``ADHOC_BF`` (``args``) to check the plan it ran
    under: the guard's key (:func:`redvec.planner.guard_key`) and the multiplier the plan
    was made with."""

    key: str
    widen: int
    args: list[Any]
    k: int


class IndexCore:
    """Everything one index does, as plans; ``SearchIndex`` and ``AsyncSearchIndex``
    run them. Holds what a handle remembers between calls: the index's settings (read
    once), the alias it was opened through, the last indexing-failure count seen."""

    def __init__(self, schema: IndexSchema, *, batch_size: int = 500) -> None:
        self.schema = schema
        self.batch_size = batch_size
        self.alias: str | None = None
        # Whether writes compare FT.INFO's indexing failures before and after (off for a
        # writer with no index of its own name, such as a cluster's router).
        self.check_indexing = True
        self.failures_seen: int | None = None  # FT.INFO's count after our last write
        self.cached_settings: dict[str, str] | None = None
        self.match_counts = MatchCounts()  # the planner's counts (redvec.planner)
        self.recall_guard = RecallGuard()  # what the planner's checks learnt (same)
        # The write buffer's own core (redvec.buffer), when the schema has one.
        self.buffered: IndexCore | None = None
        # What this handle knows of the buffer's fill: the count last read, when, and how
        # many documents it wrote since (an upper bound needs no round trip to check).
        self.buffer_room = BufferRoom()
        # The indexes whose documents are the buffer's fill (None: the buffer's own; a
        # sharded cluster index's writer counts every shard's buffer).
        self.buffer_counted: list[str] | None = None
        if schema.buffer is not None:
            self.buffered = IndexCore(schema.buffer, batch_size=batch_size)

    @property
    def name(self) -> str:
        """The index's own name."""
        return self.schema.name

    @property
    def search_name(self) -> str:
        """Where searches go: the alias when opened through one, else the name."""
        return self.alias or self.schema.name

    # -- lifecycle -----------------------------------------------------------------

    def drop(self, *, delete_documents: bool = False) -> Plan[None]:
        """Drop the index; with ``delete_documents`` also every key under its prefix."""
        command = ("FT.DROPINDEX", self.name, *(("DD",) if delete_documents else ()))
        (reply,) = yield [command]
        if isinstance(reply, redis.ResponseError):
            raise IndexNotFoundError(f"no index named '{self.name}'") from reply
        if delete_documents:
            for pattern in self.schema.store.other_patterns(self.schema):
                cursor: Any = 0
                while True:
                    cursor, found = yield from one(
                        ("SCAN", cursor, "MATCH", pattern, "COUNT", 1000)
                    )
                    if found:
                        yield from one(("UNLINK", *found))
                    if not int(cursor):
                        break
        yield from one(("DEL", keys.SCHEMA + self.name, SETTINGS_PREFIX + self.name))
        if self.buffered is not None:
            buffer = self.buffered.schema
            yield [("FT.DROPINDEX", buffer.name, *(("DD",) if delete_documents else ()))]

    def _ft_info(self) -> Plan[dict[str, Any]]:
        """FT.INFO as pairs; a missing index is :class:`IndexNotFoundError`."""
        (reply,) = yield [("FT.INFO", self.name)]
        if isinstance(reply, redis.ResponseError):
            raise search_error(self.name, reply)
        return pairs(reply)

    def info(self) -> Plan[IndexInfo]:
        """Size, progress and memory as FT.INFO reports them, with the schema."""
        raw = yield from self._ft_info()
        progress = progress_of(self.name, raw)
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

    def wait_indexed(self, timeout: float = 600.0) -> Plan[None]:
        """Return once the index is fully indexed; RedisUnavailableError after ``timeout`` s."""
        yield from wait_ready(self.name, timeout)
        if self.buffered is not None:
            yield from wait_ready(self.buffered.name, timeout)

    def count(self) -> Plan[int]:
        """How many documents the index holds (FT.INFO's num_docs; with a write buffer,
        the buffered ones too)."""
        held = progress_of(self.name, (yield from self._ft_info())).num_docs
        if self.buffered is not None:
            held += yield from self.buffered.count()
        return held

    # -- settings kept with the index (e.g. a tuned EF_RUNTIME) --------------------------

    def settings(self) -> Plan[dict[str, str]]:
        """The settings kept with the index (read once, then cached until ``refresh``)."""
        # Read once per handle: a search must not pay a round trip for its defaults.
        if self.cached_settings is None:
            raw = yield from one(("HGETALL", SETTINGS_PREFIX + self.name))
            self.cached_settings = {text(k): text(v) for k, v in raw.items()}
        return self.cached_settings

    def get_setting(self, key: str) -> Plan[str | None]:
        """A setting kept with the index (e.g. a tuned ``ef_runtime``), read once per handle."""
        return (yield from self.settings()).get(key)

    def set_setting(self, key: str, value: str | int | float) -> Plan[None]:
        """Keep a setting with the index, for every process that opens it."""
        yield from one(("HSET", SETTINGS_PREFIX + self.name, key, str(value)))
        self.cached_settings = None

    def default_ef_runtime(self) -> Plan[int | None]:
        """The EF_RUNTIME recorded with the index (a tuned one), or None."""
        value = yield from self.get_setting("ef_runtime")
        return int(value) if value is not None else None

    # -- writing ---------------------------------------------------------------------

    def encode(self, doc: Mapping[str, Any], id_field: str = "id") -> tuple[str, list[Any]]:
        """Check one document; return its id and the commands that store it.

        Raises :class:`DocumentError` naming the document and the problem. With a write
        buffer the commands write the buffered key and delete the index's, atomically.
        """
        if self.buffered is None:
            return encode_document(self.schema, doc, id_field)
        doc_id, commands = encode_document(self.buffered.schema, doc, id_field)
        return doc_id, buffered_commands(self.schema, doc_id, commands)

    def upsert(self, docs: Iterable[Mapping[str, Any]], *, id_field: str = "id") -> Plan[int]:
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
        batches = _batches(docs, self.batch_size)

        def encoded_next() -> list[tuple[str, list[Any]]] | None:
            batch = next(batches, None)
            return None if batch is None else [self.encode(d, id_field) for d in batch]

        encoded = encoded_next()
        while encoded is not None:
            # The next batch is encoded while Redis takes this one (see Meanwhile).
            report, following, error = yield from self.write_documents(
                encoded, meanwhile=encoded_next
            )
            written += len(report.written)
            if report.failed:
                raise WriteError(report, written)
            if error is not None:
                raise error
            encoded = following
        return written

    def indexing_failures(self) -> Plan[int]:
        """FT.INFO's count of documents RediSearch failed to index (hash_indexing_failures)."""
        (reply,) = yield [("FT.INFO", self.name)]
        if isinstance(reply, redis.ResponseError):
            raise search_error(self.name, reply)
        return int(pairs(reply).get("hash_indexing_failures", 0) or 0)

    @overload
    def write_documents(
        self, encoded: Sequence[tuple[str, list[Any]]], extra: list[Any] | None = None
    ) -> Plan[WriteReport]:
        """Without ``meanwhile``: the write's report."""

    @overload
    def write_documents(
        self,
        encoded: Sequence[tuple[str, list[Any]]],
        extra: list[Any] | None = None,
        *,
        meanwhile: Callable[[], _W],
    ) -> Plan[tuple[WriteReport, _W | None, Exception | None]]:
        """With ``meanwhile``: the report, the work's result and the exception it raised."""

    def write_documents(
        self,
        encoded: Sequence[tuple[str, list[Any]]],
        extra: list[Any] | None = None,
        *,
        meanwhile: Callable[[], Any] | None = None,
    ) -> Plan[Any]:
        """Send encoded documents (``(id, commands)`` from :meth:`encode`) in one
        pipeline, and say which landed: a document whose command Redis refused, or that
        RediSearch failed to index (FT.INFO's ``hash_indexing_failures`` rises across
        the batch; each document is then looked up), is in ``failed`` with the reason.
        ``extra`` commands (bookkeeping) are sent after the documents; their errors raise.
        With ``meanwhile`` (pure computation, such as encoding the next batch), it runs
        while Redis takes the documents (:class:`redvec.plans.Meanwhile`), and the plan
        returns ``(report, its result, the exception it raised)``.
        """
        if self.buffered is not None:
            report = yield from self._write_buffered(encoded, extra)
            if meanwhile is None:
                return report
            result, failure = run_work(meanwhile)
            return report, result, failure
        # The failure count after this batch rides in the batch's own pipeline; the one
        # before is the previous batch's (a failure someone else caused in between is
        # told apart by looking each document up).
        before = after = 0
        probe: list[Any] = []
        if self.check_indexing:
            seen = self.failures_seen
            before = seen if seen is not None else (yield from self.indexing_failures())
            probe = [("FT.INFO", self.name)]
        errors, replies, done = yield from self._write(
            [commands for _, commands in encoded], [*(extra or []), *probe], meanwhile
        )
        checked(replies[: len(extra or [])])
        info: Any = None
        if self.check_indexing:
            info = replies[-1]
            if isinstance(info, redis.ResponseError):
                raise search_error(self.name, info)
            after = int(pairs(info).get("hash_indexing_failures", 0) or 0)
            self.failures_seen = after
        report = WriteReport()
        for (doc_id, _), error in zip(encoded, errors, strict=True):
            if error is None:
                report.written.append(doc_id)
            else:
                report.failed[doc_id] = f"Redis refused the write: {error}"
        if report.written and after > before:
            unindexed = yield from self._unindexed(report.written, pairs(info))
            report.failed.update(unindexed)
            report.written = [i for i in report.written if i not in report.failed]
        return report if meanwhile is None else (report, *done)

    def _write_buffered(
        self, encoded: Sequence[tuple[str, list[Any]]], extra: list[Any] | None
    ) -> Plan[WriteReport]:
        """Into the write buffer, in parts it has room for (back-pressure: each part waits
        for room, or the call is refused saying how much was written)."""
        assert self.buffered is not None and self.schema.write_buffer is not None
        report = WriteReport()
        # At most PIPELINE documents a round trip: Redis runs a round trip's commands back
        # to back, and a reader waiting behind 16 buffered writes waits about a millisecond.
        step = max(1, min(len(encoded), self.schema.write_buffer.max_docs, PIPELINE))
        for lo in range(0, len(encoded), step):
            part = encoded[lo : lo + step]
            yield from self._room_for(len(part), written=len(report.written))
            last = lo + step >= len(encoded)
            done = yield from self.buffered.write_documents(part, extra if last else None)
            report.written += done.written
            report.failed.update(done.failed)
        return report

    def _room_for(self, coming: int, *, written: int) -> Plan[None]:
        """Return once the buffer has room for ``coming`` more documents (no round trip
        while this handle's bound says they fit); :class:`BufferFullError` after the
        schema's wait, saying that ``written`` of the call went in before."""
        assert self.schema.write_buffer is not None
        if not self.buffer_room.fits(coming, self.schema.write_buffer.max_docs):
            held = yield from make_room(
                self.schema, coming, written=written, counted=self.buffer_counted
            )
            self.buffer_room.seen(held)
        self.buffer_room.wrote(coming)

    def _unindexed(self, ids: Sequence[str], info: dict[str, Any]) -> Plan[dict[str, str]]:
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
        doc_keys = [self.schema.key(i) for i in ids]
        replies = yield [("FT.DEBUG", "DOCINFO", self.name, key) for key in doc_keys]
        missing: dict[str, str] = {}
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

    def write(
        self, encoded: list[list[Any]], extra: list[Any] | None = None
    ) -> Plan[list[str | None]]:
        """Send encoded documents (and ``extra`` commands) in one pipeline, no transaction;
        per document, None when Redis took every command of it, else Redis's refusal.

        Replies are read command by command, so one refused document neither hides the
        others' success nor lets its bookkeeping pass for a write; an ``extra`` command
        refused raises.
        """
        errors, replies, _ = yield from self._write(encoded, extra)
        checked(replies)
        return errors

    def _write(
        self,
        encoded: list[list[Any]],
        extra: list[Any] | None,
        meanwhile: Callable[[], Any] | None = None,
    ) -> Plan[tuple[list[str | None], list[Any], tuple[Any, Exception | None]]]:
        """Per-document errors, the ``extra`` commands' replies (errors included), and
        ``meanwhile``'s outcome (result, exception) when given, run during the round trip."""
        commands: list[Command] = [tuple(c) for cs in encoded for c in cs]
        commands += [tuple(c) for c in extra or []]
        done: tuple[Any, Exception | None] = (None, None)
        if not commands:
            replies: list[Any] = []
            if meanwhile is not None:
                done = run_work(meanwhile)
        elif meanwhile is None:
            replies = yield commands
        else:
            replies, *outcome = yield Meanwhile(commands, meanwhile)
            done = (outcome[0], outcome[1])
        out: list[str | None] = []
        at = 0
        for cs in encoded:
            refused = [r for r in _flat(replies[at : at + len(cs)]) if isinstance(r, Exception)]
            out.append(redis_message(refused[0]) if refused else None)
            at += len(cs)
        return out, list(replies[at:]), done

    def update_vectors(
        self, ids: Sequence[str], vectors: Sequence[Any], *, vector_field: str | None = None
    ) -> Plan[int]:
        """Replace only vectors; in split storage no JSON document is rewritten. With a
        write buffer a merged document moves into the buffer with its new vector (a vector
        written into the graph stalls readers like any write) and is merged back later."""
        vf = self.schema.vector_field(vector_field)
        if len(ids) != len(vectors):
            raise ValidationError(f"{len(ids)} ids but {len(vectors)} vectors")
        vetted = [
            check_vector(v, vf, what=f"vector for '{i}'") for i, v in zip(ids, vectors, strict=True)
        ]
        if self.buffered is not None:
            return (yield from self._buffered_vectors(ids, vetted, vf.name))
        store = self.schema.store
        for start in range(0, len(ids), self.batch_size):
            batch = zip(
                ids[start : start + self.batch_size],
                vetted[start : start + self.batch_size],
                strict=True,
            )
            commands: list[Command] = [
                tuple(store.vector_command(self.schema.key(str(doc_id)), vf, vec))
                for doc_id, vec in batch
            ]
            checked((yield commands))
        return len(ids)

    def _buffered_vectors(
        self, ids: Sequence[str], vectors: Sequence[Any], field: str
    ) -> Plan[int]:
        """:meth:`update_vectors` through the write buffer, in parts it has room for
        (:func:`redvec.buffer.buffered_vector`, one transaction a document)."""
        assert self.buffered is not None and self.schema.write_buffer is not None
        buffer = self.buffered.schema
        vf, store = buffer.vector_field(field), buffer.store
        step = max(1, min(len(ids), self.schema.write_buffer.max_docs, PIPELINE))
        for lo in range(0, len(ids), step):
            part = list(zip(ids[lo : lo + step], vectors[lo : lo + step], strict=True))
            yield from self._room_for(len(part), written=lo)
            commands: list[Command] = []
            for doc_id, vector in part:
                replace = store.vector_command(buffer.key(str(doc_id)), vf, vector)
                commands += buffered_vector(self.schema, str(doc_id), replace)
            refused = [r for r in _flat((yield commands)) if isinstance(r, Exception)]
            if refused:
                raise refused[0]
        return len(ids)

    def get(
        self, ids: Sequence[str], *, with_vectors: bool = False
    ) -> Plan[list[dict[str, Any] | None]]:
        """Documents by id, in order; ``None`` where an id is not stored. With a write
        buffer, the buffered version where there is one (the newer)."""
        if self.buffered is not None:
            fresh = yield from self.buffered.get(ids, with_vectors=with_vectors)
            older = yield from self._get(ids, with_vectors)
            # In split storage both reads give the one JSON document; the vectors come
            # from whichever HASH holds the document (the buffer's, or after the merge the
            # index's), so a buffered read without its vectors is not the buffered version.
            vectors = [f.name for f in self.schema.vector_fields] if with_vectors else []
            return [
                f if f is not None and (o is None or all(n in f for n in vectors)) else o
                for f, o in zip(fresh, older, strict=True)
            ]
        return (yield from self._get(ids, with_vectors))

    def _get(self, ids: Sequence[str], with_vectors: bool) -> Plan[list[dict[str, Any] | None]]:
        schema, store = self.schema, self.schema.store
        reads = [store.read_commands(schema, str(doc_id)) for doc_id in ids]
        commands: list[Command] = [tuple(c) for cs in reads for c in cs]
        replies = checked((yield commands)) if commands else []
        out: list[dict[str, Any] | None] = []
        at = 0
        for doc_id, cs in zip(ids, reads, strict=True):
            doc = store.decode(schema, replies[at : at + len(cs)], with_vectors)
            at += len(cs)
            out.append(None if doc is None else {**doc, "id": str(doc_id)})
        return out

    def delete(self, ids: Sequence[str]) -> Plan[int]:
        """Delete documents; returns how many ids were stored. With a write buffer both of
        a document's places (and in split storage its JSON) go in one DEL."""
        if not ids:
            return 0
        schema = self.schema
        if self.buffered is not None:
            both: list[Command] = [
                ("DEL", *schema.store.keys_of(schema, str(i)), self.buffered.schema.key(str(i)))
                for i in dict.fromkeys(ids)
            ]
            replies = checked((yield both))
            return sum(1 for n in replies if int(n))
        # One DEL per kind of key (a cluster client splits each by slot): a document
        # counts once whichever of its keys was there.
        keys_of = [schema.store.keys_of(schema, str(i)) for i in dict.fromkeys(ids)]
        deleted = []
        for j in range(len(keys_of[0])):
            deleted.append(int((yield from one(("DEL", *[k[j] for k in keys_of])))))
        return max(deleted)

    def clear(self) -> Plan[int]:
        """Delete every document of the index and keep the index (empty, ready for
        writes): every key under its prefix, and in split storage the JSON documents
        too, found by SCAN in batches and UNLINKed; returns how many documents went.

        Documents written while it runs may survive it; it never touches a key outside
        the index's prefixes."""
        store = self.schema.store
        patterns = [
            self.schema.prefix,
            *(p.removesuffix("*") for p in store.other_patterns(self.schema)),
        ]
        removed = 0
        for n, prefix in enumerate(patterns):
            cursor = "0"
            while True:
                reply = yield from one(("SCAN", cursor, "MATCH", glob_escape(prefix) + "*",
                                        "COUNT", 1000))  # fmt: skip
                cursor, found = str(text(reply[0])), list(reply[1])
                if found:
                    gone = int((yield from one(("UNLINK", *found))))
                    removed += gone if n == 0 else 0
                if cursor == "0":
                    break
        self.match_counts.forget()
        self.recall_guard.forget()
        if self.buffered is not None:
            removed += yield from self.buffered.clear()
        return removed

    # -- the write buffer (redvec.buffer) -----------------------------------------------

    def merge_buffer(
        self, limit: int = 500, pause: float = 0.0, group: int = MERGE_GROUP
    ) -> Plan[MergeReport]:
        """Move up to ``limit`` documents from the write buffer into the index, one atomic
        RENAME each, ``group`` to a round trip (:func:`redvec.buffer.merge_plan`)."""
        return (yield from merge_plan(self, limit, pause, group))

    # -- searching ---------------------------------------------------------------------

    def knn_args(self, q: KnnQuery) -> Plan[tuple[list[Any], VectorField]]:
        """The FT.SEARCH arguments of a KNN query (the recorded EF_RUNTIME and the planner's
        policy applied) and its vector field."""
        args, vf, _plan = yield from self.planned_knn(q)
        return args, vf

    def planned_knn(self, q: KnnQuery) -> Plan[tuple[list[Any], VectorField, SearchPlan]]:
        """A KNN query's FT.SEARCH arguments, vector field and the plan they carry."""
        vf = self.schema.vector_field(q.vector_field)
        ef = (yield from self.default_ef_runtime()) if q.ef_runtime is None else None
        plan = yield from self.plan(q, vf)
        return build_knn(self.schema, q, query_blob(q.vector, vf), ef, plan), vf, plan

    def plan(self, q: KnnQuery, vf: VectorField | None = None) -> Plan[SearchPlan]:
        """How ``q`` will run (:mod:`redvec.planner`): a forced policy as asked, else the
        planner's choice from the filter's match count (counted now when none is kept)."""
        vf = vf or self.schema.vector_field(q.vector_field)
        policy = policy_of(q.hybrid_policy)
        if q.filter is None:
            return UNFILTERED if policy in (AUTO, "REDISEARCH") else forced(policy, None)
        if policy != AUTO:
            return forced(policy, q.batch_size)
        if q.batch_size is not None:
            check_batch_size(q.batch_size)
            raise ValidationError("batch_size applies to hybrid_policy batches only")
        where = render_filter(q.filter, self.schema)
        if where == "*":
            return UNFILTERED
        k = q.k + q.offset
        if vf.algorithm != "HNSW":
            return FLAT  # no count needed
        counts = yield from self.counted([where])
        matches, documents = counts[where], counts["*"]
        ef = q.ef_runtime if q.ef_runtime is not None else (yield from self.default_ef_runtime())
        widen = self.recall_guard.widen(guard_key(vf.name, matches, documents))
        plan = choose(
            matches, documents, k, algorithm=vf.algorithm, dims=vf.dims, ef=ef, widen=widen,
            single=single_condition(where),
        )  # fmt: skip
        if plan.policy != "BATCHES":
            return plan  # brute force walks the matches once: the filter's form barely counts
        ranges = outside_ranges(q.filter, self.schema)
        if not ranges:
            return plan
        outside = yield from self.counted([c for _, c in ranges if c is not None])
        wide = [r for r, c in ranges if narrowable(None if c is None else outside[c], documents)]
        if not wide:
            return plan
        return narrowed_plan(plan, narrowed_where(q.filter, self.schema, tuple(wide)), wide)

    def _check_of(self, q: KnnQuery, plan: SearchPlan) -> _Check | None:
        """The exact twin of a search the planner sent in batches, when the
        :class:`~redvec.planner.RecallGuard` wants this filter checked now; else None."""
        if plan.chosen_by != "planner" or plan.policy != "BATCHES":
            return None
        vf = self.schema.vector_field(q.vector_field)
        assert plan.matches is not None and plan.documents is not None
        key = guard_key(vf.name, plan.matches, plan.documents)
        guard = self.recall_guard
        if not guard.due(key):
            return None
        exact = forced("ADHOC_BF", None)
        args = build_knn(self.schema, q, query_blob(q.vector, vf), None, exact)
        return _Check(key, guard.widen(key), args, q.offset + q.k)

    def _judged(
        self, check: _Check, plan: SearchPlan, planned: SearchResult, exact: SearchResult
    ) -> SearchResult:
        """Tell the guard how much of ``exact`` the ``planned`` answer found (a hit counts
        when it is no farther than the exact answer's last: ties are not misses), and
        return the exact answer, its plan saying so."""
        expected = len(exact.hits)
        last = max((h.distance or 0.0 for h in exact.hits), default=0.0)
        bound = last + 1e-6 * max(1.0, abs(last))
        found = min(expected, sum(1 for h in planned.hits if (h.distance or 0.0) <= bound))
        assert plan.matches is not None and plan.documents is not None
        size = plan.batch_size or own_batch(check.k, plan.matches, plan.documents)
        self.recall_guard.record(
            check.key, check.widen, found, expected, batch_size=size, matches=plan.matches,
        )  # fmt: skip
        if expected:
            exact.plan = dataclasses.replace(
                plan, checked=found / expected,
                reason=f"{plan.reason}; checked against ADHOC_BF: the batches found "
                f"{found} of the {expected} exact hits, the exact answer returned",
            )  # fmt: skip
        else:
            exact.plan = plan
        return exact

    def counted(self, wheres: Sequence[str]) -> Plan[dict[str, int]]:
        """How many documents each rendered filter matches (and ``*``: how many the index
        holds), from :attr:`match_counts` where kept, else counted in one round trip."""
        kept = self.match_counts
        found: dict[str, int] = {}
        missing: list[str] = []
        for where in ("*", *wheres):
            hit = kept.get(where)
            if hit is None:
                if where not in missing:
                    missing.append(where)
            else:
                found[where] = hit
        if missing:
            replies = yield [
                ("FT.SEARCH", self.search_name, where, "LIMIT", 0, 0, "DIALECT", 2)
                for where in missing
            ]
            for where, reply in zip(missing, self._searched(replies), strict=True):
                count = _total_of(reply)
                kept.put(where, count)
                found[where] = count
        return found

    def parse(
        self,
        reply: Any,
        vf: VectorField | None,
        *,
        scored: bool = False,
        return_fields: list[str] | None = None,
    ) -> SearchResult:
        """A search reply as a :class:`SearchResult`, decoded by the schema and storage mode."""
        joined = self.schema.store.joined
        keep = None
        whole = return_fields is not None and WHOLE in return_fields
        if joined and return_fields is not None and not whole:
            keep = return_names(self.schema, tuple(return_fields))
        result = parse_reply(reply, self.schema, vf, with_scores=scored, joined=joined, keep=keep)
        if whole:
            assert return_fields is not None
            asked = set(return_names(self.schema, tuple(return_fields)) or ())
            for hit in result.hits:
                hit.fields = whole_document(self.schema, hit.fields, asked)
        return result

    def _searched(self, replies: list[Any]) -> list[Any]:
        for reply in replies:
            if isinstance(reply, redis.ResponseError):
                raise search_error(self.name, reply)
        return replies

    def query(self, q: KnnQuery) -> Plan[SearchResult]:
        """A KNN query built by the caller (:class:`redvec.query.KnnQuery`)."""
        if self.buffered is not None:
            return (yield from self._buffered_knn(q))
        args, vf, plan = yield from self.planned_knn(q)
        check = self._check_of(q, plan)
        if check is not None:
            reply, exact = self._searched((yield [Search(args), Search(check.args)]))
            keep = q.return_fields
            planned = self.parse(reply, vf, return_fields=keep)
            return self._judged(check, plan, planned, self.parse(exact, vf, return_fields=keep))
        (reply,) = self._searched((yield [Search(args)]))
        result = self.parse(reply, vf, return_fields=q.return_fields)
        result.plan = plan
        return result

    def _buffered_knn(self, q: KnnQuery) -> Plan[SearchResult]:
        """A KNN query of the index and of its write buffer in one round trip, merged."""
        assert self.buffered is not None
        whole = dataclasses.replace(q, k=q.k + q.offset, offset=0)
        args, vf, plan = yield from self.planned_knn(whole)
        fresh_args, fresh_vf, _ = yield from self.buffered.planned_knn(whole)
        check = self._check_of(whole, plan)
        steps: list[Command] = [Search(args), Search(fresh_args, index=self.buffered.name)]
        if check is not None:
            steps.append(Search(check.args))
        replies = self._searched((yield steps))
        main = self.parse(replies[0], vf, return_fields=q.return_fields)
        if check is not None:
            exact = self.parse(replies[2], vf, return_fields=q.return_fields)
            main = self._judged(check, plan, main, exact)
            plan = main.plan or plan
        result = merged(
            main, self.buffered.parse(replies[1], fresh_vf, return_fields=q.return_fields),
            q.k, q.offset,
        )  # fmt: skip
        result.plan = plan
        return result

    def search_many(self, queries: Sequence[KnnQuery]) -> Plan[list[SearchResult]]:
        """Many KNN queries in one pipelined round trip (after one more for the planner's
        counts of filters it has not seen lately); a bad one is named by position."""
        if self.buffered is not None:
            return (yield from self._buffered_many(queries))
        wheres = []
        for n, q in enumerate(queries):
            try:
                if q.filter is not None and policy_of(q.hybrid_policy) == AUTO:
                    where = render_filter(q.filter, self.schema)
                    vf = self.schema.vector_field(q.vector_field)
                    if where != "*" and vf.algorithm == "HNSW":
                        wheres.append(where)
                        ranges = outside_ranges(q.filter, self.schema)
                        wheres += [c for _, c in ranges if c is not None]
            except ValidationError as e:
                raise type(e)(f"searches[{n}]: {e}") from None
        if wheres:
            yield from self.counted(wheres)  # the plans below then find every count kept
        built = []
        for n, q in enumerate(queries):
            try:
                built.append((yield from self.planned_knn(q)))
            except ValidationError as e:
                raise type(e)(f"searches[{n}]: {e}") from None
        checks: dict[int, _Check] = {}  # by query position, one per filter and batch
        checking: set[str] = set()
        for n, (q, (_, _, plan)) in enumerate(zip(queries, built, strict=True)):
            check = self._check_of(q, plan)
            if check is not None and check.key not in checking:
                checks[n] = check
                checking.add(check.key)
        steps: list[Command] = [Search(args) for args, _, _ in built]
        steps += [Search(check.args) for check in checks.values()]
        replies = self._searched((yield steps)) if steps else []
        exact_replies = dict(zip(checks, replies[len(built) :], strict=True))
        results = []
        for n, (reply, (_, vf, plan), q) in enumerate(
            zip(replies[: len(built)], built, queries, strict=True)
        ):
            result = self.parse(reply, vf, return_fields=q.return_fields)
            if n in checks:
                exact = self.parse(exact_replies[n], vf, return_fields=q.return_fields)
                result = self._judged(checks[n], plan, result, exact)
            else:
                result.plan = plan
            results.append(result)
        return results

    def _buffered_many(self, queries: Sequence[KnnQuery]) -> Plan[list[SearchResult]]:
        """:meth:`search_many` on the index and its buffer, in one round trip."""
        assert self.buffered is not None
        built, fresh = [], []
        for n, q in enumerate(queries):
            whole = dataclasses.replace(q, k=q.k + q.offset, offset=0)
            try:
                built.append((yield from self.planned_knn(whole)))
                fresh.append((yield from self.buffered.planned_knn(whole)))
            except ValidationError as e:
                raise type(e)(f"searches[{n}]: {e}") from None
        steps: list[Command] = [Search(args) for args, _, _ in built]
        steps += [Search(args, index=self.buffered.name) for args, _, _ in fresh]
        replies = self._searched((yield steps)) if steps else []
        half = len(built)
        results = []
        for n, q in enumerate(queries):
            (_, vf, plan), (_, fresh_vf, _) = built[n], fresh[n]
            result = merged(
                self.parse(replies[n], vf, return_fields=q.return_fields),
                self.buffered.parse(replies[half + n], fresh_vf, return_fields=q.return_fields),
                q.k, q.offset,
            )  # fmt: skip
            result.plan = plan
            results.append(result)
        return results

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
    ) -> Plan[SearchResult]:
        """KNN: the ``k`` nearest documents to ``vector`` among those matching ``filter``."""
        q = KnnQuery(
            vector, k, filter, vector_field, ef_runtime, hybrid_policy, batch_size,
            return_fields, offset,
        )  # fmt: skip
        return (yield from self.query(q))

    def range_query(self, q: RangeQuery) -> Plan[SearchResult]:
        """A range query built by the caller (:class:`redvec.query.RangeQuery`)."""
        vf = self.schema.vector_field(q.vector_field)
        if self.buffered is not None:
            whole = dataclasses.replace(q, k=q.k + q.offset, offset=0)
            args = build_range(self.schema, whole, query_blob(q.vector, vf))
            buffer = self.buffered.schema
            fresh_vf = buffer.vector_field(q.vector_field)
            fresh_args = build_range(buffer, whole, query_blob(q.vector, fresh_vf))
            main, fresh = self._searched(
                (yield [Search(args), Search(fresh_args, index=buffer.name)])
            )
            return merged(
                self.parse(main, vf, return_fields=q.return_fields),
                self.buffered.parse(fresh, fresh_vf, return_fields=q.return_fields),
                q.k, q.offset,
            )  # fmt: skip
        args = build_range(self.schema, q, query_blob(q.vector, vf))
        (reply,) = self._searched((yield [Search(args)]))
        return self.parse(reply, vf, return_fields=q.return_fields)

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
    ) -> Plan[SearchResult]:
        """Documents within ``radius`` (in the metric's distance) of ``vector``, nearest first."""
        q = RangeQuery(vector, radius, k, filter, vector_field, epsilon, return_fields, offset)
        return (yield from self.range_query(q))

    def text_query(self, q: TextQuery) -> Plan[SearchResult]:
        """BM25 full-text search (RediSearch's scorer); ``score`` is the BM25 score. With a
        write buffer, the buffer's hits are merged in by score (each index scores with its
        own term statistics)."""
        if self.buffered is not None:
            whole = dataclasses.replace(q, k=q.k + q.offset, offset=0)
            buffer = self.buffered.schema
            main, fresh = self._searched(
                (
                    yield [
                        Search(build_text(self.schema, whole), scored=True),
                        Search(build_text(buffer, whole), scored=True, index=buffer.name),
                    ]
                )
            )
            return merged(
                self.parse(main, None, scored=True, return_fields=q.return_fields),
                self.buffered.parse(fresh, None, scored=True, return_fields=q.return_fields),
                q.k, q.offset, by_score=True,
            )  # fmt: skip
        (reply,) = self._searched((yield [Search(build_text(self.schema, q), scored=True)]))
        return self.parse(reply, None, scored=True, return_fields=q.return_fields)

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
    ) -> Plan[SearchResult]:
        """BM25 full-text search (RediSearch's scorer); ``score`` is the BM25 score."""
        q = TextQuery(text_query, k, filter, text_field, match_all, return_fields, offset)
        return (yield from self.text_query(q))

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
        hybrid_policy: str | None = None,
        batch_size: int | None = None,
    ) -> Plan[SearchResult]:
        """BM25 and KNN in one round trip, fused by weighted reciprocal rank fusion.

        ``distance`` is the vector distance where the KNN run found the document,
        else None; ``score`` is the fused RRF score.
        """
        plan = yield from self.hybrid_plan(
            text_query, vector, k, filter=filter, text_weight=text_weight,
            vector_weight=vector_weight, candidates=candidates, text_field=text_field,
            vector_field=vector_field, ef_runtime=ef_runtime, rrf_k=rrf_k,
            return_fields=return_fields, hybrid_policy=hybrid_policy, batch_size=batch_size,
        )  # fmt: skip
        return (yield from self.hybrid(plan))

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
        hybrid_policy: str | None = None,
        batch_size: int | None = None,
    ) -> Plan[HybridPlan]:
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
        knn = KnnQuery(
            vector, n, filter, vector_field, ef_runtime, hybrid_policy, batch_size,
            return_fields,
        )  # fmt: skip
        knn_args, vf, knn_plan = yield from self.planned_knn(knn)
        fresh = None
        if self.buffered is not None:
            fresh = yield from self.buffered.hybrid_plan(
                text_query, vector, k, filter=filter, text_weight=text_weight,
                vector_weight=vector_weight, candidates=n, text_field=text_field,
                vector_field=vector_field, ef_runtime=ef_runtime, rrf_k=rrf_k,
                return_fields=return_fields, hybrid_policy=hybrid_policy, batch_size=batch_size,
            )  # fmt: skip
        return HybridPlan(
            text_args, knn_args, vf, k, (text_weight, vector_weight), rrf_k, return_fields,
            knn_plan, fresh,
        )  # fmt: skip

    def hybrid(self, plan: HybridPlan) -> Plan[SearchResult]:
        """Send a plan from :meth:`hybrid_plan`; fuse its two rankings (with a write buffer,
        each ranking merged with the buffer's first)."""
        fresh = plan.fresh
        if fresh is not None and self.buffered is not None:
            name = self.buffered.name
            text_reply, knn_reply, fresh_text, fresh_knn = self._searched(
                (
                    yield [
                        Search(plan.text_args, scored=True),
                        Search(plan.knn_args),
                        Search(fresh.text_args, scored=True, index=name),
                        Search(fresh.knn_args, index=name),
                    ]
                )
            )
            keep, many = plan.return_fields, 1 << 30  # every candidate of both, then fused
            text = merged(
                self.parse(text_reply, None, scored=True, return_fields=keep),
                self.buffered.parse(fresh_text, None, scored=True, return_fields=keep),
                many, by_score=True,
            )  # fmt: skip
            knn = merged(
                self.parse(knn_reply, plan.vector_field, return_fields=keep),
                self.buffered.parse(fresh_knn, fresh.vector_field, return_fields=keep),
                many,
            )
            return self._fuse(plan, text.hits, knn.hits)
        text_reply, knn_reply = self._searched(
            (yield [Search(plan.text_args, scored=True), Search(plan.knn_args)])
        )
        return self.hybrid_fuse(plan, text_reply, knn_reply)

    def hybrid_fuse(self, plan: HybridPlan, text_reply: Any, knn_reply: Any) -> SearchResult:
        """Fuse a hybrid plan's two replies by weighted reciprocal rank fusion."""
        keep = plan.return_fields
        text_hits = self.parse(text_reply, None, scored=True, return_fields=keep).hits
        knn_hits = self.parse(knn_reply, plan.vector_field, return_fields=keep).hits
        return self._fuse(plan, text_hits, knn_hits)

    def _fuse(self, plan: HybridPlan, text_hits: list[Hit], knn_hits: list[Hit]) -> SearchResult:
        fused: list[Hit] = rrf_fuse(
            [text_hits, knn_hits], list(plan.weights), plan.k, rrf_k=plan.rrf_k
        )
        total = len({h.id for h in text_hits} | {h.id for h in knn_hits})
        return SearchResult(total, fused, plan.knn_plan)


def _flat(replies: Sequence[Any]) -> list[Any]:
    """Replies with a transaction's (EXEC's list of replies) opened up."""
    out: list[Any] = []
    for reply in replies:
        if isinstance(reply, list):
            out.extend(reply)
        else:
            out.append(reply)
    return out


def _total_of(reply: Any) -> int:
    """The match count of a ``LIMIT 0 0`` search (RESP2: ``[total]``; RESP3: a map)."""
    if isinstance(reply, dict):
        total: Any = reply.get(b"total_results", reply.get("total_results", 0))
        return int(total)
    return int(reply[0])


def _batches(items: Iterable[Any], size: int) -> Generator[list[Any], None, None]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def whole_document(schema: IndexSchema, fields: dict[str, Any], asked: set[str]) -> dict[str, Any]:
    """A ``return_fields=["*"]`` hit as the stored document: a JSON document returned as
    ``$`` unpacked, the id left out (the hit carries it), vectors only when named."""
    out = dict(fields)
    doc = out.pop("$", None)
    if isinstance(doc, list) and len(doc) == 1:
        doc = doc[0]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out.setdefault(k, v)
    out.pop("id", None)
    for f in schema.vector_fields:
        if f.name not in asked:
            out.pop(f.name, None)
    return out


class DocumentWalk:
    """A walk over every stored document by its keys (SCAN, pattern by pattern), each id
    given once: with a write buffer the buffer's keys come first and their ids are
    skipped in the index, so a document merged during the walk is not given twice and the
    newest version is the one given. A document written during the walk may be missed, as
    SCAN promises only the keys there throughout. Remembers at most the buffer's ids."""

    def __init__(self, schema: IndexSchema) -> None:
        self.schema, self.buffer = schema, schema.buffer
        self.patterns = [
            glob_escape(s.prefix) + "*" for s in (self.buffer, schema) if s is not None
        ]
        self._buffered: set[str] = set()

    def take(self, key: Any) -> str | None:
        """The id stored under ``key`` (found by one of :attr:`patterns`), or None when
        the walk gave it already."""
        name = str(text(key))
        if self.buffer is not None and name.startswith(self.buffer.prefix):
            doc_id = self.buffer.id_of(name)
            self._buffered.add(doc_id)
            return doc_id
        doc_id = self.schema.id_of(name)
        return None if doc_id in self._buffered else doc_id


def glob_escape(text: str) -> str:
    """``text`` matched literally by a Redis glob (SCAN MATCH, KEYS)."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)
