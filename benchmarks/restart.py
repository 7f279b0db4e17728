"""What a restart costs: RediSearch does not persist the HNSW graph, so after a restart
every vector is indexed again before searches see all documents. Measures, for AOF and for
RDB persistence, the time from starting redis-server until it answers, and until the index
is fully indexed (`redvec.wait_ready`), against the original ingest time.

    python benchmarks/restart.py [--n 100000] [--dim 128]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import redis

from redvec import EmbeddedServer
from redvec.bench.datasets import clustered
from redvec.connection import wait_ready
from redvec.index import SearchIndex
from redvec.schema import IndexSchema, VectorField


def run(mode: str, n: int, dim: int) -> dict[str, float]:
    data_dir = Path(tempfile.mkdtemp(prefix=f"redvec-restart-{mode}-"))
    aof = mode == "aof"
    server = EmbeddedServer(data_dir, appendonly=aof, appendfsync="no").start()
    client = server.client()
    idx = SearchIndex.create(
        client, IndexSchema("r", "r:", (VectorField("v", dims=dim, m=16, ef_construction=200),))
    )
    vectors = clustered(n, dim)
    start = time.perf_counter()
    idx.upsert({"id": i, "v": row} for i, row in enumerate(vectors))
    idx.wait_indexed(timeout=3600)
    ingest = time.perf_counter() - start
    if not aof:
        client.save()
    port = server.port
    server.stop()
    server = EmbeddedServer(data_dir, port=port, appendonly=aof, appendfsync="no")
    start = time.perf_counter()
    server.start()  # returns once Redis answers (an RDB load answers -LOADING until done)
    answers = time.perf_counter() - start
    client = server.client()
    while True:
        try:
            wait_ready(client, ["r"], timeout=3600)
            break
        except redis.BusyLoadingError:
            time.sleep(0.05)
    ready = time.perf_counter() - start
    docs = SearchIndex.open(client, "r").count()
    server.stop()
    return {"ingest": ingest, "answers": answers, "ready": ready, "docs": docs}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=128)
    args = ap.parse_args()
    print(f"{args.n} x {args.dim} HNSW M 16 EF_CONSTRUCTION 200, one embedded server")
    print(
        "| persistence | first ingest s | restart: answers after s | fully indexed after s "
        "| ratio to ingest | docs |"
    )
    print("|---|---|---|---|---|---|")
    for mode in ("aof", "rdb"):
        r = run(mode, args.n, args.dim)
        print(
            f"| {mode.upper()} | {r['ingest']:.1f} | {r['answers']:.2f} | {r['ready']:.1f} | "
            f"{r['ready'] / r['ingest']:.2f} | {int(r['docs'])} |"
        )


if __name__ == "__main__":
    main()
