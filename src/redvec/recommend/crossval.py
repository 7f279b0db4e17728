"""MyMediaLite's item-recommendation protocol on MovieLens-100k, and recommend-by-example.

The most cited user-KNN figures on MovieLens-100k are MyMediaLite's item-recommendation
table. Its protocol, reproduced here:

- the folds ``u1``..``u5``, each trained on ``uN.base`` and tested on ``uN.test``;
- implicit feedback: *every* rating is a positive, whatever its stars;
- for each test user, every item of the catalogue except the user's training items is
  a candidate, ranked in full; the user's test items are the relevant ones.

Per user, over that full ranking (MyMediaLite's definitions; ``rel`` = relevant items,
ranks from 1):

- ``prec@N`` = hits in the top N / N; ``recall@10`` = hits in the top 10 / ``|rel|``;
- ``MAP``: the mean over users of average precision, ``sum over hits at rank r of
  (hits up to r) / r``, divided by ``|rel|``;
- ``NDCG``: over the whole list, ``sum over hits of 1 / log2(r + 1)`` divided by its
  best possible value ``sum_{r=1..|rel|} 1 / log2(r + 1)``;
- ``AUC``: the fraction of (relevant, non-relevant candidate) pairs ranked in that order;
- ``coverage``: distinct items in anyone's top 10 / catalogue size (not per user).

Metrics are averaged over test users within a fold, then reported per fold and as the
mean and spread over folds. Note the folds differ: ``u1.test`` holds 459 users and the
others 653 to 927, with fewer test ratings each, so ``u1`` scores far higher than the
others on precision. MyMediaLite's published table matches ``u1`` alone (most-popular
prec@10 0.305 on ``u1`` against a five-fold mean near 0.22), so both are reported.

User-KNN rankings put the items the neighbours bring first, by score; every other
candidate follows in most-popular order (a full ranking is needed for MAP, NDCG, AUC).
redvec's user-KNN runs through :meth:`Recommender.recommend` (HNSW in Redis); the exact
reference runs the same scoring (:func:`aggregate`) over numpy's exact neighbours.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import redis

from redvec.errors import ConfigError
from redvec.recommend.movielens import (
    MovieLens,
    exact_lists,
    item_embeddings,
    load_into,
    read_movielens,
    user_vectors,
)
from redvec.recommend.recommender import STRATEGIES, Recommender

__all__ = [
    "FOLDS",
    "METRICS",
    "MYMEDIALITE",
    "FoldData",
    "agreement",
    "evaluate_folds",
    "fold_metrics",
    "full_ranking",
    "user_metrics",
]

Rating = tuple[str, str, float, int]

FOLDS = ("u1", "u2", "u3", "u4", "u5")
METRICS = ("prec@5", "prec@10", "recall@10", "MAP", "NDCG", "AUC", "coverage")
# MyMediaLite's published item-recommendation results on MovieLens-100k (its
# "implicit feedback" table: UserKNN with K 80 and binary cosine similarity).
MYMEDIALITE: dict[str, dict[str, float]] = {
    "most_popular": {"prec@10": 0.305},
    "user_knn": {"prec@5": 0.525, "prec@10": 0.468, "MAP": 0.327, "NDCG": 0.688, "AUC": 0.917},
    "wrmf": {"prec@10": 0.491},
    "bprmf": {"prec@10": 0.425},
}
DEPTH = 1000  # how many items a ranking takes from the recommender before the fill


def user_metrics(ranking: Sequence[str], relevant: set[str]) -> dict[str, float]:
    """One user's metrics over ``ranking``: every candidate item, best first."""
    hits = [item in relevant for item in ranking]
    found = sum(hits)
    if not relevant or found < len(relevant):
        raise ValueError("the ranking must hold every relevant item (it ranks all candidates)")
    so_far = ap = dcg = 0.0
    correct_pairs = 0
    for rank, hit in enumerate(hits, start=1):
        if hit:
            so_far += 1
            ap += so_far / rank
            dcg += 1.0 / math.log2(rank + 1)
        else:
            correct_pairs += int(so_far)  # relevant items ranked above this one
    idcg = sum(1.0 / math.log2(r + 1) for r in range(1, len(relevant) + 1))
    negatives = len(ranking) - len(relevant)
    return {
        "prec@5": sum(hits[:5]) / 5,
        "prec@10": sum(hits[:10]) / 10,
        "recall@10": sum(hits[:10]) / len(relevant),
        "MAP": ap / len(relevant),
        "NDCG": dcg / idcg,
        "AUC": correct_pairs / (negatives * len(relevant)) if negatives else 1.0,
    }


def fold_metrics(
    rankings: Mapping[str, Sequence[str]], relevant: Mapping[str, set[str]], catalogue: int
) -> dict[str, float]:
    """The mean of :func:`user_metrics` over the test users, and the coverage."""
    sums: dict[str, float] = defaultdict(float)
    shown: set[str] = set()
    for user, rel in relevant.items():
        ranking = rankings[user]
        shown.update(ranking[:10])
        for name, value in user_metrics(ranking, rel).items():
            sums[name] += value
    out = {name: sums[name] / len(relevant) for name in METRICS if name != "coverage"}
    out["coverage"] = len(shown) / catalogue
    return out


def full_ranking(top: Iterable[str], popular: Sequence[str], owned: set[str]) -> list[str]:
    """``top`` first, then every other item not ``owned`` in ``popular`` order."""
    head = [i for i in top if i not in owned]
    seen = owned | set(head)
    return head + [i for i in popular if i not in seen]


def _spread(per_fold: Mapping[str, Mapping[str, float]], names: Sequence[str]) -> dict[str, Any]:
    """Fold means under the metric names, with their spread and the folds themselves."""
    out: dict[str, Any] = {}
    for name in names:
        values = [m[name] for m in per_fold.values()]
        out[name] = float(np.mean(values))
    out["spread"] = {
        name: {
            "std": float(np.std([m[name] for m in per_fold.values()])),
            "min": min(m[name] for m in per_fold.values()),
            "max": max(m[name] for m in per_fold.values()),
        }
        for name in names
    }
    out["folds"] = {fold: dict(m) for fold, m in per_fold.items()}
    return out


def _popularity(train: Sequence[Rating], catalogue: Iterable[str], positive: float) -> list[str]:
    """Every catalogue item, most training positives first (ties: smaller id first)."""
    counts: dict[str, int] = defaultdict(int)
    for _, i, r, _ in train:
        if r >= positive:
            counts[i] += 1
    return sorted(catalogue, key=lambda i: (-counts.get(i, 0), int(i) if i.isdigit() else 0, i))


def evaluate_folds(
    client: redis.Redis,
    path: str | Path,
    *,
    folds: Sequence[str] = FOLDS,
    positive: float = 1.0,
    binary: bool = True,
    neighbours: int = 50,
    factors: int = 32,
    ef_runtime: int = 200,
    examples: int = 20,
    by_example: bool = True,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """The fold protocol: most-popular, exact user-KNN on binary item rows (MyMediaLite's
    UserKNN, K 80), exact and redvec (HNSW) user-KNN on SVD-factor interest vectors;
    then, unless ``by_example`` is off, recommend-by-example's hit rate.

    ``positive``: the smallest rating counted as a positive (1: all, MyMediaLite's
    protocol); ``binary``: each positive weighs 1 in a user's vector."""
    say = progress or (lambda _: None)
    for fold in folds:
        if fold not in FOLDS:
            raise ConfigError(f"unknown fold {fold!r}: the folds are {', '.join(FOLDS)}")
    ml = read_movielens(path)
    per_method: dict[str, dict[str, dict[str, float]]] = defaultdict(dict)
    per_example: dict[str, dict[str, dict[str, float]]] = defaultdict(dict)
    users_per_fold: dict[str, int] = {}
    timings: dict[str, float] = defaultdict(float)
    for fold in folds:
        train, test = ml.split(fold)
        data = FoldData(ml, train, test, positive)
        users_per_fold[fold] = len(data.users)
        say(f"{fold}: most popular, {len(data.users)} test users")
        per_method["most_popular"][fold] = data.score({})

        say(f"{fold}: exact user-KNN over binary item rows (MyMediaLite's UserKNN, K 80)")
        rows = _binary_rows(train, data.catalogue, positive)
        per_method["exact_user_knn_binary"][fold] = data.score(data.exact(rows, 80))

        say(f"{fold}: SVD factors, loading them into Redis")
        t = time.perf_counter()
        rec = load_into(
            client, ml, name=f"mml_{fold}", kind="factors", split=fold, factors=factors,
            positive=positive, binary=binary,
        )  # fmt: skip
        rec.ef_runtime = ef_runtime
        timings["load_s"] += time.perf_counter() - t
        emb = item_embeddings(ml, train, "factors", factors, positive=positive)
        vectors = user_vectors(train, emb, factors, positive=positive, binary=binary)
        say(f"{fold}: exact user-KNN on the factors")
        per_method["exact_user_knn"][fold] = data.score(data.exact(vectors, neighbours))
        say(f"{fold}: redvec HNSW user-KNN")
        t = time.perf_counter()
        ranked = {
            u: [r.item for r in rec.recommend(u, DEPTH, neighbours=neighbours).items]
            for u in data.users
        }
        timings["recommend_s"] += time.perf_counter() - t
        timings["recommend_calls"] += len(data.users)
        per_method["redvec_user_knn"][fold] = data.score(ranked)
        if by_example:
            say(f"{fold}: recommend by example")
            for name, rate in data.by_example_hits(rec, examples).items():
                per_example[name][fold] = {"hit_rate@10": rate}
    report: dict[str, Any] = {
        "protocol": "mymedialite" if tuple(folds) == FOLDS and positive <= 1 else "folds",
        "folds": list(folds),
        "users": users_per_fold,
        "catalogue": len(ml.titles),
        "positive": positive,
        "weighting": "binary" if binary else "rating",
        "neighbours": neighbours,
        "factors": factors,
        "ef_runtime": ef_runtime,
        "methods": {name: _spread(m, METRICS) for name, m in per_method.items()},
        "mymedialite": MYMEDIALITE,
        "recommend_per_s": timings["recommend_calls"] / timings["recommend_s"],
        "load_s": timings["load_s"],
    }
    if by_example:
        report["by_example"] = {
            "examples": examples,
            **{name: _spread(m, ("hit_rate@10",)) for name, m in per_example.items()},
        }
    return report


def agreement(report: Mapping[str, Any]) -> float:
    """The largest relative gap between redvec's and exact user-KNN over the fold means."""
    ours, exact = report["methods"]["redvec_user_knn"], report["methods"]["exact_user_knn"]
    gaps = [abs(ours[m] - exact[m]) / exact[m] if exact[m] else abs(ours[m]) for m in METRICS]
    return float(max(gaps))


def _binary_rows(
    train: Sequence[Rating], catalogue: Sequence[str], positive: float
) -> dict[str, npt.NDArray[np.float32]]:
    """Each user's row of the binary user x item matrix of positives."""
    column = {i: n for n, i in enumerate(catalogue)}
    rows: dict[str, npt.NDArray[np.float32]] = {}
    for u, i, r, _ in train:
        row = rows.setdefault(u, np.zeros(len(catalogue), dtype=np.float32))
        if r >= positive:
            row[column[i]] = 1.0
    return rows


class FoldData:
    """One fold's training and test data as every method of the protocol sees it: who is
    tested on what, what each user owns, the popularity order; ``score`` turns each
    user's top items into the fold's metrics."""

    def __init__(
        self, ml: MovieLens, train: Sequence[Rating], test: Sequence[Rating], positive: float
    ) -> None:
        self.train, self.test, self.positive = train, test, positive
        self.catalogue = sorted(ml.titles, key=int)
        self.owned: dict[str, set[str]] = defaultdict(set)
        self.liked: dict[str, list[str]] = defaultdict(list)
        for u, i, r, _ in train:
            self.owned[u].add(i)
            if r >= positive:
                self.liked[u].append(i)
        self.relevant: dict[str, set[str]] = defaultdict(set)
        for u, i, r, _ in test:
            if r >= positive and i not in self.owned[u]:
                self.relevant[u].add(i)
        self.users = sorted(self.relevant, key=int)
        self.popular = _popularity(train, self.catalogue, positive)

    def score(self, tops: Mapping[str, Sequence[str]]) -> dict[str, float]:
        """Metrics of rankings that start with each user's ``tops`` (none: most popular)."""
        rankings = {
            u: full_ranking(tops.get(u, ()), self.popular, self.owned[u]) for u in self.users
        }
        relevant = {u: self.relevant[u] for u in self.users}
        return fold_metrics(rankings, relevant, len(self.catalogue))

    def exact(self, vectors: Mapping[str, npt.NDArray[np.float32]], k: int) -> dict[str, list[str]]:
        """Each test user's top lists by exact (numpy) neighbours over ``vectors``: the reference
        the HNSW answers are compared with."""
        return exact_lists(
            dict(vectors), self.liked, self.owned, self.popular, self.users, k, DEPTH
        )

    def by_example_hits(self, rec: Recommender, examples: int) -> dict[str, float]:
        """Hit rate@10 of one held-out positive per test user (drawn from their test
        positives, seeded), recommended from their ``examples`` most recent training
        positives, never returning what they rated in training; most-popular alongside."""
        rng = np.random.default_rng(0)
        recent: dict[str, list[tuple[int, str]]] = defaultdict(list)
        for u, i, r, ts in self.train:
            if r >= self.positive:
                recent[u].append((ts, i))
        held: dict[str, str] = {}
        for u in self.users:
            candidates = sorted(self.relevant[u], key=int)
            if recent[u]:
                held[u] = candidates[int(rng.integers(len(candidates)))]
        hits: dict[str, int] = defaultdict(int)
        for u, item in held.items():
            likes = [i for _, i in sorted(recent[u], key=lambda x: (-x[0], x[1]))[:examples]]
            if item in full_ranking((), self.popular, self.owned[u])[:10]:
                hits["most_popular"] += 1
            for strategy in STRATEGIES:
                recs = rec.by_example(likes, n=10, strategy=strategy, exclude=self.owned[u])
                if item in {r.item for r in recs}:
                    hits[f"by_example_{strategy}"] += 1
        names = ["most_popular", *(f"by_example_{s}" for s in STRATEGIES)]
        return {name: hits[name] / len(held) for name in names}
