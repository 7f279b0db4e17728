"""What each choice of redvec's user-KNN buys on MyMediaLite's protocol (MovieLens-100k,
folds u1..u5, every rating a positive, full rankings): exact neighbours in numpy, so the
figures isolate the interest vectors, K and the weighting from the neighbour search
(``redvec eval recommend --protocol mymedialite`` shows HNSW in Redis equals exact).

Variants, each scored by redvec's own aggregation and metrics (redvec.recommend.crossval):

- binary item rows, cosine, K 80: MyMediaLite's UserKNN;
- the same with IDF-weighted columns (``log(users / item's positives)``);
- SVD factors (32) with the textbook fold-in ``r_u V / sigma``, rating-weighted: the
  recommender's vectors before this change;
- the fold-in with binary weights; the projection ``r_u V`` with binary weights (the
  default now); the projection with K 30 / 80 and 16 / 64 factors.

    python benchmarks/recommend_choices.py [--movielens ../shared/data/movielens-100k]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_matrix
from scipy.sparse.linalg import svds

from redvec.recommend.crossval import FOLDS, FoldData
from redvec.recommend.movielens import read_movielens

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "movielens-100k"
Vectors = dict[str, npt.NDArray[np.float32]]


def matrix_of(data: FoldData, weights: str) -> tuple[list[str], npt.NDArray[np.float64]]:
    users = sorted({u for u, _, _, _ in data.train}, key=int)
    row = {u: n for n, u in enumerate(users)}
    col = {i: n for n, i in enumerate(data.catalogue)}
    m = np.zeros((len(users), len(data.catalogue)))
    for u, i, r, _ in data.train:
        m[row[u], col[i]] = r if weights == "rating" else 1.0
    return users, m


def svd(binary: npt.NDArray[np.float64], k: int) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
    v0 = np.random.default_rng(0).random(min(binary.shape))
    _, sigma, vt = svds(csr_matrix(binary), k=k, v0=v0)
    return sigma, vt


def variants(data: FoldData) -> dict[str, tuple[Vectors, int]]:
    users, binary = matrix_of(data, "binary")
    _, rated = matrix_of(data, "rating")
    as_dict = lambda m: {u: m[n].astype(np.float32) for n, u in enumerate(users)}  # noqa: E731
    idf = np.log(len(users) / np.maximum(binary.sum(axis=0), 1))
    out: dict[str, tuple[Vectors, int]] = {
        "binary item rows, K 80 (MyMediaLite's UserKNN)": (as_dict(binary), 80),
        "IDF-weighted item rows, K 80": (as_dict(binary * idf), 80),
    }
    factors: dict[int, tuple[Any, Any]] = {k: svd(binary, k) for k in (16, 32, 64)}
    sigma, vt = factors[32]
    out["SVD 32, fold-in r V/sigma, rating-weighted, K 50 (before)"] = (
        as_dict(rated @ (vt / sigma[:, None]).T), 50)  # fmt: skip
    out["SVD 32, fold-in, binary, K 50"] = (as_dict(binary @ (vt / sigma[:, None]).T), 50)
    out["SVD 32, projection r V, rating-weighted, K 50"] = (as_dict(rated @ vt.T), 50)
    for k, K in ((32, 50), (32, 30), (32, 80), (16, 50), (64, 50)):
        default = " (default)" if (k, K) == (32, 50) else ""
        label = f"SVD {k}, projection r V, binary, K {K}{default}"
        out[label] = (as_dict(binary @ factors[k][1].T), K)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--movielens", type=Path, default=DEFAULT)
    args = ap.parse_args()
    ml = read_movielens(args.movielens)
    results: dict[str, dict[str, dict[str, float]]] = {}
    t = time.perf_counter()
    for fold in FOLDS:
        train, test = ml.split(fold)
        data = FoldData(ml, train, test, 1.0)
        for label, (vectors, k) in variants(data).items():
            results.setdefault(label, {})[fold] = data.score(data.exact(vectors, k))
    show: Callable[[str, str], str] = lambda label, m: (  # noqa: E731
        f"{results[label]['u1'][m]:.4f} / {np.mean([results[label][f][m] for f in FOLDS]):.4f}"
    )
    took = time.perf_counter() - t
    print(f"exact user-KNN, MyMediaLite's protocol; u1 / five-fold mean; {took:.0f} s")
    print("| vectors, K | prec@10 | MAP | NDCG | AUC |")
    print("|---|---|---|---|---|")
    for label in results:
        print(
            f"| {label} | "
            + " | ".join(show(label, m) for m in ("prec@10", "MAP", "NDCG", "AUC"))
            + " |"
        )


if __name__ == "__main__":
    main()
