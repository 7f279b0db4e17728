"""What writing into a new index during its initial scan costs, on siftsmall.

FT.CREATE starts a background scan of the whole keyspace; documents written while it
runs are indexed twice (each leaves a deleted node in the HNSW graph). This builds
siftsmall (10k x 128, L2, M 16, EF_CONSTRUCTION 200) on an empty database and on one
that already holds ``--noise`` unrelated keys, with the vectors written (pipelined HSET,
batches of 1000) either at once after FT.CREATE ("raw") or through
``SearchIndex.create``, which returns only once the scan is done ("redvec"). For each:
recall@10 at EF_RUNTIME 10 and 20 against the dataset's ground truth, FT.INFO's
``max_doc_id``, and hnswlib on the same data and parameters as the baseline.

    python benchmarks/index_build.py [--data ../shared/data/ann] [--noise 100000] [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import redis

from redvec import EmbeddedServer
from redvec._resp import pairs
from redvec.bench.datasets import read_vecs
from redvec.index import SearchIndex
from redvec.schema import IndexSchema, VectorField

SCHEMA = IndexSchema(
    "sift",
    "sift:",
    (VectorField("v", dims=128, algorithm="HNSW", distance="L2", m=16, ef_construction=200),),
)


def noise(client: redis.Redis, n: int) -> None:
    pipe = client.pipeline(transaction=False)
    for i in range(n):
        pipe.set(f"other:{i}", "x")
        if i % 5000 == 4999:
            pipe.execute()
    pipe.execute()


def write(client: redis.Redis, base: np.ndarray) -> None:
    for lo in range(0, len(base), 1000):
        pipe = client.pipeline(transaction=False)
        for i in range(lo, min(lo + 1000, len(base))):
            pipe.hset(f"sift:{i}", "v", base[i].tobytes())
        pipe.execute()


def recall(client: redis.Redis, queries: np.ndarray, truth: np.ndarray, ef: int) -> float:
    found = 0
    for q, t in zip(queries, truth, strict=True):
        reply: Any = client.execute_command(
            "FT.SEARCH", "sift", "*=>[KNN 10 @v $B EF_RUNTIME $EF]", "NOCONTENT",
            "PARAMS", 4, "B", q.tobytes(), "EF", ef, "DIALECT", 2,
        )  # fmt: skip
        ids = {int(k.decode().split(":")[1]) for k in reply[1:]}
        found += len(ids & set(t[:10].tolist()))
    return found / (10 * len(queries))


def build(client: redis.Redis, base: np.ndarray, how: str) -> None:
    if how == "raw":
        client.ft("sift").create_index(SCHEMA.redis_fields(), definition=SCHEMA.definition())
    else:
        SearchIndex.create(client, SCHEMA)
    write(client, base)
    SearchIndex.open(client, "sift").wait_indexed()


def hnswlib_recall(base: np.ndarray, queries: np.ndarray, truth: np.ndarray, ef: int) -> float:
    import hnswlib

    index = hnswlib.Index(space="l2", dim=base.shape[1])
    index.init_index(max_elements=len(base), M=16, ef_construction=200, random_seed=100)
    index.add_items(base, np.arange(len(base)))
    index.set_ef(ef)
    labels, _ = index.knn_query(queries, k=10)
    return sum(len(set(a) & set(b[:10])) for a, b in zip(labels, truth, strict=True)) / (
        10 * len(queries)
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=Path(__file__).parents[2] / "shared/data/ann")
    ap.add_argument("--noise", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    base = read_vecs(args.data / "siftsmall_base.fvecs", "<f4").astype(np.float32)
    queries = read_vecs(args.data / "siftsmall_query.fvecs", "<f4").astype(np.float32)
    truth = read_vecs(args.data / "siftsmall_groundtruth.ivecs", "<i4")
    rows = []
    with EmbeddedServer(Path(tempfile.mkdtemp(prefix="redvec-build-")), appendfsync="no") as srv:
        client = srv.client()
        for keys in (0, args.noise):
            for how in ("raw", "redvec"):
                results = []
                for _ in range(args.runs):
                    client.flushall()
                    noise(client, keys)
                    start = time.perf_counter()
                    build(client, base, how)
                    took = time.perf_counter() - start
                    info = pairs(client.execute_command("FT.INFO", "sift"))
                    results.append(
                        (recall(client, queries, truth, 10), recall(client, queries, truth, 20),
                         int(info["max_doc_id"]), took)
                    )  # fmt: skip
                rows.append((keys, how, results))
    hl10 = hnswlib_recall(base, queries, truth, 10)
    hl20 = hnswlib_recall(base, queries, truth, 20)
    print(f"siftsmall {len(base)} x {base.shape[1]}, L2, M 16, EF_CONSTRUCTION 200, "
          f"{args.runs} builds each")  # fmt: skip
    print(f"{'keys before':>11}  {'writes':<22} {'recall@10 EF10':>22} {'EF20':>20} "
          f"{'max_doc_id':>16} {'build s':>8}")  # fmt: skip
    for keys, how, results in rows:
        r10 = [r[0] for r in results]
        r20 = [r[1] for r in results]
        ids = [r[2] for r in results]
        took = statistics.median(r[3] for r in results)
        label = "at once after FT.CREATE" if how == "raw" else "after the scan (create)"
        med = statistics.median(r10)
        print(
            f"{keys:>11,}  {label:<22} {min(r10):.3f}-{max(r10):.3f} (med {med:.3f})"
            f" {min(r20):.3f}-{max(r20):.3f}  {min(ids):>7,}-{max(ids):<7,} {took:8.1f}"
        )
    print(f"hnswlib (same data, M 16, EF_CONSTRUCTION 200): EF10 {hl10:.3f}, EF20 {hl20:.3f}")


if __name__ == "__main__":
    main()
