"""Reads under writes with and without the write buffer (issue 18), in one run.

Two 20k x 128 HNSW indexes (M 16, EF_CONSTRUCTION 200, COSINE, HASH) on one server: ``rw``
written straight into its graph, ``rwb`` with ``write_buffer`` (writes land in a FLAT index,
a merger thread moves them into the graph one RENAME at a time). One reader thread sends
KNN queries (k 10) back to back in each phase:

1. no writer;
2. steady: one writer upserting one document at a time, paced to 1000 writes/s, twice:
   as a thread of the reader's process, and as its own process (as a deployment runs it:
   the HTTP service or an application reads, an ingest job or the stream worker writes;
   in one process the writer's Python holds the GIL the reader waits for); the second
   runs last, after the burst is merged;
3. burst: 20,000 new documents written as fast as the writer can, in batches of 64.

Also measured: freshness (a write's acknowledgement to the document being the top hit of a
search for its own vector; without the buffer the comparison is the stream worker's path,
enqueue to searchable), the merge rate against writing straight into the graph, recall@10
during the burst against exact search over everything acknowledged by the query's end, and
a kill -9 of a writer and a merger mid-burst, counted key by key (lost, duplicated, stale).

    python benchmarks/write_buffer.py [--n 20000] [--seconds 10] [--burst 20000] [--url ...]

The last lines state each target, one a line.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from redvec import EmbeddedServer, connect
from redvec.bench.datasets import clustered
from redvec.exact import exact_knn
from redvec.index import SearchIndex
from redvec.ingest.pipeline import FieldMap
from redvec.ingest.worker import StreamWorker, enqueue
from redvec.merger import Merger
from redvec.query import KnnQuery
from redvec.schema import IndexSchema, TextField, VectorField, WriteBuffer

DIM = 128


def schema(name: str, buffered: bool) -> IndexSchema:
    return IndexSchema(
        name, f"{name}:",
        (TextField("text"), VectorField("vec", dims=DIM, m=16, ef_construction=200)),
        write_buffer=WriteBuffer(max_docs=25_000) if buffered else None,
    )  # fmt: skip


def percentiles(lat: list[float]) -> tuple[float, float]:
    a = np.asarray(lat) * 1000
    return float(np.percentile(a, 50)), float(np.percentile(a, 99))


class Reader:
    """Back-to-back KNN queries; keeps latencies, and for the burst a sample of results."""

    def __init__(self, idx: SearchIndex, queries: np.ndarray) -> None:
        self.idx, self.queries = idx, queries
        self.lat: list[float] = []
        self.samples: list[tuple[int, list[str], int, int]] = []  # query, ids, acked0, acked1
        self.acked: list[int] | None = None

    def run(self, stop: threading.Event) -> None:
        i = 0
        while not stop.is_set():
            q = i % len(self.queries)
            a0 = self.acked[0] if self.acked is not None else 0
            t = time.perf_counter()
            ids = self.idx.query(KnnQuery(self.queries[q], 10, return_fields=[])).ids
            self.lat.append(time.perf_counter() - t)
            if self.acked is not None and i % 10 == 0:
                self.samples.append((q, ids, a0, self.acked[0]))
            i += 1


def with_reader(
    idx: SearchIndex, queries: np.ndarray, work: Any, acked: list[int] | None = None
) -> tuple[Reader, float]:
    reader = Reader(idx, queries)
    reader.acked = acked
    stop = threading.Event()
    thread = threading.Thread(target=reader.run, args=(stop,))
    thread.start()
    start = time.perf_counter()
    work()
    took = time.perf_counter() - start
    stop.set()
    thread.join()
    return reader, took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--burst", type=int, default=20_000)
    ap.add_argument("--group", type=int, default=2, help="the merger's RENAMEs per round trip")
    ap.add_argument("--url")
    ap.add_argument("--child", help=argparse.SUPPRESS)  # writer|merger, for the kill -9 check
    args = ap.parse_args()
    if args.child:
        return child(args.child, args.url)
    server = None
    url = args.url
    if url is None:
        server = EmbeddedServer(Path(tempfile.mkdtemp(prefix="redvec-wb-")), appendfsync="no")
        server.start()
        url = server.url
    try:
        report = measure(url, args)
    finally:
        if server is not None:
            server.stop()
    print_report(report, args)


def measure(url: str, args: argparse.Namespace) -> dict[str, Any]:
    client = connect(url)
    base = clustered(args.n, DIM)
    queries = clustered(500, DIM, seed=7)
    burst = clustered(args.burst, DIM, seed=11)
    steady_vecs = iter(clustered(200_000, DIM, seed=13))
    out: dict[str, Any] = {"rows": []}

    def one_index(buffered: bool) -> None:
        name = "rwb" if buffered else "rw"
        idx = SearchIndex.create(client, schema(name, buffered), overwrite=True)
        idx.upsert({"id": i, "text": f"doc {i}", "vec": v} for i, v in enumerate(base))
        if buffered:
            Merger(idx, group=64).drain()  # the base in the graph before any phase
        idx.wait_indexed()
        merger = None
        if buffered:  # the merger in its own process, as `redvec merge` or a worker runs it
            merger = subprocess.Popen(
                [sys.executable, "-m", "redvec.cli", "merge", "-i", name, "--url", url,
                 "--group", str(args.group)],
                stdout=subprocess.DEVNULL,
            )  # fmt: skip
        label = "with buffer" if buffered else "without"
        # 1. no writer
        reader, _ = with_reader(idx, queries, lambda: time.sleep(args.seconds))
        alone = percentiles(reader.lat)
        out["rows"].append((label, "no writer", *alone, len(reader.lat) / args.seconds, 0.0))
        # 2. steady 1000 writes/s, with freshness of each write
        writer_idx = SearchIndex.open(connect(url), name)
        steady_written: list[np.ndarray] = []  # s0, s1, ...: in the index for the burst too
        fresh_lat: list[float] = []

        def steady() -> None:
            written, fresh = steady_writes(writer_idx, steady_vecs, "s", args.seconds)
            steady_written.extend(written)
            fresh_lat.extend(fresh)

        reader, took = with_reader(idx, queries, steady)
        steady_p = percentiles(reader.lat)
        writes = len(steady_written)
        out["rows"].append((label, "steady writer (1000/s)", *steady_p, len(reader.lat) / took,
                            writes / took))  # fmt: skip
        out[f"fresh {label}"] = percentiles(fresh_lat)
        out[f"alone {label}"] = alone
        out[f"steady {label}"] = steady_p
        # 3. burst: 20,000 new documents as fast as the writer can, batches of 64
        acked = [0]

        def write_burst() -> None:
            for lo in range(0, len(burst), 64):
                part = burst[lo : lo + 64]
                writer_idx.upsert(
                    {"id": f"b{lo + j}", "text": "burst", "vec": v} for j, v in enumerate(part)
                )
                acked[0] = lo + len(part)

        reader, took = with_reader(idx, queries, write_burst, acked)
        burst_p = percentiles(reader.lat)
        out["rows"].append((label, f"burst of {len(burst)} (batches of 64)", *burst_p,
                            len(reader.lat) / took, len(burst) / took))  # fmt: skip
        out[f"burst {label}"] = burst_p
        before = np.vstack([base, *steady_written]) if steady_written else base
        names = [*(str(i) for i in range(len(base))), *(f"s{n}" for n in range(writes))]
        out[f"recall {label}"] = burst_recall(reader.samples, before, names, burst, queries)
        # 4. the steady writer again, in its own process, once the burst is merged (last,
        # so the burst's figures are taken on the same index as before this phase existed)
        if buffered:
            Merger(idx, group=64).drain()
        idx.wait_indexed()
        # its own no-writer figure: the index holds the steady and burst documents now
        reader, _ = with_reader(idx, queries, lambda: time.sleep(args.seconds))
        out[f"alone later {label}"] = later = percentiles(reader.lat)
        out["rows"].append((label, "no writer, after the burst", *later,
                            len(reader.lat) / args.seconds, 0.0))  # fmt: skip
        proc_out = Path(tempfile.mkdtemp()) / "steady.json"
        me = [sys.executable, __file__, "--url", url, "--child", f"steady:{name}"]
        env = {**os.environ, "STEADY_OUT": str(proc_out), "STEADY_SECONDS": str(args.seconds)}

        def steady_process() -> None:
            subprocess.run(me, env=env, check=True)

        reader, took = with_reader(idx, queries, steady_process)
        done = json.loads(proc_out.read_text())
        steady_proc = percentiles(reader.lat)
        out["rows"].append((label, "steady writer process (1000/s)", *steady_proc,
                            len(reader.lat) / took, done["writes"] / done["seconds"]))  # fmt: skip
        out[f"steady process {label}"] = steady_proc
        out[f"fresh process {label}"] = percentiles(done["fresh"])
        if merger is not None:
            merger.send_signal(signal.SIGTERM)
            merger.wait(30)

    for buffered in (False, True):
        one_index(buffered)
    # merge rate against writing straight into the graph, no reader
    direct = SearchIndex.create(client, schema("mdirect", False), overwrite=True)
    merged = SearchIndex.create(client, schema("mbuf", True), overwrite=True)
    more = clustered(args.burst, DIM, seed=17)
    for idx in (direct, merged):
        idx.upsert({"id": i, "text": "d", "vec": v} for i, v in enumerate(base))
        Merger(idx, group=64).drain() if idx is merged else None
        idx.wait_indexed()
    start = time.perf_counter()
    for lo in range(0, len(more), 64):
        direct.upsert(
            {"id": f"m{lo + j}", "text": "m", "vec": v} for j, v in enumerate(more[lo : lo + 64])
        )
    direct_rate = len(more) / (time.perf_counter() - start)
    for lo in range(0, len(more), 64):
        merged.upsert(
            {"id": f"m{lo + j}", "text": "m", "vec": v} for j, v in enumerate(more[lo : lo + 64])
        )
    start = time.perf_counter()
    Merger(merged, group=args.group).drain()
    merge_rate = len(more) / (time.perf_counter() - start)
    out["merge"] = (merge_rate, direct_rate)
    # freshness through the stream worker (the path without a buffer)
    out["fresh worker"] = worker_freshness(url)
    out["kill"] = kill_check(url)
    return out


def burst_recall(
    samples: list[tuple[int, list[str], int, int]],
    base: np.ndarray,
    base_names: list[str],
    burst: np.ndarray,
    queries: np.ndarray,
) -> float:
    """Recall@10 of sampled queries against exact search over the base, every burst
    document acknowledged when the query was sent, and the later burst documents it
    returned. A search may or may not see a write that is acknowledged while it runs, or
    whose batch is still being written (buffered batches of 64 go 16 a round trip, so a
    search between two sees part of one): returning one is not wrong, and missing one is
    not a miss. Judging against everything acknowledged by the query's end, as before,
    counted those as misses. ``base`` is what the index held before the burst: the base
    and the steady phase's documents (``base_names``); leaving the latter out counted
    them as misses, more for the buffered index, whose steady writer wrote 10,000 to the
    other's 4,000 (0.72-0.73 against 0.75)."""
    hits = total = 0
    for q, ids, a0, _a1 in samples[:: max(1, len(samples) // 200)]:
        during = sorted(int(i[1:]) for i in ids if i.startswith("b") and int(i[1:]) >= a0)
        pool = np.vstack([base, burst[:a0], burst[during]])
        names = [*base_names, *(f"b{i}" for i in [*range(a0), *during])]
        found, _ = exact_knn(pool, queries[q][None], 10, "COSINE")
        truth = {names[j] for j in found[0]}
        hits += len(truth & set(ids))
        total += 10
    return hits / max(1, total)


def worker_freshness(url: str, count: int = 100) -> tuple[float, float]:
    """Enqueue to searchable through a stream worker (batches of 64), per document."""
    client = connect(url)
    idx = SearchIndex.create(client, schema("fw", False), overwrite=True)
    idx.wait_indexed()

    class Projection:
        name, dims = "projection-128", DIM

        def embed(self, texts: list[str]) -> Any:
            rng = np.random.default_rng([len(t) for t in texts])
            v = rng.normal(size=(len(texts), DIM)).astype(np.float32)
            return v / np.linalg.norm(v, axis=1, keepdims=True)

    worker = StreamWorker(
        idx, Projection(), stream="fw:q", group="g", fields=FieldMap(text_fields=["text"]),
        batch_size=64, block_ms=50,
    )  # fmt: skip
    stop = threading.Event()

    def work() -> None:
        while not stop.is_set():
            worker.process_once()

    thread = threading.Thread(target=work)
    thread.start()
    lat = []
    for n in range(count):
        enqueue(client, "fw:q", [{"id": f"f{n}", "text": f"fresh {n}"}])
        acked = time.perf_counter()
        while idx.get([f"f{n}"])[0] is None:
            time.sleep(0.0005)
        lat.append(time.perf_counter() - acked)
        time.sleep(0.01)
    stop.set()
    thread.join()
    return percentiles(lat)


def process_vectors(seconds: float) -> np.ndarray:
    """The steady writer process's vectors, as it and the parent both draw them."""
    return clustered(int(seconds * 1000) + 1000, DIM, seed=23)


def steady_writes(
    idx: SearchIndex, vectors: Iterator[np.ndarray], prefix: str, seconds: float
) -> tuple[list[np.ndarray], list[float]]:
    """Upserts of one document each (ids ``<prefix>0``, ``<prefix>1``, ...) paced to
    1000/s for ``seconds``: the vectors written, and the freshness of every 50th (its
    acknowledgement to being its own vector's top hit, 1 s where it never was), in seconds."""
    written: list[np.ndarray] = []
    fresh: list[float] = []
    t_next = time.perf_counter()
    end = t_next + seconds
    while time.perf_counter() < end and (vec := next(vectors, None)) is not None:
        n = len(written)
        written.append(vec)
        idx.upsert([{"id": f"{prefix}{n}", "text": "steady", "vec": vec}])
        if n % 50 == 0:  # an approximate search may never rank it first: wait 1 s at most
            acked = time.perf_counter()
            while idx.search(vec, 1, return_fields=[]).ids != [f"{prefix}{n}"]:
                if time.perf_counter() - acked > 1.0:
                    break
            fresh.append(time.perf_counter() - acked)
        t_next += 0.001
        time.sleep(max(0.0, t_next - time.perf_counter()))
    return written, fresh


def steady_child(name: str, url: str) -> None:
    """The steady writer as its own process (:func:`steady_writes` into ``name`` for
    STEADY_SECONDS); how many it wrote, in how long, and their freshness to STEADY_OUT."""
    idx = SearchIndex.open(connect(url), name)
    seconds = float(os.environ["STEADY_SECONDS"])
    start = time.perf_counter()
    written, fresh = steady_writes(idx, iter(process_vectors(seconds)), "p", seconds)
    took = time.perf_counter() - start
    Path(os.environ["STEADY_OUT"]).write_text(
        json.dumps({"writes": len(written), "seconds": took, "fresh": fresh})
    )


def child(kind: str, url: str) -> None:
    """A writer (versions 1 then 2 of documents, each batch's ids appended to a ledger
    after its acknowledgement) or a merger, killed with -9 by the parent; or the steady
    writer (``steady:<index>``)."""
    if kind.startswith("steady:"):
        return steady_child(kind.partition(":")[2], url)
    idx = SearchIndex.open(connect(url), "kill")
    if kind == "merger":
        Merger(idx).run(threading.Event())
        return
    ledger = open(os.environ["LEDGER"], "a", buffering=1)  # noqa: SIM115
    vecs = clustered(20_000, DIM, seed=19)
    for version in (1, 2):
        for lo in range(0, len(vecs), 64):
            batch = [{"id": f"k{i}", "text": f"v{version}", "vec": vecs[i]}
                     for i in range(lo, min(len(vecs), lo + 64))]  # fmt: skip
            idx.upsert(batch)
            ledger.write(json.dumps([version, lo, lo + len(batch)]) + "\n")


def kill_check(url: str) -> dict[str, int]:
    """Kill a writer and a merger with -9 mid-burst; count acknowledged documents lost,
    duplicated (in the index and the buffer at once) and stale (an older version than
    the last acknowledged)."""
    client = connect(url)
    SearchIndex.create(client, schema("kill", True), overwrite=True)
    ledger = Path(tempfile.mkdtemp()) / "ledger"
    env = {**os.environ, "LEDGER": str(ledger)}
    me = [sys.executable, __file__, "--url", url, "--child"]
    writer = subprocess.Popen([*me, "writer"], env=env)
    merger = subprocess.Popen([*me, "merger"], env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # into version 2, so updates are in flight
        lines = ledger.read_text().splitlines() if ledger.exists() else []
        if lines and json.loads(lines[-1])[0] == 2 and json.loads(lines[-1])[2] > 6000:
            break
        time.sleep(0.05)
    for p in (writer, merger):
        p.send_signal(signal.SIGKILL)
        p.wait()
    last: dict[str, int] = {}
    for line in ledger.read_text().splitlines():
        version, lo, hi = json.loads(line)
        for i in range(lo, hi):
            last[f"k{i}"] = version
    lost = duplicated = stale = 0
    for doc_id, version in last.items():
        main, buffered = (
            client.hget(f"kill:{doc_id}", "text"),
            client.hget(f"wbuf:kill:{doc_id}", "text"),
        )
        if main is not None and buffered is not None:
            duplicated += 1
        stored = buffered if buffered is not None else main
        if stored is None:
            lost += 1
        elif int(stored.decode()[1:]) < version:
            stale += 1
    idx = SearchIndex.open(client, "kill")
    Merger(idx).drain()  # a merger restarted: everything ends in the index, once
    after = sum(1 for _ in client.scan_iter(match="kill:*", count=1000))
    left = sum(1 for _ in client.scan_iter(match="wbuf:kill:*", count=1000))
    return {"acknowledged": len(last), "lost": lost, "duplicated": duplicated, "stale": stale,
            "after_restart_in_index": after, "after_restart_in_buffer": left}  # fmt: skip


def print_report(r: dict[str, Any], args: argparse.Namespace) -> None:
    print(f"{args.n} x {DIM} HNSW M 16, k 10, one reader thread, {args.seconds:.0f} s phases; "
          f"the merger in its own process, {args.group} RENAME(s) a round trip")  # fmt: skip
    print("| index | phase | reader p50 ms | reader p99 ms | reader q/s | writes/s |")
    print("|---|---|---|---|---|---|")
    for label, phase, p50, p99, qps, wps in r["rows"]:
        print(f"| {label} | {phase} | {p50:.3f} | {p99:.3f} | {qps:.0f} | {wps:.0f} |")
    for label in ("without", "with buffer"):
        print(f"recall@10 during the burst, {label}: {r[f'recall {label}']:.3f}; "
              f"freshness of a direct write p50/p99: {r[f'fresh {label}'][0]:.2f} / "
              f"{r[f'fresh {label}'][1]:.2f} ms")  # fmt: skip
    fw = r["fresh worker"]
    print(f"freshness through the stream worker (no buffer) p50/p99: {fw[0]:.1f} / {fw[1]:.1f} ms")
    merge_rate, direct_rate = r["merge"]
    print(f"merge {merge_rate:.0f} docs/s, straight into the graph {direct_rate:.0f} docs/s")
    print(f"kill -9 mid-burst: {json.dumps(r['kill'])}")
    for label in ("without", "with buffer"):
        fp = r[f"fresh process {label}"]
        print(f"freshness, steady writer process, {label} p50/p99: {fp[0]:.2f} / {fp[1]:.2f} ms")
    alone, steady = r["alone with buffer"][1], r["steady with buffer"][1]
    k = r["kill"]
    print(f"steady: reader p99 {steady / alone:.1f}x no-writer")
    own, own_without = (
        r[f"steady process {label}"][1] / r[f"alone later {label}"][1]
        for label in ("with buffer", "without")
    )
    print(f"steady, writer in its own process (after the burst): reader p99 {own:.1f}x "
          f"no-writer (without the buffer {own_without:.1f}x)")  # fmt: skip
    print(f"burst: reader p99 {r['burst with buffer'][1]:.1f} ms")
    print(f"freshness: p99 {r['fresh with buffer'][1]:.1f} ms")
    print(f"merge: {merge_rate / direct_rate:.2f}x direct")
    print(f"kill -9: {k['lost']} lost, {k['duplicated']} duplicated, {k['stale']} stale")
    print(f"recall@10 during the burst: {r['recall with buffer']:.3f} "
          f"(without the buffer {r['recall without']:.3f})")  # fmt: skip


if __name__ == "__main__":
    main()
