"""HTTP search throughput against the library's, at the same concurrency.

One 20k x 384 HNSW index (M 16, EF_CONSTRUCTION 200, COSINE, clustered data), k 10.
The same query vectors go

- through the library, two ways: ``SearchIndex.search`` from a pool of
  ``--concurrency`` threads (what a Python application does), and ``AsyncSearch.query``
  (what the service itself runs) with ``--concurrency`` queries in flight on one loop;
- through HTTP: ``POST /v1/indexes/{name}/search`` on `redvec serve --workers W`,
  loaded by wrk (Debian's) with ``--concurrency`` connections, or by a bounded httpx
  client when wrk is missing.

Everything runs on loopback on this machine, so the load generator, the service and
Redis share its cores, as they would on a small box. The three paths are measured in
``--rounds`` interleaved rounds (threads, asyncio, HTTP, then again), so a slow minute of
the machine lands on all of them; each round's ratio is printed and the median and range
over rounds is the figure. Beside req/s, p50 and p99, each path's CPU is printed in
cores: Redis's (``INFO cpu``), the service's process tree (``/proc``), and the load
generator's (this process for the library paths, wrk for HTTP). That is where the paths
differ on two cores: the library's client is the application itself, while HTTP adds a
service and a load generator competing with Redis for the same cores.

    python benchmarks/http_search.py [--n 20000] [--concurrency 32] [--seconds 10]
        [--rounds 3] [--workers 1] [--server granian|uvicorn] [--no-fast-lane]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import redis.asyncio as aredis

from redvec import EmbeddedServer, connect
from redvec.aio import AsyncSearch
from redvec.index import SearchIndex
from redvec.query import KnnQuery
from redvec.schema import IndexSchema, VectorField

INDEX = "bench_http"


def clustered(n: int, dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(64, dim))
    x = centers[rng.integers(0, 64, n)] + 0.35 * rng.normal(size=(n, dim))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def load(url: str, n: int, dim: int) -> None:
    client = connect(url)
    schema = IndexSchema(
        INDEX,
        "bench_http:",
        (VectorField("embedding", dims=dim, m=16, ef_construction=200, distance="COSINE"),),
    )
    if INDEX in [i.decode() for i in client.execute_command("FT._LIST")]:
        idx = SearchIndex.open(client, INDEX)
        if idx.count() == n:
            return
        idx.drop(delete_documents=True)
    idx = SearchIndex.create(client, schema)
    t = time.perf_counter()
    idx.upsert({"id": i, "embedding": v} for i, v in enumerate(clustered(n, dim, 0)))
    idx.wait_indexed()
    print(f"loaded {n} x {dim} in {time.perf_counter() - t:.1f} s", file=sys.stderr)


def percentile(xs: list[float], p: float) -> float:
    return float(np.percentile(np.asarray(xs), p))


async def library(
    url: str, queries: np.ndarray, concurrency: int, seconds: float
) -> dict[str, float]:
    client = aredis.Redis.from_url(url, protocol=2, max_connections=concurrency + 4)
    idx = SearchIndex.open(connect(url), INDEX)
    search = AsyncSearch(idx, client)
    latencies: list[float] = []
    stop_at = 0.0
    counter = 0

    async def worker(first: int) -> None:
        nonlocal counter
        i = first
        while time.perf_counter() < stop_at:
            t = time.perf_counter()
            await search.query(KnnQuery(queries[i % len(queries)].tolist(), 10))
            latencies.append(time.perf_counter() - t)
            counter += 1
            i += concurrency

    stop_at = time.perf_counter() + 2  # warm-up
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    latencies.clear()
    counter = 0
    start = time.perf_counter()
    stop_at = start + seconds
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    elapsed = time.perf_counter() - start
    await client.aclose()
    return {
        "rps": counter / elapsed,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
    }


def library_threads(
    url: str, queries: np.ndarray, concurrency: int, seconds: float
) -> dict[str, float]:
    from concurrent.futures import ThreadPoolExecutor

    import redis

    client = redis.Redis.from_url(url, protocol=2, max_connections=concurrency + 4)
    idx = SearchIndex.open(client, INDEX)
    latencies: list[float] = []
    counts = [0] * concurrency

    def worker(w: int, until: float) -> None:
        i = w
        while time.perf_counter() < until:
            t = time.perf_counter()
            idx.search(queries[i % len(queries)].tolist(), 10)
            latencies.append(time.perf_counter() - t)
            counts[w] += 1
            i += concurrency

    with ThreadPoolExecutor(concurrency) as pool:
        warm = time.perf_counter() + 2
        list(pool.map(lambda w: worker(w, warm), range(concurrency)))
        latencies.clear()
        counts[:] = [0] * concurrency
        start = time.perf_counter()
        list(pool.map(lambda w: worker(w, start + seconds), range(concurrency)))
        elapsed = time.perf_counter() - start
    client.close()
    return {
        "rps": sum(counts) / elapsed,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
    }


def wrk(base: str, queries: np.ndarray, concurrency: int, seconds: float) -> dict[str, float]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write("bodies = {}\n")
        for q in queries[:500]:
            f.write(f"bodies[#bodies+1] = [[{json.dumps({'vector': q.tolist(), 'k': 10})}]]\n")
        f.write(
            "i = 0\nrequest = function()\n  i = i % #bodies + 1\n"
            '  return wrk.format("POST", "/v1/indexes/' + INDEX + '/search", '
            '{["Content-Type"]="application/json"}, bodies[i])\nend\n'
            "done = function(summary, latency, requests)\n"
            '  io.write(string.format("RESULT %d %d %f %f %d\\n", summary.requests, '
            "summary.duration, latency:percentile(50), latency:percentile(99), "
            "summary.errors.status + summary.errors.connect + summary.errors.timeout))\nend\n"
        )
        script = f.name
    threads = str(min(2, concurrency))
    subprocess.run(
        ["wrk", "-t", threads, "-c", str(concurrency), "-d", "3s", "-s", script, base],
        capture_output=True, check=True,
    )  # fmt: skip
    out = subprocess.run(
        ["wrk", "-t", threads, "-c", str(concurrency), "-d", f"{seconds:.0f}s", "-s", script, base],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    os.unlink(script)
    m = re.search(r"RESULT (\d+) (\d+) ([\d.]+) ([\d.]+) (\d+)", out)
    assert m, out
    requests, duration_us, p50_us, p99_us, errors = m.groups()
    if int(errors):
        raise SystemExit(f"wrk saw {errors} errors:\n{out}")
    return {
        "rps": int(requests) / (int(duration_us) / 1e6),
        "p50_ms": float(p50_us) / 1000,
        "p99_ms": float(p99_us) / 1000,
    }


async def httpx_load(
    base: str, queries: np.ndarray, concurrency: int, seconds: float
) -> dict[str, float]:
    limits = httpx.Limits(max_connections=concurrency)
    latencies: list[float] = []
    counter = 0
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as c:

        async def worker(first: int, until: float) -> None:
            nonlocal counter
            i = first
            while time.perf_counter() < until:
                body = {"vector": queries[i % len(queries)].tolist(), "k": 10}
                t = time.perf_counter()
                resp = await c.post(f"/v1/indexes/{INDEX}/search", json=body)
                resp.raise_for_status()
                latencies.append(time.perf_counter() - t)
                counter += 1
                i += concurrency

        await asyncio.gather(*(worker(w, time.perf_counter() + 2) for w in range(concurrency)))
        latencies.clear()
        counter = 0
        start = time.perf_counter()
        await asyncio.gather(*(worker(w, start + seconds) for w in range(concurrency)))
        elapsed = time.perf_counter() - start
    return {
        "rps": counter / elapsed,
        "p50_ms": percentile(latencies, 50) * 1000,
        "p99_ms": percentile(latencies, 99) * 1000,
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tree_cpu(root: int) -> float:
    """CPU seconds (user + system) of process ``root`` and its live descendants."""
    tick = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        cpu[pid] = (int(fields[11]) + int(fields[12])) / tick
    total = 0.0
    for pid, seconds in cpu.items():
        p = pid
        while p > 1 and p != root:
            p = parents.get(p, 0)
        if p == root:
            total += seconds
    return total


class CpuMeter:
    """Cores used by Redis, the service and the load generator over one measured path."""

    def __init__(self, url: str, service_pid: int) -> None:
        self.redis = connect(url)
        self.service_pid = service_pid

    def snapshot(self) -> tuple[float, float, float, float, float]:
        import resource

        info = self.redis.info("cpu")
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return (
            time.perf_counter(),
            float(info["used_cpu_sys"]) + float(info["used_cpu_user"]),
            tree_cpu(self.service_pid),
            time.process_time(),
            children.ru_utime + children.ru_stime,
        )

    def cores(
        self, before: tuple[float, ...], after: tuple[float, ...], wrk: bool
    ) -> dict[str, float]:
        wall = after[0] - before[0]
        generator = (after[4] - before[4]) if wrk else (after[3] - before[3])
        return {
            "redis_cores": (after[1] - before[1]) / wall,
            "service_cores": (after[2] - before[2]) / wall,
            "client_cores": generator / wall,
        }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--workers", type=int, default=1, help="redvec serve --workers")
    ap.add_argument("--server", choices=["granian", "uvicorn"], default="granian")
    ap.add_argument(
        "--no-fast-lane", action="store_true", help="REDVEC_FAST_SEARCH=0: the Litestar handler"
    )
    ap.add_argument("--seconds", type=float, default=10, help="measured seconds per path per round")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds of the three paths")
    ap.add_argument(
        "--client", choices=["wrk", "httpx"], default="wrk" if shutil.which("wrk") else "httpx"
    )
    ap.add_argument("--url", help="Redis URL (default: a temporary embedded server)")
    args = ap.parse_args()
    if args.client == "httpx":
        print(
            "warning: wrk not found (apt-get install wrk); httpx as load generator measures "
            "itself more than the service",
            file=sys.stderr,
        )

    server = None
    url = args.url
    if url is None:
        server = EmbeddedServer(Path(tempfile.mkdtemp(prefix="redvec-bench-")), appendfsync="no")
        server.start()
        url = server.url
    service = None
    rounds: list[dict[str, dict[str, float]]] = []
    try:
        load(url, args.n, args.dim)
        queries = clustered(1000, args.dim, 1)
        port = free_port()
        env = {
            **os.environ,
            "REDIS_URL": url,
            "REDVEC_FAST_SEARCH": "0" if args.no_fast_lane else "1",
        }
        service = subprocess.Popen(
            [
                sys.executable, "-m", "redvec.cli", "serve", "--port", str(port),
                "--workers", str(args.workers), "--log-level", "warning", "--server", args.server,
            ],
            env=env,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        meter = CpuMeter(url, service.pid)
        for r in range(args.rounds):
            row: dict[str, dict[str, float]] = {}
            for path in ("library/threads", "library/asyncio", f"http/{args.client}"):
                before = meter.snapshot()
                if path == "library/threads":
                    got = library_threads(url, queries, args.concurrency, args.seconds)
                elif path == "library/asyncio":
                    got = asyncio.run(library(url, queries, args.concurrency, args.seconds))
                elif args.client == "wrk":
                    got = wrk(base, queries, args.concurrency, args.seconds)
                else:
                    got = asyncio.run(httpx_load(base, queries, args.concurrency, args.seconds))
                got.update(meter.cores(before, meter.snapshot(), path == "http/wrk"))
                row[path] = got
            rounds.append(row)
            http = row[f"http/{args.client}"]
            print(
                f"round {r + 1}: HTTP / threads {http['rps'] / row['library/threads']['rps']:.2f}, "
                f"/ asyncio {http['rps'] / row['library/asyncio']['rps']:.2f}",
                file=sys.stderr,
            )
    finally:
        if service is not None:
            service.send_signal(signal.SIGTERM)
            service.wait(10)
        if server is not None:
            server.stop()

    print(
        f"{args.n} x {args.dim} HNSW, k 10, concurrency {args.concurrency}, "
        f"{args.seconds:.0f} s per path in each of {args.rounds} interleaved rounds, "
        f"service: {args.server}, {args.workers} worker(s), "
        f"fast lane {'off' if args.no_fast_lane else 'on'}"
    )
    print(
        f"{'round':<6}{'path':<16} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'p99/p50':>8} "
        f"{'redis':>6} {'service':>8} {'client':>7}  (CPU in cores)"
    )
    for i, row in enumerate(rounds, start=1):
        for name, r in row.items():
            print(
                f"{i:<6}{name:<16} {r['rps']:>8.0f} {r['p50_ms']:>8.2f} {r['p99_ms']:>8.2f} "
                f"{r['p99_ms'] / r['p50_ms']:>8.2f} {r['redis_cores']:>6.2f} "
                f"{r['service_cores']:>8.2f} {r['client_cores']:>7.2f}"
            )
    http_name = f"http/{args.client}"
    for base_name in ("library/threads", "library/asyncio"):
        ratios = sorted(row[http_name]["rps"] / row[base_name]["rps"] for row in rounds)
        print(
            f"HTTP / {base_name}: median {float(np.median(ratios)):.2f} "
            f"(rounds {', '.join(f'{x:.2f}' for x in ratios)}; target >= 0.70)"
        )
    tails = [row[http_name]["p99_ms"] / row[http_name]["p50_ms"] for row in rounds]
    print(f"HTTP p99/p50: worst {max(tails):.2f} (target < 3)")


if __name__ == "__main__":
    main()
