"""Indexes: list those the key may see, create, describe, drop.

The service arrives by dependency injection (``svc``, provided by
:func:`redvec.api.app.create_app`); every rule a handler applies lives in the library
or in :mod:`redvec.api.service`."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, delete, get, post
from litestar.openapi.datastructures import ResponseSpec

from redvec.api.answers import ERRORS
from redvec.api.errors import ApiError
from redvec.api.models import (
    ErrorBody,
    IndexList,
)
from redvec.api.service import Service
from redvec.index import SearchIndex
from redvec.schema import IndexSchema
from redvec.tenants import tenant_of

__all__ = ["IndexController"]


class IndexController(Controller):
    """Indexes: list those the key may see, create, describe, drop."""

    path = "/"

    @get("/v1/indexes", responses=ERRORS, sync_to_thread=True, summary="Indexes you can see")
    def indexes(self, svc: Service, request: Request[Any, Any, Any]) -> IndexList:
        """The indexes the caller's key may see (a tenant key: its tenant's only)."""
        return IndexList(svc.visible_indexes(request))

    @post(
        "/v1/indexes",
        status_code=201,
        responses={**ERRORS, 409: ResponseSpec(ErrorBody, description="Index exists")},
        sync_to_thread=True,
        summary="Create an index from a schema",
    )
    def create_index(
        self, svc: Service, data: dict[str, Any], request: Request[Any, Any, Any]
    ) -> dict[str, Any]:
        """Create an index from a schema (the schema file's JSON); a tenant key only under its
        tenant's tagged prefix."""
        key = svc.principal(request)
        schema = IndexSchema.from_dict(data)
        svc.authorize(request, "write", schema.name)
        if key is not None and key.tenant is not None:
            for p in (schema.prefix, schema.document_prefix):
                if p and tenant_of(p) != key.tenant:
                    raise ApiError(
                        403,
                        f"prefix '{p}' is outside tenant '{key.tenant}': a tenant's prefixes "
                        f"carry its hash tag, e.g. 'doc:{{{key.tenant}}}:'",
                    )
        idx = SearchIndex.create(svc.client, schema)
        svc.forget(schema.name)
        return idx.info().to_dict()

    @get("/v1/indexes/{name:str}", responses=ERRORS, sync_to_thread=True, summary="Index info")
    def index_info(
        self, svc: Service, name: str, request: Request[Any, Any, Any]
    ) -> dict[str, Any]:
        """An index's schema, size and indexing state."""
        svc.authorize(request, "read", name)
        idx, _ = svc.index(name)
        return idx.info().to_dict()

    @delete(
        "/v1/indexes/{name:str}",
        status_code=200,
        responses=ERRORS,
        sync_to_thread=True,
        summary="Drop an index (its documents too with delete_documents=true)",
    )
    def drop_index(
        self,
        svc: Service,
        name: str,
        request: Request[Any, Any, Any],
        delete_documents: bool = False,
    ) -> dict[str, Any]:
        """Drop an index; its documents stay unless ``delete_documents=true``."""
        svc.authorize(request, "write", name)
        idx, _ = svc.index(name)
        idx.drop(delete_documents=delete_documents)
        svc.forget(name)
        return {"dropped": name, "documents_deleted": delete_documents}
