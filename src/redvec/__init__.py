"""redvec: vector search and recommendations on Redis (RediSearch + RedisJSON).

The public API is exactly ``__all__``; everything else is private and may change.
Names are imported when first used (PEP 562), so ``import redvec`` and the ``redvec``
command start at once, and Ctrl-C in the first instant of a command is answered by
the command, not by a traceback from an import.
"""

from __future__ import annotations

# Nothing is imported at run time until a name is used (not even typing: Ctrl-C during
# the command's first instant must find redvec's handler, not an import in progress).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from redvec.aio import AsyncSearchIndex
    from redvec.cluster import ClusterIndex
    from redvec.connection import connect, wait_ready
    from redvec.errors import (
        ConfigError,
        DataDirError,
        DocumentError,
        EmbeddingError,
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
        TenantExistsError,
        TenantNotFoundError,
        TopologyChangedError,
        UnknownItemError,
        UnknownUserError,
        ValidationError,
        VectorError,
    )
    from redvec.exact import exact_knn
    from redvec.filters import Filter, Geo, Num, Tag, Text
    from redvec.index import IndexInfo, SearchIndex, list_indexes
    from redvec.query import Hit, KnnQuery, RangeQuery, SearchResult, TextQuery
    from redvec.schema import (
        GeoField,
        IndexSchema,
        NumericField,
        TagField,
        TextField,
        VectorField,
        load_schema,
    )
    from redvec.server import EmbeddedServer
    from redvec.settings import Settings
    from redvec.surface import AsyncVectorIndex, VectorIndex

__version__ = "0.1.0"

_LAZY = {
    "connect": "redvec.connection",
    "wait_ready": "redvec.connection",
    "ConfigError": "redvec.errors",
    "DataDirError": "redvec.errors",
    "DocumentError": "redvec.errors",
    "FilterError": "redvec.errors",
    "IndexExistsError": "redvec.errors",
    "IndexNotFoundError": "redvec.errors",
    "ModuleMissingError": "redvec.errors",
    "NotRunningError": "redvec.errors",
    "PortInUseError": "redvec.errors",
    "PythonVersionError": "redvec.errors",
    "RedisUnavailableError": "redvec.errors",
    "RedvecError": "redvec.errors",
    "SchemaError": "redvec.errors",
    "ServerError": "redvec.errors",
    "ValidationError": "redvec.errors",
    "VectorError": "redvec.errors",
    "UnknownUserError": "redvec.errors",
    "UnknownItemError": "redvec.errors",
    "TopologyChangedError": "redvec.errors",
    "TenantNotFoundError": "redvec.errors",
    "TenantExistsError": "redvec.errors",
    "EmbeddingError": "redvec.errors",
    "exact_knn": "redvec.exact",
    "Filter": "redvec.filters",
    "Geo": "redvec.filters",
    "Num": "redvec.filters",
    "Tag": "redvec.filters",
    "Text": "redvec.filters",
    "IndexInfo": "redvec.index",
    "SearchIndex": "redvec.index",
    "AsyncSearchIndex": "redvec.aio",
    "ClusterIndex": "redvec.cluster",
    "VectorIndex": "redvec.surface",
    "AsyncVectorIndex": "redvec.surface",
    "RangeQuery": "redvec.query",
    "TextQuery": "redvec.query",
    "list_indexes": "redvec.index",
    "Hit": "redvec.query",
    "KnnQuery": "redvec.query",
    "SearchResult": "redvec.query",
    "GeoField": "redvec.schema",
    "IndexSchema": "redvec.schema",
    "NumericField": "redvec.schema",
    "TagField": "redvec.schema",
    "TextField": "redvec.schema",
    "VectorField": "redvec.schema",
    "load_schema": "redvec.schema",
    "EmbeddedServer": "redvec.server",
    "Settings": "redvec.settings",
}

__all__ = [
    "AsyncSearchIndex",
    "AsyncVectorIndex",
    "ClusterIndex",
    "ConfigError",
    "DataDirError",
    "DocumentError",
    "EmbeddedServer",
    "EmbeddingError",
    "Filter",
    "FilterError",
    "Geo",
    "GeoField",
    "Hit",
    "IndexExistsError",
    "IndexInfo",
    "IndexNotFoundError",
    "IndexSchema",
    "KnnQuery",
    "ModuleMissingError",
    "NotRunningError",
    "Num",
    "NumericField",
    "PortInUseError",
    "PythonVersionError",
    "RangeQuery",
    "RedisUnavailableError",
    "RedvecError",
    "SchemaError",
    "SearchIndex",
    "SearchResult",
    "ServerError",
    "Settings",
    "Tag",
    "TagField",
    "TenantExistsError",
    "TenantNotFoundError",
    "Text",
    "TextField",
    "TextQuery",
    "TopologyChangedError",
    "UnknownItemError",
    "UnknownUserError",
    "ValidationError",
    "VectorError",
    "VectorField",
    "VectorIndex",
    "__version__",
    "connect",
    "exact_knn",
    "list_indexes",
    "load_schema",
    "wait_ready",
]


def __getattr__(name: str) -> Any:
    import importlib

    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'redvec' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    # The public names, the submodules imported so far, and the module's dunders.
    loaded = {n for n, v in globals().items() if type(v).__name__ == "module"}
    dunders = {n for n in globals() if n.startswith("__")}
    return sorted(set(__all__) | loaded | dunders)
