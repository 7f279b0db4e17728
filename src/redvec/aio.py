"""Searching one index from asyncio, with the same requests and parsing as :class:`SearchIndex`.

The HTTP service answers each search on its event loop: a thread hop per request
cost it a third of its throughput (docs/api.md). Building a request and parsing a
reply are pure CPU work and stay in :class:`SearchIndex`; only the round trip to
Redis is awaited here, so both paths return identical results.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import redis
import redis.asyncio as aredis
from redis.commands.core import AsyncScript

from redvec.connection import unavailable
from redvec.errors import ValidationError
from redvec.index import HybridPlan, SearchIndex, search_error
from redvec.query import KnnQuery, SearchResult, TextQuery, build_text
from redvec.storage import SPLIT_SEARCH_SCRIPT

__all__ = ["AsyncSearch"]


class AsyncSearch:
    """KNN, batch and hybrid searches of ``index`` over an asyncio Redis client."""

    def __init__(self, index: SearchIndex, client: aredis.Redis) -> None:
        self.index = index
        self.client = client
        self._split: AsyncScript = client.register_script(SPLIT_SEARCH_SCRIPT)

    def _send(self, target: Any, args: list[Any], scored: bool) -> Any:
        schema = self.index.schema
        return schema.store.send_search(
            target, schema, self.index.search_name, args, scored=scored, script=self._split
        )

    async def _one(self, args: list[Any], scored: bool = False) -> Any:
        try:
            return await self._send(self.client, args, scored)
        except redis.ResponseError as e:
            raise search_error(self.index.name, e) from None
        except (redis.ConnectionError, redis.TimeoutError) as e:
            raise unavailable(e) from None

    async def _pipelined(self, requests: list[tuple[list[Any], bool]]) -> list[Any]:
        pipe = self.client.pipeline(transaction=False)
        for args, scored in requests:
            self._send(pipe, args, scored)
        try:
            return list(await pipe.execute())
        except redis.ResponseError as e:
            raise search_error(self.index.name, e) from None
        except (redis.ConnectionError, redis.TimeoutError) as e:
            raise unavailable(e) from None

    async def query(self, q: KnnQuery) -> SearchResult:
        args, vf = self.index._knn_args(q)
        return self.index._parse(await self._one(args), vf, return_fields=q.return_fields)

    async def query_many(self, queries: Sequence[KnnQuery]) -> list[SearchResult]:
        """Many KNN queries in one pipelined round trip; a bad one is named by position."""
        built = []
        for n, q in enumerate(queries):
            try:
                built.append(self.index._knn_args(q))
            except ValidationError as e:
                raise type(e)(f"searches[{n}]: {e}") from None
        replies = await self._pipelined([(args, False) for args, _ in built])
        return [
            self.index._parse(reply, vf, return_fields=q.return_fields)
            for reply, (_, vf), q in zip(replies, built, queries, strict=True)
        ]

    async def text(self, q: TextQuery) -> SearchResult:
        """BM25 full-text search, as :meth:`SearchIndex.text_search` answers it."""
        reply = await self._one(build_text(self.index.schema, q), scored=True)
        return self.index._parse(reply, None, scored=True, return_fields=q.return_fields)

    async def hybrid(self, plan: HybridPlan) -> SearchResult:
        """Send a plan from :meth:`SearchIndex.hybrid_plan`; fuse its two rankings."""
        text_reply, knn_reply = await self._pipelined(
            [(plan.text_args, True), (plan.knn_args, False)]
        )
        return self.index.hybrid_fuse(plan, text_reply, knn_reply)
