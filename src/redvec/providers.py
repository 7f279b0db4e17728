"""Which embedding provider an index uses, remembered with the index (never its key).

``redvec ingest`` records the provider's kind, model and base URL in the index's
settings, so ``redvec search --text`` and the HTTP service embed queries with the
same model that embedded the documents. API keys stay in the environment.
"""

from __future__ import annotations

import json
from typing import Any

from redvec.embeddings import Embedder, make_provider
from redvec.index import SearchIndex

__all__ = ["provider_for_index", "query_embedder", "remember_provider", "remembered_text_fields"]


def _spec(kind: str, model: str | None, base_url: str | None) -> dict[str, Any]:
    spec: dict[str, Any] = {"kind": kind}
    if model:
        spec["model"] = model
    if base_url:
        spec["base_url"] = base_url
    return spec


def _build(spec: dict[str, Any], **extra: Any) -> Embedder:
    options = {k: v for k, v in spec.items() if k != "kind"}
    return make_provider(spec["kind"], **options, **extra)


def provider_for_index(
    index: SearchIndex, kind: str | None, model: str | None, base_url: str | None
) -> tuple[Embedder, dict[str, Any]]:
    """The provider asked for, else the one recorded for the index, else the local model."""
    stored = index.get_setting("provider")
    if kind is None and stored is not None:
        spec = json.loads(stored)
    else:
        spec = _spec(kind or "local", model, base_url)
    return _build(spec), spec


def remember_provider(
    index: SearchIndex, spec: dict[str, Any], text_fields: list[str] | None = None
) -> None:
    """Record the provider, and the fields it embeds, for later searches and re-embedding."""
    index.set_setting("provider", json.dumps(spec, sort_keys=True))
    if text_fields is not None:
        index.set_setting("text_fields", json.dumps(text_fields))


def remembered_text_fields(index: SearchIndex) -> list[str]:
    """The fields whose text is embedded for this index: those `redvec ingest` recorded,
    else the schema's TEXT fields, else ``text`` (the same rule as the ingest default)."""
    stored = index.get_setting("text_fields")
    if stored:
        return list(json.loads(stored))
    return [f.name for f in index.schema.fields if f.kind == "text"] or ["text"]


def query_embedder(index: SearchIndex) -> Embedder | None:
    """The embedder for query text, or None when the index has no recorded provider."""
    stored = index.get_setting("provider")
    if stored is None:
        return None
    spec = json.loads(stored)
    if spec["kind"] == "cohere":
        return _build(spec, input_type="search_query")
    return _build(spec)
