"""An index's write buffer, as plans: what a buffered write sends, how a search's two
answers (the index's and the buffer's) become one, and the merge that moves buffered
documents into the index.

Why a buffer: RediSearch 2.10 inserts into an HNSW graph on Redis's one thread, so a
pipelined batch of writes stalls every reader for its whole length (39 ms p99 under the
stream worker, docs/benchmarks.md). A FLAT index's insert is a copy: writing there first
makes a document searchable at once and costs readers little; the merger then moves each
document with one ``RENAME`` (atomic: RediSearch drops it from the buffer's index and
inserts it into the graph), one key per command, so no command holds the thread for longer
than one graph insert.

The rules that keep every document exactly once:

- A write is one ``MULTI``/``EXEC``: delete the index's key, replace the buffered key. An
  updated document therefore lives in the buffer alone until merged: the newest version is
  the only one.
- A vector replaced alone (``update_vectors``, the re-embed) moves a merged document into
  the buffer first, in one ``MULTI``/``EXEC`` (:func:`buffered_vector`).
- A delete removes both keys in one ``DEL``.
- A merge is ``RENAME buffered -> key``: atomic, so a merger killed at any point leaves the
  document in one place; a second merger renaming the same key finds it gone and skips it;
  a write after the merge replaces the merged version.
- A search asks both indexes in one round trip and merges by distance (or BM25 score);
  an id both answered (a merge between the two searches) is kept once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import redis

from redvec.errors import BufferFullError
from redvec.plans import Command, Pause, Plan, checked, one
from redvec.query import Hit, SearchResult
from redvec.schema import IndexSchema

if TYPE_CHECKING:
    from redvec.core import IndexCore

__all__ = [
    "PIPELINE",
    "BufferRoom",
    "MergeReport",
    "buffered_commands",
    "buffered_count",
    "buffered_vector",
    "make_room",
    "merge_plan",
    "merged",
]


PIPELINE = 16  # buffered documents a round trip (docs/operations.md: measured)
MERGE_GROUP = 2  # RENAMEs a round trip, by default, once there is a backlog:
BACKLOG = 64  # below this many buffered documents a merge goes one RENAME a round trip


def buffered_commands(schema: IndexSchema, doc_id: str, commands: list[Any]) -> list[Any]:
    """One buffered write: the index's key deleted and the buffer's written, atomically
    (``commands`` are the document's commands encoded against the buffer's schema). The
    twin is deleted too: a key of another type under its name would make the write fail
    after the index's key was gone, losing the merged document."""
    assert schema.buffer is not None
    main_keys = schema.store.keys_of(schema, doc_id)
    return [("MULTI",), ("DEL", *main_keys, schema.buffer.key(doc_id)), *commands, ("EXEC",)]


def buffered_vector(schema: IndexSchema, doc_id: str, vector_command: Command) -> list[Any]:
    """One vector replaced on a buffered index, atomically: a document in the index is
    first copied into the buffer and its index key deleted (``COPY`` refuses to overwrite,
    so a document already buffered, the newer, stays as it is), then ``vector_command``
    (written against the buffer's key) replaces the vector there. A vector written into the
    index's own key would be a graph insert on Redis's thread, the stall the buffer is
    for; a merge before or after the transaction finds the document in one place."""
    main_key = schema.key(doc_id)  # in split storage the JSON document stays where it is
    assert schema.buffer is not None
    return [
        ("MULTI",),
        ("COPY", main_key, schema.buffer.key(doc_id)),
        ("DEL", main_key),
        vector_command,
        ("EXEC",),
    ]


def buffered_count(names: Sequence[str]) -> Plan[int]:
    """How many documents the buffer holds now: the sum over its indexes ``names`` (one,
    or one per shard of a sharded cluster index), in one round trip."""
    replies = checked(
        (yield [("FT.SEARCH", name, "*", "LIMIT", 0, 0, "DIALECT", 2) for name in names])
    )
    return sum(
        int(r[0]) if isinstance(r, list) else int(r.get("total_results", 0)) for r in replies
    )


class BufferRoom:
    """A writer's upper bound on its buffer's fill: the count it last read, plus what it
    wrote since (merges only lower the real count). Within ``fresh_for`` seconds of the
    read and under the limit, a write needs no round trip to check; other writers' writes
    are seen at the next read, so with several writers ``max_docs`` may be passed by what
    they write in that time."""

    def __init__(self, fresh_for: float = 1.0) -> None:
        self.fresh_for = fresh_for
        self.held: int | None = None
        self.read_at = 0.0

    def fits(self, coming: int, max_docs: int) -> bool:
        """Whether ``coming`` more surely fit, without asking Redis."""
        if self.held is None or time.monotonic() - self.read_at > self.fresh_for:
            return False
        return self.held + min(coming, max_docs) <= max_docs

    def seen(self, held: int) -> None:
        """The count just read from Redis."""
        self.held, self.read_at = held, time.monotonic()

    def wrote(self, count: int) -> None:
        """Documents just written into the buffer."""
        if self.held is not None:
            self.held += count


def make_room(
    schema: IndexSchema,
    coming: int,
    *,
    written: int = 0,
    poll: float = 0.05,
    counted: Sequence[str] | None = None,
) -> Plan[int]:
    """Wait until the buffer can take ``coming`` more documents: at most the schema's
    ``wait_seconds``, then :class:`BufferFullError` (back-pressure, never a lost write),
    which says how many documents of the call (``written``) went in before. The fill is
    counted on the buffer's index, or on the indexes ``counted`` (a sharded cluster
    index's, one per shard). Returns the count it last read."""
    wb, buffer = schema.write_buffer, schema.buffer
    assert wb is not None and buffer is not None
    names = [buffer.name] if counted is None else list(counted)
    need = min(coming, wb.max_docs)
    waited = 0.0
    before = (
        f"{written} documents of this call were written before it filled; the rest were not"
        if written
        else "nothing of this call was written"
    )
    while True:
        held = yield from buffered_count(names)
        if held + need <= wb.max_docs:
            return held
        if waited >= wb.wait_seconds:
            raise BufferFullError(
                f"index '{schema.name}': its write buffer holds {held} of {wb.max_docs} "
                f"documents and did not drain in {wb.wait_seconds:g} s; is a merger running "
                f"(redvec merge -i {schema.name})? {before}"
            )
        yield Pause(poll)
        waited += poll


def merged(
    main: SearchResult,
    buffered: SearchResult,
    k: int,
    offset: int = 0,
    *,
    by_score: bool = False,
) -> SearchResult:
    """One answer from the index's and the buffer's: the buffer's hit of an id wins (it is
    the newer), ordered by distance (or by score, higher first), ``offset`` and ``k``
    applied. ``total`` is the sum of both, less the ids both answered."""
    fresh = {h.id for h in buffered.hits}
    hits = [*buffered.hits, *(h for h in main.hits if h.id not in fresh)]
    key: Callable[[Hit], float] = _by_score if by_score else _by_distance
    hits.sort(key=key)
    both = len(main.hits) + len(buffered.hits) - len(hits)
    return SearchResult(main.total + buffered.total - both, hits[offset : offset + k], main.plan)


def _by_distance(hit: Hit) -> float:
    return hit.distance if hit.distance is not None else float("inf")


def _by_score(hit: Hit) -> float:
    return -hit.score


@dataclass
class MergeReport:
    """What one merge pass did: documents moved into the index, and those found gone
    (moved by another merger, or deleted, between the listing and the move)."""

    moved: int = 0
    gone: int = 0


def merge_plan(
    core: IndexCore, limit: int = 500, pause: float = 0.0, group: int = MERGE_GROUP
) -> Plan[MergeReport]:
    """Move up to ``limit`` buffered documents into the index, ``group`` RENAMEs to a
    round trip (Redis runs a round trip's commands back to back, so a reader may wait
    ``group`` graph inserts; ``pause`` seconds between round trips leaves it more).

    With fewer than :data:`BACKLOG` documents buffered the merger is keeping up, and one
    RENAME a round trip keeps a reader's wait to one insert (a reader's p99 under a steady
    1000 writes/s: 1.1 ms against 1.6 ms with two, docs/benchmarks.md); a backlog takes
    ``group``, since a buffer that grows makes every search's brute force over it slower."""
    schema, buffer = core.schema, core.schema.buffer
    if buffer is None:
        return MergeReport()
    reply = yield from one(
        ("FT.SEARCH", buffer.name, "*", "NOCONTENT", "LIMIT", 0, limit, "DIALECT", 2)
    )
    found = [k.decode() if isinstance(k, bytes) else str(k) for k in reply[1:]]
    report = MergeReport()
    step = max(1, group) if len(found) >= BACKLOG else 1
    for lo in range(0, len(found), step):
        moves: list[Command] = [
            ("RENAME", key, schema.key(buffer.id_of(key))) for key in found[lo : lo + step]
        ]
        for answer in (yield moves):
            if isinstance(answer, redis.ResponseError):
                if "no such key" not in str(answer).lower():
                    raise answer
                report.gone += 1
            else:
                report.moved += 1
        if pause:
            yield Pause(pause)
    return report
