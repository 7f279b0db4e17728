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
        env.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**env)  # type: ignore[arg-type]
