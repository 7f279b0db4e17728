"""The recommendation seed's walk-through, on the embedded Redis.

Users' interests in books, comics and computers are vectors; a user is labelled with
the interests above 0.4; we ask which users share given interests, and who the two
nearest neighbours of a new user are (scores ascending: lower is closer).

    python examples/recommend_demo.py          # or REDIS_URL=redis://... python ...
"""

from __future__ import annotations

import os
import tempfile

from redvec import EmbeddedServer
from redvec.recommend import VectorDB

CATEGORIES = ["books", "comics", "computers"]
USERS = {
    "alice": [0.9, 0.7, 0.2],
    "bob": [0.1, 0.8, 0.9],
    "carol": [0.8, 0.2, 0.1],
    "dave": [0.3, 0.3, 0.95],
    "erin": [0.85, 0.75, 0.1],
}


def labels_of(vec: list[float]) -> list[str]:
    return [c for c, x in zip(CATEGORIES, vec, strict=True) if x > 0.4]


def run(db: VectorDB) -> None:
    db.create_index(overwrite=True)
    for n, (user, vec) in enumerate(USERS.items()):
        labels = labels_of(vec)
        db.add(user, vec, labels, descr=f"{user} likes {', '.join(labels)}", time=1_700_000_000 + n)
        print(f"{user:<6} interests {vec} -> labels {labels}")
    db.index.wait_indexed()

    print("\nusers interested in both books and comics:")
    query = [0.9, 0.7, 0.2]
    for user, score in db.vector_search(query, 10, "@labels:{books} @labels:{comics}"):
        print(f"  {user:<6} score {score:.4f}")

    new_user = [0.8, 0.6, 0.1]
    print(f"\nthe two nearest neighbours of a new user {new_user} (lower is closer):")
    for user, score in db.vector_search(new_user, 2):
        print(f"  {user:<6} score {score:.4f}")


def main() -> None:
    if os.environ.get("REDIS_URL"):
        run(VectorDB(index_name="demo_users", prefix="demo_user:"))
        return
    with EmbeddedServer(tempfile.mkdtemp(prefix="redvec-demo-")) as server:
        run(VectorDB(server.url, index_name="demo_users", prefix="demo_user:"))


if __name__ == "__main__":
    main()
