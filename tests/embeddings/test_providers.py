"""Hosted providers over a real socket against a server speaking their wire protocol."""

from __future__ import annotations

import numpy as np
import pytest
import redis

from redvec.embeddings import CachedEmbedder, EmbeddingError, check_dims, make_provider
from redvec.errors import VectorError

from ..embedding_server import API_KEY, EmbeddingServer, vector_for


def test_openai_compatible_embeddings_come_back_in_input_order(server: EmbeddingServer) -> None:
    provider = make_provider(
        "openai", model="m", base_url=f"{server.url}/v1", api_key=API_KEY, batch_size=2, backoff=0
    )
    texts = ["alpha", "beta", "gamma"]
    vectors = provider.embed(texts)
    assert vectors.dtype == np.float32 and vectors.shape == (3, 8)
    np.testing.assert_allclose(vectors, [vector_for(t, 8) for t in texts], rtol=1e-6)
    assert [len(r["json"]["input"]) for r in server.requests] == [2, 1]  # batched
    assert provider.dims == 8  # probed once from the server's answer
    assert provider.name == "openai/m"


def test_cohere_v2_embed(server: EmbeddingServer) -> None:
    provider = make_provider(
        "cohere", model="embed-v3", base_url=server.url, api_key=API_KEY, dims=8
    )
    vectors = provider.embed(["x", "y"])
    np.testing.assert_allclose(vectors[1], vector_for("y", 8, "embed-v3"), rtol=1e-6)
    assert server.requests[0]["json"]["input_type"] == "search_document"


def test_retries_on_429_and_5xx_then_succeeds(server: EmbeddingServer) -> None:
    server.fail_next = [429, 503, 500]
    server.retry_after = "0"
    provider = make_provider(
        "openai", model="m", base_url=f"{server.url}/v1", api_key=API_KEY, backoff=0.01
    )
    assert provider.embed(["a"]).shape == (1, 8)
    assert len(server.requests) == 4


def test_gives_up_after_max_retries_with_a_clear_message(server: EmbeddingServer) -> None:
    server.fail_next = [503] * 10
    server.retry_after = "0"
    provider = make_provider(
        "openai", model="m", base_url=f"{server.url}/v1", api_key=API_KEY, max_retries=2, backoff=0
    )
    with pytest.raises(EmbeddingError, match="answered HTTP 503"):
        provider.embed(["a"])
    assert len(server.requests) == 3


def test_a_wrong_key_is_reported_without_retrying(server: EmbeddingServer) -> None:
    provider = make_provider("openai", model="m", base_url=f"{server.url}/v1", api_key="wrong")
    with pytest.raises(EmbeddingError, match=r"rejected the API key \(HTTP 401\)"):
        provider.embed(["a"])
    assert len(server.requests) == 1


def test_unreachable_server_is_a_clear_error() -> None:
    provider = make_provider(
        "openai",
        model="m",
        base_url="http://127.0.0.1:9/v1",
        api_key=API_KEY,
        max_retries=1,
        backoff=0,
    )
    with pytest.raises(EmbeddingError, match=r"cannot reach openai at http://127\.0\.0\.1:9/v1"):
        provider.embed(["a"])


def test_dimension_mismatch_names_both(server: EmbeddingServer) -> None:
    provider = make_provider("openai", model="m", base_url=f"{server.url}/v1", api_key=API_KEY)
    with pytest.raises(VectorError) as info:
        check_dims(provider, 384, "docs")
    assert str(info.value).startswith(
        "provider 'openai/m' makes 8-d vectors but index 'docs' expects 384-d"
    )


def test_cache_embeds_unchanged_text_once(server: EmbeddingServer, r: redis.Redis) -> None:
    provider = make_provider(
        "openai", model="m", base_url=f"{server.url}/v1", api_key=API_KEY, dims=8
    )
    cached = CachedEmbedder(provider, r)
    first = cached.embed(["a", "b", "a"])
    assert (cached.stats.computed, cached.stats.hits) == (2, 0)  # "a" twice: embedded once
    second = cached.embed(["b", "a", "c"])
    assert (cached.stats.computed, cached.stats.hits) == (3, 2)
    np.testing.assert_array_equal(first[1], second[0])
    assert [len(r["json"]["input"]) for r in server.requests] == [2, 1]


def test_unknown_provider() -> None:
    with pytest.raises(EmbeddingError.__mro__[1], match="unknown embedding provider 'nope'"):
        make_provider("nope")
