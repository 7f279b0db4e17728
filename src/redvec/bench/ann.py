"""Recall against speed: the ann-benchmarks sweep, on Redis, with baselines in the run.

For every build configuration (M, EF_CONSTRUCTION) the base vectors are loaded into a
fresh HNSW index and the clock stops when ``FT.INFO`` says fully indexed; then for every
EF_RUNTIME and concurrency all queries are sent (from that many threads) and recall@k,
QPS and latency percentiles are recorded, with the vector index's memory (``FT.INFO``)
and Redis's ``used_memory``. hnswlib, in process with the same M, EF_CONSTRUCTION and
ef, and exact numpy search run on the same data; the report gives redvec's QPS at equal
recall as a ratio to each. Those ratios, not absolute times, are the figures to quote.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypedDict

import numpy as np
import redis

from redvec._resp import pairs
from redvec.bench.datasets import Dataset
from redvec.errors import ConfigError
from redvec.exact import exact_knn
from redvec.index import SearchIndex, list_indexes
from redvec.lists import positive_ints
from redvec.query import KnnQuery
from redvec.schema import IndexSchema, VectorField

__all__ = ["AnnPoint", "AnnReport", "parse_build", "run_ann"]

INDEX = "redvec_bench_ann"


@dataclass
class AnnPoint:
    """One point of an ANN sweep: build parameters, EF_RUNTIME, recall@k and speed."""

    engine: str  # redvec, hnswlib, numpy
    m: int | None
    ef_construction: int | None
    ef_runtime: int | None
    concurrency: int
    recall: float
    qps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    build_s: float | None = None
    vector_index_mb: float | None = None
    used_memory_mb: float | None = None
    qps_vs_hnswlib: float | None = None  # redvec / hnswlib QPS at the same recall and mode
    qps_vs_numpy: float | None = None
    # Redis's own time per FT.SEARCH during this point (INFO commandstats), microseconds
    redis_us: float | None = None
    # The most redvec/hnswlib could be with a client that costs nothing: Redis's time per
    # query, plus one round trip when each query waits for its reply (one thread, single)
    ceiling_vs_hnswlib: float | None = None
    # single: one query per call (redvec: one round trip each; hnswlib: one knn_query each);
    # batched: the whole query set at once (redvec: search_many pipelines; hnswlib: one call)
    mode: str = "single"


@dataclass
class AnnReport:
    """An ANN benchmark's points, the dataset, and hnswlib's baseline where installed."""

    dataset: str
    n: int
    dims: int
    queries: int
    k: int
    metric: str
    ground_truth: str
    points: list[AnnPoint] = field(default_factory=list)
    # Each timed point runs the query set this many times (recall from the first pass).
    passes: int = 1
    # One PING's round trip from this client, microseconds (median): the floor under any
    # command that waits for its reply, which a one-query-per-round-trip search pays.
    ping_us: float | None = None


def parse_build(specs: Sequence[str]) -> list[tuple[int, int]]:
    """``["M=16,32", "EF_CONSTRUCTION=100,200"]`` -> every (M, EF_CONSTRUCTION) pair."""
    grid: dict[str, list[int]] = {"M": [16], "EF_CONSTRUCTION": [200]}
    for spec in specs:
        key, sep, values = spec.partition("=")
        key = key.strip().upper()
        if not sep or key not in grid:
            raise ConfigError(f"--build takes M=a,b or EF_CONSTRUCTION=a,b; got {spec!r}")
        grid[key] = positive_ints(values, f"--build {key}", ConfigError)
    return list(itertools.product(grid["M"], grid["EF_CONSTRUCTION"]))


def _recall(found: list[list[int]], truth: np.ndarray, k: int) -> float:
    hits = sum(len(set(f[:k]) & set(truth[i, :k].tolist())) for i, f in enumerate(found))
    return hits / (k * len(found))


class _Latency(TypedDict):
    p50_ms: float
    p95_ms: float
    p99_ms: float


def _latency(lat_s: list[float]) -> _Latency:
    a = np.asarray(lat_s) * 1000
    return {
        "p50_ms": float(np.percentile(a, 50)),
        "p95_ms": float(np.percentile(a, 95)),
        "p99_ms": float(np.percentile(a, 99)),
    }


def _build(client: redis.Redis, data: Dataset, m: int, efc: int) -> tuple[SearchIndex, float]:
    if INDEX in list_indexes(client):
        SearchIndex.open(client, INDEX).drop(delete_documents=True)
    schema = IndexSchema(
        INDEX,
        f"{INDEX}:",
        (VectorField("vec", dims=data.dims, distance=data.metric, m=m, ef_construction=efc),),
    )
    idx = SearchIndex.create(client, schema, batch_size=1000)
    start = time.perf_counter()
    pipe = client.pipeline(transaction=False)
    for i, row in enumerate(data.base):
        pipe.hset(f"{INDEX}:{i}", "vec", row.astype("<f4").tobytes())
        if i % 1000 == 999:
            pipe.execute()
    pipe.execute()
    idx.wait_indexed(timeout=24 * 3600)
    return idx, time.perf_counter() - start


def _ping_us(client: redis.Redis, n: int = 2000) -> float:
    """The median round trip of a PING from this client, in microseconds."""
    lat = []
    for _ in range(n):
        t = time.perf_counter()
        client.ping()
        lat.append(time.perf_counter() - t)
    return float(np.median(lat)) * 1e6


class _ServerTime:
    """Redis's own microseconds per FT.SEARCH between :meth:`start` and :meth:`per_call`,
    from INFO commandstats (None where INFO is not allowed, e.g. under an ACL)."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.before: tuple[int, int] | None = None

    def _now(self) -> tuple[int, int] | None:
        try:
            stats: Any = self.client.info("commandstats")
        except redis.ResponseError:
            return None
        row = stats.get("cmdstat_FT.SEARCH") or stats.get("cmdstat_ft.search") or {}
        return int(row.get("calls", 0)), int(row.get("usec", 0))

    def start(self) -> None:
        self.before = self._now()

    def per_call(self) -> float | None:
        after = self._now()
        if self.before is None or after is None or after[0] <= self.before[0]:
            return None
        return (after[1] - self.before[1]) / (after[0] - self.before[0])


def _run_queries(
    idx: SearchIndex,
    data: Dataset,
    k: int,
    ef: int,
    concurrency: int,
    passes: int = 1,
    timer: _ServerTime | None = None,
) -> tuple[list[list[int]], list[float], float]:
    """Every query ``passes`` times from ``concurrency`` threads: ids per query (first
    pass), latency per query, and QPS. One thread calls in a plain loop, as hnswlib's
    single mode does: a thread pool's hand-off would be counted against redvec alone."""
    queries = data.queries
    order = [i for _ in range(passes) for i in range(len(queries))]

    def one(i: int) -> tuple[int, list[int], float]:
        t = time.perf_counter()
        result = idx.query(KnnQuery(queries[i], k, ef_runtime=ef, return_fields=[]))
        return i, [int(h.id) for h in result.hits], time.perf_counter() - t

    found: list[list[int]] = [[] for _ in range(len(queries))]
    for i in range(min(len(queries), 20)):  # warm-up
        one(i)
    if timer is not None:
        timer.start()
    if concurrency == 1:
        start = time.perf_counter()
        answers = [one(i) for i in order]
        wall = time.perf_counter() - start
    else:
        with ThreadPoolExecutor(concurrency) as pool:
            start = time.perf_counter()
            answers = list(pool.map(one, order))
            wall = time.perf_counter() - start
    for i, ids, _ in answers[: len(queries)]:  # the first pass
        found[i] = ids
    return found, [dt for _, _, dt in answers], len(order) / wall


def _hnswlib_points(
    data: Dataset,
    k: int,
    m: int,
    efc: int,
    efs: Sequence[int],
    concurrency: Sequence[int],
    passes: int = 1,
) -> list[AnnPoint]:
    try:
        import hnswlib
    except ImportError:
        return []
    space = {"L2": "l2", "COSINE": "cosine", "IP": "ip"}[data.metric]
    index = hnswlib.Index(space=space, dim=data.dims)
    start = time.perf_counter()
    index.init_index(max_elements=len(data.base), M=m, ef_construction=efc, random_seed=1)
    index.add_items(data.base, np.arange(len(data.base)), num_threads=1)
    build = time.perf_counter() - start
    points = []
    for ef in efs:
        index.set_ef(max(ef, k))
        lat = []
        found = []
        start = time.perf_counter()
        for _ in range(passes):
            for q in data.queries:  # one call per query from Python, as redvec is asked
                t = time.perf_counter()
                labels, _ = index.knn_query(q, k=k, num_threads=1)
                lat.append(time.perf_counter() - t)
                found.append(labels[0].tolist())
        wall = time.perf_counter() - start
        recall = _recall(found[: len(data.queries)], data.neighbors, k)
        points.append(
            AnnPoint("hnswlib", m, efc, ef, 1, recall, len(lat) / wall, **_latency(lat),
                     build_s=build)
        )  # fmt: skip
        for c in concurrency:
            start = time.perf_counter()
            for _ in range(passes):
                labels, _ = index.knn_query(data.queries, k=k, num_threads=c)
            wall = time.perf_counter() - start
            recall = _recall(labels.tolist(), data.neighbors, k)
            calls = passes * len(data.queries)
            each = [wall / calls] * 2  # one call: no per-query latency to report
            point = AnnPoint("hnswlib", m, efc, ef, c, recall, calls / wall,
                             **_latency(each), build_s=build)  # fmt: skip
            point.mode = "batched"
            points.append(point)
    return points


def _run_batched(
    idx: SearchIndex,
    data: Dataset,
    k: int,
    ef: int,
    batch: int,
    passes: int = 1,
    timer: _ServerTime | None = None,
) -> tuple[list[list[int]], list[float], float]:
    """Every query ``passes`` times through ``search_many`` in pipelines of ``batch``, one
    thread: ids per query (first pass), latency per pipeline, and QPS."""
    queries = data.queries
    idx.search_many([KnnQuery(q, k, ef_runtime=ef, return_fields=[]) for q in queries[:batch]])
    found: list[list[int]] = []
    lat: list[float] = []
    if timer is not None:
        timer.start()
    start = time.perf_counter()
    for _ in range(passes):
        for i in range(0, len(queries), batch):
            t = time.perf_counter()
            results = idx.search_many(
                [KnnQuery(q, k, ef_runtime=ef, return_fields=[]) for q in queries[i : i + batch]]
            )
            lat.append(time.perf_counter() - t)
            found += [[int(h.id) for h in r.hits] for r in results]
    wall = time.perf_counter() - start
    return found[: len(queries)], lat, passes * len(queries) / wall


def _numpy_point(data: Dataset, k: int) -> AnnPoint:
    lat = []
    for q in data.queries[: min(50, len(data.queries))]:
        t = time.perf_counter()
        exact_knn(data.base, q[None, :], k, data.metric)
        lat.append(time.perf_counter() - t)
    start = time.perf_counter()
    rows, _ = exact_knn(data.base, data.queries, k, data.metric)
    qps = len(data.queries) / (time.perf_counter() - start)
    return AnnPoint("numpy", None, None, None, 1, _recall(rows.tolist(), data.neighbors, k), qps,
                    **_latency(lat))  # fmt: skip


def _qps_at(curve: list[AnnPoint], recall: float) -> float | None:
    """A baseline's QPS at ``recall``, interpolated on its (recall, QPS) curve; its
    best recall's QPS when asked for more than it reaches."""
    pts = sorted((p.recall, p.qps) for p in curve)
    if not pts:
        return None
    if recall <= pts[0][0]:
        return pts[0][1]
    for (r0, q0), (r1, q1) in itertools.pairwise(pts):
        if r0 <= recall <= r1:
            return q0 if r1 == r0 else q0 + (q1 - q0) * (recall - r0) / (r1 - r0)
    return pts[-1][1]


def run_ann(
    client: redis.Redis,
    data: Dataset,
    *,
    k: int = 10,
    builds: Sequence[tuple[int, int]] = ((16, 200),),
    efs: Sequence[int] = (10, 20, 40, 80, 160, 320),
    concurrency: Sequence[int] = (1,),
    batch: int = 100,
    min_queries: int = 1000,
    progress: Callable[[str], None] | None = None,
) -> AnnReport:
    """Build the index for each (M, EF_CONSTRUCTION), search the dataset's queries at each
    EF_RUNTIME and report recall@k against its ground truth and queries per second.

    Ratios to hnswlib compare like with like at equal recall: redvec one query per round
    trip against hnswlib one query per call (``single``), and redvec's ``search_many`` in
    pipelines of ``batch`` against one hnswlib call for all queries (``batched``).

    Each timed point runs the query set as often as it takes to reach ``min_queries``
    queries (100 queries at 20 us each would be 2 ms, which one scheduler hiccup doubles).
    Where a query's time goes is reported beside the speed: Redis's own time per
    FT.SEARCH (``redis_us``) and one PING's round trip (``ping_us``); the rest is the
    client's (redvec and redis-py)."""
    say = progress or (lambda _: None)
    if k > data.neighbors.shape[1]:
        raise ConfigError(f"k={k} but the ground truth has {data.neighbors.shape[1]} neighbours")
    if min_queries < 1:
        raise ConfigError(f"min_queries must be at least 1, got {min_queries}")
    passes = max(1, -(-min_queries // len(data.queries)))
    report = AnnReport(
        data.name, len(data.base), data.dims, len(data.queries), k, data.metric,
        data.ground_truth, passes=passes, ping_us=_ping_us(client),
    )  # fmt: skip
    timer = _ServerTime(client)
    numpy_point = _numpy_point(data, k)
    report.points.append(numpy_point)
    try:
        for m, efc in builds:
            say(f"M {m}, EF_CONSTRUCTION {efc}: loading {len(data.base)} vectors")
            idx, build_s = _build(client, data, m, efc)
            info = pairs(client.execute_command("FT.INFO", INDEX))
            vec_mb = float(info.get("vector_index_sz_mb", 0) or 0)
            say(f"  built in {build_s:.1f} s; hnswlib baseline")
            baseline = _hnswlib_points(data, k, m, efc, efs, concurrency, passes)
            report.points += baseline
            for ef in efs:
                for c in concurrency:
                    found, lat, qps = _run_queries(idx, data, k, ef, c, passes, timer)
                    server_us = timer.per_call()
                    recall = _recall(found, data.neighbors, k)
                    point = AnnPoint(
                        "redvec", m, efc, ef, c, recall, qps, **_latency(lat), build_s=build_s,
                        vector_index_mb=vec_mb, used_memory_mb=_used_mb(client),
                        redis_us=server_us,
                    )  # fmt: skip
                    # One thread: against hnswlib one query per call. Several: against
                    # hnswlib's one call on as many threads (it has no other way to use them).
                    like = [
                        p for p in baseline
                        if (p.mode, p.concurrency) == (("single", 1) if c == 1 else ("batched", c))
                    ]  # fmt: skip
                    hq = _qps_at(like, recall)
                    point.qps_vs_hnswlib = qps / hq if hq else None
                    point.ceiling_vs_hnswlib = _ceiling(
                        hq, server_us, report.ping_us if c == 1 else 0.0
                    )
                    point.qps_vs_numpy = qps / numpy_point.qps
                    report.points.append(point)
                    say(f"  EF_RUNTIME {ef:>4} x{c}: recall {recall:.3f}, {qps:.0f} q/s")
                found, lat, qps = _run_batched(idx, data, k, ef, batch, passes, timer)
                server_us = timer.per_call()
                recall = _recall(found, data.neighbors, k)
                point = AnnPoint(
                    "redvec", m, efc, ef, 1, recall, qps, **_latency(lat), build_s=build_s,
                    vector_index_mb=vec_mb, used_memory_mb=_used_mb(client),
                    redis_us=server_us,
                )  # fmt: skip
                point.mode = "batched"
                one_thread = [p for p in baseline if p.mode == "batched" and p.concurrency == 1]
                hq = _qps_at(one_thread, recall)
                point.qps_vs_hnswlib = qps / hq if hq else None
                point.ceiling_vs_hnswlib = _ceiling(hq, server_us, 0.0)
                point.qps_vs_numpy = qps / numpy_point.qps
                report.points.append(point)
                say(f"  EF_RUNTIME {ef:>4} batched by {batch}: recall {recall:.3f}, {qps:.0f} q/s")
    finally:
        if INDEX in list_indexes(client):
            SearchIndex.open(client, INDEX).drop(delete_documents=True)
    return report


def _ceiling(
    hnswlib_qps: float | None, redis_us: float | None, wait_us: float | None
) -> float | None:
    """redvec/hnswlib if the client cost nothing: one query takes Redis's own time plus
    ``wait_us`` (a round trip when each query waits for its reply, 0 in a pipeline)."""
    if not hnswlib_qps or not redis_us:
        return None
    return 1e6 / (redis_us + (wait_us or 0.0)) / hnswlib_qps


def _used_mb(client: redis.Redis) -> float:
    info: Any = client.info("memory")
    return float(info["used_memory"]) / 2**20
