"""The HTTP routes, one Litestar controller per resource."""

from redvec.api.routes.documents import DocumentController
from redvec.api.routes.indexes import IndexController
from redvec.api.routes.ops import OpsController
from redvec.api.routes.recommend import RecommendController
from redvec.api.routes.search import SearchController
from redvec.api.routes.tenants import TenantController

__all__ = [
    "DocumentController",
    "IndexController",
    "OpsController",
    "RecommendController",
    "SearchController",
    "TenantController",
]

CONTROLLERS = [
    SearchController,
    DocumentController,
    IndexController,
    TenantController,
    RecommendController,
    OpsController,
]
