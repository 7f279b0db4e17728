"""The embedded server as a user drives it: from Python and from `redvec server`."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest
import redis

from redvec import EmbeddedServer, connect
from redvec.errors import DataDirError, NotRunningError, PortInUseError
from redvec.server import find_free_port, read_state

from .conftest import REDVEC


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*REDVEC, *args], env=env, capture_output=True, text=True, timeout=120)


def test_embedded_server_has_search_and_json(r: redis.Redis) -> None:
    names = {entry[1] for entry in r.execute_command("MODULE", "LIST")}
    assert {b"search", b"ReJSON"} <= names
    assert r.info("server")["redis_version"].startswith("8.")


def test_context_manager_stops_the_server_and_removes_its_state(tmp_path: Path) -> None:
    with EmbeddedServer(tmp_path) as server:
        assert server.client().ping()
        assert read_state(tmp_path) is not None
        pid = server.pid
    assert pid is not None
    assert read_state(tmp_path) is None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_data_survives_a_restart_on_the_same_directory(tmp_path: Path) -> None:
    with EmbeddedServer(tmp_path) as server:
        server.client().set("greeting", "hello")
    with EmbeddedServer(tmp_path) as server:
        assert server.client().get("greeting") == b"hello"


def test_port_in_use_names_the_port(tmp_path: Path) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        with pytest.raises(PortInUseError, match=f"port {port} on 127.0.0.1 is already in use"):
            EmbeddedServer(tmp_path, port=port).start()
    assert read_state(tmp_path) is None


def test_unwritable_data_directory_is_refused(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(DataDirError, match="cannot create data directory"):
        EmbeddedServer(blocker / "data").start()


def test_stop_when_nothing_runs(tmp_path: Path) -> None:
    with pytest.raises(NotRunningError, match="no redvec server is running on"):
        EmbeddedServer.attach(tmp_path)


def test_password_is_required_when_set(tmp_path: Path) -> None:
    with EmbeddedServer(tmp_path, password="s3cret") as server:
        assert connect(server.url).ping()
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=server.port, protocol=2).ping()


def test_cli_start_status_stop_keeps_data(tmp_path: Path, cli_env: dict[str, str]) -> None:
    env = {k: v for k, v in cli_env.items() if k != "REDIS_URL"}
    data = tmp_path / "srv"
    port = find_free_port()
    started = run(["server", "start", "--port", str(port), "--dir", str(data)], env)
    assert started.returncode == 0, started.stderr
    assert f"redis://127.0.0.1:{port}" in started.stdout
    try:
        status = run(["server", "status", "--dir", str(data)], env)
        assert status.returncode == 0, status.stderr
        assert "search:     2.10." in status.stdout
        assert "ReJSON:     2.8." in status.stdout
        assert f"redis://127.0.0.1:{port}" in status.stdout
        redis.Redis(port=port).set("kept", "yes")

        again = run(["server", "start", "--port", str(port), "--dir", str(data)], env)
        assert again.returncode == 1
        assert "already runs on" in again.stderr

        other = run(["server", "start", "--port", str(port), "--dir", str(tmp_path / "o")], env)
        assert other.returncode == 1
        assert other.stderr.strip() == f"error: port {port} on 127.0.0.1 is already in use"
    finally:
        stopped = run(["server", "stop", "--dir", str(data)], env)
    assert stopped.returncode == 0, stopped.stderr

    restarted = run(["server", "start", "--dir", str(data)], env)
    assert restarted.returncode == 0, restarted.stderr
    try:
        state = read_state(data)
        assert state is not None
        assert redis.Redis(port=state.port).get("kept") == b"yes"
        # With no URL given, connect() finds the server through REDVEC_DATA_DIR.
        env_dir = {**env, "REDVEC_DATA_DIR": str(data)}
        doctor = run(["doctor"], env_dir)
        assert doctor.returncode == 0, doctor.stderr
        assert "ok: redvec can use this Redis" in doctor.stdout
    finally:
        run(["server", "stop", "--dir", str(data)], env)


def test_cli_stop_when_nothing_runs(tmp_path: Path, cli_env: dict[str, str]) -> None:
    result = run(["server", "stop", "--dir", str(tmp_path)], cli_env)
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: no redvec server is running on {tmp_path}"
    assert "Traceback" not in result.stderr


def test_cli_unwritable_dir(tmp_path: Path, cli_env: dict[str, str]) -> None:
    (tmp_path / "f").write_text("x")
    result = run(["server", "start", "--dir", str(tmp_path / "f" / "d")], cli_env)
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: cannot create data directory {tmp_path}/f/d")
    assert "Traceback" not in result.stderr
