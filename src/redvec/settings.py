"""Every knob in one place; nothing else in redvec reads the environment.

Precedence is always: explicit argument > environment > default, so that a CLI
flag beats ``REDIS_URL`` and ``REDIS_URL`` beats the embedded server.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Settings", "default_cache_dir", "default_data_dir"]


def default_data_dir() -> Path:
    """Where the embedded server keeps its data unless told otherwise (XDG layout)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "redvec"


def default_cache_dir() -> Path:
    """Where redvec caches derived files (the local model's ONNX export)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "redvec"


def _env_int(name: str) -> int | None:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        from redvec.errors import ConfigError

        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None


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

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        env: dict[str, object] = {}
        if url := os.environ.get("REDIS_URL"):
            env["redis_url"] = url
        if d := os.environ.get("REDVEC_DATA_DIR"):
            env["data_dir"] = Path(d)
        if c := os.environ.get("REDVEC_CACHE_DIR"):
            env["cache_dir"] = Path(c)
        if (port := _env_int("REDVEC_PORT")) is not None:
            env["port"] = port
        if pw := os.environ.get("REDVEC_PASSWORD"):
            env["password"] = pw
        if fs := os.environ.get("REDVEC_APPENDFSYNC"):
            env["appendfsync"] = fs
        if kf := os.environ.get("REDVEC_API_KEYS_FILE"):
            env["api_keys_file"] = Path(kf)
        if keys := os.environ.get("REDVEC_API_KEYS"):
            env["api_keys"] = keys
        for var, key in (
            ("REDVEC_TLS_CA", "tls_ca_file"),
            ("REDVEC_TLS_CERT", "tls_cert_file"),
            ("REDVEC_TLS_KEY", "tls_key_file"),
        ):
            if value := os.environ.get(var):
                env[key] = Path(value)
        if (max_body := _env_int("REDVEC_MAX_BODY_BYTES")) is not None:
            env["max_body_bytes"] = max_body
        if ttl := os.environ.get("REDVEC_INDEX_CACHE_SECONDS"):
            try:
                env["index_cache_seconds"] = float(ttl)
            except ValueError:
                from redvec.errors import ConfigError

                raise ConfigError(
                    f"REDVEC_INDEX_CACHE_SECONDS must be a number, got {ttl!r}"
                ) from None
        if ct := os.environ.get("REDVEC_COMMAND_TIMEOUT"):
            try:
                env["command_timeout"] = float(ct)
            except ValueError:
                from redvec.errors import ConfigError

                raise ConfigError(f"REDVEC_COMMAND_TIMEOUT must be a number, got {ct!r}") from None
        if (fast := os.environ.get("REDVEC_FAST_SEARCH")) is not None:
            if fast not in ("0", "1"):
                from redvec.errors import ConfigError

                raise ConfigError(f"REDVEC_FAST_SEARCH must be 0 or 1, got {fast!r}")
            env["fast_search"] = fast == "1"
        env.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**env)  # type: ignore[arg-type]
