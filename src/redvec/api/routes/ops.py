"""Operations: liveness, readiness, metrics, the OpenAPI document and the page.

The service arrives by dependency injection (``svc``, provided by
:func:`redvec.api.app.create_app`); every rule a handler applies lives in the library
or in :mod:`redvec.api.service`."""

from __future__ import annotations

from importlib import resources
from typing import Any

import msgspec
from litestar import Controller, Litestar, Request, Response, get
from litestar.openapi.datastructures import ResponseSpec

from redvec.api import models
from redvec.api.answers import METRICS_CONTENT_TYPE
from redvec.api.models import (
    ErrorBody,
    ReadyResponse,
)
from redvec.api.service import Service
from redvec.connection import REQUIRED_MODULES, index_progress, is_missing_index, loaded_modules
from redvec.errors import IndexNotFoundError
from redvec.index import list_indexes

__all__ = ["OpsController", "not_ready", "openapi_document"]


def openapi_document(app: Litestar) -> dict[str, Any]:
    """Litestar's document, plus what it leaves out: request bodies refuse unknown
    fields (msgspec's ``forbid_unknown_fields``), so clients and fuzzers know it."""
    schema = app.openapi_schema
    components = schema.components.schemas if schema.components else None
    for name, struct in vars(models).items():
        if (
            isinstance(struct, type)
            and issubclass(struct, msgspec.Struct)
            and struct.__struct_config__.forbid_unknown_fields
            and components
            and name in components
        ):
            components[name].additional_properties = False
    return schema.to_schema()


def not_ready(
    redis_state: str, shares: dict[str, float], reason: str, detail: bool = True
) -> Response[ReadyResponse]:
    """A 503 readiness answer with ``Retry-After: 1``; details only for a caller allowed them."""
    body = ReadyResponse(False, redis_state, shares, reason) if detail else ReadyResponse(False)
    return Response(
        body,
        status_code=503,
        headers={"Retry-After": "1"},
    )


class OpsController(Controller):
    """Operations: liveness, readiness, metrics, the OpenAPI document and the page."""

    path = "/"

    @get("/healthz", summary="The process is up", include_in_schema=True)
    async def healthz(
        self,
    ) -> dict[str, str]:
        """The process is up (it says nothing of Redis: that is ``/readyz``)."""
        return {"status": "ok"}

    @get(
        "/readyz",
        sync_to_thread=True,
        responses={
            404: ResponseSpec(ErrorBody, description="No such index (with ?index=)"),
            503: ResponseSpec(ReadyResponse, description="Not ready"),
        },
        summary="Redis answers, has the modules, and every index is fully indexed",
    )
    def readyz(
        self, svc: Service, request: Request[Any, Any, Any], index: str | None = None
    ) -> Response[ReadyResponse]:
        """Ready when Redis answers, has the modules and every index (or ``index``) is fully
        indexed; 503 with the reason otherwise."""
        # With API keys on, a caller without a key learns ready or not and nothing else:
        # index names (every tenant's) and whether an index exists need a 'metrics' key.
        detail = svc.config.keys is None
        if not detail:
            presented = request.headers.get("authorization") or request.headers.get("x-api-key")
            if presented or index:
                svc.authorize(request, "metrics")
                detail = True
        try:
            modules = loaded_modules(svc.client)
            missing = [label for n, label in REQUIRED_MODULES.items() if n not in modules]
            if missing:
                return not_ready("up", {}, f"Redis lacks {' and '.join(missing)}", detail)
            names = [index] if index else list_indexes(svc.client)
            progress = {}
            for n in names:
                try:
                    progress[n] = index_progress(svc.client, n)
                except Exception as e:
                    if index and is_missing_index(e):
                        raise IndexNotFoundError(f"no index named '{index}'") from None
                    raise
        except IndexNotFoundError:
            raise
        except Exception as e:
            return not_ready("down", {}, f"Redis is unavailable: {e}", detail)
        shares = {n: p.percent_indexed for n, p in progress.items()}
        waiting = [n for n, p in progress.items() if not p.ready]
        if waiting:
            return not_ready("up", shares, f"still indexing: {', '.join(waiting)}", detail)
        if not detail:
            return Response(ReadyResponse(True), status_code=200)
        return Response(ReadyResponse(True, "up", shares), status_code=200)

    @get("/metrics", sync_to_thread=True, include_in_schema=False)
    def metrics(self, svc: Service, request: Request[Any, Any, Any]) -> Response[bytes]:
        """Prometheus metrics (with API keys on, a key with the 'metrics' scope)."""
        # Metrics name every index of every tenant: with API keys on they need a key
        # with the 'metrics' scope (Prometheus: authorization.credentials).
        svc.authorize(request, "metrics")
        return Response(svc.metrics.exposition(), media_type=METRICS_CONTENT_TYPE)

    @get("/openapi.json", include_in_schema=False)
    async def openapi(self, request: Request[Any, Any, Any]) -> Response[Any]:
        """The OpenAPI document, with request bodies marked as refusing unknown fields."""
        return Response(openapi_document(request.app), media_type="application/json")

    @get("/", include_in_schema=False)
    async def page(
        self,
    ) -> Response[bytes]:
        """The search page."""
        html = resources.files("redvec.api").joinpath("static/index.html").read_bytes()
        return Response(html, media_type="text/html; charset=utf-8")
