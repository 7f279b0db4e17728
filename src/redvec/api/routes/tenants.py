"""Tenants: list, create, drop (with every key in the tenant's hash tag).

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
    TenantBody,
    TenantCreate,
    TenantList,
)
from redvec.api.service import Service
from redvec.tenants import create_tenant, drop_tenant, list_tenants

__all__ = ["TenantController", "tenant_admin"]


def tenant_admin(svc: Service, request: Request[Any, Any, Any]) -> None:
    """Refuse (403) a key bound to a tenant: only an unbound key with 'write' manages tenants."""
    key = svc.authorize(request, "write")
    if key is not None and key.tenant is not None:
        raise ApiError(
            403,
            f"API key '{key.id}' is bound to tenant '{key.tenant}' and cannot manage tenants",
        )


class TenantController(Controller):
    """Tenants: list, create, drop (with every key in the tenant's hash tag)."""

    path = "/"

    @get("/v1/tenants", responses=ERRORS, sync_to_thread=True, summary="Tenants you can see")
    def tenants(self, svc: Service, request: Request[Any, Any, Any]) -> TenantList:
        """The tenants the caller's key may see."""
        key = svc.authorize(request, "read")
        return TenantList(
            [
                TenantBody(t.name, t.created, t.indexes, t.documents)
                for t in list_tenants(svc.client)
                if key is None or key.tenant is None or key.tenant == t.name
            ]
        )

    @post(
        "/v1/tenants",
        status_code=201,
        responses={**ERRORS, 409: ResponseSpec(ErrorBody, description="Tenant exists")},
        sync_to_thread=True,
        summary="Create a tenant (then create its indexes with a tagged prefix)",
    )
    def create_tenant_route(
        self, svc: Service, data: TenantCreate, request: Request[Any, Any, Any]
    ) -> TenantBody:
        """Create a tenant; then create its indexes with a prefix that carries its hash tag."""
        tenant_admin(svc, request)
        t = create_tenant(svc.client, data.name)
        return TenantBody(t.name, t.created, t.indexes, t.documents)

    @delete(
        "/v1/tenants/{tenant:str}",
        status_code=200,
        responses=ERRORS,
        sync_to_thread=True,
        summary="Drop a tenant with its indexes and every key in its hash tag",
    )
    def drop_tenant_route(
        self, svc: Service, tenant: str, request: Request[Any, Any, Any]
    ) -> dict[str, Any]:
        """Drop a tenant: its indexes and every key in its hash tag."""
        tenant_admin(svc, request)
        indexes, keys = drop_tenant(svc.client, tenant)
        for name in indexes:
            svc.forget(name)
        return {"dropped": tenant, "indexes": indexes, "keys": keys}
