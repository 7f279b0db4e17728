"""The HTTP service as users run it: `redvec serve` in its own process, on a free port,
with the session's embedded Redis behind it, talked to with httpx over a real socket."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from redvec.api.auth import ApiKey, KeyRing, digest, new_key

from ..embedding_server import API_KEY


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RunningService:
    url: str
    process: subprocess.Popen[bytes]
    log: Path
    keys: dict[str, str] = field(default_factory=dict)  # key id -> the key itself

    def client(self, key: str | None = None, **kw: object) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.keys[key]}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, **kw)  # type: ignore[arg-type]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_service(
    redis_url: str,
    tmp: Path,
    *,
    keys: dict[str, ApiKey] | None = None,
    extra_args: list[str] | None = None,
    env: dict[str, str] | None = None,
) -> RunningService:
    port = free_port()
    args = [
        sys.executable, "-m", "redvec.cli", "serve", "--port", str(port), "--url", redis_url,
        "--log-level", "warning",
    ]  # fmt: skip
    plain: dict[str, str] = {}
    if keys is not None:
        ring = KeyRing()
        for key_id, entry in keys.items():
            secret = new_key()
            plain[key_id] = secret
            ring.add(ApiKey(key_id, digest(secret), entry.scopes, entry.tenant))
        key_file = tmp / "keys.json"
        key_file.write_text(ring.to_json())
        args += ["--api-keys", str(key_file)]
    args += extra_args or []
    log = tmp / f"serve-{port}.log"
    full_env = {
        **os.environ,
        "REDVEC_INDEX_CACHE_SECONDS": "0",
        "REDVEC_MERGE": "0",  # no background merger unless a test asks (tests/test_buffer.py)
        "OPENAI_API_KEY": API_KEY,  # for the tests' local OpenAI-protocol server
        **(env or {}),
    }
    full_env.pop("REDVEC_API_KEYS", None)
    full_env.pop("REDVEC_API_KEYS_FILE", None)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, env=full_env,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        )  # fmt: skip
    svc = RunningService(f"http://127.0.0.1:{port}", proc, log, plain)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"redvec serve exited: {log.read_text()}")
        try:
            if httpx.get(f"{svc.url}/healthz", timeout=1).status_code == 200:
                return svc
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    svc.stop()
    raise RuntimeError(f"redvec serve did not answer in 60 s: {log.read_text()}")


KEYS = {
    "admin": ApiKey("admin", "", frozenset({"read", "write"})),
    "reader": ApiKey("reader", "", frozenset({"read"})),
    "acme": ApiKey("acme", "", frozenset({"read", "write"}), "acme"),
    "globex": ApiKey("globex", "", frozenset({"read", "write"}), "globex"),
}


@pytest.fixture(scope="session")
def service(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    """The service with auth off (loopback), as a developer runs it."""
    svc = start_service(
        redis_url, tmp_path_factory.mktemp("svc"), extra_args=["--max-body", "262144"]
    )
    yield svc
    svc.stop()


@pytest.fixture(scope="session")
def secured(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    """The service with API keys: admin, reader, and two tenant-bound keys."""
    svc = start_service(redis_url, tmp_path_factory.mktemp("secured"), keys=KEYS)
    yield svc
    svc.stop()
