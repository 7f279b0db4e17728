"""Pick the cheapest EF_RUNTIME that meets a recall target, and make it the index default.

Stored vectors serve as queries. The exact top-k comes from numpy over every stored
vector (``redvec.exact``), with RediSearch's own distances. Recall is measured for
increasing EF_RUNTIME on a tuning sample; the first value that meets the target is then
checked on a held-out sample of other documents, and raised until both samples meet it,
so the recorded default is not fitted to the queries it was tuned on. The choice is kept
in the index's settings, which every search uses unless told otherwise.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from redvec.errors import ValidationError
from redvec.exact import exact_knn
from redvec.index import SearchIndex
from redvec.query import KnnQuery

__all__ = ["DEFAULT_EFS", "TunePoint", "TuneResult", "tune"]

DEFAULT_EFS = (10, 20, 40, 80, 160, 320, 640, 1280)


@dataclass
class TunePoint:
    """One EF_RUNTIME tried: its recall@k against exact search and its latency."""

    ef_runtime: int
    recall: float
    p50_ms: float


@dataclass
class TuneResult:
    """The EF_RUNTIME chosen (the smallest reaching the target recall) and every point tried."""

    target: float
    k: int
    ef_runtime: int
    tuning_recall: float
    holdout_recall: float
    curve: list[TunePoint] = field(default_factory=list)


def _recall(
    index: SearchIndex, queries: np.ndarray, truth: list[set[str]], k: int, ef: int
) -> tuple[float, float]:
    """Mean recall@k and median per-query latency (ms) over batches of 50 pipelined queries."""
    hits = 0
    times = []
    for start in range(0, len(queries), 50):
        batch = [KnnQuery(q, k, ef_runtime=ef) for q in queries[start : start + 50]]
        t = time.perf_counter()
        results = index.search_many(batch)
        times.append((time.perf_counter() - t) * 1000 / len(batch))
        for res, want in zip(results, truth[start : start + 50], strict=True):
            hits += len(set(res.ids) & want)
    return hits / (k * len(queries)), float(np.median(times))


def tune(
    index: SearchIndex,
    target_recall: float = 0.95,
    *,
    k: int = 10,
    sample: int = 200,
    efs: tuple[int, ...] = DEFAULT_EFS,
    seed: int = 0,
    record: bool = True,
) -> TuneResult:
    """Find the smallest EF_RUNTIME whose recall@k against exact search reaches
    ``target_recall`` on a sample of the index's own vectors, and (with ``record``) keep it
    with the index so that searches use it."""
    if not 0 < target_recall <= 1:
        raise ValidationError(f"target recall must be in (0, 1], got {target_recall}")
    vf = index.schema.vector_field()
    if vf.algorithm != "HNSW":
        raise ValidationError(f"'{vf.name}' is a FLAT field: it is exact, there is nothing to tune")
    ids: list[str] = []
    parts = []
    for batch_ids, matrix in index.iter_vectors():
        ids += batch_ids
        parts.append(matrix)
    if len(ids) < max(2 * sample, k + 1):
        raise ValidationError(
            f"index '{index.name}' has {len(ids)} vectors; tuning with --sample {sample} needs "
            f"at least {max(2 * sample, k + 1)} (a tuning and a held-out sample)"
        )
    base = np.vstack(parts)
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(ids), size=2 * sample, replace=False)
    tune_rows, hold_rows = chosen[:sample], chosen[sample:]
    truth_rows, _ = exact_knn(base, base[chosen], k, vf.distance)
    truth = [{ids[j] for j in row} for row in truth_rows]
    tune_truth, hold_truth = truth[:sample], truth[sample:]

    curve: list[TunePoint] = []
    for ef in sorted(efs):
        recall, p50 = _recall(index, base[tune_rows], tune_truth, k, ef)
        curve.append(TunePoint(ef, recall, p50))
        if recall < target_recall:
            continue
        holdout, _ = _recall(index, base[hold_rows], hold_truth, k, ef)
        if holdout >= target_recall:
            if record:
                index.set_setting("ef_runtime", ef)
                index.set_setting("ef_runtime_target", target_recall)
                index.set_setting("ef_runtime_holdout_recall", round(holdout, 4))
            return TuneResult(target_recall, k, ef, recall, holdout, curve)
    best = max(curve, key=lambda p: p.recall)
    raise ValidationError(
        f"no EF_RUNTIME up to {max(efs)} reaches recall@{k} {target_recall} on index "
        f"'{index.name}' (best {best.recall:.3f} at {best.ef_runtime}); rebuild the index with "
        f"a larger M or EF_CONSTRUCTION, or lower the target"
    )
