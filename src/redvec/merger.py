"""The merger: moves an index's write-buffered documents into the index, in the background.

It runs inside ``redvec worker`` and ``redvec serve`` (a thread each) or alone
(``redvec merge -i NAME``). Each pass lists up to ``batch`` buffered documents and moves
them one ``RENAME`` per round trip (:func:`redvec.buffer.merge_plan`), so a reader waits
at most one HNSW insert behind it. Several mergers on one index are safe (a document
another moved is skipped) and a merger killed at any moment loses nothing: a RENAME
happened or it did not.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import redis

from redvec.buffer import MERGE_GROUP
from redvec.errors import IndexNotFoundError, RedvecError
from redvec.index import SearchIndex, list_indexes

if TYPE_CHECKING:
    from redvec.cluster import ClusterIndex

__all__ = ["MergeTotals", "Merger", "merge_all_buffers"]

log = logging.getLogger("redvec.merger")


@dataclass
class MergeTotals:
    """What a merger did since it started: documents moved, found gone, passes run."""

    moved: int = 0
    gone: int = 0
    passes: int = 0


class Merger:
    """Merges one index's write buffer until stopped (a cluster index's: every shard's):
    a pass, then (when it found nothing) ``idle`` seconds of sleep. ``group`` RENAMEs go
    in one round trip (more merge throughput, a longer wait for a reader behind them);
    ``pause`` seconds between round trips paces it further."""

    def __init__(
        self,
        index: SearchIndex | ClusterIndex,
        *,
        batch: int = 500,
        pause: float = 0.0,
        idle: float = 0.05,
        group: int = MERGE_GROUP,
    ) -> None:
        if index.schema.write_buffer is None:
            raise RedvecError(f"index '{index.name}' has no write buffer to merge")
        self.index = index
        self.batch = batch
        self.pause = pause
        self.idle = idle
        self.group = group
        self.totals = MergeTotals()

    def once(self) -> int:
        """One pass; how many documents it moved."""
        report = self.index.merge_buffer(self.batch, self.pause, self.group)
        self.totals.moved += report.moved
        self.totals.gone += report.gone
        self.totals.passes += 1
        return report.moved + report.gone

    def drain(self) -> MergeTotals:
        """Pass after pass until the buffer is empty."""
        while self.once():
            pass
        return self.totals

    def run(self, stop: threading.Event) -> MergeTotals:
        """Until ``stop`` is set. Redis going away is waited out (logged), not fatal."""
        while not stop.is_set():
            try:
                if not self.once():
                    stop.wait(self.idle)
            except (RedvecError, redis.RedisError) as e:
                log.warning("merging index '%s': %s; retrying in 1 s", self.index.name, e)
                stop.wait(1.0)
        return self.totals

    def start(self, stop: threading.Event) -> threading.Thread:
        """:meth:`run` in a daemon thread."""
        thread = threading.Thread(
            target=self.run, args=(stop,), name=f"merger-{self.index.name}", daemon=True
        )
        thread.start()
        return thread


def merge_all_buffers(
    client: redis.Redis,
    stop: threading.Event,
    mergers: dict[str, Merger] | None = None,
    rescan: float = 5.0,
) -> None:
    """Merge every buffered index of this Redis until ``stop`` (what ``redvec serve`` runs
    in the background): indexes are looked for again every ``rescan`` seconds; ``mergers``
    (index -> its merger, with its totals) is kept up to date for the caller to report."""
    mergers = {} if mergers is None else mergers
    next_scan = 0.0
    while not stop.is_set():
        try:
            if time.monotonic() >= next_scan:
                next_scan = time.monotonic() + rescan
                for name in list_indexes(client):
                    if name not in mergers:
                        try:
                            index = SearchIndex.open(client, name)
                        except IndexNotFoundError:
                            continue
                        if index.schema.write_buffer is not None:
                            mergers[name] = Merger(index)
            moved = 0
            for name, merger in list(mergers.items()):
                try:
                    moved += merger.once()
                except IndexNotFoundError:
                    mergers.pop(name, None)
            if not moved:
                stop.wait(0.05)
        except (RedvecError, redis.RedisError) as e:
            log.warning("merging write buffers: %s; retrying in 1 s", e)
            stop.wait(1.0)
