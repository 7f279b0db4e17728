"""The filtered-search planner on the real server: which policy a filter gets, forced
policies, the plan shown, the counts it keeps, and exact answers where it promises them."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest
import redis
import redis.asyncio as aredis

from redvec.aio import AsyncSearchIndex
from redvec.errors import ValidationError
from redvec.exact import exact_knn
from redvec.filters import Num, Tag
from redvec.index import SearchIndex
from redvec.planner import (
    ADHOC_WORK,
    MIN_BATCH,
    MatchCounts,
    RecallGuard,
    choose,
    guard_key,
    policy_of,
    single_condition,
)
from redvec.query import KnnQuery
from redvec.schema import IndexSchema, NumericField, TagField, TextField, VectorField

N = 1500
DIMS = 256  # ADHOC_WORK / 256 = 781 matches: below that brute force, above it batches


def _schema(name: str, algorithm: str = "HNSW") -> IndexSchema:
    graph: dict[str, Any] = {"m": 8, "ef_construction": 40} if algorithm == "HNSW" else {}
    return IndexSchema(
        name,
        f"{name}:",
        (
            TextField("title"),
            TagField("kind"),
            NumericField("rank"),
            VectorField("vec", dims=DIMS, algorithm=algorithm, distance="L2", **graph),
        ),
    )


def _corpus(seed: int = 0) -> tuple[list[dict[str, Any]], np.ndarray]:
    rng = np.random.default_rng(seed)
    vectors = rng.normal(size=(N, DIMS)).astype(np.float32)
    # "rare" on 5 documents, "common" on 90% of them; rank is the document number.
    docs = [
        {
            "id": str(i),
            "kind": "rare" if i % 300 == 7 else ("common" if i % 10 else "other"),
            "rank": i,
            "title": f"document number {i}",
            "vec": vectors[i],
        }
        for i in range(N)
    ]
    return docs, vectors


@pytest.fixture()
def hnsw(r: redis.Redis) -> tuple[SearchIndex, list[dict[str, Any]], np.ndarray]:
    idx = SearchIndex.create(r, _schema("planned"), overwrite=True)
    docs, vectors = _corpus()
    idx.upsert(docs)
    idx.wait_indexed()
    return idx, docs, vectors


def _mask(docs: list[dict[str, Any]], kind: str) -> np.ndarray:
    return np.array([d["kind"] == kind for d in docs])


def test_a_filter_matching_a_handful_of_documents_gets_the_exact_answer(hnsw: Any) -> None:
    idx, docs, vectors = hnsw
    q = np.random.default_rng(1).normal(size=DIMS)
    result = idx.search(q, 10, filter=Tag("kind") == "rare")
    assert result.plan.policy == "ADHOC_BF" and result.plan.chosen_by == "planner"
    assert (result.plan.matches, result.plan.documents) == (5, N)
    want, _ = exact_knn(vectors, q, 10, "L2", mask=_mask(docs, "rare"))
    assert result.ids == [str(i) for i in want[0]]


def test_a_filter_matching_most_of_the_index_walks_the_graph_in_batches(hnsw: Any) -> None:
    idx, docs, _vectors = hnsw
    q = np.random.default_rng(2).normal(size=DIMS)
    result = idx.search(q, 10, filter=Tag("kind") == "common")
    plan = result.plan
    assert plan.policy == "BATCHES" and plan.chosen_by == "planner"
    common = int(_mask(docs, "common").sum())
    assert plan.matches == common and plan.batch_size is not None
    assert plan.batch_size >= MIN_BATCH
    assert f"{common} of 1500" in plan.reason
    allowed = {d["id"] for d in docs if d["kind"] == "common"}
    assert len(result.ids) == 10 and set(result.ids) <= allowed


def test_forced_policies_are_sent_as_asked(hnsw: Any) -> None:
    idx, docs, vectors = hnsw
    q = np.random.default_rng(3).normal(size=DIMS)
    common = Tag("kind") == "common"
    forced = idx.search(q, 10, filter=common, hybrid_policy="adhoc_bf")
    assert (forced.plan.policy, forced.plan.chosen_by) == ("ADHOC_BF", "forced")
    want, _ = exact_knn(vectors, q, 10, "L2", mask=_mask(docs, "common"))
    assert forced.ids == [str(i) for i in want[0]]  # brute force is exact
    args, _ = idx.knn_args(KnnQuery(q, 10, common, hybrid_policy="batches", batch_size=77))
    assert "HYBRID_POLICY BATCHES BATCH_SIZE $BS" in args[0] and 77 in args
    rare = idx.search(q, 10, filter=Tag("kind") == "rare", hybrid_policy="BATCHES")
    assert (rare.plan.policy, rare.plan.batch_size) == ("BATCHES", None)
    own = KnnQuery(q, 10, common, hybrid_policy="redisearch")
    assert "HYBRID_POLICY" not in idx.knn_args(own)[0][0]
    assert idx.query(own).plan.chosen_by == "redisearch"


def test_bad_policies_are_refused_with_the_choices(hnsw: Any) -> None:
    idx, _, vectors = hnsw
    common = Tag("kind") == "common"
    with pytest.raises(ValidationError, match="one of auto, adhoc_bf, batches or redisearch"):
        idx.search(vectors[0], 10, filter=common, hybrid_policy="fastest")
    with pytest.raises(ValidationError, match="batch_size applies to hybrid_policy batches"):
        idx.search(vectors[0], 10, filter=common, batch_size=50)
    with pytest.raises(ValidationError, match="batch_size applies to hybrid_policy batches"):
        idx.search(vectors[0], 10, filter=common, hybrid_policy="adhoc_bf", batch_size=50)
    with pytest.raises(ValidationError, match="batch_size must be a positive integer"):
        idx.search(vectors[0], 10, filter=common, hybrid_policy="batches", batch_size=0)
    with pytest.raises(ValidationError, match="applies to filtered queries only"):
        idx.search(vectors[0], 10, hybrid_policy="batches")
    unfiltered = idx.search(vectors[0], 10, hybrid_policy="auto")
    assert unfiltered.plan.chosen_by == "unfiltered" and unfiltered.plan.policy is None


def _searches(r: redis.Redis) -> int:
    stats = r.info("commandstats").get("cmdstat_FT.SEARCH", {})
    return int(stats.get("calls", 0))


def test_a_filter_is_counted_once_then_its_count_is_kept(r: redis.Redis, hnsw: Any) -> None:
    idx, _, vectors = hnsw
    flt = Num("rank") < 400
    before = _searches(r)
    first = idx.search(vectors[0], 5, filter=flt)
    assert _searches(r) - before == 3  # the index's size, the filter's count, the search
    assert first.plan.matches == 400
    before = _searches(r)
    for v in vectors[1:6]:
        assert idx.search(v, 5, filter=flt).plan.matches == 400
    assert _searches(r) - before == 5  # searches only
    idx.core.match_counts.max_age = 0.0  # every count now too old
    before = _searches(r)
    idx.search(vectors[0], 5, filter=flt)
    assert _searches(r) - before == 3


def test_the_plan_is_shown_without_running_the_search(r: redis.Redis, hnsw: Any) -> None:
    idx, _, vectors = hnsw
    before = _searches(r)
    plan = idx.plan(KnnQuery(vectors[0], 10, Tag("kind") == "rare"))
    assert plan.policy == "ADHOC_BF" and plan.matches == 5
    assert _searches(r) - before == 2  # the two counts, no KNN
    assert plan.to_dict()["reason"].startswith("the filter matches 5 of 1500")


def test_a_batch_of_filtered_searches_counts_every_new_filter_in_one_round_trip(
    r: redis.Redis, hnsw: Any
) -> None:
    idx, docs, vectors = hnsw
    filters = [Tag("kind") == "rare", Tag("kind") == "common", Num("rank") < 30]
    results = idx.search_many([KnnQuery(vectors[i], 10, f) for i, f in enumerate(filters)])
    assert [res.plan.policy for res in results] == ["ADHOC_BF", "BATCHES", "ADHOC_BF"]
    assert [res.plan.matches for res in results] == [5, int(_mask(docs, "common").sum()), 30]
    want, _ = exact_knn(vectors, vectors[2], 10, "L2", mask=np.arange(N) < 30)
    assert results[2].ids == [str(i) for i in want[0]]


def test_filtered_knn_on_flat_equals_exact_filtered_search(r: redis.Redis) -> None:
    idx = SearchIndex.create(r, _schema("planned_flat", "FLAT"), overwrite=True)
    docs, vectors = _corpus(5)
    idx.upsert(docs)
    idx.wait_indexed()
    rng = np.random.default_rng(6)
    ranks = np.arange(N)
    cases = [
        (Tag("kind") == "rare", _mask(docs, "rare")),
        (Tag("kind") == "common", _mask(docs, "common")),
        (Num("rank") >= 1000, ranks >= 1000),
        ((Tag("kind") == "common") & (Num("rank") < 100), _mask(docs, "common") & (ranks < 100)),
    ]
    for flt, mask in cases:
        for q in rng.normal(size=(3, DIMS)):
            result = idx.search(q, 10, filter=flt)
            assert result.plan.policy == "ADHOC_BF"
            want, dist = exact_knn(vectors, q, 10, "L2", mask=mask)
            assert result.ids == [str(i) for i in want[0]]
            assert np.allclose([h.distance for h in result.hits], dist[0], rtol=1e-4)


def test_the_planner_plans_the_same_from_asyncio(redis_url: str, hnsw: Any) -> None:
    _, _, vectors = hnsw

    async def main() -> tuple[Any, Any]:
        client = aredis.Redis.from_url(redis_url, protocol=2)
        try:
            aidx = await AsyncSearchIndex.open(client, "planned")
            rare = await aidx.search(vectors[0], 10, filter=Tag("kind") == "rare")
            common = await aidx.search(vectors[0], 10, filter=Tag("kind") == "common")
            return rare.plan, common.plan
        finally:
            await client.aclose()

    rare, common = asyncio.run(main())
    assert rare.policy == "ADHOC_BF" and common.policy == "BATCHES"


def test_hybrid_search_runs_its_knn_side_under_the_planner(hnsw: Any) -> None:
    idx, _, vectors = hnsw
    built = idx.hybrid_plan("number", vectors[0], 10, filter=Tag("kind") == "rare")
    assert built.knn_plan is not None and built.knn_plan.policy == "ADHOC_BF"
    assert "HYBRID_POLICY ADHOC_BF" in built.knn_args[0]
    result = idx.hybrid_search("number", vectors[0], 5, filter=Tag("kind") == "rare")
    assert result.plan is not None and result.plan.policy == "ADHOC_BF"
    assert len(result.ids) == 5
    forced = idx.hybrid_plan(
        "number", vectors[0], 10, filter=Tag("kind") == "common", hybrid_policy="adhoc_bf"
    )
    assert forced.knn_plan is not None and forced.knn_plan.chosen_by == "forced"


def test_the_rule_at_its_edges() -> None:
    dims = 128
    limit = ADHOC_WORK // dims
    assert choose(limit, 100_000, 10, algorithm="HNSW", dims=dims).policy == "ADHOC_BF"
    above = choose(limit + 1, 100_000, 10, algorithm="HNSW", dims=dims)
    assert above.policy == "BATCHES" and above.batch_size is not None
    assert above.batch_size >= 10 / (2 * (limit + 1) / 100_000)
    most = choose(18_000, 20_000, 10, algorithm="HNSW", dims=dims)
    assert most.batch_size == MIN_BATCH
    larger = choose(90_000, 100_000, 10, algorithm="HNSW", dims=dims)
    assert larger.batch_size is not None and larger.batch_size > 2 * MIN_BATCH  # longer lists
    wide = choose(18_000, 20_000, 500, algorithm="HNSW", dims=dims)
    assert wide.batch_size == 2000  # never smaller than 4 k
    tuned = choose(18_000, 20_000, 10, algorithm="HNSW", dims=dims, ef=300)
    assert tuned.batch_size == 300  # never below the EF_RUNTIME asked for
    assert choose(10**6, 10**6, 10, algorithm="FLAT", dims=dims).policy == "ADHOC_BF"
    assert choose(0, 100, 10, algorithm="HNSW", dims=dims).policy == "ADHOC_BF"
    # 3-25% of the index: RediSearch's own batches (from k / share), when that first batch
    # is no smaller than the rule's floor; widened, explicit batches from that size.
    own = choose(2_000, 20_000, 10, algorithm="HNSW", dims=384, single=True)
    assert (own.policy, own.batch_size) == ("BATCHES", None) and "from 100" in own.reason
    assert choose(1_000, 20_000, 10, algorithm="HNSW", dims=384).batch_size == 200  # k / share
    floor = choose(10_000, 100_000, 10, algorithm="HNSW", dims=128, single=True)
    assert floor.batch_size == 112
    wider = choose(2_000, 20_000, 10, algorithm="HNSW", dims=384, widen=2, single=True)
    assert wider.batch_size == 200
    assert single_condition("@cat:{a|b}") and single_condition("@price:[1 9]")
    assert single_condition(r"@cat:{a\@b}")  # an escaped @ is a value, not a field
    assert not single_condition("(@cat:{a} @price:[1 9])")
    assert not single_condition("(-@cat:{a})") and not single_condition("(@a:{x} | @b:{y})")
    assert policy_of(None) == "AUTO" and policy_of("adhoc_bf") == "ADHOC_BF"


def test_kept_counts_age_out_and_the_least_recently_used_go_first() -> None:
    counts = MatchCounts(max_age=10.0, size=2)
    counts.put("a", 1, now=0.0)
    counts.put("b", 2, now=0.0)
    assert counts.get("a", now=5.0) == 1  # a is now the most recently used
    counts.put("c", 3, now=5.0)
    assert counts.get("b", now=5.0) is None and counts.get("c", now=5.0) == 3
    assert counts.get("a", now=10.5) is None  # older than max_age
    counts.forget()
    assert counts.get("c", now=5.0) is None


def test_a_search_with_a_tuned_ef_runtime_still_runs_when_the_planner_picks_brute_force(
    hnsw: Any,
) -> None:
    """RediSearch refused ADHOC_BF with EF_RUNTIME, so recommendations with a tuned
    EF_RUNTIME and a narrow filter failed once the planner chose brute force for them."""
    idx, docs, vectors = hnsw
    q = vectors[4]
    want, _ = exact_knn(vectors, q, 5, "L2", mask=_mask(docs, "rare"))
    explicit = idx.search(q, 5, filter=Tag("kind") == "rare", ef_runtime=200)
    assert explicit.plan.policy == "ADHOC_BF" and explicit.ids == [str(i) for i in want[0]]
    forced = idx.search(q, 5, filter=Tag("kind") == "rare", ef_runtime=200,
                        hybrid_policy="adhoc_bf")  # fmt: skip
    assert forced.ids == explicit.ids
    idx.set_setting("ef_runtime", 150)  # as `redvec tune` records it
    tuned = SearchIndex.open(idx.client, "planned")
    assert tuned.search(q, 5, filter=Tag("kind") == "rare").ids == explicit.ids
    common = tuned.search(q, 5, filter=Tag("kind") == "common")
    assert common.plan.policy == "BATCHES" and common.plan.batch_size is not None
    assert common.plan.batch_size >= 150  # never below the tuned EF_RUNTIME


def _clustered_index(
    r: redis.Redis, name: str, n: int, dims: int, *, m: int, ef_construction: int
) -> tuple[SearchIndex, np.ndarray]:
    """Clustered unit vectors; ``half`` is ``odd`` on every odd document."""
    rng = np.random.default_rng(11)
    centers = rng.normal(size=(32, dims))
    x = centers[rng.integers(0, 32, n)] + 0.35 * rng.normal(size=(n, dims))
    x = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    vf = VectorField("vec", dims=dims, distance="COSINE", m=m, ef_construction=ef_construction)
    schema = IndexSchema(name, f"{name}:", (TagField("half"), vf))
    idx = SearchIndex.create(r, schema, overwrite=True)
    idx.upsert([{"id": str(i), "half": "odd" if i % 2 else "even", "vec": x[i]} for i in range(n)])
    idx.wait_indexed()
    return idx, x


def test_filtered_search_on_a_graph_that_misses_neighbours_still_finds_the_exact_answer(
    r: redis.Redis,
) -> None:
    """A user's filtered search came back with 0.65 of the exact answer where RediSearch's
    own brute force found all of it: the planner's batches walked a graph that finds
    few of these queries' neighbours. The planner now checks its batches against exact
    search and widens them, or compares every match, until they find the answer."""
    # A sparse graph (M 4, EF_CONSTRUCTION 8) searched from outside the clusters: batches
    # of the rule's size find a small part of the answer.
    idx, x = _clustered_index(r, "hardgraph", 6000, 128, m=4, ef_construction=8)
    odd = np.arange(len(x)) % 2 == 1
    rng = np.random.default_rng(12)
    recalls, plans = [], []
    for q in rng.normal(size=(30, x.shape[1])).astype(np.float32):
        result = idx.search(q, 10, filter=Tag("half") == "odd")
        want, _ = exact_knn(x, q, 10, "COSINE", mask=odd)
        recalls.append(len(set(result.ids) & {str(i) for i in want[0]}) / 10)
        plans.append(result.plan)
    assert np.mean(recalls) >= 0.95
    first = plans[0]
    assert first.policy == "BATCHES" and first.checked is not None and first.checked < 0.95
    assert "checked against ADHOC_BF" in first.reason
    last = plans[-1]  # learnt: brute force, or batches wider than the rule's
    assert last.policy == "ADHOC_BF" or (last.batch_size or 0) > (first.batch_size or 0)
    assert "checked against exact" in last.reason
    forced = idx.search(x[0], 10, filter=Tag("half") == "odd", hybrid_policy="batches")
    assert forced.plan.checked is None  # a forced plan is sent as asked, never checked
    # Another filter matching the same share of the index is planned from what was learnt.
    even = idx.search(x[1], 10, filter=Tag("half") == "even").plan
    assert (even.policy, even.batch_size) == (last.policy, last.batch_size)


def test_a_planned_batch_search_is_checked_until_judged_then_now_and_then(
    r: redis.Redis,
) -> None:
    # A well-connected graph searched from its own documents: batches find the answer.
    idx, vectors = _clustered_index(r, "easygraph", 8000, 64, m=16, ef_construction=100)
    common = Tag("half") == "odd"
    checked = [idx.search(v, 10, filter=common).plan.checked for v in vectors[:8]]
    assert all(c is not None for c in checked[:3])  # judged after three good checks...
    assert checked[3:] == [None] * 5  # ...then left alone
    before = _searches(r)
    idx.search(vectors[9], 10, filter=common)
    assert _searches(r) - before == 1  # a settled filter costs its search only
    guard = idx.core.recall_guard
    guard.max_age, guard.every = 0.0, 3  # every third search, with no wait
    later = [idx.search(v, 10, filter=common) for v in vectors[10:14]]
    assert [res.plan.checked is not None for res in later] == [True, False, False, True]
    assert later[-1].plan.policy == "BATCHES"
    odd = np.arange(len(vectors)) % 2 == 1
    want, _ = exact_knn(vectors, vectors[13], 10, "COSINE", mask=odd)
    assert later[-1].ids == [str(i) for i in want[0]]  # a checked search answers exactly


def test_the_guard_doubles_batches_that_miss_then_turns_to_brute_force() -> None:
    guard = RecallGuard()
    where, matches = "@kind:{common}", 100_000
    for _ in range(3):
        guard.record(where, 1, 7, 10, batch_size=50, matches=matches, now=0.0)
    assert guard.widen(where) == 2  # mean 0.7 over three checks: wider
    guard.record(where, 1, 0, 10, batch_size=50, matches=matches, now=0.0)
    assert guard.widen(where) == 2  # planned before the change: not counted twice
    guard.record(where, 2, 2, 10, batch_size=100, matches=matches, now=0.0)
    assert guard.widen(where) == 4  # under half found: wider at once
    guard.record(where, 4, 1, 10, batch_size=4000, matches=matches, now=0.0)
    assert guard.widen(where) == 0  # batches of 8000 cost about all matches: brute force
    assert not guard.due(where, now=100.0) or guard.widen(where) == 0
    good = "@kind:{other}"
    guard.every = 3
    for _ in range(3):
        assert guard.due(good, now=1.0)
        guard.record(good, 1, 10, 10, batch_size=50, matches=matches, now=1.0)
    assert not guard.due(good, now=2.0)  # settled; one search counted
    assert not guard.due(good, now=40.0)  # old enough, but two searches since
    assert guard.due(good, now=40.0)  # old enough and three searches
    guard.record(good, 1, 9, 10, batch_size=50, matches=matches, now=40.0)
    assert [guard.due(good, now=t) for t in (41.0, 42.0, 43.0)] == [False] * 3  # too soon
    guard.record(good, 1, 7, 10, batch_size=50, matches=matches, now=80.0)
    assert guard.due(good, now=81.0) and guard.widen(good) == 1  # judged again
    backing = RecallGuard(every=100, first=5)
    for _ in range(3):  # a check costs about one search: 1000 matches, batches of 50
        backing.record("k", 1, 10, 10, batch_size=50, matches=1000, now=0.0)
    gaps = []
    for _ in range(4):  # rechecked after 5 searches, then 10, 20, 40, ... up to 100
        n = 1
        while not backing.due("k", now=1000.0 * (len(gaps) + 1)):
            n += 1
        gaps.append(n)
        backing.record("k", 1, 10, 10, batch_size=50, matches=1000, now=1000.0)
    assert gaps == [5, 10, 20, 40] and backing.first << 5 > backing.every
    dear = RecallGuard(every=100, first=5)
    for _ in range(3):  # a check costs about ten searches: the first recheck comes later
        dear.record("k", 1, 10, 10, batch_size=50, matches=10_000, now=0.0)
    assert [dear.due("k", now=100.0) for _ in range(50)] == [False] * 49 + [True]
    assert guard_key("v", 600, 1000) == guard_key("v", 999, 1000) == "v:0"  # over a half
    assert guard_key("v", 300, 1000) == "v:1" and guard_key("w", 300, 1000) == "w:1"
    assert guard_key("v", 1, 10**6) == "v:19" and guard_key("v", 500, 1000) == "v:1"
    plan = choose(90_000, 100_000, 10, algorithm="HNSW", dims=128, widen=4)
    assert plan.batch_size == 4 * choose(90_000, 100_000, 10, algorithm="HNSW", dims=128).batch_size
    assert choose(90_000, 100_000, 10, algorithm="HNSW", dims=128, widen=0).policy == "ADHOC_BF"


def test_batches_that_find_nearly_every_hit_are_not_doubled_for_one_unlucky_check() -> None:
    """On 100k x 128 the planner's batches of 112 found 98.5% of the exact answer for 10-20%
    filters, yet in one benchmark run of four the three checks that judged them came out
    under 95% on their mean (as 10, 8 and 10 of 10 would), the batches doubled, and those
    filters ran at 0.69-0.80 of the best forced policy for the rest of the run. A
    shortfall within chance is now checked further before it costs the batches' size."""
    guard, matches = RecallGuard(), 20_000
    for found in (10, 8, 10):
        guard.record("v:2", 1, found, 10, batch_size=112, matches=matches, now=0.0)
    assert guard.widen("v:2") == 1 and guard.due("v:2", now=0.0)  # not judged yet
    guard.record("v:2", 1, 10, 10, batch_size=112, matches=matches, now=0.0)
    assert guard.widen("v:2") == 1 and not guard.due("v:2", now=0.0)  # 38 of 40: settled
    # A shortfall that persists is still caught, by JUDGE_MAX checks at the latest.
    checks = 0
    while guard.widen("v:3") == 1:
        guard.record("v:3", 1, 9, 10, batch_size=112, matches=matches, now=0.0)
        checks += 1
    assert 3 < checks <= RecallGuard.JUDGE_MAX and guard.widen("v:3") == 2
    # And a clear one at three checks, as before.
    for found in (8, 8, 8):
        guard.record("v:4", 1, found, 10, batch_size=112, matches=matches, now=0.0)
    assert guard.widen("v:4") == 2


def test_a_share_whose_first_searches_were_easy_is_still_caught_when_the_graph_misses(
    r: redis.Redis,
) -> None:
    """A LangChain user's filtered searches found 0.65 of the exact answer: the planner's
    first three checks happened to find all of it, the share was settled, and no check
    came again in the next 300 searches. A settled share is now checked again after 20
    searches (times what a check costs in searches: about 3 here), then twice as many each
    time, so a graph that misses is caught."""
    idx, x = _clustered_index(r, "luckygraph", 6000, 128, m=16, ef_construction=100)
    odd = np.arange(len(x)) % 2 == 1
    flt = Tag("half") == "odd"
    easy = [idx.search(x[i], 10, filter=flt).plan for i in (1, 3, 5)]  # its own documents
    assert all(p.checked == 1.0 for p in easy) and easy[-1].policy == "BATCHES"
    recalls = []
    for q in np.random.default_rng(12).normal(size=(150, x.shape[1])).astype(np.float32):
        result = idx.search(q, 10, filter=flt)  # from outside every cluster: hard
        want, _ = exact_knn(x, q, 10, "COSINE", mask=odd)
        recalls.append(len(set(result.ids) & {str(i) for i in want[0]}) / 10)
    assert np.mean(recalls[:15]) < 0.9  # the graph misses these queries' neighbours...
    assert np.mean(recalls[-50:]) >= 0.95  # ...and the planner has learnt it
    assert "checked against exact" in result.plan.reason


# -- wide numeric ranges sent as their complement's negation ----------------------------

WIDE = (
    Num("rank") >= 50,
    Num("rank") > 50,
    Num("rank") <= 1450,
    Num("rank") < 1450,
    Num("rank").between(20, 1480),
    Num("rank").between(20, 1480, inclusive=False),
    Num("rank") >= -1,  # nothing is outside it
)


def _sparse(name: str, storage: str = "hash", index_missing: bool = True) -> IndexSchema:
    return IndexSchema(
        name,
        f"{name}:",
        (
            TagField("kind"),
            NumericField("rank", index_missing=index_missing),
            VectorField("vec", dims=DIMS, distance="L2", m=8, ef_construction=40),
        ),
        storage=storage,  # type: ignore[arg-type]
    )


def _with_unranked(idx: SearchIndex, q: np.ndarray) -> set[str]:
    """The corpus, plus 20 documents without a rank lying right at ``q`` (a filter on rank
    must never return them, however near they are)."""
    docs, _ = _corpus()
    idx.upsert(docs)
    near = [{"id": f"x{i}", "kind": "common", "vec": q + 1e-3 * i} for i in range(20)]
    idx.upsert(near)
    idx.wait_indexed()
    return {d["id"] for d in near}


def _matched(r: redis.Redis, index: str, where: str) -> set[bytes]:
    reply = r.execute_command(
        "FT.SEARCH", index, where, "NOCONTENT", "LIMIT", 0, 10_000, "DIALECT", 2
    )
    return set(reply[1:])


@pytest.mark.parametrize("flt", WIDE, ids=lambda f: f.render())
def test_a_range_matching_most_of_an_index_runs_as_its_complements_negation_on_the_same_documents(
    r: redis.Redis, flt: Any
) -> None:
    idx = SearchIndex.create(r, _sparse("wide"), overwrite=True)
    q = np.random.default_rng(7).normal(size=DIMS)
    unranked = _with_unranked(idx, q)
    result = idx.search(q, 10, filter=flt)
    plan = result.plan
    assert plan.policy == "BATCHES" and plan.filter is not None, plan
    assert "ismissing(@rank)" in plan.filter and "sent as the negation" in plan.reason
    # The form sent matches exactly the documents the range matches, bounds included.
    assert _matched(r, "wide", plan.filter) == _matched(r, "wide", flt.render())
    assert len(result.ids) == 10 and not set(result.ids) & unranked
    kept = [d for d in idx.get(result.ids)]
    assert all(isinstance(d["rank"], int) for d in kept)


def test_a_wide_range_is_sent_as_written_where_the_rewrite_would_not_hold_or_not_help(
    r: redis.Redis,
) -> None:
    q = np.random.default_rng(8).normal(size=DIMS)
    wide = Num("rank") >= 50
    # Without index_missing nothing tells a document without a rank from one outside.
    plain = SearchIndex.create(r, _sparse("plain", index_missing=False), overwrite=True)
    unranked = _with_unranked(plain, q)
    result = plain.search(q, 10, filter=wide)
    assert result.plan.policy == "BATCHES" and result.plan.filter is None
    assert not set(result.ids) & unranked
    # A JSON array holds several numbers: a document with one on each side would be lost.
    js = SearchIndex.create(r, _sparse("js", storage="json"), overwrite=True)
    _with_unranked(js, q)
    assert js.search(q, 10, filter=wide).plan.filter is None
    idx = SearchIndex.create(r, _sparse("narrow"), overwrite=True)
    _with_unranked(idx, q)
    # A range under a union may be left out of a match; 40% of the index outside: no gain.
    for flt in ((Num("rank") >= 50) | (Tag("kind") == "rare"), Num("rank") >= 600):
        plan = idx.search(q, 10, filter=flt).plan
        assert plan.policy == "BATCHES" and plan.filter is None, plan
    # Forced policies send the filter as written.
    forced = idx.search(q, 10, filter=wide, hybrid_policy="batches")
    assert forced.plan.filter is None


def test_a_wide_range_inside_an_intersection_is_rewritten_and_the_rest_kept(
    r: redis.Redis,
) -> None:
    idx = SearchIndex.create(r, _sparse("both"), overwrite=True)
    q = np.random.default_rng(9).normal(size=DIMS)
    unranked = _with_unranked(idx, q)
    flt = (Tag("kind") == "common") & (Num("rank") < 1400)
    result = idx.search(q, 10, filter=flt)
    assert result.plan.filter is not None and "@kind:{common}" in result.plan.filter
    assert _matched(r, "both", result.plan.filter) == _matched(r, "both", flt.render())
    assert not set(result.ids) & unranked
    # The string (CLI) form is planned the same.
    assert idx.search(q, 10, filter="kind:common rank<1400").plan.filter == result.plan.filter


def test_a_batch_of_searches_counts_its_wide_ranges_complements_in_the_same_round_trip(
    r: redis.Redis,
) -> None:
    idx = SearchIndex.create(r, _sparse("manywide"), overwrite=True)
    q = np.random.default_rng(10).normal(size=DIMS)
    unranked = _with_unranked(idx, q)
    trips: list[Any] = []

    def counting(plan: Any) -> Any:  # passes every round trip through, and keeps it
        reply = None
        try:
            while True:
                step = plan.send(reply)
                trips.append(step)
                reply = yield step
        except StopIteration as done:
            return done.value

    idx.search(q, 1)  # the handle reads the index's settings once
    queries = [KnnQuery(q, 10, Num("rank") >= n) for n in (40, 50, 60)]
    results = idx.run(counting(idx.core.search_many(queries)))
    # The counts ('*', three filters, their three complements), then the searches.
    assert len(trips) == 2 and len(trips[0]) == 7, [len(t) for t in trips]
    assert all(res.plan.filter is not None for res in results)
    assert not any(set(res.ids) & unranked for res in results)
