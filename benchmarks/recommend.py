"""Recommendations per second on MovieLens-100k, through the library and through HTTP,
and one ``recommend``'s latency against the number of neighbours K.

Loads the ``ua`` training split with learned factors (32-d) into a temporary embedded
Redis (or ``--url``), then asks for 10 items for every user:

- library: ``Recommender.recommend`` one after another, and from 8 threads;
- HTTP: ``GET /v1/recommend/users/{id}`` on `redvec serve`, one after another and with 8
  concurrent requests (httpx);
- latency p50/p99 of the library call for K in 10, 25, 50, 100, 200.

    python benchmarks/recommend.py [--movielens ../shared/data/movielens-100k] [--url ...]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

from redvec import EmbeddedServer, connect
from redvec.recommend.movielens import load_into, read_movielens

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "movielens-100k"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def http_concurrent(base: str, users: list[str], concurrency: int) -> float:
    sem = asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(base_url=base, timeout=30) as c:

        async def one(u: str) -> None:
            async with sem:
                resp = await c.get(f"/v1/recommend/users/{u}", params={"recommender": "bench_ml"})
                resp.raise_for_status()

        start = time.perf_counter()
        await asyncio.gather(*(one(u) for u in users))
        return len(users) / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--movielens", type=Path, default=DEFAULT)
    ap.add_argument("--url", help="Redis URL (default: a temporary embedded server)")
    ap.add_argument("--threads", type=int, default=8)
    args = ap.parse_args()
    server = None
    url = args.url
    if url is None:
        server = EmbeddedServer(Path(tempfile.mkdtemp(prefix="redvec-bench-")), appendfsync="no")
        server.start()
        url = server.url
    service = None
    try:
        client = connect(url)
        rec = load_into(client, read_movielens(args.movielens), name="bench_ml", kind="factors")
        rec.ef_runtime = 200
        users = sorted(
            (k.decode().split(":")[-1] for k in client.scan_iter("bench_ml:user:*")), key=int
        )

        start = time.perf_counter()
        for u in users:
            rec.recommend(u, 10, neighbours=50)
        lib_seq = len(users) / (time.perf_counter() - start)
        with ThreadPoolExecutor(args.threads) as pool:
            start = time.perf_counter()
            list(pool.map(lambda u: rec.recommend(u, 10, neighbours=50), users))
            lib_par = len(users) / (time.perf_counter() - start)

        port = free_port()
        service = subprocess.Popen(
            [sys.executable, "-m", "redvec.cli", "serve", "--port", str(port),
             "--log-level", "warning"],
            env={**os.environ, "REDIS_URL": url},
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        with httpx.Client(base_url=base, timeout=30) as c:
            for u in users[:50]:
                c.get(f"/v1/recommend/users/{u}", params={"recommender": "bench_ml"})
            start = time.perf_counter()
            for u in users:
                c.get(
                    f"/v1/recommend/users/{u}", params={"recommender": "bench_ml"}
                ).raise_for_status()
            http_seq = len(users) / (time.perf_counter() - start)
        http_par = asyncio.run(http_concurrent(base, users, args.threads))

        print(f"MovieLens-100k ua, factors (32-d), {len(users)} users, n 10, K 50, EF_RUNTIME 200")
        print(f"{'path':<28} {'recommend/s':>12}")
        print(f"{'library, sequential':<28} {lib_seq:>12.0f}")
        print(f"{f'library, {args.threads} threads':<28} {lib_par:>12.0f}")
        print(f"{'HTTP, sequential':<28} {http_seq:>12.0f}")
        print(f"{f'HTTP, {args.threads} concurrent':<28} {http_par:>12.0f}")
        print(f"\n{'K':>5} {'p50 ms':>8} {'p99 ms':>8}")
        for k in (10, 25, 50, 100, 200):
            lat = []
            for u in users[:300]:
                t = time.perf_counter()
                rec.recommend(u, 10, neighbours=k)
                lat.append((time.perf_counter() - t) * 1000)
            print(f"{k:>5} {np.percentile(lat, 50):>8.2f} {np.percentile(lat, 99):>8.2f}")
    finally:
        if service is not None:
            service.send_signal(signal.SIGTERM)
            service.wait(10)
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
