"""`redvec mcp` with the MCP SDK's own client: over stdio (the test spawns the command),
over streamable HTTP (the command on a free port, with the service's API keys), and in
process, all against the session's embedded Redis."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx2
import numpy as np
import pytest
import redis
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from redvec.api.auth import ApiKey, KeyRing, digest, new_key
from redvec.api.service import Service, ServiceConfig
from redvec.exact import exact_knn
from redvec.index import SearchIndex
from redvec.mcp import McpOptions, build_server
from redvec.providers import remember_provider

from ..api.conftest import free_port
from ..api.test_recommend_api import _shop
from ..api.test_service import CATEGORIES, DIMS, corpus, schema
from ..embedding_server import API_KEY, EmbeddingServer, vector_for

WRITE_TOOLS = {"upsert_documents", "delete_documents"}
READ_TOOLS = {"list_indexes", "describe_index", "search", "get_documents"}


@pytest.fixture()
def docs_index(r: redis.Redis, server: EmbeddingServer) -> tuple[SearchIndex, np.ndarray]:
    """60 documents whose index records the local OpenAI-protocol provider (text is
    embedded for dense and hybrid search)."""
    idx = SearchIndex.create(r, schema())
    docs, vectors = corpus(60)
    idx.upsert(docs)
    remember_provider(
        idx, {"kind": "openai", "model": "m", "base_url": f"{server.url}/v1"}, ["title"]
    )
    idx.wait_indexed()
    return idx, vectors


def _ok(result: Any) -> dict[str, Any]:
    assert not result.is_error, result.content
    assert isinstance(result.structured_content, dict)
    return result.structured_content


def _refused(result: Any) -> str:
    assert result.is_error, result.structured_content
    message = result.content[0].text
    assert "Traceback" not in message
    return str(message)


def _env(redis_url: str) -> dict[str, str]:
    return {
        "REDIS_URL": redis_url,
        "OPENAI_API_KEY": API_KEY,
        "REDVEC_INDEX_CACHE_SECONDS": "0",
        "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
    }


def _stdio(redis_url: str, *args: str) -> Client:
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "redvec.cli", "mcp", *args], env=_env(redis_url)
    )
    return Client(params, read_timeout_seconds=60)


async def test_an_agent_searches_in_every_mode_over_stdio(
    redis_url: str, docs_index: tuple[SearchIndex, np.ndarray]
) -> None:
    _, vectors = docs_index
    query = vectors[7] + 0.01
    async with _stdio(redis_url) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert names == READ_TOOLS | WRITE_TOOLS  # no recommender in this Redis
        assert _ok(await client.call_tool("list_indexes", {})) == {"indexes": ["docs"]}
        info = _ok(await client.call_tool("describe_index", {"index": "docs"}))
        assert info["num_docs"] == 60
        assert info["vector"]["dims"] == DIMS and info["vector"]["distance"] == "COSINE"
        assert info["provider"]["kind"] == "openai"
        assert [f["name"] for f in info["schema"]["fields"]][:3] == ["title", "category", "price"]

        # dense, by vector, with a filter: the same ids as exact search over the filtered set
        flt = {"field": "category", "tag": "sport"}
        dense = _ok(
            await client.call_tool(
                "search", {"index": "docs", "vector": query.tolist(), "k": 5, "filter": flt}
            )
        )
        sport = [i for i in range(60) if CATEGORIES[i % 3] == "sport"]
        expected = exact_knn(vectors[sport], query[None], 5, "COSINE")[0][0]
        assert dense["mode"] == "dense"
        assert [h["id"] for h in dense["results"]] == [str(sport[i]) for i in expected]
        assert all(h["fields"]["category"] == "sport" for h in dense["results"])

        # dense, by text: embedded with the index's provider
        title = "document number 11 about science"
        by_text = _ok(await client.call_tool("search", {"index": "docs", "text": title, "k": 3}))
        text_vec = np.asarray(vector_for(title, DIMS), dtype=np.float32)
        assert by_text["mode"] == "dense"
        nearest = exact_knn(vectors, text_vec[None], 1, "COSINE")[0][0][0]
        assert by_text["results"][0]["id"] == str(nearest)

        # bm25 and hybrid, with a numeric filter
        price = {"field": "price", "gte": 10, "lte": 20}
        bm25 = _ok(
            await client.call_tool(
                "search",
                {"index": "docs", "text": "finance", "mode": "bm25", "k": 50, "filter": price},
            )
        )
        assert bm25["mode"] == "bm25" and bm25["results"]
        assert all(h["fields"]["category"] == "finance" for h in bm25["results"])
        assert all(10 <= float(h["fields"]["price"]) <= 20 for h in bm25["results"])
        hybrid = _ok(
            await client.call_tool(
                "search",
                {"index": "docs", "text": "science", "vector": query.tolist(), "k": 5}
                | {"text_weight": 2.0, "filter": {"not": {"field": "category", "tag": "sport"}}},
            )
        )
        assert hybrid["mode"] == "hybrid" and len(hybrid["results"]) == 5
        assert all(h["fields"]["category"] != "sport" for h in hybrid["results"])

        # a bad filter and a wrong-dimension vector are tool errors with the library's words
        hue = {"field": "hue", "tag": "red"}
        bad = _refused(
            await client.call_tool(
                "search", {"index": "docs", "vector": query.tolist(), "filter": hue}
            )
        )
        assert "unknown field 'hue' in filter" in bad and "can filter on" in bad
        short = _refused(await client.call_tool("search", {"index": "docs", "vector": [0.1, 0.2]}))
        assert "has dimension 2, expected 8" in short
        k = _refused(
            await client.call_tool("search", {"index": "docs", "vector": query.tolist(), "k": 0})
        )
        assert "invalid_request: k: Expected 'int' >= 1" in k
        missing = _refused(await client.call_tool("search", {"index": "nope", "text": "x"}))
        assert "index_not_found: no index named 'nope'" in missing


async def test_an_agent_upserts_then_finds_gets_and_deletes_over_stdio(
    redis_url: str, r: redis.Redis, docs_index: tuple[SearchIndex, np.ndarray]
) -> None:
    idx, _ = docs_index
    new = [
        {"id": "n1", "title": "the offside rule", "category": "sport", "price": 3},
        {"id": "n2", "title": "bond yields", "category": "finance", "price": 4,
         "embedding": [1.0] + [0.0] * (DIMS - 1)},
    ]  # fmt: skip
    async with _stdio(redis_url) as client:
        done = _ok(await client.call_tool("upsert_documents", {"index": "docs", "documents": new}))
        assert done["ids"] == ["n1", "n2"] and done["embedded"] == 1
        found = _ok(
            await client.call_tool("search", {"index": "docs", "text": "the offside rule", "k": 1})
        )
        assert found["results"][0]["id"] == "n1"
        got = _ok(
            await client.call_tool(
                "get_documents", {"index": "docs", "ids": ["n2", "zz"], "with_vectors": True}
            )
        )
        assert got["missing"] == ["zz"]
        assert got["documents"][0]["fields"]["embedding"] == new[1]["embedding"]
        assert got["documents"][0]["fields"]["title"] == "bond yields"

        # all or none: one bad document refuses the call and nothing is written
        bad = [
            {"id": "n3", "title": "x", "embedding": [1.0] * DIMS},
            {"id": "n4", "embedding": [1]},
        ]
        refused = _refused(
            await client.call_tool("upsert_documents", {"index": "docs", "documents": bad})
        )
        assert "document 'n4'" in refused and "nothing was written" in refused
        assert idx.get(["n3"]) == [None]

        deleted = _ok(await client.call_tool("delete_documents", {"index": "docs", "ids": ["n1"]}))
        assert deleted == {"deleted": 1}
    assert idx.get(["n1"]) == [None] and idx.get(["n2"])[0] is not None


async def test_read_only_offers_no_write_tool(
    redis_url: str, docs_index: tuple[SearchIndex, np.ndarray]
) -> None:
    idx, _ = docs_index
    async with _stdio(redis_url, "--read-only") as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert names == READ_TOOLS
        refused = await client.call_tool("delete_documents", {"index": "docs", "ids": ["1"]})
        assert refused.is_error
    assert idx.count() == 60


# -- streamable HTTP, with the service's API keys -------------------------------------------

KEYS = {
    "admin": ApiKey("admin", "", frozenset({"read", "write"})),
    "reader": ApiKey("reader", "", frozenset({"read"})),
    "acme": ApiKey("acme", "", frozenset({"read", "write"}), "acme"),
}


class RunningMcp:
    def __init__(self, redis_url: str, tmp: Path) -> None:
        ring, self.keys = KeyRing(), {}
        for key_id, entry in KEYS.items():
            self.keys[key_id] = secret = new_key()
            ring.add(ApiKey(key_id, digest(secret), entry.scopes, entry.tenant))
        key_file = tmp / "keys.json"
        key_file.write_text(ring.to_json())
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/mcp"
        env = {**os.environ, **_env(redis_url)}
        env.pop("REDVEC_API_KEYS", None)
        self.log = tmp / "mcp.log"
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "redvec.cli", "mcp", "--transport", "http",
                 "--port", str(self.port), "--api-keys", str(key_file)],
                stdout=out, stderr=subprocess.STDOUT, env=env,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redvec mcp exited: {self.log.read_text()}")
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"redvec mcp did not listen in 60 s: {self.log.read_text()}")

    @asynccontextmanager
    async def client(self, key: str) -> AsyncIterator[Client]:
        headers = {"Authorization": f"Bearer {self.keys[key]}"}
        timeout = httpx2.Timeout(30, read=300)
        async with (
            httpx2.AsyncClient(headers=headers, timeout=timeout) as h,
            Client(streamable_http_client(self.url, http_client=h)) as c,
        ):
            yield c

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture(scope="module")
def mcp_http(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningMcp]:
    running = RunningMcp(redis_url, tmp_path_factory.mktemp("mcp"))
    yield running
    running.stop()


@pytest.fixture()
def tenants(r: redis.Redis) -> None:
    for t in ("acme", "globex"):
        idx = SearchIndex.create(r, schema(f"idx:{{{t}}}:docs", f"doc:{{{t}}}:"))
        idx.upsert(corpus(20)[0])
        idx.wait_indexed()


async def test_over_http_a_request_without_a_known_key_is_401(mcp_http: RunningMcp) -> None:
    async with httpx2.AsyncClient() as h:
        bare = await h.post(mcp_http.url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"})
        wrong = await h.post(
            mcp_http.url,
            json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
            headers={"Authorization": "Bearer rv_not-a-key"},
        )
    assert bare.status_code == 401 and bare.headers["www-authenticate"] == "Bearer"
    assert bare.json()["error"]["code"] == "unauthorized"
    assert wrong.status_code == 401 and wrong.json()["error"]["message"] == "unknown API key"


async def test_over_http_a_reader_searches_but_cannot_write(
    mcp_http: RunningMcp, r: redis.Redis, tenants: None
) -> None:
    name = "idx:{acme}:docs"
    async with mcp_http.client("reader") as client:
        hits = _ok(
            await client.call_tool("search", {"index": name, "vector": [0.5] * DIMS, "k": 3})
        )
        assert len(hits["results"]) == 3
        refused = _refused(
            await client.call_tool(
                "upsert_documents",
                {"index": name, "documents": [{"id": "x", "embedding": [0.5] * DIMS}]},
            )
        )
        assert "forbidden: API key 'reader' lacks the 'write' scope" in refused
    assert r.exists("doc:{acme}:x") == 0


async def test_over_http_a_tenant_key_sees_and_searches_only_its_tenant(
    mcp_http: RunningMcp, tenants: None
) -> None:
    async with mcp_http.client("acme") as client:
        listed = _ok(await client.call_tool("list_indexes", {}))
        assert listed == {"indexes": ["idx:{acme}:docs"]}
        own = _ok(
            await client.call_tool(
                "search", {"index": "idx:{acme}:docs", "vector": [0.5] * DIMS, "k": 2}
            )
        )
        assert len(own["results"]) == 2
        for tool, args in (
            ("search", {"vector": [0.5] * DIMS}),
            ("describe_index", {}),
            ("get_documents", {"ids": ["1"]}),
            ("delete_documents", {"ids": ["1"]}),
        ):
            other = _refused(await client.call_tool(tool, {"index": "idx:{globex}:docs", **args}))
            assert "index_not_found: no index named 'idx:{globex}:docs'" in other, tool
    async with mcp_http.client("admin") as client:
        listed = _ok(await client.call_tool("list_indexes", {}))
        assert sorted(listed["indexes"]) == ["idx:{acme}:docs", "idx:{globex}:docs"]


def test_serving_mcp_off_loopback_without_keys_is_refused(redis_url: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "redvec.cli", "mcp", "--transport", "http", "--host", "0.0.0.0",
         "--port", str(free_port()), "--url", redis_url],
        capture_output=True, text=True, timeout=60,
        env={k: v for k, v in os.environ.items() if not k.startswith("REDVEC_API_KEYS")},
    )  # fmt: skip
    assert done.returncode == 1
    assert "needs API keys" in done.stderr and "Traceback" not in done.stderr


# -- in process: the recommender tools and the index allow-list ------------------------------


@pytest.fixture()
def service(redis_url: str) -> Iterator[Service]:
    svc = Service(ServiceConfig(redis_url, index_ttl=0))
    yield svc
    svc.client.close()


async def test_recommender_tools_answer_as_the_library(r: redis.Redis, service: Service) -> None:
    rec = _shop(r)
    async with Client(build_server(service)) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert {"recommend_for_user", "similar_items"} <= names
        got = _ok(
            await client.call_tool(
                "recommend_for_user",
                {"user_id": "u3", "recommender": "shop", "n": 4, "neighbours": 6},
            )
        )
        expected = rec.recommend("u3", 4, neighbours=6)
        assert [x["item"] for x in got["items"]] == [x.item for x in expected.items]
        similar = _ok(
            await client.call_tool("similar_items", {"item_id": "i0", "recommender": "shop"})
        )
        assert [x["item"] for x in similar["items"]] == [i for i, _ in rec.similar_items("i0", 10)]
        nobody = _refused(
            await client.call_tool("recommend_for_user", {"user_id": "x", "recommender": "shop"})
        )
        assert nobody.startswith("Error executing tool recommend_for_user: user_not_found")


async def test_only_the_indexes_named_are_offered(
    service: Service, docs_index: tuple[SearchIndex, np.ndarray], r: redis.Redis
) -> None:
    SearchIndex.create(r, schema("other", "other:"))
    options = McpOptions(indexes=frozenset({"docs"}))
    async with Client(build_server(service, options)) as client:
        assert _ok(await client.call_tool("list_indexes", {})) == {"indexes": ["docs"]}
        hidden = _refused(await client.call_tool("describe_index", {"index": "other"}))
        assert "no index named 'other'" in hidden


async def test_search_reranks_with_mmr_and_refuses_an_unknown_reranker(
    service: Service, docs_index: tuple[SearchIndex, np.ndarray]
) -> None:
    _, vectors = docs_index
    query = vectors[3].tolist()
    async with Client(build_server(service)) as client:
        info = _ok(await client.call_tool("describe_index", {"index": "docs"}))
        assert info["rerankers"] == ["mmr"]
        args = {"index": "docs", "vector": query, "k": 5}
        plain = _ok(await client.call_tool("search", args))
        diverse = _ok(
            await client.call_tool(
                "search", {**args, "rerank": "mmr", "fetch_k": 30, "mmr_lambda": 0.2}
            )
        )
        assert all(h["rerank_score"] is not None for h in diverse["results"])
        assert [h["id"] for h in diverse["results"]] != [h["id"] for h in plain["results"]]
        assert diverse["results"][0]["id"] == plain["results"][0]["id"]
        unknown = _refused(await client.call_tool("search", {**args, "rerank": "colbert"}))
        assert "invalid_request: unknown reranker 'colbert': this service offers mmr" in unknown
        short = _refused(await client.call_tool("search", {**args, "rerank": "mmr", "fetch_k": 2}))
        assert "fetch_k (2) must be at least k (5)" in short
