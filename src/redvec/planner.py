"""How a pre-filtered KNN is run: RediSearch's hybrid policy, chosen from the filter's size.

RediSearch runs ``(filter)=>[KNN k @v $BLOB]`` in one of two ways. ``ADHOC_BF`` walks
every document the filter matches and computes its distance: exact, and cheap while the
filter matches few documents, but its cost grows with the matches. ``BATCHES`` walks the
HNSW graph for the nearest ``BATCH_SIZE`` documents at a time and keeps those the filter
matches, until it has ``k``: nearly constant cost while the filter matches a good share of
the index, ruinous when it matches a sliver (most batches hold nothing). RediSearch 2.10
picks between them itself, and on the benchmark's indexes it picks like ad-hoc brute force
at every selectivity, up to ten times too slow for a filter matching a fifth of the index
(``benchmarks/filtered.py``, docs/benchmarks.md).

The planner decides from a count: how many documents the filter matches and how many the
index holds, each a ``FT.SEARCH ... LIMIT 0 0`` (the count only, no documents), kept per
rendered filter for :attr:`MatchCounts.max_age` seconds. A filter seen again within that
time costs nothing; a new one costs one extra round trip before its search (measured in
docs/benchmarks.md). Counts may be a little stale under writes: the plan only needs the
order of magnitude.

The rule (:func:`choose`), in the order it is applied:

- no filter: no policy (there is nothing to choose);
- a FLAT field: ``ADHOC_BF`` (a flat index is a scan either way; the filtered scan is
  shorter and exact);
- a filter matching at most :data:`ADHOC_WORK` vector components' worth of documents
  (``matches * dims``): ``ADHOC_BF``, exact;
- else ``BATCHES`` with ``BATCH_SIZE`` ``k / (2 selectivity)`` (about two batches are then
  expected to hold the ``k`` hits: RediSearch resumes the graph walk from batch to batch,
  and on single filters two half-size batches came out faster than one; on combined
  filters, which cost more per batch, one large batch did), never below :func:`min_batch`
  (the batch size is the graph search's candidate list, its EF: smaller ones lose recall).

A caller may always force ``ADHOC_BF`` or ``BATCHES`` (with a batch size), or ask for
RediSearch's own choice (``REDISEARCH``); every KNN result carries the plan it ran under
(:attr:`redvec.query.SearchResult.plan`).
"""

from __future__ import annotations

import functools
import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from redvec.errors import ValidationError

__all__ = [
    "ADHOC_WORK",
    "AUTO",
    "FLAT",
    "MIN_BATCH",
    "POLICIES",
    "REDISEARCH",
    "UNFILTERED",
    "MatchCounts",
    "SearchPlan",
    "choose",
    "forced",
    "min_batch",
    "policy_of",
]

AUTO = "AUTO"
REDISEARCH = "REDISEARCH"
POLICIES = (AUTO, "ADHOC_BF", "BATCHES", REDISEARCH)

# Calibrated on this machine with benchmarks/filtered.py (docs/benchmarks.md, "Filtered
# search"): ad-hoc brute force stays ahead of batches up to about this many components.
ADHOC_WORK = 200_000
# Batches smaller than this walk the graph with too small a candidate list (BATCH_SIZE is
# the search's EF): on 20k x 384, 10 per batch gave recall@10 0.90 at 90% selectivity and 50
# gave 0.998; on 100k x 128, 50 gave 0.94 and 200 gave 0.99. It grows with the index.
MIN_BATCH = 50
MIN_BATCH_AT = 20_000
MAX_BATCH = 10_000


@dataclass(frozen=True, slots=True)
class SearchPlan:
    """How one KNN ran, for debugging a slow or surprising search.

    ``policy`` is the ``HYBRID_POLICY`` sent (None: none was sent), ``batch_size`` its
    ``BATCH_SIZE``; ``chosen_by`` says who decided: ``planner``, ``forced`` (the caller
    named a policy), ``redisearch`` (the caller asked for RediSearch's own choice) or
    ``unfiltered``. ``matches`` and ``documents`` are the counts the planner used (kept
    up to :attr:`MatchCounts.max_age` seconds); None when no count was needed. ``reason``
    says why, in words.
    """

    policy: str | None
    batch_size: int | None
    chosen_by: str
    reason: str
    matches: int | None = None
    documents: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The plan as JSON-ready data (the HTTP answer's ``plan``)."""
        return {
            "policy": self.policy,
            "batch_size": self.batch_size,
            "chosen_by": self.chosen_by,
            "reason": self.reason,
            "matches": self.matches,
            "documents": self.documents,
        }


UNFILTERED = SearchPlan(None, None, "unfiltered", "no filter: a plain KNN")
FLAT = SearchPlan(
    "ADHOC_BF", None, "planner",
    "FLAT field: a scan of the filter's matches is shorter than a scan of all, and exact",
)  # fmt: skip


def policy_of(value: str | None) -> str:
    """``value`` as one of :data:`POLICIES` (None is ``AUTO``); anything else refused."""
    if value is None:
        return AUTO
    policy = value.upper() if isinstance(value, str) else value
    if policy not in POLICIES:
        raise ValidationError(
            f"hybrid_policy must be one of auto, adhoc_bf, batches or redisearch, got {value!r}"
        )
    return str(policy)


def forced(policy: str, batch_size: int | None) -> SearchPlan:
    """The plan for a caller who named the policy (checked by the query builder)."""
    if policy == REDISEARCH:
        return SearchPlan(None, None, "redisearch", "RediSearch's own choice, as asked")
    return SearchPlan(policy, batch_size, "forced", f"HYBRID_POLICY {policy} as asked")


def min_batch(documents: int, k: int, ef: int | None = None) -> int:
    """The smallest batch the planner sends: at least ``4 k``, at least the EF_RUNTIME the
    caller asked for or the index recorded (a tuned recall is kept), and
    :data:`MIN_BATCH` growing with the square root of the index's size beyond
    :data:`MIN_BATCH_AT` documents (a graph search needs a longer candidate list for the
    same recall in a larger graph)."""
    grown = math.ceil(MIN_BATCH * math.sqrt(max(1.0, documents / MIN_BATCH_AT)))
    return max(4 * k, grown, ef or 0)


@functools.lru_cache(maxsize=4096)
def choose(
    matches: int, documents: int, k: int, *, algorithm: str, dims: int, ef: int | None = None
) -> SearchPlan:
    """The plan for a filter matching ``matches`` of ``documents``, for the nearest ``k``
    (offset included) on a vector field of ``algorithm`` and ``dims``, searched with
    EF_RUNTIME ``ef`` (None: RediSearch's default)."""
    if algorithm != "HNSW":
        return FLAT
    if matches * dims <= ADHOC_WORK or matches <= k:
        return SearchPlan(
            "ADHOC_BF", None, "planner",
            f"the filter matches {matches} of {documents} documents: few enough to compare "
            f"each (exact)",
            matches, documents,
        )  # fmt: skip
    selectivity = matches / max(documents, matches, 1)
    size = min(MAX_BATCH, max(min_batch(documents, k, ef), math.ceil(k / (2 * selectivity))))
    return SearchPlan(
        "BATCHES", size, "planner",
        f"the filter matches {matches} of {documents} documents ({selectivity:.1%}): "
        f"walking the graph in batches of {size} finds {k} matches in about two batches",
        matches, documents,
    )  # fmt: skip


class MatchCounts:
    """How many documents each filter of one index matches, and how many it holds, each
    kept for ``max_age`` seconds; at most ``size`` filters are remembered (the least
    recently used go first). Shared by every thread and task using the index handle."""

    def __init__(self, max_age: float = 30.0, size: int = 4096) -> None:
        self.max_age = max_age
        self.size = size
        self._counts: OrderedDict[str, tuple[int, float]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, where: str, now: float | None = None) -> int | None:
        """The count kept for the rendered filter ``where``, or None when it is unknown or
        older than ``max_age``."""
        now = time.monotonic() if now is None else now
        with self._lock:
            kept = self._counts.get(where)
            if kept is None:
                return None
            if now - kept[1] > self.max_age:
                del self._counts[where]
                return None
            self._counts.move_to_end(where)
            return kept[0]

    def put(self, where: str, count: int, now: float | None = None) -> None:
        """Keep ``count`` for ``where``, counted now."""
        with self._lock:
            self._counts[where] = (count, time.monotonic() if now is None else now)
            self._counts.move_to_end(where)
            while len(self._counts) > self.size:
                self._counts.popitem(last=False)

    def forget(self) -> None:
        """Drop every count (after a write that changes the index a lot, such as clear)."""
        with self._lock:
            self._counts.clear()
