"""Connecting: URL resolution, the module check against a plain Redis, readiness."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import redis

from redvec import connect, wait_ready
from redvec.connection import redact_url, resolve_url
from redvec.errors import ModuleMissingError, RedisUnavailableError
from redvec.server import EmbeddedServer, find_free_port, redis_server_binary
from redvec.settings import Settings

from .conftest import REDVEC


@pytest.fixture(scope="module")
def plain_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Redis 8.2 without RediSearch or RedisJSON loaded."""
    port = find_free_port()
    proc = subprocess.Popen(
        [
            str(redis_server_binary()),
            "--port",
            str(port),
            "--save",
            "",
            "--dir",
            str(tmp_path_factory.mktemp("plain")),
        ],
        stdout=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)
    for _ in range(200):
        try:
            client.ping()
            break
        except redis.ConnectionError:
            proc.poll()
            import time

            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}"
    proc.terminate()
    proc.wait(10)


def test_connect_speaks_resp2_to_the_search_module(r: redis.Redis, redis_url: str) -> None:
    client = connect(redis_url)  # `r` flushed the database, so no index is left
    assert client.get_connection_kwargs()["protocol"] == 2
    assert client.execute_command("FT._LIST") == []


def test_plain_redis_gets_one_clear_message(plain_redis: str) -> None:
    with pytest.raises(ModuleMissingError) as info:
        connect(plain_redis)
    assert str(info.value) == (
        f"Redis at {plain_redis} lacks the RediSearch and RedisJSON modules that redvec "
        "needs. Start the embedded server with `redvec server start`, or use Redis Stack "
        "or Redis 8 (which bundle them)."
    )


def test_doctor_on_plain_redis_fails_with_one_line(
    plain_redis: str, cli_env: dict[str, str]
) -> None:
    result = subprocess.run(
        [*REDVEC, "doctor", "--url", plain_redis], env=cli_env, capture_output=True, text=True
    )
    assert result.returncode == 1
    assert "search: MISSING" in result.stdout
    assert result.stderr.startswith(f"error: Redis at {plain_redis} lacks the RediSearch")
    assert len(result.stderr.strip().splitlines()) == 1


def test_nothing_listening_is_reported_with_the_url() -> None:
    url = f"redis://127.0.0.1:{find_free_port()}"
    with pytest.raises(RedisUnavailableError, match=f"cannot reach Redis at {url}"):
        connect(url)


def test_url_resolution_prefers_argument_then_env_then_embedded(tmp_path: Path) -> None:
    assert resolve_url("redis://a:1", Settings(redis_url="redis://b:2")) == "redis://a:1"
    assert resolve_url(None, Settings(redis_url="redis://b:2")) == "redis://b:2"
    with pytest.raises(RedisUnavailableError, match="Run `redvec server start`"):
        resolve_url(None, Settings(data_dir=tmp_path))


def test_passwords_are_redacted_in_messages() -> None:
    assert redact_url("redis://:pw@host:1/0") == "redis://:***@host:1/0"
    assert redact_url("redis://user:pw@host:1") == "redis://user:***@host:1"
    assert redact_url("redis://host:1") == "redis://host:1"


def test_ready_means_fully_indexed_after_restart(tmp_path: Path) -> None:
    """The HNSW graph is rebuilt after a restart; wait_ready waits for it."""
    n, dim = 3000, 64
    vectors = np.random.default_rng(0).random((n, dim), dtype=np.float32)
    with EmbeddedServer(tmp_path) as server:
        client = server.client()
        client.execute_command(
            "FT.CREATE",
            "idx:restart",
            "ON",
            "HASH",
            "PREFIX",
            "1",
            "r:",
            "SCHEMA",
            "v",
            "VECTOR",
            "HNSW",
            "6",
            "TYPE",
            "FLOAT32",
            "DIM",
            dim,
            "DISTANCE_METRIC",
            "L2",
        )
        pipe = client.pipeline(transaction=False)
        for i, v in enumerate(vectors):
            pipe.hset(f"r:{i}", mapping={"v": v.tobytes()})
        pipe.execute()
    with EmbeddedServer(tmp_path) as server:
        progress = wait_ready(server.client(), timeout=120)
        assert [(p.name, p.num_docs, p.ready) for p in progress] == [("idx:restart", n, True)]
