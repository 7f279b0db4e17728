"""The ASGI application: routes over :class:`Service`, errors, metrics, the search page.

Searches run on the event loop with an asyncio Redis client (the request is built and
the reply parsed by the same code as the library's); everything else (writes, index
management, embedding text) is synchronous library code run in a worker thread.
"""

from __future__ import annotations

import functools
import gc
import threading
import time
from collections.abc import Callable
from typing import Any

from litestar import Litestar, Request
from litestar.di import Provide
from litestar.enums import ScopeType
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from redvec.api.auth import KeyRing
from redvec.api.errors import ApiError, exception_handlers
from redvec.api.fastlane import fast_lane
from redvec.api.routes import CONTROLLERS
from redvec.api.routes.documents import stream_for
from redvec.api.searching import answer_search
from redvec.api.service import Service, ServiceConfig
from redvec.merger import merge_all_buffers

__all__ = ["create_app", "create_app_from_env", "stream_for"]


def _body_rules(request: Request[Any, Any, Any]) -> None:
    """Every body this service reads is JSON: another content type is a 415, a missing
    body a 400 with a sentence (not Litestar's bare "'data'")."""
    if request.method not in ("POST", "PUT", "PATCH"):
        return
    content_type = request.headers.get("content-type", "")
    length = request.headers.get("content-length")
    chunked = "chunked" in request.headers.get("transfer-encoding", "").lower()
    if (length is None or length.strip() == "0") and not chunked:
        raise ApiError(
            400, f"{request.method} {request.url.path} needs a JSON body; the request had none"
        )
    media = content_type.split(";", 1)[0].strip().lower()
    if media != "application/json" and not media.endswith("+json"):
        raise ApiError(
            415,
            f"the body must be JSON (Content-Type: application/json), got "
            f"{content_type or 'no Content-Type'!r}",
        )


def _metrics_middleware(svc: Service) -> Callable[[ASGIApp], ASGIApp]:
    """Count and time every routed request by its route template and final status."""

    children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def factory(app: ASGIApp) -> ASGIApp:
        async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP:
                await app(scope, receive, send)
                return
            start = time.perf_counter()
            status = 500

            async def capture(message: Message) -> None:
                nonlocal status
                if message["type"] == "http.response.start":
                    status = message["status"]
                await send(message)

            try:
                await app(scope, receive, capture)
            finally:
                key = (scope.get("path_template") or "unmatched", scope.get("method", "GET"))
                series = children.get((*key, status))
                if series is None:  # labels() costs a lock and a lookup: once per series
                    series = children[(*key, status)] = (
                        svc.metrics.requests.labels(*key, str(status)),
                        svc.metrics.latency.labels(*key),
                    )
                series[0].inc()
                series[1].observe(time.perf_counter() - start)

        return middleware

    return factory


def create_app(config: ServiceConfig) -> ASGIApp:
    """The ASGI application of the HTTP service for ``config``: Litestar with one controller
    per resource, the service injected as ``svc``, metrics, body rules and (unless turned
    off) the search fast lane in front."""
    svc = Service(config)

    merging = threading.Event()

    async def close() -> None:
        merging.set()
        await svc.aclose()

    def start_merger() -> None:
        if config.merge:
            threading.Thread(
                target=merge_all_buffers,
                args=(svc.client, merging, svc.mergers),
                name="merger",
                daemon=True,
            ).start()

    def settle() -> None:
        # Everything loaded so far lives as long as the process: move it out of the
        # collector's sight, so full collections under load walk only request garbage
        # (this cut p99 by a third in benchmarks/http_search.py).
        gc.collect()
        gc.freeze()

    app = Litestar(
        route_handlers=CONTROLLERS,
        dependencies={"svc": Provide(lambda: svc, use_cache=True, sync_to_thread=False)},
        exception_handlers=exception_handlers,
        middleware=[_metrics_middleware(svc)],
        before_request=_body_rules,
        request_max_body_size=config.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title="redvec",
            version=_version(),
            description="Vector search on Redis: KNN with filters, hybrid search, documents, "
            "indexes. Scores are higher-is-better; distances are RediSearch's (lower is closer).",
            path="/docs",
            render_plugins=[SwaggerRenderPlugin()],
        ),
        on_startup=[settle, start_merger],
        on_shutdown=[close],
        debug=False,
    )
    app.state.service = svc
    if not config.fast_search:
        return app
    return fast_lane(app, functools.partial(answer_search, svc), config.max_body_bytes, svc.metrics)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("redvec")
    except PackageNotFoundError:
        return "0"


def create_app_from_env() -> ASGIApp:
    """The factory ``redvec serve`` hands its ASGI server, so that ``--workers`` can fork it."""
    from redvec.connection import resolve_url
    from redvec.settings import Settings

    s = Settings.from_env()
    keys: KeyRing | None = None
    if s.api_keys_file is not None:
        keys = KeyRing.from_file(s.api_keys_file)
    elif s.api_keys:
        keys = KeyRing.from_json(s.api_keys, "REDVEC_API_KEYS")
    return create_app(
        ServiceConfig(
            resolve_url(None, s),
            keys,
            s.max_body_bytes,
            s.index_cache_seconds,
            fast_search=s.fast_search,
            rerankers=s.rerankers,
            merge=s.merge,
        )
    )
