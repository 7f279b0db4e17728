"""User-KNN recommendations on Redis: users as interest vectors, neighbours by KNN with
pre-filters, items from what the neighbours consumed.

Every item has an embedding ``e_i`` (its genre/category indicator, or its learned
factors). A user's interest vector is the sum of the embeddings of the items they liked
(weighted), so

- a batch build and a stream of single interactions give the same vector: a new
  interaction adds ``w * e_i`` to the user's stored sum and nothing else is rebuilt;
- a cold-start user can be given an interest vector directly (the seed's category
  scores) and is searched like anyone else.

Keys, for a recommender named ``rec``::

    rec:user:<id>     HASH  labels (TAG), time (NUMERIC, last activity), n, vec, raw,
                            liked (the liked item ids, for reading neighbours fast)
    rec:item:<id>     HASH  title (TEXT), tags (TAG), emb (the item's embedding),
                            vec (what similar_items searches; emb unless given)
    rec:hist:<id>     HASH  item -> weight (everything the user has, liked or not)
    rec:popular       ZSET  item -> number of positive interactions
    rec:meta          HASH  dims, kind, positive threshold, weighting (weight or binary)

Indexes ``rec_users`` and ``rec_items`` (HNSW, COSINE). Scores: a neighbour's
similarity is ``1 - cosine distance``; an item's score is the sum of the similarities
of the neighbours who have it.

Why this file is over 500 lines: one class over the key layout above, shared by the
batch build, stream updates and every query method; the evaluation protocols and the
MovieLens loader are their own modules.
"""

from __future__ import annotations

import math
import time as _time
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import redis

from redvec import keys
from redvec._resp import text
from redvec.errors import (
    ConfigError,
    UnknownItemError,
    UnknownUserError,
    ValidationError,
    VectorError,
)
from redvec.filters import Filter
from redvec.index import SearchIndex, WriteError, list_indexes
from redvec.query import KnnQuery, render_filter
from redvec.schema import IndexSchema, NumericField, TagField, TextField, VectorField
from redvec.vectors import check_vector

__all__ = [
    "STRATEGIES",
    "Example",
    "Item",
    "Recommendation",
    "Recommendations",
    "Recommender",
    "UnknownItemError",
    "UnknownUserError",
    "aggregate",
]


@dataclass(frozen=True)
class Item:
    """An item of a recommender: its id, title, tags, and embedding (its genres or factors)."""

    id: str
    vector: Any
    title: str = ""
    tags: tuple[str, ...] = ()
    # What item-to-item similarity and recommend-by-example search (default: ``vector``).
    # MovieLens factors use V*sigma here, which weighs the strongest factors most.
    similarity_vector: Any = None


@dataclass
class Recommendation:
    """One recommended item: its score (the summed similarity of the neighbours who have it)
    and the neighbours it came from."""

    item: str
    score: float
    because: list[str]  # the neighbours who brought it, most similar first

    def to_dict(self) -> dict[str, Any]:
        """The recommendation as JSON-ready data."""
        return {"item": self.item, "score": self.score, "because": self.because}


@dataclass
class Recommendations:
    """Items for a user, the neighbours used, and whether (and why) it fell back to the most
    popular items."""

    user: str | None
    items: list[Recommendation]
    neighbours: list[tuple[str, float]] = field(default_factory=list)  # (user, similarity)
    fallback: str | None = None  # "most_popular" when KNN had nothing to go on
    # Why the fallback: "no_interest_vector" (the user has liked nothing yet),
    # "no_neighbours" (no other user matched the filter), or "nothing_new" (the
    # neighbours liked nothing the user does not have already).
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The recommendations as JSON-ready data."""
        return {
            "user": self.user,
            "items": [r.to_dict() for r in self.items],
            "neighbours": [{"user": u, "similarity": s} for u, s in self.neighbours],
            "fallback": self.fallback,
            "reason": self.reason,
        }


_SEP = "\x1f"  # between item ids in a user's "liked" field (unit separator)

# An example for :meth:`Recommender.by_example`: an item id, or a vector in the item
# index's (similarity) space.
Example = str | int | Sequence[float] | npt.NDArray[Any]
STRATEGIES = ("average_vector", "best_score")
MAX_EXAMPLES = 1000
MAX_DEPTH = 10_000  # the deepest KNN a by-example request may ask of Redis


def aggregate(
    neighbours: Sequence[tuple[str, float]],
    histories: Mapping[str, Iterable[str]],
    exclude: set[str],
    n: int,
    explain: int = 3,
) -> list[Recommendation]:
    """Score items by the summed similarity of the neighbours who have them.

    One function for redvec and for the numpy reference, so any difference between
    them in evaluation is the neighbour search's, not the scoring's. Ties go to the
    smaller item id, so results are deterministic.
    """
    scores: dict[str, float] = defaultdict(float)
    brought: dict[str, list[str]] = defaultdict(list)
    for user, sim in neighbours:
        for item in histories.get(user, ()):
            if item in exclude:
                continue
            scores[item] += sim
            if len(brought[item]) < explain:
                brought[item].append(user)
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
    return [Recommendation(item, round(score, 6), brought[item]) for item, score in ranked]


class Recommender:
    """User-KNN recommendations on Redis (the module docstring has the model and the keys):
    items, interactions, users' interest vectors, and queries over them."""

    def __init__(self, client: redis.Redis, name: str = "rec", *, ef_runtime: int | None = None):
        self.client = client
        self.name = name
        self.ef_runtime = ef_runtime
        meta = {text(k): text(v) for k, v in client.hgetall(f"{name}:meta").items()}
        if "dims" not in meta:
            raise ConfigError(
                f"no recommender named '{name}': create one with Recommender.create "
                f"(or `redvec recommend load-movielens`)"
            )
        self.dims = int(meta["dims"])
        self.kind = meta.get("kind", "given")
        self.threshold = float(meta.get("positive", "0"))
        self.binary = meta.get("weighting", "weight") == "binary"
        self.users = SearchIndex.open(client, f"{name}_users")
        self.items = SearchIndex.open(client, f"{name}_items")

    # -- creating ------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        client: redis.Redis,
        name: str = "rec",
        *,
        dims: int,
        kind: str = "given",
        positive: float = 0.0,
        binary: bool = False,
        m: int = 16,
        ef_construction: int = 200,
        overwrite: bool = False,
    ) -> Recommender:
        """Create the user and item indexes. ``positive``: the smallest interaction
        weight that counts as liking an item (4 for MovieLens's 1-5 stars); ``binary``:
        each liked item adds its embedding once, whatever the weight (implicit feedback:
        clicks, plays, purchases), instead of ``weight`` times."""
        vec = VectorField("vec", dims=dims, m=m, ef_construction=ef_construction)
        users = IndexSchema(
            f"{name}_users",
            f"{name}:user:",
            (TagField("labels"), NumericField("time", sortable=True), NumericField("n"), vec),
        )
        items = IndexSchema(
            f"{name}_items", f"{name}:item:", (TextField("title"), TagField("tags"), vec)
        )
        if overwrite:
            existing = list_indexes(client)
            for schema in (users, items):
                if schema.name in existing:
                    SearchIndex.open(client, schema.name).drop(delete_documents=True)
            for pattern in (f"{name}:hist:*",):
                for key in client.scan_iter(match=pattern, count=1000):
                    client.delete(key)
            client.delete(f"{name}:popular", f"{name}:meta")
        SearchIndex.create(client, users)
        SearchIndex.create(client, items)
        weighting = "binary" if binary else "weight"
        client.hset(
            f"{name}:meta",
            mapping={"dims": dims, "kind": kind, "positive": positive, "weighting": weighting},
        )
        client.sadd(keys.RECOMMENDERS, name)  # so backups find every key under '<name>:'
        return cls(client, name)

    # -- writing -------------------------------------------------------------------------

    def _vector(self, vector: Any, what: str) -> npt.NDArray[np.float32]:
        vf = self.users.schema.vector_field()
        try:
            return check_vector(vector, VectorField(vf.name, self.dims, distance="L2"), what=what)
        except VectorError as e:
            raise VectorError(str(e).replace(f"for field '{vf.name}' ", "")) from None

    def add_items(self, items: Iterable[Item]) -> int:
        """Store items and their embeddings (replacing items with the same id; an item with
        a zero similarity vector is stored but never found by similarity); returns how
        many. :class:`ValidationError` for an empty id or a bad vector."""
        docs = []
        for it in items:
            if _SEP in it.id or not it.id:
                raise ValidationError(f"item id {it.id!r} must be non-empty, without \\x1f")
            v = self._vector(it.vector, f"item '{it.id}' vector")
            doc: dict[str, Any] = {"id": it.id, "title": it.title, "tags": list(it.tags)}
            doc["emb"] = v.tobytes()
            sim = v
            if it.similarity_vector is not None:
                sim = self._vector(it.similarity_vector, f"item '{it.id}' similarity vector")
            if np.any(sim):
                doc["vec"] = sim
            docs.append(doc)
        return self._write(self.items, docs)

    def _write(self, index: SearchIndex, docs: list[dict[str, Any]]) -> int:
        encoded = []
        for d in docs:
            if "vec" in d:
                encoded.append(index.encode(d))
            else:  # no vector (nothing liked yet): stored and filterable, not in the KNN graph
                schema = index.schema
                key = schema.key(str(d["id"]))
                values = [(k, v) for k, v in d.items() if k not in ("id", "vec")]
                flat: list[Any] = []
                for k, v in values:
                    flat += [k, ",".join(v) if isinstance(v, list) else v]
                commands: list[Any] = [("HDEL", key, "vec")]
                if flat:
                    commands.append(("HSET", key, *flat))
                encoded.append((str(d["id"]), commands))
        written = 0
        for lo in range(0, len(encoded), 500):
            report = index.write_documents(encoded[lo : lo + 500])
            written += len(report.written)
            if report.failed:
                raise WriteError(report, written)
        return written

    def add_user(
        self,
        user_id: str,
        *,
        vector: Any = None,
        labels: Sequence[str] = (),
        time: float | None = None,
    ) -> None:
        """A user, optionally with a given interest vector (cold start: no history)."""
        key = f"{self.name}:user:{user_id}"
        mapping: dict[str, Any] = {
            "labels": ",".join(labels),
            "time": time if time is not None else _time.time(),
        }
        if vector is not None:
            v = self._vector(vector, f"user '{user_id}' interest vector")
            if not np.any(v):
                raise VectorError(f"user '{user_id}' interest vector is all zeros")
            mapping["vec"] = v.tobytes()
            mapping["raw"] = v.tobytes()
        pipe = self.client.pipeline(transaction=False)
        pipe.hset(key, mapping=cast(Any, mapping))
        pipe.hsetnx(key, "n", 0)
        pipe.execute()

    def _item_vectors(self, ids: Sequence[str]) -> dict[str, npt.NDArray[np.float32]]:
        pipe = self.client.pipeline(transaction=False)
        for i in ids:
            pipe.hget(f"{self.name}:item:{i}", "emb")
        out = {}
        for i, raw in zip(ids, pipe.execute(), strict=True):
            out[i] = (
                np.frombuffer(raw, dtype="<f4") if raw else np.zeros(self.dims, dtype=np.float32)
            )
        return out

    def _known_items(self, ids: Sequence[str]) -> None:
        pipe = self.client.pipeline(transaction=False)
        for i in ids:
            pipe.exists(f"{self.name}:item:{i}")
        missing = [i for i, e in zip(ids, pipe.execute(), strict=True) if not e]
        if missing:
            raise UnknownItemError(
                f"unknown item{'s' if len(missing) > 1 else ''} "
                f"{', '.join(repr(m) for m in missing[:5])}: add items before interactions"
            )

    def add_interactions(
        self, interactions: Iterable[tuple[str, str, float]], *, time: float | None = None
    ) -> int:
        """Record (user, item, weight) interactions and update each user's vector.

        A user's stored sum gains ``weight * e_item`` (``e_item`` for a binary
        recommender) for each positive interaction (weight >= the recommender's
        threshold); every interaction goes to the user's
        history, so recommendations never repeat what the user has. Each user is
        updated in one optimistic transaction, so concurrent writers do not lose adds.
        """
        by_user: dict[str, list[tuple[str, float]]] = defaultdict(list)
        for user, item, weight in interactions:
            if not isinstance(weight, int | float) or not math.isfinite(weight):
                raise ValidationError(f"interaction ({user}, {item}): weight must be finite")
            by_user[str(user)].append((str(item), float(weight)))
        items = sorted({i for pairs in by_user.values() for i, _ in pairs})
        self._known_items(items)
        vectors = self._item_vectors(items)
        now = time if time is not None else _time.time()
        count = 0
        for user, pairs in by_user.items():
            self._apply(user, pairs, vectors, now)
            count += len(pairs)
        return count

    def _apply(
        self,
        user: str,
        pairs: list[tuple[str, float]],
        vectors: dict[str, npt.NDArray[np.float32]],
        now: float,
    ) -> None:
        """One user's interactions in one optimistic transaction. A re-rated item first
        gives back its old contribution, so the stored sum always equals the sum over the
        user's current likes, as a batch build computes it."""
        key = f"{self.name}:user:{user}"
        hist = f"{self.name}:hist:{user}"

        def update(pipe: Any) -> None:
            raw = pipe.hget(key, "raw")
            before = {text(i): float(w) for i, w in pipe.hgetall(hist).items()}
            total = np.frombuffer(raw, dtype="<f4").astype(np.float64) if raw else None
            if total is None:
                total = np.zeros(self.dims)
            after = dict(before)
            for item, w in pairs:
                old = after.get(item)
                if old is not None and old >= self.threshold:
                    total -= self._weight(old) * vectors[item]
                if w >= self.threshold:
                    total += self._weight(w) * vectors[item]
                after[item] = w
            liked = sorted(i for i, w in after.items() if w >= self.threshold)
            was = {i for i, w in before.items() if w >= self.threshold}
            summed = total.astype(np.float32)
            pipe.multi()
            pipe.hset(hist, mapping=cast(Any, dict(pairs)))
            mapping: dict[str, Any] = {
                "time": now,
                "raw": summed.tobytes(),
                "n": len(after),
                "liked": _SEP.join(liked),
            }
            if np.any(summed):
                mapping["vec"] = summed.tobytes()
            else:
                pipe.hdel(key, "vec")
            pipe.hset(key, mapping=cast(Any, mapping))
            for item in set(liked) - was:
                pipe.zincrby(f"{self.name}:popular", 1, item)
            for item in was - set(liked):
                pipe.zincrby(f"{self.name}:popular", -1, item)

        self.client.transaction(update, key, hist)

    def _weight(self, w: float) -> float:
        return 1.0 if self.binary else w

    def load_users(
        self,
        vectors: Mapping[str, Any],
        histories: Mapping[str, Mapping[str, float]],
        labels: Mapping[str, Sequence[str]] | None = None,
        time: float | None = None,
    ) -> int:
        """Bulk load: users with precomputed raw vectors and full histories, in
        pipelines (for building from a dataset; use add_interactions afterwards)."""
        now = time if time is not None else _time.time()
        pipe = self.client.pipeline(transaction=False)
        popular: dict[str, int] = defaultdict(int)
        count = 0
        for user in sorted(set(vectors) | set(histories)):
            key = f"{self.name}:user:{user}"
            v = np.asarray(vectors.get(user, np.zeros(self.dims)), dtype=np.float32)
            hist = histories.get(user, {})
            mapping: dict[str, Any] = {
                "labels": ",".join((labels or {}).get(user, ())),
                "time": now,
                "n": len(hist),
                "raw": v.tobytes(),
                "liked": _SEP.join(sorted(i for i, w in hist.items() if w >= self.threshold)),
            }
            if np.any(v) and np.all(np.isfinite(v)):
                mapping["vec"] = v.tobytes()
            pipe.hset(key, mapping=cast(Any, mapping))
            if hist:
                pipe.hset(f"{self.name}:hist:{user}", mapping=cast(Any, dict(hist)))
            for item, w in hist.items():
                if w >= self.threshold:
                    popular[item] += 1
            count += 1
            if count % 500 == 0:
                pipe.execute()
        for item, c in popular.items():
            pipe.zincrby(f"{self.name}:popular", c, item)
        pipe.execute()
        return count

    # -- reading -------------------------------------------------------------------------

    def user_vector(self, user_id: str) -> npt.NDArray[np.float32] | None:
        """The user's stored interest vector, or None for an unknown user."""
        key = f"{self.name}:user:{user_id}"
        pipe = self.client.pipeline(transaction=False)
        pipe.exists(key)
        pipe.hget(key, "vec")
        exists, vec = pipe.execute()
        if not exists:
            raise UnknownUserError(f"unknown user '{user_id}' in recommender '{self.name}'")
        return None if vec is None else np.frombuffer(vec, dtype="<f4")

    def history(self, user_id: str) -> set[str]:
        """Every item the user has interacted with (liked or not)."""
        return {text(i) for i in self.client.hkeys(f"{self.name}:hist:{user_id}")}

    def _histories(self, users: Sequence[str]) -> dict[str, list[str]]:
        """Each user's liked items: one field per user, kept in step with the history,
        so K neighbours cost K bulk strings rather than K hashes."""
        pipe = self.client.pipeline(transaction=False)
        for u in users:
            pipe.hget(f"{self.name}:user:{u}", "liked")
        out = {}
        for u, liked in zip(users, pipe.execute(), strict=True):
            out[u] = liked.decode().split(_SEP) if liked else []
        return out

    def neighbours(
        self,
        vector: Any,
        k: int,
        *,
        filter: Filter | str | None = None,
        exclude_user: str | None = None,
    ) -> list[tuple[str, float]]:
        """The ``k`` nearest users (and their similarity) among those matching ``filter``."""
        result = self.users.query(
            KnnQuery(
                vector, k + (1 if exclude_user else 0), filter, ef_runtime=self.ef_runtime,
                return_fields=[],
            )
        )  # fmt: skip
        out = [
            (h.id, round(1.0 - float(h.distance or 0.0), 6))
            for h in result.hits
            if h.id != exclude_user
        ]
        return out[:k]

    def recommend(
        self,
        user_id: str,
        n: int = 10,
        *,
        neighbours: int = 50,
        filter: Filter | str | None = None,
    ) -> Recommendations:
        """Items for a stored user, from the ``neighbours`` nearest users matching
        ``filter`` (a filter over users: labels, time, n). A user with nothing liked
        yet gets the most popular items among the users the filter admits."""
        _check_counts(n, neighbours)
        vec = self.user_vector(str(user_id))
        owned = self.history(str(user_id))
        if vec is None:
            return Recommendations(
                str(user_id), self.most_popular(n, exclude=owned, filter=filter), [],
                "most_popular", "no_interest_vector",
            )  # fmt: skip
        return self._from_vector(str(user_id), vec, n, neighbours, filter, owned)

    def recommend_for_vector(
        self,
        vector: Any,
        n: int = 10,
        *,
        neighbours: int = 50,
        filter: Filter | str | None = None,
        exclude: Iterable[str] = (),
    ) -> Recommendations:
        """A cold-start user known only by an interest vector."""
        _check_counts(n, neighbours)
        v = self._vector(vector, "interest vector")
        if not np.any(v):
            raise VectorError("interest vector is all zeros: it points nowhere")
        return self._from_vector(None, v, n, neighbours, filter, set(exclude))

    def _from_vector(
        self,
        user: str | None,
        vec: Any,
        n: int,
        k: int,
        filter: Filter | str | None,
        owned: set[str],
    ) -> Recommendations:
        near = self.neighbours(vec, k, filter=filter, exclude_user=user)
        items = aggregate(near, self._histories([u for u, _ in near]), owned, n)
        if not items:
            reason = "nothing_new" if near else "no_neighbours"
            return Recommendations(
                user, self.most_popular(n, exclude=owned, filter=filter), near, "most_popular",
                reason,
            )  # fmt: skip
        return Recommendations(user, items, near)

    def most_popular(
        self, n: int = 10, *, exclude: set[str] | None = None, filter: Filter | str | None = None
    ) -> list[Recommendation]:
        """Most liked items overall, or among the users matching ``filter``."""
        exclude = exclude or set()
        if filter is not None:
            users = self._users_matching(filter)
            counts: dict[str, float] = defaultdict(float)
            for hist in self._histories(users).values():
                for item in hist:
                    counts[item] += 1
            ranked = sorted(
                ((i, c) for i, c in counts.items() if i not in exclude),
                key=lambda kv: (-kv[1], kv[0]),
            )
            return [Recommendation(i, c, []) for i, c in ranked[:n]]
        out = []
        ranked_all: Any = self.client.zrevrange(
            f"{self.name}:popular", 0, n + len(exclude), withscores=True
        )
        for item, score in ranked_all:
            i = text(item)
            if i not in exclude:
                out.append(Recommendation(i, float(score), []))
        return out[:n]

    def similar_items(
        self, item_id: str, n: int = 10, *, filter: Filter | str | None = None
    ) -> list[tuple[str, float]]:
        """Items whose embeddings are nearest to ``item_id``'s, with their similarity."""
        _check_counts(n, 1)
        key = f"{self.name}:item:{item_id}"
        raw: Any = self.client.hget(key, "vec")
        if raw is None:
            if not self.client.exists(key):
                raise UnknownItemError(f"unknown item '{item_id}' in recommender '{self.name}'")
            return []
        result = self.items.search(
            np.frombuffer(raw, dtype="<f4"), n + 1, filter=filter, ef_runtime=self.ef_runtime,
            return_fields=[],
        )  # fmt: skip
        out = [
            (h.id, round(1.0 - float(h.distance or 0.0), 6))
            for h in result.hits
            if h.id != str(item_id)
        ]
        return out[:n]

    def by_example(
        self,
        positive: Sequence[Example],
        negative: Sequence[Example] = (),
        *,
        n: int = 10,
        strategy: str = "average_vector",
        filter: Filter | str | None = None,
        exclude: Iterable[str] = (),
    ) -> list[Recommendation]:
        """Items like the ``positive`` examples and unlike the ``negative`` ones.

        Examples are item ids (their stored similarity vectors are used) or vectors in
        that space. The strategies are Qdrant's recommendation API's:

        - ``average_vector``: one KNN over items for ``2 * mean(positives) -
          mean(negatives)`` (``mean(positives)`` without negatives), each example scaled
          to unit length first, as cosine search sees them;
        - ``best_score``: the candidates are the union of one KNN per positive (one
          round trip); each is scored against every example: its best cosine similarity
          to a positive, or, when a negative is closer, minus that similarity squared.
          Each item's ``because`` names the positive it resembles most.

        ``filter`` runs over items (title, tags) as a pre-filter; the examples and the
        ``exclude`` ids (e.g. what the user has) are never returned. Unknown item ids
        are refused, not skipped."""
        _check_counts(n, 1)
        if strategy not in STRATEGIES:
            raise ValidationError(f"unknown strategy {strategy!r}: use {' or '.join(STRATEGIES)}")
        if not positive:
            raise ValidationError("at least one positive example is needed")
        given = len(positive) + len(negative)
        if given > MAX_EXAMPLES:
            raise ValidationError(f"at most {MAX_EXAMPLES} examples, got {given}")
        pos, pos_ids = self._examples(positive, "positive")
        neg, neg_ids = self._examples(negative, "negative")
        both = sorted(set(pos_ids) & set(neg_ids))
        if both:
            raise ValidationError(f"item {both[0]!r} is both a positive and a negative example")
        skip = set(pos_ids) | set(neg_ids) | {str(i) for i in exclude}
        depth = min(n + len(skip), MAX_DEPTH)
        if strategy == "average_vector":
            centre = pos.mean(axis=0)
            query = centre + (centre - neg.mean(axis=0)) if len(neg) else centre
            if not np.any(query):
                raise VectorError("the examples cancel out: their average vector is all zeros")
            result = self.items.query(
                KnnQuery(query, depth, filter, ef_runtime=self.ef_runtime, return_fields=[])
            )
            hits = [(h.id, round(1.0 - float(h.distance or 0.0), 6)) for h in result.hits]
            return [Recommendation(i, s, []) for i, s in hits if i not in skip][:n]
        results = self.items.search_many(
            [KnnQuery(v, depth, filter, ef_runtime=self.ef_runtime, return_fields=[]) for v in pos]
        )
        candidates = sorted({h.id for r in results for h in r.hits} - skip)
        if not candidates:
            return []
        found = self._stored_vectors(candidates)
        vectors = {i: v for i, v in found.items() if v is not None}  # one may vanish meanwhile
        ids = [i for i in candidates if i in vectors]
        if not ids:
            return []
        matrix = _unit(np.stack([vectors[i] for i in ids]))
        to_pos = matrix @ pos.T
        best_pos = to_pos.max(axis=1)
        scores = best_pos.copy()
        if len(neg):
            best_neg = (matrix @ neg.T).max(axis=1)
            closer = best_neg > best_pos
            scores[closer] = -(best_neg[closer] ** 2)
        order = sorted(range(len(ids)), key=lambda j: (-scores[j], ids[j]))[:n]
        return [
            Recommendation(ids[j], round(float(scores[j]), 6), [_closest(positive, to_pos[j])])
            for j in order
        ]

    def _examples(
        self, examples: Sequence[Example], what: str
    ) -> tuple[npt.NDArray[np.float64], list[str]]:
        """Unit vectors for the examples, and the item ids among them."""
        ids = [str(e) for e in examples if isinstance(e, str | int)]
        stored = self._stored_vectors(ids) if ids else {}
        missing = [i for i in ids if i not in stored]
        if missing:
            raise UnknownItemError(
                f"unknown item{'s' if len(missing) > 1 else ''} "
                f"{', '.join(repr(m) for m in missing[:5])} in recommender '{self.name}'"
            )
        empty = [i for i in ids if stored[i] is None]
        if empty:
            raise ValidationError(
                f"item {empty[0]!r} has no vector (nothing to compare it with): "
                f"give items a vector to use them as examples"
            )
        rows: list[npt.NDArray[np.float32]] = []
        for n, e in enumerate(examples):
            if isinstance(e, str | int):
                v = cast(npt.NDArray[np.float32], stored[str(e)])
            else:
                v = self._vector(e, f"{what} example {n + 1}")
                if not np.any(v):
                    raise VectorError(f"{what} example {n + 1} is all zeros: it points nowhere")
            rows.append(v)
        if not rows:
            return np.zeros((0, self.dims)), ids
        return _unit(np.stack(rows)), ids

    def _stored_vectors(self, ids: Sequence[str]) -> dict[str, npt.NDArray[np.float32] | None]:
        """Each stored item's similarity vector (None: stored without one); unknown ids
        are absent."""
        pipe = self.client.pipeline(transaction=False)
        for i in ids:
            key = f"{self.name}:item:{i}"
            pipe.exists(key)
            pipe.hget(key, "vec")
        replies = pipe.execute()
        out: dict[str, npt.NDArray[np.float32] | None] = {}
        for n, i in enumerate(ids):
            exists, raw = replies[2 * n], replies[2 * n + 1]
            if exists:
                out[i] = None if raw is None else np.frombuffer(raw, dtype="<f4")
        return out

    def _users_matching(self, filter: Filter | str, limit: int = 10_000) -> list[str]:
        schema = self.users.schema
        reply = self.client.execute_command(
            "FT.SEARCH", schema.name, render_filter(filter, schema), "NOCONTENT",
            "LIMIT", 0, limit, "DIALECT", 2,
        )  # fmt: skip
        prefix = len(schema.prefix)
        return [text(key)[prefix:] for key in reply[1:]]


def _unit(matrix: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    m = matrix.astype(np.float64)
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    return m / np.where(norms == 0, 1.0, norms)


def _closest(examples: Sequence[Example], sims: npt.NDArray[Any]) -> str:
    """The positive example an item resembles most: its id, or ``#n`` for a vector."""
    best = int(np.argmax(sims))
    e = examples[best]
    return str(e) if isinstance(e, str | int) else f"#{best + 1}"


def _check_counts(n: int, neighbours: int) -> None:
    for name, value, hi in (("n", n, 1000), ("neighbours", neighbours, 1000)):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= hi:
            raise ValidationError(f"{name} must be an integer from 1 to {hi}, got {value!r}")
