"""Write throughput: redvec's writer against a raw pipelined HSET loop and RedisVL.

20k precomputed 384-d vectors (float32, clustered) into an HNSW index (M 16,
EF_CONSTRUCTION 200, COSINE), on HASH storage, each path into a fresh index on the
same server, in the same run; the clock stops when FT.INFO says fully indexed, since
HNSW insertion happens inside Redis and a write is not done until it is searchable.
Then redvec's batch size is swept, and the local model's documents/s is measured on
real abstracts (SciFact, when ../shared/data/scifact is there).

    python benchmarks/ingest.py [--n 20000] [--rounds 2] [--embed 256]
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import redis

from redvec import EmbeddedServer, connect
from redvec.index import SearchIndex
from redvec.schema import IndexSchema, NumericField, TagField, VectorField

SCIFACT = Path(__file__).resolve().parents[2] / "shared" / "data" / "scifact" / "corpus.jsonl.gz"
CATEGORIES = ["finance", "sport", "science", "art", "travel"]


def schema(dim: int) -> IndexSchema:
    return IndexSchema(
        "bench_ingest",
        "bi:",
        (
            TagField("category"),
            NumericField("price"),
            VectorField("embedding", dims=dim, m=16, ef_construction=200, distance="COSINE"),
        ),
    )


def vectors(n: int, dim: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(64, dim))
    x = centers[rng.integers(0, 64, n)] + 0.35 * rng.normal(size=(n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def fresh(client: redis.Redis, dim: int) -> SearchIndex:
    client.flushall()
    return SearchIndex.create(client, schema(dim))


def timed(client: redis.Redis, dim: int, write: Callable[[SearchIndex], None]) -> float:
    idx = fresh(client, dim)
    start = time.perf_counter()
    write(idx)
    idx.wait_indexed(timeout=3600)
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--embed", type=int, default=256, help="SciFact abstracts to embed (0: skip)")
    ap.add_argument("--url")
    args = ap.parse_args()

    data = vectors(args.n, args.dim)
    docs = [
        {"id": str(i), "category": CATEGORIES[i % 5], "price": float(i % 100), "embedding": v}
        for i, v in enumerate(data)
    ]
    server = None if args.url else EmbeddedServer(appendonly=False).start()
    url = args.url or (server.url if server else "")
    try:
        client = connect(url)

        def raw(idx: SearchIndex) -> None:
            pipe = client.pipeline(transaction=False)
            for i, d in enumerate(docs):
                pipe.hset(
                    f"bi:{d['id']}",
                    mapping={
                        "category": d["category"],
                        "price": d["price"],
                        "embedding": d["embedding"].tobytes(),
                    },
                )
                if i % 500 == 499:
                    pipe.execute()
            pipe.execute()

        def ours(idx: SearchIndex) -> None:
            idx.upsert(docs)

        paths: dict[str, Callable[[SearchIndex], None]] = {
            "raw pipelined HSET": raw,
            "redvec upsert": ours,
        }
        try:
            from redisvl.index import SearchIndex as VLIndex

            vl = VLIndex.from_dict(
                {
                    "index": {"name": "bench_ingest", "prefix": "bi", "storage_type": "hash"},
                    "fields": [
                        {"name": "category", "type": "tag"},
                        {"name": "price", "type": "numeric"},
                        {
                            "name": "embedding",
                            "type": "vector",
                            "attrs": {
                                "dims": args.dim,
                                "algorithm": "hnsw",
                                "m": 16,
                                "ef_construction": 200,
                                "distance_metric": "cosine",
                                "datatype": "float32",
                            },
                        },
                    ],
                },
                redis_url=url,
            )
            vl_docs = [{**d, "embedding": d["embedding"].tobytes()} for d in docs]

            def redisvl(idx: SearchIndex) -> None:
                vl.load(vl_docs, id_field="id", batch_size=500)

            paths["RedisVL index.load"] = redisvl
        except ImportError:
            print("redisvl not installed (pip install 'redvec[bench]'): skipped", file=sys.stderr)

        best: dict[str, float] = {}
        for _ in range(args.rounds):
            for name, fn in paths.items():
                seconds = timed(client, args.dim, fn)
                best[name] = min(best.get(name, float("inf")), seconds)
        raw_rate = args.n / best["raw pipelined HSET"]
        print(
            f"{args.n} x {args.dim} vectors into HNSW (M 16, EF_CONSTRUCTION 200), until fully "
            f"indexed; best of {args.rounds}"
        )
        print(f"{'path':<22}{'seconds':>9}{'vectors/s':>11}{'vs raw':>8}")
        for name, seconds in best.items():
            rate = args.n / seconds
            print(f"{name:<22}{seconds:>9.1f}{rate:>11.0f}{rate / raw_rate:>8.2f}")

        print("\nredvec upsert by batch size (pipeline depth)")
        print(f"{'batch':>6}{'seconds':>9}{'vectors/s':>11}")
        for batch in (10, 100, 500, 2000):

            def sized(idx: SearchIndex, batch: int = batch) -> None:
                idx.batch_size = batch
                idx.upsert(docs)

            seconds = timed(client, args.dim, sized)
            print(f"{batch:>6}{seconds:>9.1f}{args.n / seconds:>11.0f}")

        write_only: dict[str, Any] = {}
        idx = fresh(client, args.dim)
        client.execute_command("FT.DROPINDEX", "bench_ingest")  # no index: the write path alone
        idx.check_indexing = False  # there is no index to ask about indexing failures
        start = time.perf_counter()
        idx.upsert(docs)
        write_only["redvec"] = time.perf_counter() - start
        print(
            f"\nwithout an index (write path alone): {args.n / write_only['redvec']:.0f} "
            f"vectors/s, so HNSW insertion dominates"
        )

        if args.embed and SCIFACT.exists():
            from redvec.embeddings import make_provider

            with gzip.open(SCIFACT, "rt") as f:
                texts = [
                    (row.get("title", "") + "\n\n" + row["text"]).strip()
                    for row, _ in zip(map(json.loads, f), range(args.embed), strict=False)
                ]
            provider = make_provider("local")
            start = time.perf_counter()
            provider.embed(texts[:1])
            cold = time.perf_counter() - start
            start = time.perf_counter()
            provider.embed(texts)
            warm = time.perf_counter() - start
            print(
                f"\nlocal {provider.name}: cold start {cold:.1f}s; {len(texts)} SciFact "
                f"abstracts in {warm:.1f}s = {len(texts) / warm:.1f} docs/s"
            )
        elif args.embed:
            print(f"\n{SCIFACT} not found: local model throughput skipped")
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
