"""redvec: vector search and recommendations on Redis (RediSearch + RedisJSON).

The public API is exactly ``__all__``; everything else is private and may change.
"""

from __future__ import annotations

from redvec.connection import connect, wait_ready
from redvec.errors import (
    ConfigError,
    DataDirError,
    DocumentError,
    FilterError,
    IndexExistsError,
    IndexNotFoundError,
    ModuleMissingError,
    NotRunningError,
    PortInUseError,
    PythonVersionError,
    RedisUnavailableError,
    RedvecError,
    SchemaError,
    ServerError,
    ValidationError,
    VectorError,
)
from redvec.server import EmbeddedServer
from redvec.settings import Settings

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "DataDirError",
    "DocumentError",
    "EmbeddedServer",
    "FilterError",
    "IndexExistsError",
    "IndexNotFoundError",
    "ModuleMissingError",
    "NotRunningError",
    "PortInUseError",
    "PythonVersionError",
    "RedisUnavailableError",
    "RedvecError",
    "SchemaError",
    "ServerError",
    "Settings",
    "ValidationError",
    "VectorError",
    "__version__",
    "connect",
    "wait_ready",
]
