"""MovieLens-100k: load it into a recommender, and evaluate user-KNN against baselines.

The data is read in place (its licence forbids redistribution). Ratings of 4 and up
are positives. Two kinds of interest vector, both "sum of the liked items' embeddings"
(so the incremental update in :class:`Recommender` reproduces them exactly):

- ``genres``: an item's embedding is its 19 MovieLens genre flags; a user's vector
  is their rating-weighted genre profile (the seed's category scores);
- ``factors``: a truncated SVD (scipy) of the binary user x item matrix of positives;
  an item's embedding is its row of ``V``, so a user's sum is the projection ``r_u V``
  of their row onto the item factors. (The textbook fold-in ``r_u V Sigma^-1`` divides by
  the singular values and so inflates the weakest factors; measured, the projection ranks
  neighbours better on both protocols of docs/recommendations.md.)

Evaluation runs, in one process and on the same vectors: redvec's HNSW user-KNN
(through :meth:`Recommender.recommend`), exact user-KNN in numpy scored by the same
:func:`aggregate`, and most-popular.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import redis

from redvec.errors import ConfigError
from redvec.recommend.recommender import Item, Recommender, aggregate

__all__ = [
    "MovieLens",
    "evaluate",
    "exact_lists",
    "item_embeddings",
    "load_into",
    "ranking_metrics",
    "read_movielens",
    "user_vectors",
]

POSITIVE = 4.0
KINDS = ("genres", "factors")


@dataclass
class MovieLens:
    """The MovieLens-100k files read into memory: ratings (user, item, rating, time), items
    with titles and genres."""

    path: Path
    titles: dict[str, str]
    item_genres: dict[str, list[str]]
    genres: list[str]
    ratings: dict[str, list[tuple[str, str, float, int]]] = field(default_factory=dict)

    def split(self, name: str) -> tuple[list[tuple[str, str, float, int]], ...]:
        """``ua``/``ub`` (10 test ratings per user) or ``u1``..``u5`` (5-fold)."""
        if name not in ("ua", "ub", "u1", "u2", "u3", "u4", "u5"):
            raise ConfigError(f"unknown MovieLens split {name!r}: use ua, ub or u1..u5")
        return self._read(f"{name}.base"), self._read(f"{name}.test")

    def _read(self, filename: str) -> list[tuple[str, str, float, int]]:
        if filename not in self.ratings:
            rows = []
            with (self.path / filename).open() as f:
                for line in f:
                    user, item, rating, ts = line.split("\t")
                    rows.append((user, item, float(rating), int(ts)))
            self.ratings[filename] = rows
        return self.ratings[filename]


def read_movielens(path: str | Path) -> MovieLens:
    """MovieLens-100k from its directory (u.data, u.item, u.genre); :class:`ConfigError` when
    a file is missing."""
    p = Path(path)
    if not (p / "u.item").is_file() or not (p / "u.genre").is_file():
        raise ConfigError(
            f"{p} is not a MovieLens-100k folder (no u.item / u.genre); get ml-100k from "
            f"grouplens.org and point --movielens at it"
        )
    genres = []
    for line in (p / "u.genre").read_text(encoding="latin-1").splitlines():
        if line.strip():
            genres.append(line.split("|")[0])
    titles, item_genres = {}, {}
    for line in (p / "u.item").read_text(encoding="latin-1").splitlines():
        parts = line.split("|")
        if len(parts) < 5 + len(genres):
            continue
        item = parts[0]
        titles[item] = parts[1]
        flags = parts[-len(genres) :]
        item_genres[item] = [g for g, f in zip(genres, flags, strict=True) if f == "1"]
    return MovieLens(p, titles, item_genres, genres)


def item_embeddings(
    ml: MovieLens,
    train: list[tuple[str, str, float, int]],
    kind: str,
    factors: int = 32,
    *,
    for_similarity: bool = False,
    positive: float = POSITIVE,
) -> dict[str, npt.NDArray[np.float32]]:
    """Each item's embedding (``for_similarity``: the vector item-to-item search uses).

    ``positive``: the smallest rating that counts as liking (1 makes every rating a
    positive, as implicit-feedback protocols do)."""
    if kind == "genres":
        index = {g: n for n, g in enumerate(ml.genres)}
        out = {}
        for item, gs in ml.item_genres.items():
            v = np.zeros(len(ml.genres), dtype=np.float32)
            for g in gs:
                v[index[g]] = 1.0
            out[item] = v
        return out
    if kind == "factors":
        from scipy.sparse import csr_matrix
        from scipy.sparse.linalg import svds

        users = sorted({u for u, _, _, _ in train}, key=int)
        items = sorted(ml.titles, key=int)
        ui = {u: n for n, u in enumerate(users)}
        ii = {i: n for n, i in enumerate(items)}
        rows, cols = [], []
        for u, i, r, _ in train:
            if r >= positive and i in ii:
                rows.append(ui[u])
                cols.append(ii[i])
        matrix = csr_matrix(
            (np.ones(len(rows)), (rows, cols)), shape=(len(users), len(items)), dtype=np.float64
        )
        # svds starts from a random vector: fix it, so runs (and evaluations) repeat.
        v0 = np.random.default_rng(0).random(min(matrix.shape))
        _, sigma, vt = svds(matrix, k=factors, v0=v0)
        emb = (vt * sigma[:, None] if for_similarity else vt).T.astype(np.float32)
        return {item: emb[n] for item, n in ii.items()}
    raise ConfigError(f"unknown interest-vector kind {kind!r}: use genres or factors")


def user_vectors(
    train: list[tuple[str, str, float, int]],
    embeddings: dict[str, npt.NDArray[np.float32]],
    dims: int,
    *,
    positive: float = POSITIVE,
    binary: bool = False,
) -> dict[str, npt.NDArray[np.float32]]:
    """Sums of liked items' embeddings, each weighted by its rating (by 1 when
    ``binary``), summed in the same order and precision as
    :meth:`Recommender.add_interactions` would."""
    sums: dict[str, npt.NDArray[np.float64]] = {}
    for u, i, r, _ in train:
        total = sums.setdefault(u, np.zeros(dims))  # every user, liked anything or not
        if r >= positive and i in embeddings:
            total += (1.0 if binary else r) * embeddings[i]
    return {u: v.astype(np.float32) for u, v in sums.items()}


def _labels(vec: npt.NDArray[np.float32], genres: list[str]) -> list[str]:
    """The seed's rule: a user is labelled with the categories where their interest
    (scaled to the strongest) exceeds 0.4."""
    top = float(vec.max()) if vec.size else 0.0
    if top <= 0:
        return []
    return [g for g, x in zip(genres, vec / top, strict=True) if x > 0.4]


def load_into(
    client: redis.Redis,
    ml: MovieLens,
    *,
    name: str,
    kind: str,
    split: str = "ua",
    factors: int = 32,
    m: int = 16,
    ef_construction: int = 200,
    positive: float = POSITIVE,
    binary: bool = False,
) -> Recommender:
    """Build a recommender from a split's training ratings (replacing one of that name).

    ``positive``: the smallest rating that counts as liking; ``binary``: every like
    weighs 1 in the user's vector, whatever its rating (implicit feedback)."""
    train, _ = ml.split(split)
    emb = item_embeddings(ml, train, kind, factors, positive=positive)
    dims = len(next(iter(emb.values())))
    rec = Recommender.create(
        client, name, dims=dims, kind=kind, positive=positive, binary=binary, m=m,
        ef_construction=ef_construction, overwrite=True,
    )  # fmt: skip
    similar = item_embeddings(ml, train, kind, factors, for_similarity=True, positive=positive)
    zero = np.zeros(dims, np.float32)
    rec.add_items(
        Item(i, emb.get(i, zero), ml.titles[i], tuple(ml.item_genres[i]), similar.get(i, zero))
        for i in sorted(ml.titles, key=int)
    )
    histories: dict[str, dict[str, float]] = defaultdict(dict)
    last: dict[str, int] = defaultdict(int)
    for u, i, r, ts in train:
        histories[u][i] = r
        last[u] = max(last[u], ts)
    vectors = user_vectors(train, emb, dims, positive=positive, binary=binary)
    genre_profile = user_vectors(train, item_embeddings(ml, train, "genres"), len(ml.genres))
    labels = {u: _labels(genre_profile[u], ml.genres) for u in vectors}
    rec.load_users(vectors, histories, labels)
    pipe = client.pipeline(transaction=False)
    for u, ts in last.items():
        pipe.hset(f"{name}:user:{u}", "time", ts)
    pipe.execute()
    rec.users.wait_indexed()
    rec.items.wait_indexed()
    return rec


def ranking_metrics(
    lists: dict[str, list[str]], relevant: dict[str, set[str]], n: int, catalogue: int
) -> dict[str, float]:
    """precision@n, recall@n, nDCG@n (binary relevance), hit rate@n, catalogue coverage."""
    p = r = ndcg = hit = 0.0
    shown: set[str] = set()
    for user, rel in relevant.items():
        recs = lists.get(user, [])[:n]
        shown.update(recs)
        hits = [1.0 if i in rel else 0.0 for i in recs]
        h = sum(hits)
        p += h / n
        r += h / len(rel)
        dcg = sum(x / math.log2(k + 2) for k, x in enumerate(hits))
        idcg = sum(1.0 / math.log2(k + 2) for k in range(min(len(rel), n)))
        ndcg += dcg / idcg
        hit += 1.0 if h else 0.0
    users = len(relevant)
    return {
        "precision": p / users,
        "recall": r / users,
        "ndcg": ndcg / users,
        "hit_rate": hit / users,
        "coverage": len(shown) / catalogue,
    }


def exact_lists(
    vectors: dict[str, npt.NDArray[np.float32]],
    liked: dict[str, list[str]],
    owned: dict[str, set[str]],
    popular: list[str],
    users: list[str],
    k: int,
    n: int,
) -> dict[str, list[str]]:
    """Each user's top ``n`` from their ``k`` exact (numpy) nearest users by cosine,
    scored by :func:`aggregate` as redvec scores them; most-popular without neighbours."""
    ids = [u for u, v in vectors.items() if np.any(v)]
    matrix = np.stack([vectors[u] for u in ids]).astype(np.float64)
    matrix /= np.linalg.norm(matrix, axis=1, keepdims=True)
    row = {u: n for n, u in enumerate(ids)}
    out = {}
    for user in users:
        if user not in row:
            out[user] = [i for i in popular if i not in owned.get(user, set())][:n]
            continue
        sims = matrix @ matrix[row[user]]
        sims[row[user]] = -np.inf
        top = np.argsort(-sims, kind="stable")[:k]
        near = [(ids[j], round(float(np.float32(sims[j])), 6)) for j in top]
        recs = aggregate(near, liked, owned.get(user, set()), n)
        out[user] = [r.item for r in recs] or [
            i for i in popular if i not in owned.get(user, set())
        ][:n]
    return out


def evaluate(
    client: redis.Redis,
    path: str | Path,
    *,
    split: str = "ua",
    kinds: tuple[str, ...] = KINDS,
    neighbours: int = 50,
    n: int = 10,
    factors: int = 32,
    ef_runtime: int = 200,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """The MovieLens table: per kind of vector, redvec HNSW vs exact user-KNN vs
    most-popular, on the split's test positives."""
    say = progress or (lambda _: None)
    ml = read_movielens(path)
    train, test = ml.split(split)
    owned: dict[str, set[str]] = defaultdict(set)
    liked: dict[str, list[str]] = defaultdict(list)
    counts: dict[str, int] = defaultdict(int)
    for u, i, r, _ in train:
        owned[u].add(i)
        if r >= POSITIVE:
            liked[u].append(i)
            counts[i] += 1
    popular = [i for i, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]
    relevant: dict[str, set[str]] = defaultdict(set)
    for u, i, r, _ in test:
        if r >= POSITIVE:
            relevant[u].add(i)
    users = sorted(relevant, key=int)
    catalogue = len(ml.titles)
    report: dict[str, Any] = {
        "split": split,
        "users": len(users),
        "catalogue": catalogue,
        "neighbours": neighbours,
        "n": n,
        "ef_runtime": ef_runtime,
        "rows": [],
    }
    most_popular = {u: [i for i in popular if i not in owned[u]][:n] for u in users}
    report["rows"].append(
        {
            "kind": "-",
            "method": "most popular",
            **ranking_metrics(most_popular, relevant, n, catalogue),
        }
    )
    for kind in kinds:
        say(f"{kind}: building vectors and loading them into Redis")
        t = time.perf_counter()
        rec = load_into(client, ml, name=f"ml_{kind}", kind=kind, split=split, factors=factors)
        rec.ef_runtime = ef_runtime
        load_s = time.perf_counter() - t
        say(f"{kind}: exact user-KNN in numpy")
        emb = item_embeddings(ml, train, kind, factors)
        vectors = user_vectors(train, emb, len(next(iter(emb.values()))))
        exact = exact_lists(vectors, liked, owned, popular, users, neighbours, n)
        say(f"{kind}: redvec HNSW user-KNN, {len(users)} users")
        t = time.perf_counter()
        redvec_lists = {
            u: [r.item for r in rec.recommend(u, n, neighbours=neighbours).items] for u in users
        }
        took = time.perf_counter() - t
        for method, lists in (
            ("exact user-KNN (numpy)", exact),
            ("redvec HNSW user-KNN", redvec_lists),
        ):
            row = {"kind": kind, "method": method, **ranking_metrics(lists, relevant, n, catalogue)}
            if method.startswith("redvec"):
                row["recommend_per_s"] = len(users) / took
                row["load_s"] = load_s
            report["rows"].append(row)
    return report


def agreement(report: dict[str, Any]) -> dict[str, float]:
    """Per kind: the largest relative gap between redvec and exact over all metrics."""
    out = {}
    rows = report["rows"]
    for kind in {r["kind"] for r in rows if r["kind"] != "-"}:
        exact = next(r for r in rows if r["kind"] == kind and r["method"].startswith("exact"))
        ours = next(r for r in rows if r["kind"] == kind and r["method"].startswith("redvec"))
        gaps = [
            abs(ours[m] - exact[m]) / exact[m] if exact[m] else abs(ours[m])
            for m in ("precision", "recall", "ndcg", "hit_rate", "coverage")
        ]
        out[kind] = max(gaps)
    return out
