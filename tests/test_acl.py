"""ACL roles against the real server: readers read, writers write their prefix only."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import redis

from redvec.acl import create_user
from redvec.errors import ConfigError
from redvec.index import SearchIndex
from redvec.schema import IndexSchema, TagField, VectorField
from redvec.server import EmbeddedServer

PASSWORD = "a-long-test-password-123"


@pytest.fixture()
def shop(r: redis.Redis) -> Iterator[SearchIndex]:
    idx = SearchIndex.create(
        r, IndexSchema("idx:docs", "doc:", (TagField("cat"), VectorField("v", dims=4)))
    )
    idx.upsert([{"id": i, "cat": "a", "v": np.ones(4) + i} for i in range(5)])
    r.set("other:1", "secret")
    idx.wait_indexed()
    yield idx
    for user in ("reader1", "writer1"):
        r.execute_command("ACL", "DELUSER", user)


def login(server: EmbeddedServer, user: str) -> redis.Redis:
    return redis.Redis(
        host="127.0.0.1", port=server.port, username=user, password=PASSWORD, protocol=2
    )


def test_a_reader_searches_and_cannot_write_or_create(
    shop: SearchIndex, r: redis.Redis, redis_server: EmbeddedServer
) -> None:
    create_user(r, "reader1", "reader", PASSWORD, prefixes=["doc:"])
    c = login(redis_server, "reader1")
    idx = SearchIndex.open(c, "idx:docs")  # reads the stored schema: allowed
    assert len(idx.search([1, 1, 1, 1], 3).hits) == 3
    assert c.hgetall("doc:1")
    with pytest.raises(redis.exceptions.NoPermissionError):
        c.hset("doc:1", "cat", "b")
    with pytest.raises(redis.exceptions.NoPermissionError):
        c.execute_command("FT.CREATE", "idx:new", "SCHEMA", "t", "TEXT")
    with pytest.raises(redis.exceptions.NoPermissionError):
        c.execute_command("FT.DROPINDEX", "idx:docs")
    with pytest.raises(redis.exceptions.NoPermissionError):
        c.get("other:1")  # outside its prefix


def test_a_writer_writes_its_prefix_only(
    shop: SearchIndex, r: redis.Redis, redis_server: EmbeddedServer
) -> None:
    create_user(r, "writer1", "writer", PASSWORD, prefixes=["doc:"])
    c = login(redis_server, "writer1")
    SearchIndex.open(c, "idx:docs").upsert([{"id": 9, "cat": "b", "v": [1, 2, 3, 4]}])
    assert r.hget("doc:9", "cat") == b"b"
    with pytest.raises(redis.exceptions.NoPermissionError):
        c.set("other:1", "overwritten")
    with pytest.raises(redis.exceptions.NoPermissionError):
        c.execute_command("FT.CREATE", "idx:new", "SCHEMA", "t", "TEXT")
    assert r.get("other:1") == b"secret"


def test_bad_requests_are_named(r: redis.Redis) -> None:
    with pytest.raises(ConfigError, match="role must be one of reader, writer, admin"):
        create_user(r, "x1", "owner", PASSWORD)
    with pytest.raises(ConfigError, match="at least 16 characters"):
        create_user(r, "x1", "reader", "short")
    with pytest.raises(ConfigError, match="must end with ':'"):
        create_user(r, "x1", "reader", PASSWORD, prefixes=["doc"])


def test_cli_create_user(
    shop: SearchIndex, r: redis.Redis, redis_server: EmbeddedServer, cli_env: dict[str, str]
) -> None:
    import subprocess

    from .conftest import REDVEC

    made = subprocess.run(
        [*REDVEC, "acl", "create-user", "reader1", "--role", "reader", "--prefix", "doc:"],
        env=cli_env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    password = made.stdout.strip()
    c = redis.Redis(port=redis_server.port, username="reader1", password=password, protocol=2)
    assert SearchIndex.open(c, "idx:docs").search([1, 1, 1, 1], 2).hits
    bad = subprocess.run(
        [*REDVEC, "acl", "create-user", "x", "--role", "root"], env=cli_env,
        capture_output=True, text=True,
    )  # fmt: skip
    assert bad.returncode == 1 and "role must be one of reader, writer, admin" in bad.stderr
