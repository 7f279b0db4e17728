"""Every error redvec raises on purpose, so callers can catch one base class.

The tree::

    RedvecError
    ├── ConfigError            a setting or argument that cannot work
    │   └── EmbeddingError     a provider failed: credentials, refusal, bad answer
    ├── ServerError            the embedded server could not start or stop
    │   ├── PythonVersionError the embedded server needs CPython 3.11
    │   ├── PortInUseError     the port is taken by another process
    │   ├── DataDirError       the data directory cannot be used
    │   └── NotRunningError    nothing runs where a server was expected
    ├── RedisUnavailableError  Redis cannot be reached (down, refused)
    │   └── RedisTimeoutError  Redis did not answer within the command timeout
    ├── ModuleMissingError     Redis answers but lacks RediSearch or RedisJSON
    ├── SchemaError            an index schema breaks a rule
    ├── IndexNotFoundError     no index by that name
    ├── IndexExistsError       an index by that name (or prefix) is there already
    ├── TenantNotFoundError    no tenant by that name
    ├── TenantExistsError      a tenant by that name is there already
    ├── TopologyChangedError   a Redis Cluster's slots moved since the shard plan was made
    ├── UnknownUserError       a recommender has no such user
    ├── UnknownItemError       a recommender has no such item
    └── ValidationError        user input that cannot be searched or stored
        ├── VectorError        wrong dimension, NaN/inf, zero vector for COSINE
        ├── FilterError        a filter names an unknown field or is malformed
        └── DocumentError      a document lacks an id or has wrong types

Messages are written for the person at the terminal: they name the thing, the
rule broken, and what to do, so the CLI and HTTP layers print them as they are.

Each class carries the HTTP ``status`` and error ``code`` the service answers it with
(``None``: not the caller's doing, a 500 that is logged), so the HTTP layer looks the
answer up instead of keeping its own list.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "ConfigError",
    "DataDirError",
    "DocumentError",
    "EmbeddingError",
    "FilterError",
    "IndexExistsError",
    "IndexNotFoundError",
    "ModuleMissingError",
    "NotRunningError",
    "PortInUseError",
    "PythonVersionError",
    "RedisTimeoutError",
    "RedisUnavailableError",
    "RedvecError",
    "SchemaError",
    "ServerError",
    "TenantExistsError",
    "TenantNotFoundError",
    "TopologyChangedError",
    "UnknownItemError",
    "UnknownUserError",
    "ValidationError",
    "VectorError",
]


class RedvecError(Exception):
    """Base of every error redvec raises deliberately."""

    status: ClassVar[int | None] = None
    code: ClassVar[str] = "internal_error"


class ConfigError(RedvecError):
    status, code = 422, "invalid_request"


class EmbeddingError(ConfigError):
    """A provider failed: bad credentials, a refused request, or a malformed answer."""

    status, code = 502, "embedding_failed"


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
    status, code = 503, "redis_unavailable"


class RedisTimeoutError(RedisUnavailableError):
    """A command got no answer in time: Redis may still be working on it."""


class ModuleMissingError(RedvecError):
    status, code = 503, "modules_missing"


class SchemaError(RedvecError):
    status, code = 422, "invalid_schema"


class IndexNotFoundError(RedvecError):
    status, code = 404, "index_not_found"


class IndexExistsError(RedvecError):
    status, code = 409, "index_exists"


class TenantNotFoundError(RedvecError):
    status, code = 404, "tenant_not_found"


class TenantExistsError(RedvecError):
    status, code = 409, "tenant_exists"


class TopologyChangedError(RedvecError):
    pass


class UnknownUserError(RedvecError):
    status, code = 404, "user_not_found"


class UnknownItemError(RedvecError):
    status, code = 404, "item_not_found"


class ValidationError(RedvecError):
    status, code = 422, "invalid_request"


class VectorError(ValidationError):
    pass


class FilterError(ValidationError):
    pass


class DocumentError(ValidationError):
    pass
