"""`make demo`: an embedded Redis with search, two indexes, three kinds of search.

1. Users as interest vectors over (books, comics, computers), as in the seed:
   KNN for the users nearest to an interest profile, then the same KNN pre-filtered
   to users labelled with an interest.
2. CPython's own help topics (``pydoc_data.topics``, on every machine with Python),
   chunked, embedded offline with all-MiniLM-L6-v2 and stored in split storage (metadata
   JSON + vector HASH); then a semantic search, and the same question as a hybrid
   (BM25 + vector, fused by reciprocal rank) search. A second ingest embeds nothing.

It starts the server in a temporary directory and stops it at the end, leaving
nothing running.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from pydoc_data.topics import topics

from redvec import EmbeddedServer, connect
from redvec.embeddings import make_provider
from redvec.filters import Tag
from redvec.index import SearchIndex
from redvec.ingest import FieldMap, Ingestor, Record
from redvec.schema import IndexSchema, NumericField, TagField, VectorField, load_schema

SCHEMAS = Path(__file__).resolve().parent / "schemas"

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

            docs = SearchIndex.create(client, load_schema(SCHEMAS / "pydoc.yaml"))
            records = (
                Record(
                    "pydoc_data.topics",
                    n,
                    {"id": key, "title": key.replace("-", " "), "body": text, "length": len(text)},
                )
                for n, (key, text) in enumerate(topics.items(), start=1)
            )
            embedder = make_provider("local")
            fields = FieldMap(text_fields=["title", "body"])
            started = time.monotonic()
            summary = Ingestor(
                docs, embedder, fields=fields, chunk_size=1000, chunk_overlap=100
            ).run(records)
            docs.wait_indexed()
            print(
                f"\ningested {summary.written} Python help topics as {summary.chunks_written} "
                f"chunks with {embedder.name} in {time.monotonic() - started:.0f}s"
            )
            again = Ingestor(docs, embedder, fields=fields, chunk_size=1000, chunk_overlap=100).run(
                Record(
                    "pydoc_data.topics",
                    n,
                    {"id": key, "title": key.replace("-", " "), "body": text, "length": len(text)},
                )
                for n, (key, text) in enumerate(topics.items(), start=1)
            )
            print(f"ingested again: {again.embedded} embedded, {again.skipped} unchanged")

            question = "how do I catch an exception and clean up afterwards"
            vector = embedder.embed([question])[0]
            print(f"\nsemantic search for {question!r}:")
            for hit in docs.search(vector, 5):
                print(f"  {hit.id:<28} score {hit.score:.3f}  {hit.fields['title']}")
            print("hybrid (BM25 + vector, reciprocal rank fusion):")
            for hit in docs.hybrid_search(question, vector, 5):
                print(f"  {hit.id:<28} rrf {hit.score:.4f}  {hit.fields['title']}")
        print("\nserver stopped; nothing left running")


if __name__ == "__main__":
    main()
