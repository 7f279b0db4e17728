"""A long-lived ingest worker fed through a Redis Stream, that loses nothing.

Producers ``XADD`` documents (``enqueue``); workers read them in a consumer group,
embed and write them in batches, and ``XACK`` only after the write, so an entry is
never acknowledged before its document is in Redis. A worker that dies mid-batch
leaves its entries pending; another worker claims them with ``XAUTOCLAIM`` once they
have been idle for ``claim_idle_ms``. Writes are idempotent upserts by id, so an entry
processed twice still yields one document. An entry that cannot be stored (a bad
record) goes to the dead-letter stream at once, with its reason; one whose batch keeps
failing (provider or Redis errors) goes there after ``max_attempts`` deliveries.
SIGTERM finishes the batch in hand, then exits.

This is also the write buffer for a read-heavy service: queries stay fast while the
writes arrive in batches.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import redis

from redvec._resp import text
from redvec.embeddings.base import Embedder, EmbeddingError
from redvec.errors import BufferFullError, RedisUnavailableError
from redvec.index import SearchIndex
from redvec.ingest.pipeline import FieldMap, Ingestor, IngestSummary
from redvec.ingest.readers import Record

__all__ = ["StreamWorker", "WorkerStats", "enqueue"]

log = logging.getLogger("redvec.worker")


def enqueue(client: redis.Redis, stream: str, docs: Iterable[Mapping[str, Any]]) -> int:
    """Add documents to ``stream`` (one entry each, field ``doc`` holding JSON)."""
    pipe = client.pipeline(transaction=False)
    count = 0
    for doc in docs:
        pipe.xadd(stream, {"doc": json.dumps(doc, default=str)})
        count += 1
        if count % 1000 == 0:
            pipe.execute()
    pipe.execute()
    return count


@dataclass
class WorkerStats:
    """What a stream worker did: batches, entries acknowledged, claimed from dead consumers,
    dead-lettered, failures, superseded by a later entry, batches retried one by one."""

    batches: int = 0
    acked: int = 0
    claimed: int = 0
    dead_lettered: int = 0
    failures: int = 0
    superseded: int = 0  # jobs acknowledged because a later job of the batch has their id
    isolated: int = 0  # batches retried job by job after a data error


class StreamWorker:
    """Reads documents from a Redis stream with a consumer group, embeds and writes them in
    batches, and acknowledges an entry only after its write; an entry that keeps failing is
    moved to the dead-letter stream after ``max_attempts`` deliveries."""

    def __init__(
        self,
        index: SearchIndex,
        embedder: Embedder,
        *,
        stream: str,
        group: str,
        consumer: str | None = None,
        fields: FieldMap | None = None,
        chunk_size: int | None = None,
        chunk_overlap: int = 0,
        batch_size: int = 64,
        block_ms: int = 1000,
        claim_idle_ms: int = 30_000,
        max_attempts: int = 5,
        dead_letter: str | None = None,
        merge: bool = True,
    ) -> None:
        self.client = index.client
        self.index = index
        # With a write buffer, the worker also merges it (redvec.merger), unless told not.
        self.merge = merge and index.schema.write_buffer is not None
        self.stream = stream
        self.group = group
        self.consumer = consumer or f"{socket.gethostname()}-{os.getpid()}"
        self.batch_size = batch_size
        self.block_ms = block_ms
        self.claim_idle_ms = claim_idle_ms
        self.max_attempts = max_attempts
        self.dead_letter = dead_letter or f"{stream}:dead"
        self.stats = WorkerStats()
        self._stopping = False
        self._dead: list[tuple[str, str, Any]] = []
        self.ingestor = Ingestor(
            index,
            embedder,
            fields=fields,
            chunk_size=chunk_size,
            chunk_overlap=chunk_overlap,
            batch_size=batch_size,
            on_reject=self._on_reject,
        )
        self._ensure_group()

    @property
    def summary(self) -> IngestSummary:
        """The ingest summary of everything this worker wrote."""
        return self.ingestor.summary

    def _ensure_group(self) -> None:
        try:
            self.client.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except redis.ResponseError as e:
            if "BUSYGROUP" not in str(e):
                raise

    def _on_reject(self, record: Record, reason: str) -> None:
        self._dead.append((record.source, reason, record.data))

    def pending(self) -> int:
        """Entries delivered to some consumer of the group and not yet acknowledged."""
        info: Any = self.client.xpending(self.stream, self.group)
        return int(info["pending"])

    def stop(self, *_: Any) -> None:
        """Finish the batch in hand, then return from :meth:`run` (the SIGTERM handler)."""
        self._stopping = True

    # -- one batch ---------------------------------------------------------------------

    def _fetch(self) -> list[tuple[str, dict[bytes, bytes]]]:
        """Entries left by dead consumers first, then new ones."""
        claimed: Any = self.client.xautoclaim(
            self.stream,
            self.group,
            self.consumer,
            self.claim_idle_ms,
            "0-0",
            count=self.batch_size,
        )
        entries = [(text(i), f) for i, f in claimed[1] if f is not None]
        if entries:
            self.stats.claimed += len(entries)
            return entries
        reply: Any = self.client.xreadgroup(
            self.group,
            self.consumer,
            {self.stream: ">"},
            count=self.batch_size,
            block=self.block_ms,
        )
        if not reply:
            return []
        return [(text(i), f) for i, f in reply[0][1] if f is not None]

    def _deliveries(self, ids: list[str]) -> dict[str, int]:
        if not ids:
            return {}
        pending: Any = self.client.xpending_range(
            self.stream,
            self.group,
            min=min(ids, key=_id_key),
            max=max(ids, key=_id_key),
            count=len(ids) * 4,
            consumername=self.consumer,
        )
        return {text(p["message_id"]): int(p["times_delivered"]) for p in pending}

    def _finish(self, dead: list[tuple[str, str, Any]], ids: list[str]) -> None:
        """Dead-letter ``dead`` and acknowledge ``ids`` (which include the dead ones) in
        one MULTI/EXEC: a worker killed in between can neither lose a job nor
        dead-letter it twice."""
        if not dead and not ids:
            return
        pipe = self.client.pipeline(transaction=True)
        for entry_id, reason, data in dead:
            pipe.xadd(
                self.dead_letter,
                {"entry": entry_id, "reason": reason, "doc": json.dumps(data, default=str)},
            )
        if ids:
            pipe.xack(self.stream, self.group, *ids)
            pipe.xdel(self.stream, *ids)
        pipe.execute()
        self.stats.dead_lettered += len(dead)
        self.stats.acked += len(ids)

    def _send_dead(self, entries: list[tuple[str, str, Any]]) -> None:
        self._finish(entries, [e for e, _, _ in entries])

    def _ack(self, ids: list[str]) -> None:
        self._finish([], ids)

    def process_once(self) -> int:
        """Fetch, ingest and acknowledge one batch; returns how many entries it handled."""
        entries = self._fetch()
        if not entries:
            return 0
        deliveries = self._deliveries([i for i, _ in entries])
        records: list[Record] = []
        over: list[tuple[str, str, Any]] = []
        for entry_id, fields in entries:
            raw = fields.get(b"doc")
            if deliveries.get(entry_id, 1) > self.max_attempts:
                over.append((entry_id, f"failed {self.max_attempts} times", text(raw)))
                continue
            try:
                data = json.loads(raw) if raw is not None else None
            except ValueError as e:
                records.append(Record(entry_id, None, None, f"invalid JSON: {e}"))
                continue
            if not isinstance(data, dict):
                records.append(Record(entry_id, None, None, "expected a JSON object"))
            else:
                records.append(Record(entry_id, None, data))
        if over:
            self._send_dead(over)
        if not records:
            return len(entries)
        records, superseded = self._latest(records)
        self._ack(superseded)
        self.stats.superseded += len(superseded)
        try:
            self._ingest(records)
        except _TRANSIENT as e:
            # Leave the batch pending: it is retried (here or by another worker) after
            # claim_idle_ms, and dead-lettered after max_attempts deliveries.
            self.stats.failures += 1
            log.warning("batch of %d entries failed, will retry: %s", len(records), e)
            return len(entries)
        except Exception as e:  # a data error somewhere in the batch: find the job
            self.stats.isolated += 1
            log.warning("batch of %d entries hit %r; retrying job by job", len(records), e)
            self._one_by_one(records)
            return len(entries)
        self._finish(self._dead, [r.source for r in records])
        self.stats.batches += 1
        return len(entries)

    def _ingest(self, records: list[Record]) -> None:
        """One batch through the ingest pipeline; rejects (per job) land in ``_dead``.
        Duplicate ids across batches are updates in stream order, so the pipeline's
        duplicate check only ever sees one batch."""
        self._dead = []
        self.ingestor.seen = {}
        self.ingestor.unreadable = 0
        self.ingestor.run(records)

    def _one_by_one(self, records: list[Record]) -> None:
        """Each job alone: the good ones written and acknowledged, a job that fails with
        a data error dead-lettered with its reason, one that fails transiently left
        pending for a retry."""
        for record in records:
            try:
                self._ingest([record])
            except _TRANSIENT as e:
                self.stats.failures += 1
                log.warning("entry %s failed, will retry: %s", record.source, e)
                continue
            except Exception as e:
                self._dead = [(record.source, f"{type(e).__name__}: {e}", record.data)]
            self._finish(self._dead, [record.source])

    def _latest(self, records: list[Record]) -> tuple[list[Record], list[str]]:
        """The batch with one job per document id, the latest (the stream is the order of
        updates), and the entry ids of the jobs it supersedes."""
        id_field = self.ingestor.fields.id_field
        last: dict[str, int] = {}
        for n, record in enumerate(records):
            if record.data is not None and isinstance(record.data.get(id_field), str | int):
                last[str(record.data[id_field])] = n
        keep, superseded = [], []
        for n, record in enumerate(records):
            raw = record.data.get(id_field) if record.data is not None else None
            if isinstance(raw, str | int) and last.get(str(raw)) != n:
                superseded.append(record.source)
            else:
                keep.append(record)
        return keep, superseded

    def run(self, *, install_signal_handlers: bool = True, idle_exit: bool = False) -> WorkerStats:
        """Process batches until stopped (SIGTERM/SIGINT), or until idle with ``idle_exit``."""
        if install_signal_handlers:
            signal.signal(signal.SIGTERM, self.stop)
            signal.signal(signal.SIGINT, self.stop)
        merging = threading.Event()
        if self.merge:
            from redvec.merger import Merger

            merger = Merger(self.index).start(merging)
        try:
            return self._run(idle_exit)
        finally:
            if self.merge:
                merging.set()
                merger.join(5)

    def _run(self, idle_exit: bool) -> WorkerStats:
        while not self._stopping:
            try:
                handled = self.process_once()
            except (redis.ConnectionError, redis.TimeoutError, RedisUnavailableError) as e:
                log.warning("Redis unavailable, retrying: %s", e)
                time.sleep(1.0)
                continue
            except Exception:
                # Never exit on one bad batch: it stays pending and is retried, then
                # dead-lettered after max_attempts deliveries.
                log.exception("batch failed; the worker goes on")
                time.sleep(1.0)
                continue
            if handled == 0 and idle_exit and self.pending() == 0:
                break
        return self.stats


# Failures that say nothing about the jobs: retry the batch as it is.
_TRANSIENT = (
    BufferFullError,  # the write buffer is full: the merger catches up, the batch waits
    redis.ConnectionError,
    redis.TimeoutError,
    RedisUnavailableError,
    EmbeddingError,
)


def _id_key(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)
