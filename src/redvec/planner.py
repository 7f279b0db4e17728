"""How a pre-filtered KNN is run: RediSearch's hybrid policy, chosen from the filter's size.

Why this file is over 500 lines: the rule, the counts it decides from, the recall guard
that checks it and the wide-range rewrite are one decision, read together.

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

The batch sizes above hold recall on graphs that find a query's neighbours easily, and
no count can tell a graph that does not: on clustered vectors searched from outside their
clusters (``benchmarks/langchain.py``), batches of 50 found 0.65 of the exact filtered
answer where RediSearch's brute force found all of it. So the planner checks itself
(:class:`RecallGuard`): a search planned as batches is now and then sent twice in one round
trip, as planned and as ``ADHOC_BF``, the caller gets the exact answer, and the share of it
the batches found is kept per vector field and filter share (:func:`guard_key`: filters
matching between a half and all of the index learn together, and so on by halves, so a
filter on a value that changes with each user does not pay checks for each new value).
Where batches find less than :data:`RECALL_TARGET` of the exact answer they become twice as
large, and ad-hoc brute force once batches would cost about as much as comparing every
match. A share is checked on each search until its recall has been judged (three checks
when the batches hold), then once per :attr:`RecallGuard.every` searches and at most once
per :attr:`RecallGuard.max_age` seconds.

A caller may always force ``ADHOC_BF`` or ``BATCHES`` (with a batch size), or ask for
RediSearch's own choice (``REDISEARCH``); every KNN result carries the plan it ran under
(:attr:`redvec.query.SearchResult.plan`). Forced plans are never checked.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redvec.errors import ValidationError
from redvec.filters import Filter, conjoined_ranges, narrowed, parse_filter
from redvec.schema import IndexSchema, NumericField

__all__ = [
    "ADHOC_WORK",
    "AUTO",
    "FLAT",
    "MIN_BATCH",
    "NARROW_SHARE",
    "POLICIES",
    "RECALL_TARGET",
    "REDISEARCH",
    "UNFILTERED",
    "MatchCounts",
    "RecallGuard",
    "SearchPlan",
    "choose",
    "forced",
    "guard_key",
    "min_batch",
    "narrowable",
    "narrowed_plan",
    "narrowed_where",
    "outside_ranges",
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
# The share of the exact filtered answer a planned batch search must find (recall@k).
RECALL_TARGET = 0.95
# One graph batch of size B costs about as many distance computations as brute force over
# B * BATCH_COST matches (the issue 17 table: batches of 50 and brute force over 2,000
# matches ran at the same speed on 20k x 384); beyond that, brute force is cheaper.
BATCH_COST = 20
# Between these shares of the index, RediSearch's own batches (no BATCH_SIZE: it starts at
# k / share and resizes each batch from what the last one found) ran 7-15% faster than the
# rule's at the same recall on 20k x 384 (0.991-0.999) for one field's condition, and lost
# recall from 50% up; for an intersection, batches of k / share from the exact count did
# better than both (RediSearch underestimates an intersection's selectivity).
OWN_BATCHES = (0.03, 0.25)
# A numeric range whose complement matches at most this share of the index is sent as the
# complement's negation (:func:`narrowable`). On 100k x 128 under batches of 112, raw
# FT.SEARCH, a range matching 90% of the index ran at 525 q/s as written and 1507 as its
# negated complement; 80%: 586 and 1334; 75%: 604 and 1254; 65%: 655 and 998; 50%: 800 and
# 832; and a 40% range inside an intersection was slower negated (665 against 825).
NARROW_SHARE = 0.35


@dataclass(frozen=True, slots=True)
class SearchPlan:
    """How one KNN ran, for debugging a slow or surprising search.

    ``policy`` is the ``HYBRID_POLICY`` sent (None: none was sent), ``batch_size`` its
    ``BATCH_SIZE``; ``chosen_by`` says who decided: ``planner``, ``forced`` (the caller
    named a policy), ``redisearch`` (the caller asked for RediSearch's own choice) or
    ``unfiltered``. ``matches`` and ``documents`` are the counts the planner used (kept
    up to :attr:`MatchCounts.max_age` seconds); None when no count was needed. ``reason``
    says why, in words. ``filter`` is the filter as sent when the planner rewrote it into
    an equivalent, faster form (:func:`narrowable`), else None.
    """

    policy: str | None
    batch_size: int | None
    chosen_by: str
    reason: str
    matches: int | None = None
    documents: int | None = None
    checked: float | None = None
    filter: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The plan as JSON-ready data (the HTTP answer's ``plan``)."""
        return {
            "policy": self.policy,
            "batch_size": self.batch_size,
            "chosen_by": self.chosen_by,
            "reason": self.reason,
            "matches": self.matches,
            "documents": self.documents,
            "checked": self.checked,
            "filter": self.filter,
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
    matches: int,
    documents: int,
    k: int,
    *,
    algorithm: str,
    dims: int,
    ef: int | None = None,
    widen: int = 1,
    single: bool = False,
) -> SearchPlan:
    """The plan for a filter matching ``matches`` of ``documents``, for the nearest ``k``
    (offset included) on a vector field of ``algorithm`` and ``dims``, searched with
    EF_RUNTIME ``ef`` (None: RediSearch's default). ``widen`` is what the
    :class:`RecallGuard` learnt of this filter: batches that many times the rule's size,
    or ``0``: batches lost recall at every size worth walking, compare every match.
    ``single``: the filter is one field's condition (:func:`single_condition`), whose
    match count RediSearch knows as well as the planner does."""
    if algorithm != "HNSW":
        return FLAT
    if matches * dims <= ADHOC_WORK or matches <= k:
        return SearchPlan(
            "ADHOC_BF", None, "planner",
            f"the filter matches {matches} of {documents} documents: few enough to compare "
            f"each (exact)",
            matches, documents,
        )  # fmt: skip
    if widen == 0:
        return SearchPlan(
            "ADHOC_BF", None, "planner",
            f"the filter matches {matches} of {documents} documents, and batches large "
            f"enough to find {RECALL_TARGET:.0%} of its exact answer cost about as much as "
            f"comparing each (checked against exact)",
            matches, documents,
        )  # fmt: skip
    selectivity = matches / max(documents, matches, 1)
    floor = min_batch(documents, k, ef)
    size = min(MAX_BATCH, max(floor, math.ceil(k / (2 * selectivity))))
    own = own_batch(k, matches, documents)
    banded = OWN_BATCHES[0] <= selectivity <= OWN_BATCHES[1] and own >= floor
    if banded and widen == 1 and single:
        return SearchPlan(
            "BATCHES", None, "planner",
            f"the filter matches {matches} of {documents} documents ({selectivity:.1%}): "
            f"RediSearch sizes the batches (from {own}, resized from what each finds)",
            matches, documents,
        )  # fmt: skip
    size = min(MAX_BATCH, max(size, own if banded else 0) * widen)
    widened = f", {widen} times the rule's size (checked against exact)" if widen > 1 else ""
    about = "one batch" if banded else "two batches"
    return SearchPlan(
        "BATCHES", size, "planner",
        f"the filter matches {matches} of {documents} documents ({selectivity:.1%}): "
        f"walking the graph in batches of {size} finds {k} matches in about {about}"
        f"{widened}",
        matches, documents,
    )  # fmt: skip


def narrowable(outside: int | None, documents: int) -> bool:
    """Whether a numeric range whose complement (the values outside it) matches ``outside``
    of ``documents`` runs faster as the negation of that complement: where the complement
    is at most :data:`NARROW_SHARE` of the index (None: the range has no bound, nothing is
    outside it)."""
    return outside is None or outside <= NARROW_SHARE * documents


@functools.lru_cache(maxsize=4096)
def outside_ranges(flt: Filter | str, schema: IndexSchema) -> tuple[tuple[Any, str | None], ...]:
    """The numeric ranges of ``flt`` the planner may send as their complement's negation,
    each with its complement as query text (None: no bound, nothing outside): ranges every
    match must satisfy, on a field declared with ``index_missing`` in a HASH, which holds
    one number per field (a JSON array holds several, and a document with a value on each
    side of the range would be lost)."""
    if schema.key_type != "HASH":
        return ()
    parsed = parse_filter(flt, schema) if isinstance(flt, str) else flt
    if parsed is None:
        return ()
    fields = {f.name: f for f in schema.fields}
    out = []
    for r in conjoined_ranges(parsed):
        f = fields.get(r.field)
        if isinstance(f, NumericField) and f.index_missing:
            parts = r.complement()
            out.append((r, " | ".join(parts) if parts else None))
    return tuple(out)


@functools.lru_cache(maxsize=4096)
def narrowed_where(flt: Filter | str, schema: IndexSchema, wide: tuple[Any, ...]) -> str:
    """The query text of ``flt`` with its ranges ``wide`` sent as their complement's
    negation (rendered once per filter: a search planned so repeats it)."""
    parsed = parse_filter(flt, schema) if isinstance(flt, str) else flt
    assert parsed is not None
    return narrowed(parsed, wide).render(schema)


def narrowed_plan(plan: SearchPlan, sent: str, ranges: Sequence[Any]) -> SearchPlan:
    """``plan``, saying that its filter is sent as ``sent``, ``ranges`` rewritten."""
    if plan.chosen_by != "planner":
        return plan
    named = ", ".join(r.render() for r in ranges)
    why = (
        f"; {named} sent as the negation of {'its' if len(ranges) == 1 else 'their'}"
        f" short complement and missing values (the same documents: a numeric field with "
        f"index_missing holds one number per document in a hash)"
    )
    return dataclasses.replace(plan, reason=plan.reason + why, filter=sent)


def single_condition(where: str) -> bool:
    """Whether rendered filter ``where`` is one field's condition (``@cat:{a|b}``,
    ``@price:[1 9]``), not an intersection, a union or a negation: RediSearch estimates an
    intersection's matches by its smallest part, so its own batches start too small there
    (a 5% TAG-and-NUMERIC filter: 1374 q/s against 1546 with batches of 200)."""
    return where.startswith("@") and len(_FIELD_REF.findall(where)) == 1


_FIELD_REF = re.compile(r"(?<!\\)@")


def own_batch(k: int, matches: int, documents: int) -> int:
    """The first batch RediSearch walks under ``BATCHES`` with no ``BATCH_SIZE``: k over the
    share of the index the filter matches (what a check of such a plan is judged at)."""
    return math.ceil(k * max(documents, matches, 1) / max(matches, 1))


def guard_key(vector_field: str, matches: int, documents: int) -> str:
    """What :class:`RecallGuard` learns under: the vector field and the share of the index
    the filter matches, in halves (0: more than half, 1: a quarter to a half, ...). How
    well batches find a filter's exact answer follows how much of the graph the filter
    keeps; keying by share lets every filter of that share learn from each check."""
    share = matches / max(documents, matches, 1)
    return f"{vector_field}:{int(-math.log2(max(share, 1e-12)))}"


@dataclass(slots=True)
class _Watch:
    """What the guard knows of one key (:func:`guard_key`): its batches' multiplier (0:
    brute force), the exact hits found and expected by the checks at that multiplier,
    whether its recall has been judged, when it was last checked and how many searches
    came since."""

    widen: int = 1
    found: int = 0
    expected: int = 0
    checks: int = 0
    settled: bool = False
    checked_at: float = 0.0
    searches: int = 0  # searches planned under the key since it was settled or checked
    rechecks: int = 0  # checks since it was settled
    base: int = 1  # searches before its first recheck (RecallGuard.first, by the cost)


def _clearly_below(watch: _Watch, target: float) -> bool:
    """Whether the checks so far put a key's recall below ``target`` beyond chance: even
    the upper end of a one-sided 95% interval on the share of exact hits found is below it.
    Batches finding 98.5% of the answer miss two hits or more of thirty about one time in
    thirteen, and three checks judged on their mean alone doubled such batches in one
    benchmark run of four (100k x 128, 10-20% filters: then 0.69-0.80 of the best forced
    policy)."""
    p = watch.found / watch.expected
    spread = math.sqrt(max(p * (1 - p), 1 / watch.expected) / watch.expected)
    return p + 1.645 * spread < target


class RecallGuard:
    """Whether the planner's batches find the exact answer, learnt per :func:`guard_key`
    of one index from the searches themselves (see the module's text).

    :meth:`widen` is what :func:`choose` is told; :meth:`due` says whether a search should
    also run exactly; :meth:`record` takes that check's outcome. A key's recall is judged
    from the checks at one batch size: one finding under half of the exact answer doubles
    the batches at once; three or more at or above ``target`` on the whole settle the key;
    below it, the batches double once the shortfall is beyond chance
    (:func:`_clearly_below`), or after :attr:`JUDGE_MAX` checks on their mean alone.
    Three checks can be lucky (on clustered data searched from outside, the first three
    found all of the answer and the graph found 0.65 of it over 300 searches), so a settled
    key is checked again after ``first`` searches (times what a
    check costs in searches, when more than one), then after twice as many each time,
    until once per ``every`` searches and at most once per
    ``max_age`` seconds (checks then cost at most one brute-force search per ``every``
    planned ones, and a quiet key one per ``max_age`` seconds); one such check
    finding under :data:`LOST` of the exact answer judges it again. Batches never shrink
    back while the key is remembered (at most ``size`` keys, the least recently used
    forgotten first): a wider batch costs time, a narrower one could cost answers."""

    LOST = 0.8
    JUDGE_MAX = 12

    def __init__(
        self,
        target: float = RECALL_TARGET,
        max_age: float = 30.0,
        every: int = 500,
        size: int = 4096,
        first: int = 20,
    ) -> None:
        self.target = target
        self.max_age = max_age
        self.every = every
        self.first = first
        self.size = size
        self._watches: OrderedDict[str, _Watch] = OrderedDict()
        self._lock = threading.Lock()

    def widen(self, where: str) -> int:
        """The batch multiplier learnt for the key ``where`` (1 when none was)."""
        with self._lock:
            watch = self._watches.get(where)
            return 1 if watch is None else watch.widen

    def due(self, where: str, now: float | None = None) -> bool:
        """Whether a search under key ``where`` planned as batches should be checked now."""
        now = time.monotonic() if now is None else now
        with self._lock:
            watch = self._watches.get(where)
            if watch is None:
                return True
            if not watch.settled:
                return True
            watch.searches += 1
            need = min(self.every, watch.base << watch.rechecks)
            if need < self.every:
                return watch.searches >= need
            return watch.searches >= need and now - watch.checked_at > self.max_age

    def record(
        self,
        where: str,
        widen: int,
        found: int,
        expected: int,
        *,
        batch_size: int,
        matches: int,
        now: float | None = None,
    ) -> None:
        """A check of ``where`` planned with multiplier ``widen`` and batches of
        ``batch_size``: its batches found ``found`` of the ``expected`` exact hits, among
        ``matches`` documents. A check planned before the multiplier last changed is
        ignored (searches running at once must not double it twice)."""
        if expected <= 0:
            return
        now = time.monotonic() if now is None else now
        with self._lock:
            watch = self._watches.get(where)
            if watch is None:
                watch = self._watches[where] = _Watch()
            self._watches.move_to_end(where)
            while len(self._watches) > self.size:
                self._watches.popitem(last=False)
            if watch.widen != widen:
                return
            watch.checked_at = now
            watch.searches = 0
            recall = found / expected
            if watch.settled:
                if recall >= self.LOST:
                    watch.rechecks += 1
                    return
                watch.settled = False
                watch.found = watch.expected = watch.checks = 0
            watch.found += found
            watch.expected += expected
            watch.checks += 1
            mean = watch.found / watch.expected
            short = mean < self.target and (
                watch.checks >= self.JUDGE_MAX or _clearly_below(watch, self.target)
            )
            if recall < 0.5 or (watch.checks >= 3 and short):
                wider = 2 * batch_size
                exact = wider >= MAX_BATCH or wider * BATCH_COST >= matches
                watch.widen = 0 if exact else 2 * widen
                watch.found = watch.expected = watch.checks = 0
                watch.settled = exact
            elif watch.checks >= 3 and mean >= self.target:
                watch.settled = True
                watch.rechecks = 0
                # A check costs about matches / (batch_size * BATCH_COST) searches: the
                # dearer it is, the later it comes, so checks stay a few percent of the work.
                cost = matches / max(1, batch_size * BATCH_COST)
                watch.base = max(self.first, math.ceil(self.first * cost))

    def forget(self) -> None:
        """Drop what was learnt (after a write that changes the index a lot, such as clear)."""
        with self._lock:
            self._watches.clear()


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
