"""How ingest time, memory and query latency grow with the number of vectors.

Clustered synthetic unit vectors (128-d by default) at 10k, 100k and 1M, HNSW M 16
EF_CONSTRUCTION 200 COSINE on HASH, FLOAT32; exact ground truth (numpy) on a 200-query
sample. For each size: ingest time until fully indexed, Redis's used_memory growth and
FT.INFO's vector index size, query p50/p99 and recall@10 at EF_RUNTIME 10 and 100, and
`redvec estimate`'s prediction beside the measured memory.

    python benchmarks/scale.py [--sizes 10000,100000,1000000] [--dim 128] [--url ...]
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import tempfile
import time
from pathlib import Path

import numpy as np

from redvec import EmbeddedServer, connect
from redvec._resp import pairs
from redvec.bench.datasets import clustered
from redvec.bench.estimate import estimate_memory
from redvec.exact import exact_knn
from redvec.index import SearchIndex
from redvec.query import KnnQuery
from redvec.schema import IndexSchema, VectorField


def measure(url: str, n: int, dim: int, m: int, queries: int) -> dict[str, float]:
    client = connect(url)
    client.flushall()
    time.sleep(0.5)
    before = int(client.info("memory")["used_memory"])
    idx = SearchIndex.create(
        client,
        IndexSchema("scale", "scale:", (VectorField("vec", dims=dim, m=m, ef_construction=200),)),
    )
    q = clustered(queries, dim, seed=999)
    start = time.perf_counter()
    pipe = client.pipeline(transaction=False)
    chunk = 50_000
    base_parts = []
    for lo in range(0, n, chunk):
        part = clustered(min(chunk, n - lo), dim, seed=lo + 1)
        base_parts.append(part)
        for i, row in enumerate(part):
            pipe.hset(f"scale:{lo + i}", "vec", row.tobytes())
            if i % 1000 == 999:
                pipe.execute()
        pipe.execute()
    idx.wait_indexed(timeout=24 * 3600)
    ingest_s = time.perf_counter() - start
    info = pairs(client.execute_command("FT.INFO", "scale"))
    vec_mb = float(info.get("vector_index_sz_mb", 0) or 0)
    used_mb = (int(client.info("memory")["used_memory"]) - before) / 2**20
    base = np.vstack(base_parts)
    truth, _ = exact_knn(base, q, 10, "COSINE")
    out: dict[str, float] = {
        "n": n, "ingest_s": ingest_s, "vectors_per_s": n / ingest_s,
        "used_memory_mb": used_mb, "vector_index_mb": vec_mb,
        "estimate_total_mb": estimate_memory(n, dim, "FLOAT32", m).total_mb,
        "estimate_index_mb": estimate_memory(n, dim, "FLOAT32", m).vector_index_mb,
    }  # fmt: skip
    for ef in (10, 100):
        lat, hits = [], 0
        for i, v in enumerate(q):
            t = time.perf_counter()
            res = idx.query(KnnQuery(v, 10, ef_runtime=ef, return_fields=[]))
            lat.append((time.perf_counter() - t) * 1000)
            hits += len({int(h.id) for h in res.hits} & set(truth[i].tolist()))
        out[f"p50_ms_ef{ef}"] = float(np.percentile(lat, 50))
        out[f"p99_ms_ef{ef}"] = float(np.percentile(lat, 99))
        out[f"recall_ef{ef}"] = hits / (10 * len(q))
    client.flushall()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--m", type=int, default=16)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--url", help="Redis URL (default: a temporary embedded server)")
    ap.add_argument("--out", type=Path, help="write the rows as JSON")
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    server = None
    url = args.url
    if url is None:
        server = EmbeddedServer(Path(tempfile.mkdtemp(prefix="redvec-scale-")), appendonly=False)
        server.start()
        url = server.url
    rows = []
    try:
        for n in sizes:
            row = measure(url, n, args.dim, args.m, args.queries)
            rows.append(row)
            print(json.dumps(row), flush=True)
    finally:
        if server is not None:
            server.stop()
    print(f"\n{args.dim}-d FLOAT32, HNSW M {args.m} EF_CONSTRUCTION 200, COSINE, HASH")
    print(
        "| n | ingest s | vectors/s | used_memory MB | estimate MB | vector index MB "
        "| p50 ms ef10 | p99 ms ef10 | recall ef10 | p50 ms ef100 | recall ef100 |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['n']:,} | {r['ingest_s']:.1f} | {r['vectors_per_s']:.0f} | "
            f"{r['used_memory_mb']:.0f} | {r['estimate_total_mb']:.0f} | "
            f"{r['vector_index_mb']:.0f} | "
            f"{r['p50_ms_ef10']:.3f} | {r['p99_ms_ef10']:.3f} | {r['recall_ef10']:.3f} | "
            f"{r['p50_ms_ef100']:.3f} | {r['recall_ef100']:.3f} |"
        )
    for a, b in itertools.pairwise(rows):
        x = b["n"] / a["n"]
        print(
            f"{a['n']:,} -> {b['n']:,} (x{x:.0f}): "
            f"ingest time x{b['ingest_s'] / a['ingest_s']:.1f}, "
            f"memory x{b['used_memory_mb'] / a['used_memory_mb']:.1f}, p50 latency "
            f"x{b['p50_ms_ef100'] / a['p50_ms_ef100']:.2f} (log n grows "
            f"x{math.log(b['n']) / math.log(a['n']):.2f})"
        )
    if args.out:
        args.out.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
