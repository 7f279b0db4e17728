"""Every error redvec raises on purpose, so callers can catch one base class.

The tree::

    RedvecError
    ├── ConfigError            a setting or argument that cannot work
    ├── ServerError            the embedded server could not start or stop
    │   ├── PythonVersionError the embedded server needs CPython 3.11
    │   ├── PortInUseError     the port is taken by another process
    │   ├── DataDirError       the data directory cannot be used
    │   └── NotRunningError    nothing runs where a server was expected
    ├── RedisUnavailableError  Redis cannot be reached (down, refused, timeout)
    ├── ModuleMissingError     Redis answers but lacks RediSearch or RedisJSON
    ├── SchemaError            an index schema breaks a rule
    ├── IndexNotFoundError     no index by that name
    ├── IndexExistsError       an index by that name (or prefix) is there already
    ├── TenantNotFoundError    no tenant by that name
    ├── TenantExistsError      a tenant by that name is there already
    ├── TopologyChangedError   a Redis Cluster's slots moved since the shard plan was made
    └── ValidationError        user input that cannot be searched or stored
        ├── VectorError        wrong dimension, NaN/inf, zero vector for COSINE
        ├── FilterError        a filter names an unknown field or is malformed
        └── DocumentError      a document lacks an id or has wrong types

Messages are written for the person at the terminal: they name the thing, the
rule broken, and what to do, so the CLI and HTTP layers print them as they are.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DataDirError",
    "DocumentError",
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
    "TenantExistsError",
    "TenantNotFoundError",
    "TopologyChangedError",
    "ValidationError",
    "VectorError",
]


class RedvecError(Exception):
    """Base of every error redvec raises deliberately."""


class ConfigError(RedvecError):
    pass


class ServerError(RedvecError):
    pass


class PythonVersionError(ServerError):
    pass


class PortInUseError(ServerError):
    pass


class DataDirError(ServerError):
    pass


class NotRunningError(ServerError):
    pass


class RedisUnavailableError(RedvecError):
    pass


class ModuleMissingError(RedvecError):
    pass


class SchemaError(RedvecError):
    pass


class IndexNotFoundError(RedvecError):
    pass


class IndexExistsError(RedvecError):
    pass


class TenantNotFoundError(RedvecError):
    pass


class TenantExistsError(RedvecError):
    pass


class TopologyChangedError(RedvecError):
    pass


class ValidationError(RedvecError):
    pass


class VectorError(ValidationError):
    pass


class FilterError(ValidationError):
    pass


class DocumentError(ValidationError):
    pass
