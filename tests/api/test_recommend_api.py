"""GET /v1/recommend/users/{id} and /v1/recommend/items/{id} over HTTP."""

from __future__ import annotations

import redis

from redvec.recommend import Recommender

from ..recommend.test_recommender import catalogue, interactions
from .conftest import RunningService


def _shop(r: redis.Redis) -> Recommender:
    rec = Recommender.create(r, "shop", dims=3, positive=4)
    rec.ef_runtime = 500
    rec.add_items(catalogue())
    for u in range(40):
        rec.add_user(f"u{u}", labels=["books", "comics", "computers"][u % 3])
    rec.add_interactions(interactions())
    rec.add_user("newbie")
    rec.users.wait_indexed()
    return rec


def test_recommend_over_http_equals_the_library(service: RunningService, r: redis.Redis) -> None:
    rec = _shop(r)
    expected = rec.recommend("u3", 4, neighbours=6)
    with service.client() as c:
        resp = c.get(
            "/v1/recommend/users/u3", params={"recommender": "shop", "n": 4, "neighbours": 6}
        )
        similar = c.get("/v1/recommend/items/i0", params={"recommender": "shop", "n": 3})
        fallback = c.get("/v1/recommend/users/newbie", params={"recommender": "shop"})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert [x["item"] for x in body["items"]] == [x.item for x in expected.items]
    assert [x["because"] for x in body["items"]] == [x.because for x in expected.items]
    assert [n["user"] for n in body["neighbours"]] == [u for u, _ in expected.neighbours]
    assert body["fallback"] is None
    assert [x["item"] for x in similar.json()["items"]] == [
        i for i, _ in rec.similar_items("i0", 3)
    ]
    assert fallback.json()["fallback"] == "most_popular" and fallback.json()["items"]


def test_recommend_errors(service: RunningService, r: redis.Redis) -> None:
    _shop(r)
    with service.client() as c:
        user = c.get("/v1/recommend/users/nobody", params={"recommender": "shop"})
        item = c.get("/v1/recommend/items/nothing", params={"recommender": "shop"})
        recommender = c.get("/v1/recommend/users/u1", params={"recommender": "nope"})
        flt = c.get("/v1/recommend/users/u1", params={"recommender": "shop", "filter": "hue:red"})
        n = c.get("/v1/recommend/users/u1", params={"recommender": "shop", "n": 0})
    assert (user.status_code, user.json()["error"]["code"]) == (404, "user_not_found")
    assert (item.status_code, item.json()["error"]["code"]) == (404, "item_not_found")
    assert recommender.status_code == 404
    assert recommender.json()["error"]["message"] == "no recommender named 'nope'"
    assert flt.status_code == 422 and "unknown field 'hue'" in flt.json()["error"]["message"]
    assert n.status_code == 422


def test_recommend_by_example_over_http_equals_the_library(
    service: RunningService, r: redis.Redis
) -> None:
    rec = _shop(r)
    with service.client() as c:
        liked = c.post(
            "/v1/recommend/items",
            json={"recommender": "shop", "positive": ["i0", "i3"], "negative": ["i1"], "n": 4},
        )
        best = c.post(
            "/v1/recommend/items",
            json={
                "recommender": "shop", "positive": ["i0", [0.0, 0.0, 1.0]], "n": 3,
                "strategy": "best_score", "filter": {"field": "tags", "tag": "computers"},
                "exclude": ["i2"],
            },
        )  # fmt: skip
    assert liked.status_code == 200, liked.text
    expected = rec.by_example(["i0", "i3"], ["i1"], n=4)
    assert [x["item"] for x in liked.json()["items"]] == [x.item for x in expected]
    assert liked.json()["strategy"] == "average_vector"
    assert best.status_code == 200, best.text
    body = best.json()["items"]
    assert [x["item"] for x in body] == [
        x.item
        for x in rec.by_example(
            ["i0", [0.0, 0.0, 1.0]], n=3, strategy="best_score", filter="tags:computers",
            exclude=["i2"],
        )
    ]  # fmt: skip
    assert "i2" not in [x["item"] for x in body] and len(body) == 3


def test_recommend_by_example_errors(service: RunningService, r: redis.Redis) -> None:
    _shop(r)
    post = lambda body: c.post("/v1/recommend/items", json={"recommender": "shop", **body})  # noqa: E731
    with service.client() as c:
        unknown = post({"positive": ["i0", "nope"]})
        dims = post({"positive": [[1.0, 2.0]]})
        none = post({"positive": []})
        strategy = post({"positive": ["i0"], "strategy": "sum"})
        field = post({"positive": ["i0"], "filter": {"field": "hue", "tag": "red"}})
        typo = post({"positive": ["i0"], "negatives": ["i1"]})
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "item_not_found")
    assert "'nope'" in unknown.json()["error"]["message"]
    assert dims.status_code == 422
    assert "has dimension 2, expected 3" in dims.json()["error"]["message"]
    for resp in (none, strategy, typo):
        assert resp.status_code in (400, 422), resp.text
    assert field.status_code == 422 and "unknown field 'hue'" in field.json()["error"]["message"]
