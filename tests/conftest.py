"""Shared fixtures: one real embedded Redis with search for the whole session.

Every test that needs Redis uses it over a real socket; there are no mocks.
Tests get a flushed database so they can use fixed index names.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from redvec.cluster import LocalCluster
from redvec.server import EmbeddedServer

from .embedding_server import EmbeddingServer

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session", autouse=True)
def _cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Derived files (the local model's ONNX export) go to a temporary cache, not ~/.cache."""
    previous = os.environ.get("REDVEC_CACHE_DIR")
    os.environ["REDVEC_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if previous is None:
        os.environ.pop("REDVEC_CACHE_DIR", None)
    else:
        os.environ["REDVEC_CACHE_DIR"] = previous


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    server = EmbeddedServer(tmp_path_factory.mktemp("redis"), appendfsync="no")
    with server:
        yield server


@pytest.fixture(scope="session")
def redis_url(redis_server: EmbeddedServer) -> str:
    return redis_server.url


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """Three embedded masters joined into a real Redis Cluster (started once, on first use)."""
    with LocalCluster(tmp_path_factory.mktemp("cluster"), 3, appendonly=False) as c:
        yield c


@pytest.fixture()
def r(redis_server: EmbeddedServer) -> Iterator[redis.Redis]:
    """A RESP2 client on a flushed database (FLUSHALL drops indexes too)."""
    client = redis_server.client()
    client.flushall()
    yield client
    client.close()


@pytest.fixture()
def server() -> Iterator[EmbeddingServer]:
    """A local server speaking the OpenAI and Cohere embedding protocols (8-d vectors)."""
    with EmbeddingServer(dims=8) as s:
        yield s


def openai_args(server: EmbeddingServer) -> list[str]:
    """CLI options that embed through the local OpenAI-protocol server."""
    return ["--provider", "openai", "--model", "m", "--base-url", f"{server.url}/v1"]


@pytest.fixture()
def cli_env(redis_url: str, tmp_path: Path) -> dict[str, str]:
    """Environment for running the `redvec` CLI as a subprocess against the test Redis."""
    env = dict(os.environ)
    env["REDIS_URL"] = redis_url
    env["REDVEC_DATA_DIR"] = str(tmp_path / "data")
    env["NO_COLOR"] = "1"
    env["COLUMNS"] = "200"
    return env


REDVEC = [sys.executable, "-m", "redvec.cli"]
