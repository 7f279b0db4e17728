"""Exact nearest neighbours in numpy, with RediSearch's distance definitions.

The reference that FLAT and HNSW results are compared against in the tests, and
the ground truth of the benchmarks: COSINE is ``1 - cos``, IP is ``1 - dot``, and
L2 is the *squared* Euclidean distance, as RediSearch reports them.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["distances", "exact_knn"]


def distances(base: npt.ArrayLike, queries: npt.ArrayLike, metric: str) -> np.ndarray:
    """A (queries x base) matrix of distances, computed in float64."""
    b = np.asarray(base, dtype=np.float64)
    q = np.atleast_2d(np.asarray(queries, dtype=np.float64))
    metric = metric.upper()
    if metric == "L2":
        d = (q * q).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * q @ b.T
        return np.asarray(np.maximum(d, 0.0))
    if metric == "IP":
        return np.asarray(1.0 - q @ b.T)
    if metric == "COSINE":
        bn = b / np.linalg.norm(b, axis=1, keepdims=True)
        qn = q / np.linalg.norm(q, axis=1, keepdims=True)
        return np.asarray(1.0 - qn @ bn.T)
    raise ValueError(f"unknown metric {metric!r}")


def exact_knn(
    base: npt.ArrayLike,
    queries: npt.ArrayLike,
    k: int,
    metric: str,
    mask: npt.ArrayLike | None = None,
    batch: int = 256,
) -> tuple[np.ndarray, np.ndarray]:
    """Row indices and distances of the ``k`` nearest base vectors to each query.

    ``mask`` (bool per base row) restricts the candidates, as a pre-filter does.
    Ties are broken by row index so the answer is deterministic.
    """
    q = np.atleast_2d(np.asarray(queries))
    allowed = None if mask is None else np.asarray(mask, dtype=bool)
    ids_out, dist_out = [], []
    for start in range(0, len(q), batch):
        d = distances(base, q[start : start + batch], metric)
        if allowed is not None:
            d[:, ~allowed] = np.inf
        kk = min(k, d.shape[1])
        part = (
            np.argpartition(d, kk - 1, axis=1)[:, :kk]
            if kk < d.shape[1]
            else np.tile(np.arange(d.shape[1]), (len(d), 1))
        )
        for row, cand in zip(d, part, strict=True):
            order = cand[np.lexsort((cand, row[cand]))]
            order = order[np.isfinite(row[order])]
            ids_out.append(order)
            dist_out.append(row[order])
    width = max((len(x) for x in ids_out), default=0)
    ids = np.full((len(ids_out), width), -1, dtype=np.int64)
    dists = np.full((len(ids_out), width), np.inf)
    for i, (a, b) in enumerate(zip(ids_out, dist_out, strict=True)):
        ids[i, : len(a)] = a
        dists[i, : len(b)] = b
    return ids, dists
