"""Every knob in one place; nothing else in redvec reads the environment.

The knobs are a table (:data:`ENVIRONMENT`): each row names its environment variable,
the :class:`Settings` field it sets and how its text is read, so a new knob is one row,
its error message comes for free, and :meth:`Settings.environment` can hand a resolved
configuration to processes started later (``redvec serve --workers`` forks its ASGI
workers from an import string; they rebuild the same :class:`Settings` from it).

Precedence is always: explicit argument > environment > default, so that a CLI
flag beats ``REDIS_URL`` and ``REDIS_URL`` beats the embedded server.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

__all__ = ["ENVIRONMENT", "EnvVar", "Settings", "default_cache_dir", "default_data_dir"]


def default_data_dir() -> Path:
    """Where the embedded server keeps its data unless told otherwise (XDG layout)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "redvec"


def default_cache_dir() -> Path:
    """Where redvec caches derived files (the local model's ONNX export)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "redvec"


def _refuse(name: str, wants: str, raw: str) -> Exception:
    from redvec.errors import ConfigError

    return ConfigError(f"{name} must be {wants}, got {raw!r}")


def _integer(name: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise _refuse(name, "an integer", raw) from None


def _number(name: str, raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise _refuse(name, "a number", raw) from None


def _flag(name: str, raw: str) -> bool:
    if raw not in ("0", "1"):
        raise _refuse(name, "0 or 1", raw)
    return raw == "1"


def _text(_name: str, raw: str) -> str:
    return raw


def _path(_name: str, raw: str) -> Path:
    return Path(raw)


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


@dataclass(frozen=True)
class EnvVar:
    """One row of the table: ``name`` sets :class:`Settings` field ``setting``,
    read by ``parse`` (which raises :class:`ConfigError` naming the variable)."""

    name: str
    setting: str
    parse: Callable[[str, str], Any]
    meaning: str


ENVIRONMENT: tuple[EnvVar, ...] = (
    EnvVar("REDIS_URL", "redis_url", _text, "a Redis with search to use, not the embedded one"),
    EnvVar("REDVEC_DATA_DIR", "data_dir", _path, "the embedded server's data directory"),
    EnvVar("REDVEC_CACHE_DIR", "cache_dir", _path, "derived files (the local model's export)"),
    EnvVar("REDVEC_PORT", "port", _integer, "the embedded server's port"),
    EnvVar("REDVEC_PASSWORD", "password", _text, "the embedded server's password"),
    EnvVar("REDVEC_APPENDFSYNC", "appendfsync", _text, "the embedded server's AOF fsync"),
    EnvVar("REDVEC_API_KEYS_FILE", "api_keys_file", _path, "the HTTP service's key file"),
    EnvVar("REDVEC_API_KEYS", "api_keys", _text, "the service's keys as JSON (digests)"),
    EnvVar("REDVEC_TLS_CA", "tls_ca_file", _path, "rediss://: the CA of the server's cert"),
    EnvVar("REDVEC_TLS_CERT", "tls_cert_file", _path, "rediss://: a client certificate"),
    EnvVar("REDVEC_TLS_KEY", "tls_key_file", _path, "rediss://: the client certificate's key"),
    EnvVar("REDVEC_MAX_BODY_BYTES", "max_body_bytes", _integer, "the largest HTTP body"),
    EnvVar(
        "REDVEC_INDEX_CACHE_SECONDS", "index_cache_seconds", _number,
        "how long the HTTP service trusts an opened index",
    ),
    EnvVar("REDVEC_COMMAND_TIMEOUT", "command_timeout", _number, "one Redis command's limit, s"),
    EnvVar("REDVEC_FAST_SEARCH", "fast_search", _flag, "the HTTP search fast lane (0 or 1)"),
    EnvVar("REDVEC_RERANKERS", "rerankers", _text, "rerankers the service offers, as JSON"),
    EnvVar("REDVEC_MERGE", "merge", _flag, "the HTTP service merges write buffers (0 or 1)"),
    EnvVar("OPENAI_BASE_URL", "openai_base_url", _text, "the OpenAI-protocol provider's URL"),
    EnvVar("OPENAI_API_KEY", "openai_api_key", _text, "the OpenAI-protocol provider's key"),
    EnvVar("CO_API_URL", "cohere_base_url", _text, "the Cohere provider's URL"),
    EnvVar("CO_API_KEY", "cohere_api_key", _text, "the Cohere provider's key"),
)  # fmt: skip


@dataclass(frozen=True)
class Settings:
    """Resolved configuration. Build with :meth:`from_env`; override fields by keyword."""

    redis_url: str | None = None
    data_dir: Path = field(default_factory=default_data_dir)
    cache_dir: Path = field(default_factory=default_cache_dir)
    port: int | None = None
    password: str | None = None
    appendfsync: str = "everysec"
    connect_timeout: float = 5.0
    # How long one Redis command may take before the client gives up. redis-py 8 waits
    # 5 s by default, which bulk deletes, large pipelines and FT.CREATE over a big
    # keyspace exceed while Redis is working fine (REDVEC_COMMAND_TIMEOUT, seconds).
    command_timeout: float = 300.0
    api_keys_file: Path | None = None
    api_keys: str | None = None  # JSON, the key file's format (digests only)
    max_body_bytes: int = 8 * 1024 * 1024
    index_cache_seconds: float = 5.0  # how long the HTTP service trusts an opened index
    tls_ca_file: Path | None = None  # rediss:// only: the CA that signed the server's cert
    tls_cert_file: Path | None = None  # client certificate, when the server asks for one
    tls_key_file: Path | None = None
    fast_search: bool = True  # the HTTP search fast lane (api/fastlane.py); 0 turns it off
    # The rerankers the HTTP service and the MCP server offer beyond mmr, as JSON
    # {"name": {"kind": ..., options}} (redvec.rerank.NamedRerankers).
    rerankers: str | None = None
    merge: bool = True  # `redvec serve` merges every index's write buffer in the background
    # Hosted embedding providers, under the names their own SDKs read.
    openai_base_url: str | None = None
    openai_api_key: str | None = field(default=None, repr=False)
    cohere_base_url: str | None = None
    cohere_api_key: str | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """The environment's settings (``os.environ`` unless given), then ``overrides``
        (None means "not given"); an unreadable value is a :class:`ConfigError` naming
        its variable. An empty variable counts as unset."""
        source = os.environ if environ is None else environ
        env: dict[str, object] = {}
        for var in ENVIRONMENT:
            raw = source.get(var.name)
            if raw:
                env[var.setting] = var.parse(var.name, raw)
        env.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**env)  # type: ignore[arg-type]

    def environment(self) -> dict[str, str | None]:
        """These settings as environment variables, for a process started later to read
        back with :meth:`from_env`: a value for every knob set, None for every knob at
        its default (to be removed, so that an inherited variable cannot win)."""
        defaults = {f.name: f for f in fields(self)}
        out: dict[str, str | None] = {}
        for var in ENVIRONMENT:
            value = getattr(self, var.setting)
            f = defaults[var.setting]
            default = f.default_factory() if callable(f.default_factory) else f.default
            out[var.name] = None if value is None or value == default else _show(value)
        return out

    def export(self) -> None:
        """Make these settings the environment of processes this one starts (the ASGI
        workers of ``redvec serve``): every knob set is written, every knob at its
        default removed, so that a worker's :meth:`from_env` rebuilds exactly these."""
        for name, value in self.environment().items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
