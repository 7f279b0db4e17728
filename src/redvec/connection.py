"""Connecting to a Redis with search, and knowing when it is ready.

Readiness means "fully indexed": RediSearch 2.10 does not persist the HNSW graph,
so after a restart the server answers (from AOF) while the index is still being
rebuilt, or answers ``-LOADING`` (from RDB) until it is. Searches against a partly
built index silently miss documents, so :func:`wait_ready` waits for both.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import redis

from redvec._resp import pairs, text
from redvec.errors import (
    ConfigError,
    ModuleMissingError,
    RedisTimeoutError,
    RedisUnavailableError,
)
from redvec.server import read_state
from redvec.settings import Settings
from redvec.waiting import poll_until

if TYPE_CHECKING:
    from redis.cluster import RedisCluster

__all__ = [
    "IndexProgress",
    "ServerReport",
    "connect",
    "connect_cluster",
    "index_progress",
    "inspect_server",
    "is_missing_index",
    "loaded_modules",
    "progress_of",
    "redact_url",
    "redis_client",
    "resolve_url",
    "tls_options",
    "unavailable",
    "wait_ready",
]


def is_missing_index(e: BaseException) -> bool:
    """Whether Redis refused a command because the index it names does not exist
    (RediSearch words this "Unknown index name" or "no such index", by version)."""
    message = str(e).lower()
    return isinstance(e, redis.ResponseError) and (
        "unknown index" in message or "no such index" in message
    )


def unavailable(e: Exception) -> RedisUnavailableError:
    """The redvec error for a connection redis-py lost, could not make, or that timed out,
    with the fix in its message (the one wording every path uses)."""
    if isinstance(e, redis.TimeoutError):
        return RedisTimeoutError(
            f"Redis did not answer in time ({e}); it may still be working. Raise "
            f"REDVEC_COMMAND_TIMEOUT for long operations, or check the server"
        )
    return RedisUnavailableError(
        f"cannot reach Redis: {e}; check --url / REDIS_URL and that it runs"
    )


REQUIRED_MODULES = {"search": "RediSearch", "ReJSON": "RedisJSON"}


def redact_url(url: str) -> str:
    """The URL with its password replaced, fit for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def resolve_url(url: str | None = None, settings: Settings | None = None) -> str:
    """Explicit URL, else ``REDIS_URL``, else the embedded server in the data directory."""
    if url:
        return url
    settings = settings or Settings.from_env()
    if settings.redis_url:
        return settings.redis_url
    state = read_state(settings.data_dir)
    if state is not None:
        return state.url
    raise RedisUnavailableError(
        f"no Redis to talk to: REDIS_URL is not set and no embedded server runs on "
        f"{settings.data_dir}. Run `redvec server start`, or set REDIS_URL (or --url) to a "
        f"Redis Stack / Redis 8 server."
    )


def tls_options(url: str, settings: Settings) -> dict[str, Any]:
    """redis-py's ssl_* options for a ``rediss://`` URL, from REDVEC_TLS_{CA,CERT,KEY}.

    The files are checked here so that a typo is named, instead of surfacing later as
    an SSL handshake failure; TLS settings beside a plain ``redis://`` URL are refused
    rather than silently ignored.
    """
    files = {
        "ssl_ca_certs": ("REDVEC_TLS_CA", settings.tls_ca_file),
        "ssl_certfile": ("REDVEC_TLS_CERT", settings.tls_cert_file),
        "ssl_keyfile": ("REDVEC_TLS_KEY", settings.tls_key_file),
    }
    given = {opt: (var, path) for opt, (var, path) in files.items() if path is not None}
    if not url.startswith("rediss://"):
        if given:
            names = ", ".join(var for var, _ in given.values())
            raise ConfigError(f"{names} set, but {redact_url(url)} is not a rediss:// URL")
        return {}
    for var, path in given.values():
        if not Path(path).is_file():
            raise ConfigError(f"{var}: no such file {path}")
    if ("ssl_certfile" in given) != ("ssl_keyfile" in given):
        raise ConfigError("REDVEC_TLS_CERT and REDVEC_TLS_KEY go together: give both or neither")
    return {opt: str(path) for opt, (_, path) in given.items()}


def loaded_modules(client: redis.Redis) -> dict[str, int]:
    """The server's modules by name with their versions (MODULE LIST)."""
    try:
        return {
            text(m["name"]): int(m["ver"])
            for m in (pairs(entry) for entry in client.execute_command("MODULE", "LIST"))
        }
    except redis.ResponseError:
        # Managed services often forbid MODULE LIST: ask about the commands instead.
        found: dict[str, int] = {}
        for name, command in (("search", "FT.SEARCH"), ("ReJSON", "JSON.GET")):
            info = client.execute_command("COMMAND", "INFO", command)
            if info and info[0]:
                found[name] = 0
        return found


def redis_client(
    url: str,
    settings: Settings | None = None,
    *,
    aio: bool = False,
    cluster: bool = False,
    timeout: float | None = None,
) -> Any:
    """The one way redvec builds a Redis client: RESP2 (redvec parses RESP2 replies in one
    place), the settings' connect timeout, ``timeout`` (default: the settings' command
    timeout) for every command, TLS from ``rediss://`` and ``REDVEC_TLS_*``. Nothing is
    sent yet. ``aio`` gives an asyncio client, ``cluster`` a cluster client.

    Raises :class:`RedisUnavailableError` for a URL redis-py cannot read."""
    settings = settings or Settings.from_env()
    options: dict[str, Any] = {
        "protocol": 2,
        "socket_connect_timeout": settings.connect_timeout,
        "socket_timeout": settings.command_timeout if timeout is None else timeout,
        **tls_options(url, settings),
    }
    try:
        if cluster:
            if aio:
                raise ConfigError("an asyncio cluster client is not used by redvec")
            return redis.RedisCluster.from_url(url, **options)
        if aio:
            import redis.asyncio as aredis

            return aredis.Redis.from_url(url, **options)
        return redis.Redis.from_url(url, **options)
    except ValueError as e:
        raise RedisUnavailableError(f"invalid Redis URL {redact_url(url)}: {e}") from None


def connect(
    url: str | None = None,
    *,
    settings: Settings | None = None,
    check_modules: bool = True,
    require_json: bool = True,
    loading_timeout: float = 60.0,
) -> redis.Redis:
    """A RESP2 client to a Redis that has the search (and JSON) modules.

    Raises :class:`RedisUnavailableError` when nothing answers at the URL and
    :class:`ModuleMissingError` when Redis answers without the modules.
    """
    settings = settings or Settings.from_env()
    resolved = resolve_url(url, settings)
    # Timeouts are deliberate: the probe (PING, the module check) gives up after
    # connect_timeout, so a port that accepts but never answers is named at once; the
    # client returned waits command_timeout for long commands (bulk deletes, big
    # pipelines, FT.CREATE over a large keyspace).
    client: redis.Redis = redis_client(resolved, settings)
    probe: redis.Redis = redis_client(resolved, settings, timeout=settings.connect_timeout)
    deadline = time.monotonic() + loading_timeout
    try:
        modules = _probe(probe, resolved, check_modules, deadline, loading_timeout)
    finally:
        probe.close()
    if check_modules:
        wanted = REQUIRED_MODULES if require_json else {"search": "RediSearch"}
        missing = [label for name, label in wanted.items() if name not in modules]
        if missing:
            raise ModuleMissingError(
                f"Redis at {redact_url(resolved)} lacks the {' and '.join(missing)} "
                f"module{'s' if len(missing) > 1 else ''} that redvec needs. Start the embedded "
                f"server with `redvec server start`, or use Redis Stack or Redis 8 "
                f"(which bundle them)."
            )
    return client


def _probe(
    client: redis.Redis, resolved: str, check_modules: bool, deadline: float, loading: float
) -> dict[str, int]:
    """PING (waiting out a server still loading its data) and the module list."""

    def attempt() -> dict[str, int] | None:
        try:
            client.ping()
            return loaded_modules(client) if check_modules else {}
        except redis.BusyLoadingError:
            return None  # still loading its data: asked again
        except redis.AuthenticationError as e:
            raise RedisUnavailableError(
                f"Redis at {redact_url(resolved)} refused the credentials: {e}"
            ) from None
        except redis.exceptions.InvalidResponse as e:
            raise RedisUnavailableError(
                f"the server at {redact_url(resolved)} does not answer as Redis ({e}); "
                f"check the URL: is it the port of another service?"
            ) from None
        except (redis.ConnectionError, redis.TimeoutError) as e:
            hint = ""
            if "certificate" in str(e).lower() or "ssl" in str(e).lower():
                hint = (
                    " (TLS: check REDVEC_TLS_CA, and REDVEC_TLS_CERT/KEY if the server "
                    "wants a client certificate)"
                )
            raise RedisUnavailableError(
                f"cannot reach Redis at {redact_url(resolved)}: {e}{hint}"
            ) from None

    modules = poll_until(attempt, timeout=max(0.0, deadline - time.monotonic()), interval=0.1)
    if modules is None:
        raise RedisUnavailableError(
            f"Redis at {redact_url(resolved)} is still loading its data after {loading:.0f}s"
        )
    return modules


@dataclass(frozen=True)
class IndexProgress:
    """How far an index is: whether it is indexing, the share indexed, documents, failures."""

    name: str
    num_docs: int
    percent_indexed: float
    indexing: bool
    hash_indexing_failures: int

    @property
    def ready(self) -> bool:
        """Fully indexed: not indexing and the share indexed is 1."""
        return self.percent_indexed >= 1.0 and not self.indexing


def index_progress(client: redis.Redis, name: str) -> IndexProgress:
    """The index's progress from FT.INFO; :class:`IndexNotFoundError` when there is none."""
    return progress_of(name, pairs(client.execute_command("FT.INFO", name)))


def progress_of(name: str, info: Mapping[str, Any]) -> IndexProgress:
    """An index's progress from its FT.INFO reply (as pairs)."""
    return IndexProgress(
        name=name,
        num_docs=int(info.get("num_docs", 0)),
        percent_indexed=float(info.get("percent_indexed", 1)),
        indexing=bool(int(info.get("indexing", 0))),
        hash_indexing_failures=int(info.get("hash_indexing_failures", 0)),
    )


def _list_indexes(client: redis.Redis) -> list[str]:
    return sorted(text(n) for n in client.execute_command("FT._LIST"))


def wait_ready(
    client: redis.Redis, indexes: list[str] | None = None, timeout: float = 600.0
) -> list[IndexProgress]:
    """Block until Redis answers and every index (or the named ones) is fully indexed."""

    def check() -> list[IndexProgress] | None:
        try:
            names = indexes if indexes is not None else _list_indexes(client)
            progress = [index_progress(client, n) for n in names]
        except redis.BusyLoadingError:
            return None
        return progress if all(p.ready for p in progress) else None

    done = poll_until(check, timeout=timeout, interval=0.05)
    if done is None:
        raise RedisUnavailableError(
            f"indexes not fully indexed after {timeout:.0f}s; see `redvec server status`"
        )
    return done


@dataclass
class ServerReport:
    """What `redvec doctor` and `redvec server status` print."""

    url: str
    redis_version: str
    modules: dict[str, str]
    used_memory_human: str
    indexes: list[IndexProgress] = field(default_factory=list)


def _module_version(ver: int) -> str:
    return f"{ver // 10000}.{ver // 100 % 100}.{ver % 100}" if ver else "present"


def inspect_server(client: redis.Redis, url: str) -> ServerReport:
    """What ``redvec server status`` reports of the Redis at ``url``: its version, modules,
    memory in use, and each index's progress."""
    info = client.info()
    modules = {name: _module_version(ver) for name, ver in loaded_modules(client).items()}
    indexes = []
    if "search" in modules:
        indexes = [index_progress(client, n) for n in _list_indexes(client)]
    return ServerReport(
        url=redact_url(url),
        redis_version=str(info.get("redis_version")),
        modules=modules,
        used_memory_human=str(info.get("used_memory_human")),
        indexes=indexes,
    )


def connect_cluster(url: str) -> RedisCluster:
    """A RESP2 cluster client from any node's URL."""
    try:
        client: RedisCluster = redis_client(url, cluster=True)
    except (redis.ConnectionError, redis.TimeoutError) as e:
        raise RedisUnavailableError(
            f"cannot reach Redis Cluster at {redact_url(url)}: {e}"
        ) from None
    except redis.RedisClusterException as e:
        raise RedisUnavailableError(
            f"{redact_url(url)} is not a usable Redis Cluster: {e}"
        ) from None
    return client
