"""redvec: vector search and recommendations on Redis (RediSearch + RedisJSON).

The public API is exactly ``__all__``; everything else is private and may change.
"""

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
from redvec.exact import exact_knn
from redvec.filters import Filter, Geo, Num, Tag, Text
from redvec.index import IndexInfo, SearchIndex, list_indexes
from redvec.query import Hit, KnnQuery, SearchResult
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

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "DataDirError",
    "DocumentError",
    "EmbeddedServer",
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
    "RedisUnavailableError",
    "RedvecError",
    "SchemaError",
    "SearchIndex",
    "SearchResult",
    "ServerError",
    "Settings",
    "Tag",
    "TagField",
    "Text",
    "TextField",
    "ValidationError",
    "VectorError",
    "VectorField",
    "__version__",
    "connect",
    "exact_knn",
    "list_indexes",
    "load_schema",
    "wait_ready",
]
