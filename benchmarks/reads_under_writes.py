"""KNN latency with no writer, with a concurrent writer of single upserts, and with the
stream worker's batched writes (the seed's FAQ: "KNN queries slower during concurrent
writes").

One HNSW index (20k x 128 clustered, M 16, EF_CONSTRUCTION 200, COSINE, HASH). A reader
thread sends KNN queries (k 10) back to back for ``--seconds`` in each phase:

1. alone;
2. beside a thread upserting one new document per call, as fast as it can;
3. beside a `StreamWorker` draining a stream of new documents in batches of 64.

The worker's embedder here is a fixed random projection of the text (a stand-in for a
model, so the phase measures Redis writes, not embedding time). Each phase reports the
reader's p50/p99 and q/s and the writes per second achieved.

    python benchmarks/reads_under_writes.py [--seconds 15] [--url ...]
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import numpy.typing as npt

from redvec import EmbeddedServer, connect
from redvec.bench.datasets import clustered
from redvec.index import SearchIndex
from redvec.ingest.pipeline import FieldMap
from redvec.ingest.worker import StreamWorker, enqueue
from redvec.query import KnnQuery
from redvec.schema import IndexSchema, TextField, VectorField

DIM = 128


class ProjectionEmbedder:
    """Text -> a deterministic unit vector (hash-seeded): costs microseconds, not a model's
    milliseconds, so the worker phase loads Redis the way batched writes do."""

    name = "projection-128"
    dims = DIM

    def embed(self, texts: list[str]) -> npt.NDArray[np.float32]:
        out = np.empty((len(texts), DIM), dtype=np.float32)
        for i, t in enumerate(texts):
            seed = int.from_bytes(hashlib.sha256(t.encode()).digest()[:8], "little")
            v = np.random.default_rng(seed).normal(size=DIM)
            out[i] = v / np.linalg.norm(v)
        return out


def reader(idx: SearchIndex, queries: np.ndarray, stop: threading.Event, lat: list[float]) -> None:
    i = 0
    while not stop.is_set():
        t = time.perf_counter()
        idx.query(KnnQuery(queries[i % len(queries)], 10, return_fields=[]))
        lat.append(time.perf_counter() - t)
        i += 1


def phase(
    name: str, idx: SearchIndex, queries: np.ndarray, seconds: float, writer: object | None
) -> dict[str, float | str]:
    stop = threading.Event()
    lat: list[float] = []
    writes = [0]
    threads = [threading.Thread(target=reader, args=(idx, queries, stop, lat))]
    if writer is not None:
        threads.append(threading.Thread(target=writer, args=(stop, writes)))  # type: ignore[arg-type]
    for t in threads:
        t.start()
    time.sleep(seconds)
    stop.set()
    for t in threads:
        t.join()
    a = np.asarray(lat) * 1000
    return {
        "phase": name,
        "p50_ms": float(np.percentile(a, 50)),
        "p99_ms": float(np.percentile(a, 99)),
        "qps": len(a) / seconds,
        "writes_per_s": writes[0] / seconds,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--url")
    args = ap.parse_args()
    server = None
    url = args.url
    if url is None:
        server = EmbeddedServer(Path(tempfile.mkdtemp(prefix="redvec-rw-")), appendfsync="no")
        server.start()
        url = server.url
    try:
        client = connect(url)
        schema = IndexSchema(
            "rw", "rw:",
            (TextField("text"), VectorField("vec", dims=DIM, m=16, ef_construction=200)),
        )  # fmt: skip
        idx = SearchIndex.create(client, schema, overwrite=True)
        base = clustered(args.n, DIM)
        idx.upsert({"id": i, "text": f"doc {i}", "vec": v} for i, v in enumerate(base))
        idx.wait_indexed()
        queries = clustered(500, DIM, seed=7)
        fresh = iter(clustered(2_000_000, DIM, seed=11))
        counter = iter(range(10**9))

        def single_upserts(stop: threading.Event, writes: list[int]) -> None:
            while not stop.is_set():
                n = next(counter)
                idx.upsert([{"id": f"new{n}", "text": f"new {n}", "vec": next(fresh)}])
                writes[0] += 1

        def stream_worker(stop: threading.Event, writes: list[int]) -> None:
            worker = StreamWorker(
                idx, ProjectionEmbedder(), stream="rw:queue", group="g",
                fields=FieldMap(text_fields=["text"]), batch_size=64, block_ms=100,
            )  # fmt: skip

            def produce() -> None:
                while not stop.is_set():
                    docs = [{"id": f"w{next(counter)}", "text": f"queued {time.time()}"}
                            for _ in range(64)]  # fmt: skip
                    enqueue(client, "rw:queue", docs)
                    time.sleep(0.01)

            producer = threading.Thread(target=produce)
            producer.start()
            while not stop.is_set():
                writes[0] += worker.process_once()
            producer.join()

        rows = [
            phase("no writer", idx, queries, args.seconds, None),
            phase("single upserts", idx, queries, args.seconds, single_upserts),
            phase("stream worker, batches of 64", idx, queries, args.seconds, stream_worker),
        ]
    finally:
        if server is not None:
            server.stop()
    print(f"{args.n} x {DIM} HNSW M 16, k 10, one reader thread, {args.seconds:.0f} s per phase")
    print("| phase | reader p50 ms | reader p99 ms | reader q/s | writes/s |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['phase']} | {r['p50_ms']:.3f} | {r['p99_ms']:.3f} | {r['qps']:.0f} | "
              f"{r['writes_per_s']:.0f} |")  # fmt: skip


if __name__ == "__main__":
    main()
