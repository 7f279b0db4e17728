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
