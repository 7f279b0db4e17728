"""The seed's VectorDB and its demo."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import redis

from redvec.recommend import VectorDB

DEMO = Path(__file__).resolve().parents[2] / "examples" / "recommend_demo.py"


def test_seed_walkthrough(redis_url: str, r: redis.Redis) -> None:
    db = VectorDB(redis_url)
    db.create_index()
    people = {"a": [0.9, 0.7, 0.2], "b": [0.1, 0.8, 0.9], "c": [0.8, 0.2, 0.1]}
    for n, (uid, vec) in enumerate(people.items()):
        labels = [c for c, x in zip(["books", "comics", "computers"], vec, strict=True) if x > 0.4]
        db.add(uid, vec, labels, descr=f"user {uid}", time=100 + n)
    db.index.wait_indexed()
    assert r.hget("user:a", "labels") == b"books,comics"
    assert (
        np.frombuffer(r.hget("user:a", "vec"), dtype="<f4").tolist()
        == np.float32([0.9, 0.7, 0.2]).tolist()
    )

    query = [0.8, 0.6, 0.1]
    got = db.vector_search(query, 3)
    expected = sorted(
        ((u, float(np.sum((np.float32(v) - np.float32(query)) ** 2))) for u, v in people.items()),
        key=lambda x: x[1],
    )
    assert [u for u, _ in got] == [u for u, _ in expected]
    np.testing.assert_allclose([s for _, s in got], [s for _, s in expected], atol=1e-5)
    assert [s for _, s in got] == sorted(s for _, s in got)  # ascending: lower is closer

    assert [u for u, _ in db.vector_search(query, 3, "@labels:{comics}")] == ["a", "b"]
    assert [u for u, _ in db.vector_search(query, 3, "@time:[101 +inf]")] == ["c", "b"]


def test_create_index_keeps_an_existing_one(redis_url: str, r: redis.Redis) -> None:
    db = VectorDB(redis_url)
    db.create_index()
    db.add("x", [1, 0, 0], ["books"])
    VectorDB(redis_url).create_index()  # a second process starting up
    assert r.exists("user:x") and db.index.count() == 1


def test_the_demo_tells_the_seed_story(redis_url: str, r: redis.Redis) -> None:
    result = subprocess.run(
        [sys.executable, str(DEMO)], capture_output=True, text=True, timeout=120,
        env={"REDIS_URL": redis_url, "PATH": "/usr/bin:/bin"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "alice  interests [0.9, 0.7, 0.2] -> labels ['books', 'comics']" in out
    shared = out.split("users interested in both books and comics:")[1].split("\n\n")[0]
    assert [line.split()[0] for line in shared.strip().splitlines()] == ["alice", "erin"]
    nearest = out.split("(lower is closer):")[1].strip().splitlines()
    assert [line.split()[0] for line in nearest] == ["erin", "alice"]
    scores = [float(line.split()[-1]) for line in nearest]
    assert scores == sorted(scores)
