"""FLOAT16 and BFLOAT16 vector fields against FLOAT32 on the same data: memory (FT.INFO),
recall@10 at the same EF_RUNTIME (exact float32 ground truth), and QPS.

    python benchmarks/quantisation.py [--n 20000] [--dim 384] [--url ...]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from redvec import EmbeddedServer, connect
from redvec._resp import pairs
from redvec.bench.datasets import clustered
from redvec.exact import exact_knn
from redvec.index import SearchIndex
from redvec.query import KnnQuery
from redvec.schema import IndexSchema, VectorField


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--url")
    args = ap.parse_args()
    server = None
    url = args.url
    if url is None:
        server = EmbeddedServer(Path(tempfile.mkdtemp(prefix="redvec-q-")), appendonly=False)
        server.start()
        url = server.url
    base = clustered(args.n, args.dim)
    queries = clustered(args.queries, args.dim, seed=3)
    truth, _ = exact_knn(base, queries, 10, "COSINE")
    rows = []
    try:
        client = connect(url)
        for dtype in ("FLOAT32", "FLOAT16", "BFLOAT16"):
            client.flushall()
            before = int(client.info("memory")["used_memory"])
            vf = VectorField("v", dims=args.dim, datatype=dtype, m=16, ef_construction=200)
            idx = SearchIndex.create(client, IndexSchema("q", "q:", (vf,)))
            t = time.perf_counter()
            idx.upsert({"id": i, "v": row} for i, row in enumerate(base))
            idx.wait_indexed()
            build = time.perf_counter() - t
            vec_mb = float(pairs(client.execute_command("FT.INFO", "q"))["vector_index_sz_mb"])
            used_mb = (int(client.info("memory")["used_memory"]) - before) / 2**20
            for ef in (10, 40, 160):
                hits = 0
                t = time.perf_counter()
                for i, q in enumerate(queries):
                    found = idx.query(KnnQuery(q, 10, ef_runtime=ef, return_fields=[])).ids
                    hits += len({int(x) for x in found} & set(truth[i].tolist()))
                qps = len(queries) / (time.perf_counter() - t)
                rows.append((dtype, ef, hits / (10 * len(queries)), qps, vec_mb, used_mb, build))
    finally:
        if server is not None:
            server.stop()
    print(f"{args.n} x {args.dim} clustered, HNSW M 16 EF_CONSTRUCTION 200, COSINE, k 10")
    print("| type | EF_RUNTIME | recall@10 | QPS | vector index MB | used_memory MB | build s |")
    print("|---|---|---|---|---|---|---|")
    for d, ef, rec, qps, vmb, umb, b in rows:
        print(f"| {d} | {ef} | {rec:.4f} | {qps:.0f} | {vmb:.1f} | {umb:.1f} | {b:.1f} |")


if __name__ == "__main__":
    main()
