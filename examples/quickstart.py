"""`make demo`: an embedded Redis with search, two indexes, three kinds of search.

1. Users as interest vectors over (books, comics, computers), as in the seed:
   KNN for the users nearest to an interest profile, then the same KNN pre-filtered
   to users labelled with an interest.
2. CPython's own help topics (``pydoc_data.topics``, on every machine with Python)
   in JSON documents, searched by BM25 full text.

It starts the server in a temporary directory and stops it at the end, leaving
nothing running.
"""

from __future__ import annotations

import tempfile
from pydoc_data.topics import topics

from redvec import EmbeddedServer, connect
from redvec.filters import Tag
from redvec.index import SearchIndex
from redvec.schema import IndexSchema, NumericField, TagField, TextField, VectorField

INTERESTS = ("books", "comics", "computers")
USERS = {
    "alice": [0.9, 0.7, 0.2],
    "bob": [0.1, 0.2, 0.95],
    "carol": [0.8, 0.9, 0.1],
    "dave": [0.3, 0.1, 0.8],
    "erin": [0.95, 0.2, 0.5],
}


def labels(vector: list[float]) -> list[str]:
    """An interest counts as a label above 0.4, as in the seed's walk-through."""
    return [name for name, score in zip(INTERESTS, vector, strict=True) if score > 0.4]


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="redvec-demo-") as data_dir:
        with EmbeddedServer(data_dir) as server:
            client = connect(server.url)
            print(f"embedded Redis with RediSearch + RedisJSON at {server.url}\n")

            users = SearchIndex.create(
                client,
                IndexSchema(
                    "users",
                    "user:",
                    (
                        TagField("labels"),
                        NumericField("time"),
                        VectorField("vec", dims=3, distance="L2"),
                    ),
                ),
            )
            users.upsert(
                {"id": name, "vec": vec, "labels": labels(vec), "time": i}
                for i, (name, vec) in enumerate(USERS.items())
            )
            users.wait_indexed()
            me = [0.85, 0.75, 0.15]
            print(f"users nearest to interests {dict(zip(INTERESTS, me, strict=True))}:")
            for hit in users.search(me, 2):
                print(f"  {hit.id:<6} distance {hit.distance:.4f}  labels {hit.fields['labels']}")
            print("the same KNN, pre-filtered to users labelled 'computers':")
            for hit in users.search(me, 2, filter=Tag("labels") == "computers"):
                print(f"  {hit.id:<6} distance {hit.distance:.4f}  labels {hit.fields['labels']}")

            docs = SearchIndex.create(
                client,
                IndexSchema(
                    "pydoc",
                    "pydoc:",
                    (TextField("title", weight=3.0), TextField("body")),
                    storage="json",
                ),
            )
            count = docs.upsert(
                {"id": key, "title": key.replace("-", " "), "body": text}
                for key, text in topics.items()
            )
            docs.wait_indexed()
            query = "exception handling with try and finally"
            print(f"\nindexed {count} Python help topics; BM25 search for {query!r}:")
            for hit in docs.text_search(query, 5, return_fields=["title"]):
                print(f"  {hit.id:<24} score {hit.score:.2f}")
        print("\nserver stopped; nothing left running")


if __name__ == "__main__":
    main()
