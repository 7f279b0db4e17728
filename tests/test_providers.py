"""The provider recorded with an index decides how its queries are embedded."""

from __future__ import annotations

import json

import pytest
import redis

from redvec.errors import ConfigError
from redvec.index import SearchIndex
from redvec.providers import (
    check_provider,
    provider_for_index,
    provider_spec,
    query_embedder,
    remember_provider,
)
from redvec.schema import IndexSchema, TextField, VectorField


def _index(r: redis.Redis) -> SearchIndex:
    return SearchIndex.create(
        r,
        IndexSchema("p", "p:", (TextField("text"), VectorField("embedding", dims=384))),
    )


def test_queries_use_the_variant_the_documents_were_embedded_with(r: redis.Redis) -> None:
    idx = _index(r)
    embedder, spec = provider_for_index(idx, "local", None, None, "int8")
    assert spec == {"kind": "local", "variant": "int8"}
    remember_provider(idx, spec)
    query = query_embedder(idx)
    assert query is not None and query.name == embedder.name == "local/all-MiniLM-L6-v2:int8"
    # Nothing asked for, or the local model without a variant: the recorded variant.
    assert provider_for_index(idx, None, None, None)[0].name == "local/all-MiniLM-L6-v2:int8"
    assert provider_for_index(idx, "local", None, None)[0].name == "local/all-MiniLM-L6-v2:int8"
    assert provider_for_index(idx, "local", None, None, "fp32")[0].name == "local/all-MiniLM-L6-v2"


def test_an_index_recorded_before_variants_existed_stays_fp32(r: redis.Redis) -> None:
    idx = _index(r)
    idx.set_setting("provider", json.dumps({"kind": "local"}))
    query = query_embedder(idx)
    assert query is not None and query.name == "local/all-MiniLM-L6-v2"


def test_a_variant_for_a_hosted_provider_is_refused() -> None:
    with pytest.raises(ConfigError, match="a model variant applies to the local provider"):
        provider_spec("openai", "m", None, "int8")


def test_adding_documents_with_another_variant_is_refused_once_the_index_has_any(
    r: redis.Redis,
) -> None:
    idx = _index(r)
    int8, spec = provider_for_index(idx, "local", None, None, "int8")
    remember_provider(idx, spec)
    fp32, _ = provider_for_index(idx, "local", None, None, "fp32")
    check_provider(idx, fp32)  # empty index: switching costs nothing
    idx.upsert([{"id": "1", "text": "x", "embedding": [0.05] * 384}])
    idx.wait_indexed()
    check_provider(idx, int8)
    with pytest.raises(ConfigError, match="holds documents embedded with local/all-MiniLM-L6"):
        check_provider(idx, fp32)
