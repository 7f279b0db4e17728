"""What redvec's search path costs on top of Redis, against the other ways to ask.

One 20k x 384 HNSW index (M 16, EF_CONSTRUCTION 200, COSINE), 1000 KNN queries
(k 10), unfiltered and with a TAG + NUMERIC pre-filter, sent one at a time through:

- redvec: ``SearchIndex.search`` (checks, escaping, typed hits);
- raw: ``execute_command("FT.SEARCH", ...)`` on a RESP2 client, parsed to ids,
  distances and fields by a minimal loop (the floor: no checks at all);
- redis-py: ``client.ft(name).search(Query(...))``;
- RedisVL: ``SearchIndex.query(VectorQuery(...))``.

Each query goes through every path in rotating order (so drift hits every
path alike); that is repeated ``--rounds`` times and each path's best round is
kept. Ratios are to raw in the same run.

    python benchmarks/query_overhead.py [--n 20000] [--queries 1000] [--url redis://...]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import redis
from redis.commands.search.query import Query

from redvec import EmbeddedServer, connect
from redvec.filters import Num, Tag
from redvec.index import SearchIndex
from redvec.schema import IndexSchema, NumericField, TagField, VectorField

CATEGORIES = ["finance", "sport", "science", "art", "travel"]
RETURN = ["category", "price", "__dist"]


def clustered(n: int, dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(64, dim))
    x = centers[rng.integers(0, 64, n)] + 0.35 * rng.normal(size=(n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def build(client: redis.Redis, n: int, dim: int) -> tuple[SearchIndex, float]:
    schema = IndexSchema(
        "bench_overhead",
        "bench:",
        (
            TagField("category"),
            NumericField("price"),
            VectorField("embedding", dims=dim, m=16, ef_construction=200, distance="COSINE"),
        ),
    )
    idx = SearchIndex.create(client, schema, overwrite=True)
    vectors = clustered(n, dim, 0)
    docs = (
        {"id": str(i), "category": CATEGORIES[i % 5], "price": float(i % 100), "embedding": v}
        for i, v in enumerate(vectors)
    )
    start = time.perf_counter()
    idx.upsert(docs)
    idx.wait_indexed(timeout=3600)
    return idx, time.perf_counter() - start


def raw_parse(reply: list[Any]) -> list[tuple[str, float, dict[bytes, bytes]]]:
    out = []
    for i in range(1, len(reply), 2):
        fields = dict(zip(reply[i + 1][::2], reply[i + 1][1::2], strict=False))
        out.append((reply[i].decode()[6:], float(fields.pop(b"__dist")), fields))
    return out


def paths(
    client: redis.Redis, idx: SearchIndex, url: str, filtered: bool
) -> dict[str, Callable[[np.ndarray], Any]]:
    where = "(@category:{finance | science} @price:[20 +inf])" if filtered else "*"
    knn = f"{where}=>[KNN 10 @embedding $BLOB AS __dist]"
    flt = (
        (Tag("category").one_of(["finance", "science"]) & (Num("price") >= 20))
        if filtered
        else None
    )

    def redvec_path(q: np.ndarray) -> Any:
        return idx.search(q, 10, filter=flt)

    def raw_path(q: np.ndarray) -> Any:
        reply = client.execute_command(
            "FT.SEARCH",
            idx.name,
            knn,
            "RETURN",
            3,
            *RETURN,
            "SORTBY",
            "__dist",
            "LIMIT",
            0,
            10,
            "PARAMS",
            2,
            "BLOB",
            q.tobytes(),
            "DIALECT",
            2,
        )
        return raw_parse(reply)

    ft = client.ft(idx.name)
    base_query = Query(knn).return_fields(*RETURN).sort_by("__dist").paging(0, 10).dialect(2)

    def redispy_path(q: np.ndarray) -> Any:
        return ft.search(base_query, query_params={"BLOB": q.tobytes()})

    out = {"redvec": redvec_path, "raw FT.SEARCH": raw_path, "redis-py ft().search": redispy_path}
    try:
        from redisvl.index import SearchIndex as VLIndex
        from redisvl.query import VectorQuery
        from redisvl.query.filter import Num as VLNum
        from redisvl.query.filter import Tag as VLTag
    except ImportError:
        print(
            "redisvl is not installed (pip install 'redvec[bench]'): skipping it", file=sys.stderr
        )
        return out
    vl = VLIndex.from_dict(
        {
            "index": {"name": idx.name, "prefix": "bench", "storage_type": "hash"},
            "fields": [
                {"name": "category", "type": "tag"},
                {"name": "price", "type": "numeric"},
                {
                    "name": "embedding",
                    "type": "vector",
                    "attrs": {
                        "dims": idx.schema.vector_field().dims,
                        "algorithm": "hnsw",
                        "distance_metric": "cosine",
                        "datatype": "float32",
                    },
                },
            ],
        },
        redis_url=url,
    )
    vl_filter = (VLTag("category") == ["finance", "science"]) & (VLNum("price") >= 20)

    def redisvl_path(q: np.ndarray) -> Any:
        return vl.query(
            VectorQuery(
                vector=q.tolist(),
                vector_field_name="embedding",
                return_fields=["category", "price"],
                num_results=10,
                filter_expression=vl_filter if filtered else None,
            )
        )

    out["RedisVL index.query"] = redisvl_path
    return out


def measure(
    runs: dict[str, Callable[[np.ndarray], Any]], queries: np.ndarray
) -> dict[str, dict[str, float]]:
    """Every query through every path, in rotating order, so drift hits all paths alike."""
    names = list(runs)
    latencies: dict[str, list[float]] = {n: [] for n in names}
    for i, q in enumerate(queries):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            t = time.perf_counter()
            runs[name](q)
            latencies[name].append(time.perf_counter() - t)
    out = {}
    for name, lat_s in latencies.items():
        lat = np.array(lat_s) * 1000
        out[name] = {
            "qps": len(lat) / (lat.sum() / 1000),
            "p50_ms": float(np.percentile(lat, 50)),
            "p99_ms": float(np.percentile(lat, 99)),
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--url", help="an existing Redis with search (default: embedded)")
    ap.add_argument("--out", help="write the results as JSON here")
    args = ap.parse_args()

    server = None
    url = args.url
    if url is None:
        server = EmbeddedServer(appendonly=False).start()
        url = server.url
    try:
        client = connect(url)
        idx, build_s = build(client, args.n, args.dim)
        print(
            f"built {args.n} x {args.dim} HNSW in {build_s:.1f}s "
            f"({build_s / args.n * 1000:.2f} ms/vector)"
        )
        queries = clustered(args.queries, args.dim, 1)
        results: dict[str, dict[str, dict[str, float]]] = {}
        for filtered in (False, True):
            label = "TAG+NUMERIC filter" if filtered else "unfiltered"
            runs = paths(client, idx, url, filtered)
            for fn in runs.values():  # warm-up: connections, caches
                for q in queries[:50]:
                    fn(q)
            best: dict[str, dict[str, float]] = {}
            for _ in range(args.rounds):
                for name, m in measure(runs, queries).items():
                    if name not in best or m["qps"] > best[name]["qps"]:
                        best[name] = m
            results[label] = best
            raw = best["raw FT.SEARCH"]["qps"]
            print(f"\n{label}: {args.queries} queries, k 10, best of {args.rounds} rounds")
            print(f"{'path':<24}{'q/s':>8}{'p50 ms':>9}{'p99 ms':>9}{'vs raw':>8}")
            for name, m in best.items():
                print(
                    f"{name:<24}{m['qps']:>8.0f}{m['p50_ms']:>9.3f}{m['p99_ms']:>9.3f}"
                    f"{m['qps'] / raw:>8.2f}"
                )
        if args.out:
            with open(args.out, "w") as f:
                json.dump(
                    {"n": args.n, "dim": args.dim, "build_s": build_s, "results": results},
                    f,
                    indent=2,
                )
        for label, best in results.items():
            line = (
                f"{label}: redvec/raw = {best['redvec']['qps'] / best['raw FT.SEARCH']['qps']:.2f}"
            )
            if "RedisVL index.query" in best:
                vl = best["redvec"]["qps"] / best["RedisVL index.query"]["qps"]
                line += f", redvec/RedisVL = {vl:.2f}"
            print(line)
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
