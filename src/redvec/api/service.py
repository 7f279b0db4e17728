"""What every request needs: Redis clients, opened indexes, embedders, auth, metrics.

Opened indexes are cached for a few seconds: opening one costs two round trips
(FT.INFO and the stored schema), which would double a search's cost. An index
dropped or changed behind the service's back is seen within ``index_ttl``; one
dropped or created through the service is seen at once.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
import redis.asyncio as aredis
from litestar import Request

from redvec.aio import AsyncSearch
from redvec.api.auth import ApiKey, KeyRing
from redvec.api.errors import ApiError
from redvec.api.metrics import Metrics
from redvec.connection import redis_client
from redvec.embeddings import Embedder
from redvec.embeddings.cache import CachedEmbedder
from redvec.errors import ConfigError, IndexNotFoundError
from redvec.index import SearchIndex, list_indexes
from redvec.providers import provider_for_index, query_embedder
from redvec.recommend import Recommender
from redvec.rerank import NamedRerankers
from redvec.settings import Settings

__all__ = ["Service", "ServiceConfig"]

LOOPBACK = {"127.0.0.1", "::1", "localhost"}


@dataclass
class ServiceConfig:
    """What one HTTP service needs: the Redis URL, API keys (None: auth off), the body limit,
    how long an opened index is trusted, and whether the fast lane answers searches."""

    redis_url: str
    keys: KeyRing | None = None  # None: auth off
    max_body_bytes: int = 8 * 1024 * 1024
    index_ttl: float = 5.0
    fast_search: bool = True
    socket_timeout: float = 10.0
    rerankers: str | None = None  # REDVEC_RERANKERS: the rerankers offered beyond mmr
    merge: bool = False  # merge every index's write buffer in the background (redvec.merger)
    extra: dict[str, Any] = field(default_factory=dict)

    @staticmethod
    def auth_for(
        host: str, keys_file: Path | None, keys_json: str | None, no_auth: bool
    ) -> KeyRing | None:
        """Keys from a file or the environment; auth is off only on loopback or when asked."""
        from redvec.errors import ConfigError

        if keys_file is not None:
            return KeyRing.from_file(keys_file)
        if keys_json:
            return KeyRing.from_json(keys_json, "REDVEC_API_KEYS")
        if no_auth:
            return None
        if host not in LOOPBACK:
            raise ConfigError(
                f"binding to {host} needs API keys (--api-keys FILE or REDVEC_API_KEYS; "
                f"make one with `redvec apikey create`), or --no-auth to serve without them"
            )
        return None


class Service:
    """The state one HTTP service shares between requests: Redis clients (sync and asyncio),
    opened indexes and recommenders (cached for ``index_ttl`` s), embedders, keys, metrics."""

    def __init__(self, config: ServiceConfig) -> None:
        self.config = config
        settings = Settings.from_env()
        timeout = config.socket_timeout
        self.client: redis.Redis = redis_client(config.redis_url, settings, timeout=timeout)
        self.aclient: aredis.Redis = redis_client(
            config.redis_url, settings, aio=True, timeout=timeout
        )
        self.mergers: dict[str, Any] = {}  # index -> its Merger, when this service merges
        self.metrics = Metrics(lambda: self.client, lambda: self.mergers)
        self.rerankers = NamedRerankers.from_json(config.rerankers)
        self._indexes: dict[str, tuple[float, SearchIndex, AsyncSearch]] = {}
        self._embedders: dict[tuple[str, str], Embedder] = {}
        self._recommenders: dict[str, tuple[float, Recommender]] = {}
        self._lock = threading.Lock()

    # -- indexes -----------------------------------------------------------------------

    def index(self, name: str) -> tuple[SearchIndex, AsyncSearch]:
        """The index ``name`` (opened, or from the cache) and its asyncio search handle;
        :class:`IndexNotFoundError` (404) when there is none."""
        now = time.monotonic()
        cached = self._indexes.get(name)
        if cached is not None and cached[0] > now:
            return cached[1], cached[2]
        with self.metrics.timed_redis("open_index"):
            idx = SearchIndex.open(self.client, name)
            idx.refresh()
            _ = idx.default_ef_runtime  # read the settings now, not on the event loop later
        entry = (now + self.config.index_ttl, idx, AsyncSearch(idx, self.aclient))
        self._indexes[name] = entry
        return entry[1], entry[2]

    def recommender(self, name: str) -> Recommender:
        """The recommender ``name``, opened or cached; 404 when there is none."""
        now = time.monotonic()
        cached = self._recommenders.get(name)
        if cached is not None and cached[0] > now:
            return cached[1]
        try:
            rec = Recommender(self.client, name)
        except (ConfigError, IndexNotFoundError):
            raise ApiError(404, f"no recommender named '{name}'", "recommender_not_found") from None
        self._recommenders[name] = (now + self.config.index_ttl, rec)
        return rec

    def forget(self, name: str) -> None:
        """Drop ``name`` from the caches (after a create or drop through the service)."""
        self._indexes.pop(name, None)

    def stale(self, name: str, settle: float = 0.5) -> bool:
        """Forget ``name``'s cached index if it was opened more than ``settle`` seconds
        ago; True when it did (the caller re-opens and retries once). A request refused
        for a vector's size, or one that found nothing, calls this: the index may have
        been dropped and recreated with other dimensions behind the service's back."""
        cached = self._indexes.get(name)
        if cached is None or time.monotonic() - (cached[0] - self.config.index_ttl) < settle:
            return False
        self._indexes.pop(name, None)
        return True

    def embedder(self, idx: SearchIndex, purpose: str) -> Embedder | None:
        """The index's recorded provider, for queries or documents; None if it has none."""
        stored = idx.get_setting("provider")
        if stored is None:
            return None
        key = (purpose, stored)
        with self._lock:
            if key not in self._embedders:
                if purpose == "query":
                    provider = query_embedder(idx)
                    assert provider is not None
                else:
                    provider, _ = provider_for_index(idx, None, None, None)
                self._embedders[key] = provider
            provider = self._embedders[key]
        return CachedEmbedder(provider, self.client)

    # -- auth --------------------------------------------------------------------------

    def principal(self, request: Request[Any, Any, Any] | Mapping[str, str]) -> ApiKey | None:
        """The caller's key, from a request or its headers (lower-case names, as the
        search fast lane passes them)."""
        keys = self.config.keys
        if keys is None:
            return None
        headers = request.headers if isinstance(request, Request) else request
        presented = headers.get("x-api-key")
        if presented is None:
            auth = headers.get("authorization", "")
            scheme, _, token = auth.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                presented = token.strip()
        if not presented:
            raise ApiError(
                401, "an API key is required: send 'Authorization: Bearer <key>' or 'X-API-Key'"
            )
        key = keys.lookup(presented)
        if key is None:
            raise ApiError(401, "unknown API key")
        return key

    def authorize(
        self,
        request: Request[Any, Any, Any] | Mapping[str, str],
        scope: str,
        index: str | None = None,
    ) -> ApiKey | None:
        """Check the caller's key; an index outside its tenant does not exist for it."""
        key = self.principal(request)
        if key is None:
            return None
        if index is not None and not key.sees(index):
            raise IndexNotFoundError(f"no index named '{index}'")
        if scope not in key.scopes:
            raise ApiError(403, f"API key '{key.id}' lacks the '{scope}' scope")
        return key

    def visible_indexes(self, request: Request[Any, Any, Any] | Mapping[str, str]) -> list[str]:
        """The indexes the caller's key may see (a tenant key: its tenant's only); the key
        needs ``read``."""
        key = self.authorize(request, "read")
        return [n for n in list_indexes(self.client) if key is None or key.sees(n)]

    def remembered(self, idx: SearchIndex, key: str) -> Any:
        """A JSON setting kept with the index (``key``), decoded; None when unset."""
        raw = idx.get_setting(key)
        return None if raw is None else json.loads(raw)

    async def aclose(self) -> None:
        """Close the asyncio Redis client (at shutdown)."""
        await self.aclient.aclose()
        self.client.close()
