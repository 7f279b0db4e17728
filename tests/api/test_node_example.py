"""examples/node: node-redis writes vectors, fetch searches them; its own tests run with
Node's built-in test runner against the session's Redis and a running service."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import redis

from .conftest import RunningService

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "node"
NODE = shutil.which("node")


@pytest.mark.skipif(NODE is None, reason="Node.js is not installed")
def test_node_example(service: RunningService, redis_url: str, r: redis.Redis) -> None:
    if not (EXAMPLE / "node_modules" / "redis").is_dir():
        pytest.skip("examples/node has no node_modules: `make test` runs `npm ci` there")
    env = {**os.environ, "REDIS_URL": redis_url, "REDVEC_API_URL": service.url}
    result = subprocess.run(
        [NODE, "--test"],  # type: ignore[list-item]
        cwd=EXAMPLE, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "# pass 3" in result.stdout and "# skipped 0" in result.stdout
