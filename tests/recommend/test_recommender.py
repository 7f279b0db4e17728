"""User-KNN recommendations against a numpy reference, on a small synthetic shop."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
import redis

from redvec.errors import ConfigError, FilterError, ValidationError, VectorError
from redvec.recommend import Item, Recommender, UnknownItemError, UnknownUserError, aggregate

from ..conftest import REDVEC

# Items belong to one of three categories: books, comics, computers.
CATS = ["books", "comics", "computers"]


def catalogue(n: int = 60) -> list[Item]:
    jitter = np.random.default_rng(42).random((n, 3)) * 0.2  # no two users exactly alike
    items = []
    for i in range(n):
        v = jitter[i].astype(np.float32)
        v[i % 3] = 1.0
        items.append(Item(f"i{i}", v, f"item {i}", (CATS[i % 3],)))
    return items


def interactions(seed: int = 0, users: int = 40) -> list[tuple[str, str, float]]:
    rng = np.random.default_rng(seed)
    out = []
    for u in range(users):
        fav = u % 3
        for i in rng.choice(60, 12, replace=False):
            weight = 5.0 if i % 3 == fav else float(rng.integers(1, 4))
            out.append((f"u{u}", f"i{i}", weight))
    return out


@pytest.fixture()
def shop(r: redis.Redis) -> Recommender:
    rec = Recommender.create(r, "shop", dims=3, positive=4, m=16, ef_construction=200)
    rec.ef_runtime = 500
    rec.add_items(catalogue())
    by_user: dict[str, list[tuple[str, str, float]]] = {}
    for x in interactions():
        by_user.setdefault(x[0], []).append(x)
    for u in range(40):
        rec.add_user(f"u{u}", labels=[CATS[u % 3]])
        rec.add_interactions(by_user[f"u{u}"], time=1000 + u)  # last activity
    rec.users.wait_indexed()
    return rec


def reference_vectors() -> dict[str, np.ndarray]:
    emb = {it.id: np.asarray(it.vector, dtype=np.float64) for it in catalogue()}
    out: dict[str, np.ndarray] = {}
    for u, i, w in interactions():
        out.setdefault(u, np.zeros(3))
        if w >= 4:
            out[u] = out[u] + w * emb[i]
    return out


def test_user_vectors_are_summed_liked_item_embeddings(shop: Recommender) -> None:
    for u, expected in reference_vectors().items():
        got = shop.user_vector(u)
        assert got is not None
        np.testing.assert_allclose(got, expected, rtol=1e-6)


def test_recommend_equals_the_numpy_reference(shop: Recommender, r: redis.Redis) -> None:
    vecs = reference_vectors()
    ids = sorted(vecs)
    m = np.stack([vecs[u] / np.linalg.norm(vecs[u]) for u in ids])
    liked: dict[str, list[str]] = {}
    owned: dict[str, set[str]] = {}
    for u, i, w in interactions():
        owned.setdefault(u, set()).add(i)
        if w >= 4:
            liked.setdefault(u, []).append(i)
    for user in ("u0", "u7", "u20"):
        sims = m @ m[ids.index(user)]
        order = [j for j in np.argsort(-sims, kind="stable") if ids[j] != user][:8]
        near = [(ids[j], round(float(sims[j]), 6)) for j in order]
        expected = aggregate(near, liked, owned[user], 5)
        got = shop.recommend(user, 5, neighbours=8)
        assert [u for u, _ in got.neighbours] == [u for u, _ in near]
        assert [x.item for x in got.items] == [x.item for x in expected]
        np.testing.assert_allclose(
            [x.score for x in got.items], [x.score for x in expected], atol=1e-4
        )
        assert not {x.item for x in got.items} & owned[user]  # never what the user has
        for x in got.items:  # "because": neighbours who liked it
            assert x.because and all(x.item in liked[b] for b in x.because)
        assert got.fallback is None


def test_pre_filters_on_labels_and_activity_time(shop: Recommender) -> None:
    got = shop.recommend("u0", 5, neighbours=5, filter="labels:comics time>=1020")
    assert got.neighbours
    for user, _ in got.neighbours:
        n = int(user[1:])
        assert CATS[n % 3] == "comics" and 1000 + n >= 1020
    with pytest.raises(FilterError, match="unknown field 'colour' in filter"):
        shop.recommend("u0", filter="colour:red")


def test_bad_input_is_named(shop: Recommender) -> None:
    with pytest.raises(UnknownUserError, match="unknown user 'nobody' in recommender 'shop'"):
        shop.recommend("nobody")
    with pytest.raises(VectorError, match="has dimension 2, expected 3"):
        shop.recommend_for_vector([1.0, 2.0])
    with pytest.raises(VectorError, match="NaN"):
        shop.add_user("x", vector=[float("nan"), 0, 0])
    with pytest.raises(ValidationError, match="n must be an integer from 1 to 1000"):
        shop.recommend("u0", 0)
    with pytest.raises(UnknownItemError, match="unknown item 'nope'"):
        shop.add_interactions([("u0", "nope", 5)])
    with pytest.raises(UnknownItemError, match="unknown item 'nope'"):
        shop.similar_items("nope")
    with pytest.raises(ConfigError, match="no recommender named 'other'"):
        Recommender(shop.client, "other")


def test_a_user_with_nothing_liked_gets_the_most_popular(shop: Recommender) -> None:
    shop.add_user("newbie", labels=["books"])
    got = shop.recommend("newbie", 3)
    assert got.fallback == "most_popular" and got.neighbours == []
    counts: dict[str, int] = {}
    for _, i, w in interactions():
        if w >= 4:
            counts[i] = counts.get(i, 0) + 1
    top = sorted(counts.values(), reverse=True)[:3]
    assert [x.score for x in got.items] == [float(c) for c in top]
    assert all(counts[x.item] == x.score for x in got.items)
    within = shop.recommend("newbie", 3, filter="labels:computers")
    assert within.fallback == "most_popular"
    assert all(int(x.item[1:]) % 3 == 2 for x in within.items)  # computers fans like computers


def test_cold_start_from_an_interest_vector(shop: Recommender) -> None:
    got = shop.recommend_for_vector([0.0, 0.1, 0.9], 5, neighbours=10)
    assert got.user is None and got.items
    assert sum(int(x.item[1:]) % 3 == 2 for x in got.items) >= 4  # mostly computers


def test_a_new_interaction_updates_only_that_user(shop: Recommender) -> None:
    before = {u: shop.user_vector(u) for u in ("u0", "u1", "u2")}
    first = shop.recommend("u0", 3).items[0].item
    shop.add_interactions([("u0", first, 5.0)])
    after = shop.user_vector("u0")
    assert after is not None and before["u0"] is not None
    emb = next(it.vector for it in catalogue() if it.id == first)
    np.testing.assert_allclose(after, before["u0"] + 5.0 * emb, rtol=1e-6)
    for u in ("u1", "u2"):
        np.testing.assert_array_equal(shop.user_vector(u), before[u])
    assert first not in {x.item for x in shop.recommend("u0", 10).items}
    assert first in shop.history("u0")


def test_re_rating_replaces_the_old_contribution(shop: Recommender) -> None:
    item = next(it for it in catalogue() if it.id not in shop.history("u5"))
    before = shop.user_vector("u5")
    assert before is not None
    shop.add_interactions([("u5", item.id, 5.0)])
    shop.add_interactions([("u5", item.id, 4.0)])  # still liked, less
    np.testing.assert_allclose(shop.user_vector("u5"), before + 4.0 * item.vector, rtol=1e-5)
    shop.add_interactions([("u5", item.id, 1.0)])  # no longer liked
    np.testing.assert_allclose(shop.user_vector("u5"), before, rtol=1e-5, atol=1e-6)
    assert item.id in shop.history("u5")  # still had: never recommended back


def test_similar_items(shop: Recommender) -> None:
    got = shop.similar_items("i0", 5)
    assert "i0" not in [i for i, _ in got]
    assert all(int(i[1:]) % 3 == 0 for i, _ in got)  # same category first
    sims = [s for _, s in got]
    assert sims == sorted(sims, reverse=True)


def test_a_binary_recommender_adds_each_liked_item_once(r: redis.Redis) -> None:
    rec = Recommender.create(r, "clicks", dims=3, positive=1, binary=True)
    rec.add_items(catalogue(6))
    rec.add_user("u")
    rec.add_interactions([("u", "i0", 5.0), ("u", "i1", 1.0), ("u", "i0", 3.0)])
    emb = {it.id: np.asarray(it.vector, dtype=np.float64) for it in catalogue(6)}
    got = rec.user_vector("u")
    assert got is not None
    np.testing.assert_allclose(got, emb["i0"] + emb["i1"], rtol=1e-6)  # weights ignored
    assert Recommender(r, "clicks").binary


# -- recommend by example -----------------------------------------------------------------


def _unit_vectors() -> dict[str, np.ndarray]:
    out = {}
    for it in catalogue():
        v = np.asarray(it.vector, dtype=np.float64)
        out[it.id] = v / np.linalg.norm(v)
    return out


def _reference(score: dict[str, float], n: int, skip: set[str]) -> list[str]:
    ranked = sorted((i for i in score if i not in skip), key=lambda i: (-score[i], i))
    return ranked[:n]


def test_by_example_average_vector_equals_the_numpy_reference(shop: Recommender) -> None:
    unit = _unit_vectors()
    query = (unit["i0"] + unit["i4"]) / 2  # a book and a comic
    query /= np.linalg.norm(query)
    expected = _reference({i: float(v @ query) for i, v in unit.items()}, 5, {"i0", "i4"})
    got = shop.by_example(["i0", "i4"], n=5)
    assert [x.item for x in got] == expected
    assert got[0].score == pytest.approx(float(unit[expected[0]] @ query), abs=1e-5)
    # With a negative: 2 * mean(positives) - mean(negatives), as Qdrant computes it.
    steer = 2 * unit["i0"] - unit["i1"]
    steer /= np.linalg.norm(steer)
    expected = _reference({i: float(v @ steer) for i, v in unit.items()}, 5, {"i0", "i1"})
    assert [x.item for x in shop.by_example(["i0"], ["i1"], n=5)] == expected


def test_by_example_best_score_equals_the_numpy_reference(shop: Recommender) -> None:
    unit = _unit_vectors()
    pos, neg = ["i0", "i5"], ["i2"]  # books and computers wanted, that one computer not
    score = {}
    for i, v in unit.items():
        best_pos = max(float(v @ unit[p]) for p in pos)
        best_neg = max(float(v @ unit[q]) for q in neg)
        score[i] = best_pos if best_pos > best_neg else -(best_neg**2)
    expected = _reference(score, 6, {*pos, *neg})
    got = shop.by_example(pos, neg, n=6, strategy="best_score")
    assert [x.item for x in got] == expected
    for x in got:  # each says which positive it resembles most, and its exact score
        assert x.score == pytest.approx(score[x.item], abs=1e-5)
        assert x.because == [max(pos, key=lambda p: float(unit[x.item] @ unit[p]))]


def test_by_example_with_a_filter_an_exclusion_and_vectors(shop: Recommender) -> None:
    got = shop.by_example(["i0", "i3"], n=5, filter="tags:comics")  # books, but comics only
    assert len(got) == 5 and all(int(x.item[1:]) % 3 == 1 for x in got)
    first = shop.by_example(["i0"], n=3)
    without = shop.by_example(["i0"], n=3, exclude=[first[0].item])
    assert first[0].item not in [x.item for x in without]
    assert [x.item for x in without][:2] == [x.item for x in first][1:]
    # A vector in the items' space works as an example, like an id.
    as_vector = shop.by_example([catalogue()[0].vector], n=4)
    assert [x.item for x in as_vector][1:] == [x.item for x in shop.by_example(["i0"], n=3)]


def test_by_example_refuses_what_it_cannot_use(shop: Recommender) -> None:
    with pytest.raises(UnknownItemError, match="unknown items 'nope', 'gone' in recommender"):
        shop.by_example(["i0", "nope", "gone"])
    with pytest.raises(UnknownItemError, match="unknown item 'x'"):
        shop.by_example(["i0"], ["x"], strategy="best_score")
    with pytest.raises(VectorError, match="positive example 1 has dimension 2, expected 3"):
        shop.by_example([[1.0, 2.0]])
    with pytest.raises(VectorError, match="NaN"):
        shop.by_example([[1.0, float("nan"), 0.0]])
    with pytest.raises(ValidationError, match="at least one positive example"):
        shop.by_example([], ["i1"])
    with pytest.raises(ValidationError, match="unknown strategy 'sum'"):
        shop.by_example(["i0"], strategy="sum")
    with pytest.raises(ValidationError, match="'i0' is both a positive and a negative"):
        shop.by_example(["i0"], ["i0"])
    with pytest.raises(VectorError, match="cancel out"):
        shop.by_example([[1.0, 0.0, 0.0], [-1.0, 0.0, 0.0]])
    with pytest.raises(FilterError, match="unknown field 'hue'"):
        shop.by_example(["i0"], filter="hue:red")


def test_cli_recommend_items_like_and_unlike(shop: Recommender, cli_env: dict[str, str]) -> None:
    run = lambda *a: subprocess.run(  # noqa: E731
        [*REDVEC, "recommend", "items", "--name", "shop", *a],
        env=cli_env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    done = run("--like", "i0", "--like", "i3", "--unlike", "i1", "-n", "4", "--json")
    assert done.returncode == 0, done.stderr
    expected = shop.by_example(["i0", "i3"], ["i1"], n=4)
    assert [x["item"] for x in json.loads(done.stdout)["items"]] == [x.item for x in expected]
    table = run("--like", "i0", "--strategy", "best_score", "-n", "2", "--filter", "tags:books")
    assert table.returncode == 0, table.stderr
    assert "closest to" in table.stdout and "item " in table.stdout
    missing = run("--like", "nope")
    assert missing.returncode == 1
    assert missing.stderr.strip() == "error: unknown item 'nope' in recommender 'shop'"
