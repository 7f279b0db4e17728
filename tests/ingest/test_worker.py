"""The stream worker: nothing lost when a worker is killed, stopped, or fed bad entries."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time

import pytest
import redis

from redvec.embeddings import make_provider
from redvec.index import SearchIndex
from redvec.ingest.worker import StreamWorker, enqueue
from redvec.schema import IndexSchema, NumericField, TextField, VectorField

from ..conftest import REDVEC, openai_args
from ..embedding_server import API_KEY, EmbeddingServer

DOCS = [{"id": f"d{i}", "text": f"document {i}", "n": i} for i in range(40)]


@pytest.fixture()
def index(r: redis.Redis) -> SearchIndex:
    schema = IndexSchema(
        "queue", "q:", (TextField("text"), NumericField("n"), VectorField("embedding", dims=8))
    )
    return SearchIndex.create(r, schema)


def start_worker(
    env: dict[str, str], server: EmbeddingServer, *extra: str
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            *REDVEC,
            "worker",
            "--stream",
            "jobs",
            "--group",
            "g",
            "-i",
            "queue",
            *openai_args(server),
            "--batch-size",
            "10",
            *extra,
        ],
        env={**env, "OPENAI_API_KEY": API_KEY},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def pending(r: redis.Redis) -> int:
    try:
        return int(r.xpending("jobs", "g")["pending"])
    except redis.ResponseError:  # the worker has not created its group yet
        return 0


def wait_for(condition: object, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_killed_worker_loses_nothing(
    r: redis.Redis, index: SearchIndex, server: EmbeddingServer, cli_env: dict[str, str]
) -> None:
    enqueue(r, "jobs", DOCS)
    server.delay = 1.0
    first = start_worker(cli_env, server, "--consumer", "a")
    wait_for(lambda: pending(r) == 10)  # "a" holds a batch and is embedding it (1 s a call)
    os.kill(first.pid, signal.SIGKILL)
    first.wait(10)
    assert pending(r) == 10  # a's batch: delivered, never acknowledged

    server.delay = 0.0
    second = start_worker(
        cli_env, server, "--consumer", "b", "--claim-idle-ms", "500", "--exit-when-idle"
    )
    _, stderr = second.communicate(timeout=120)
    assert second.returncode == 0, stderr
    assert "10 claimed from others" in stderr
    index.wait_indexed()
    assert index.count() == 40
    assert {d["id"] for d in index.get([d["id"] for d in DOCS]) if d} == {d["id"] for d in DOCS}
    assert pending(r) == 0
    assert r.xlen("jobs") == 0
    assert r.exists("jobs:dead") == 0


def test_sigterm_finishes_the_batch_in_hand(
    r: redis.Redis, index: SearchIndex, server: EmbeddingServer, cli_env: dict[str, str]
) -> None:
    enqueue(r, "jobs", DOCS[:10])
    server.delay = 1.5
    proc = start_worker(cli_env, server)
    wait_for(lambda: pending(r) == 10)  # the batch is in hand, its embedding call under way
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    assert "10 acknowledged" in stderr
    index.wait_indexed()
    assert index.count() == 10
    assert pending(r) == 0


def test_bad_entries_and_repeated_failures_go_to_the_dead_letter_stream(
    r: redis.Redis, index: SearchIndex, server: EmbeddingServer
) -> None:
    provider = make_provider(
        "openai", model="m", base_url=f"{server.url}/v1", api_key=API_KEY, dims=8, max_retries=0
    )
    worker = StreamWorker(
        index,
        provider,
        stream="jobs",
        group="g",
        consumer="c",
        claim_idle_ms=0,
        max_attempts=2,
        block_ms=10,
    )
    enqueue(r, "jobs", [DOCS[0], {"id": "bad", "text": "x", "n": "not a number"}, {"no": "id"}])
    r.xadd("jobs", {"doc": "{broken"})
    assert worker.process_once() == 4
    dead = r.xrange("jobs:dead")
    reasons = sorted(f[b"reason"].decode() for _, f in dead)
    assert reasons[0] == "document 'bad' field 'n': expected a number, got 'not a number'"
    assert reasons[1].startswith("invalid JSON")
    assert reasons[2] == "missing or unusable id field 'id'"
    assert index.get(["d0"])[0] is not None

    server.fail_next = [500] * 100  # the provider keeps failing: retried, then dead-lettered
    enqueue(r, "jobs", [DOCS[1]])
    for _ in range(3):
        worker.process_once()
    dead = r.xrange("jobs:dead")
    assert len(dead) == 4
    assert dead[-1][1][b"reason"] == b"failed 2 times"
    assert json.loads(json.loads(dead[-1][1][b"doc"]))["id"] == "d1"
    assert worker.pending() == 0


POISON = [
    '{"id": "p1", "text": "x", "n": 1e999}',  # beyond float
    '{"id": "p2", "text": "x", "n": %s}' % ("9" * 400),  # an int with 400 digits
    '{"id": "p3", "text": "x", "deep": %s}' % ("[" * 200 + "]" * 200),  # past RedisJSON's limit
    '{"id": "p4", "text": 5}',  # text that is not a string
    '{"id": "p5", "text": "x", "n": "many"}',  # a number that is not
    "{not json",
    '["not", "an", "object"]',
]


def test_poison_jobs_are_dead_lettered_alone_and_kills_lose_nothing(
    r: redis.Redis, server: EmbeddingServer, cli_env: dict[str, str]
) -> None:
    """One poison job used to dead-letter its whole batch of 64 (63 good jobs lost)."""
    schema = IndexSchema(
        "queue",
        "q:",
        (TextField("text"), NumericField("n"), VectorField("embedding", dims=8)),
        storage="json",
    )
    index = SearchIndex.create(r, schema)
    good = [{"id": f"g{i}", "text": f"job {i}", "n": i} for i in range(1993)]
    pipe = r.pipeline(transaction=False)
    slots = {100 + 281 * k for k in range(7)}  # spread through the stream
    it = iter(POISON)
    g = iter(good)
    for n in range(2000):
        raw = next(it) if n in slots else json.dumps(next(g))
        pipe.xadd("jobs", {"doc": raw})
    pipe.execute()

    server.delay = 0.05
    for name in ("a", "b"):  # killed twice mid-batch
        proc = start_worker(cli_env, server, "--consumer", name, "--batch-size", "64")
        before = r.xlen("jobs")
        wait_for(lambda before=before: r.xlen("jobs") < before - 100 and pending(r) > 0)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    server.delay = 0.0
    last = start_worker(
        cli_env, server, "--consumer", "c", "--batch-size", "64",
        "--claim-idle-ms", "500", "--exit-when-idle",
    )  # fmt: skip
    _, stderr = last.communicate(timeout=300)
    assert last.returncode == 0, stderr
    index.wait_indexed()
    keys = sorted(k.decode() for k in r.keys("q:*"))
    assert keys == sorted(f"q:g{i}" for i in range(1993))  # each good job once, none lost
    assert index.count() == 1993
    dead = r.xrange("jobs:dead")
    assert len(dead) == 7  # each poison job dead-lettered once, alone
    reasons = [fields[b"reason"].decode() for _, fields in dead]
    assert any("finite" in x for x in reasons) and any("64 bits" in x for x in reasons)
    assert any("deeper than 127" in x for x in reasons)
    assert r.xlen("jobs") == 0 and pending(r) == 0


def test_a_restarted_worker_embeds_the_schemas_text_fields_not_text(
    r: redis.Redis, server: EmbeddingServer, cli_env: dict[str, str]
) -> None:
    """The first worker recorded `text` as the index's text field, so every later worker
    rejected every job of a title/body index ("no text in text") and dead-lettered it."""
    SearchIndex.create(
        r,
        IndexSchema(
            "queue", "q:", (TextField("title"), TextField("body"), VectorField("embedding", dims=8))
        ),
    )
    jobs = [{"id": f"t{i}", "title": f"title {i}", "body": f"body {i}"} for i in range(20)]
    for part in (jobs[:10], jobs[10:]):
        enqueue(r, "jobs", part)
        proc = start_worker(cli_env, server, "--exit-when-idle")
        _, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 0, stderr
    assert r.exists("jobs:dead") == 0
    assert sorted(k.decode() for k in r.keys("q:*")) == sorted(f"q:t{i}" for i in range(20))
    assert json.loads(SearchIndex.open(r, "queue").get_setting("text_fields") or "[]") == [
        "title",
        "body",
    ]
