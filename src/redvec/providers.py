"""Which embedding provider an index uses, remembered with the index (never its key).

``redvec ingest`` records the provider's kind, model, base URL and (for the local model)
variant in the index's settings, so ``redvec search --text`` and the HTTP service embed
queries with the same model that embedded the documents. API keys stay in the
environment.
"""

from __future__ import annotations

import json
from typing import Any

from redvec.embeddings import Embedder, EmbeddingError, make_provider
from redvec.errors import ConfigError
from redvec.index import SearchIndex

__all__ = [
    "build_provider",
    "check_provider",
    "provider_for_index",
    "provider_spec",
    "query_embedder",
    "remember_provider",
    "remembered_text_fields",
]


def provider_spec(
    kind: str, model: str | None = None, base_url: str | None = None, variant: str | None = None
) -> dict[str, Any]:
    """The record of a provider as it is kept with an index (no secrets); a variant is for
    the local model only (:class:`ConfigError` otherwise)."""
    spec: dict[str, Any] = {"kind": kind}
    if model:
        spec["model"] = model
    if base_url:
        spec["base_url"] = base_url
    if kind == "local":
        from redvec.embeddings.local import DEFAULT_VARIANT

        # Written out, so that a later change of the default never changes what a
        # recorded index's queries are embedded with.
        spec["variant"] = variant or DEFAULT_VARIANT
    elif variant:
        raise ConfigError(f"a model variant applies to the local provider, not to {kind}")
    return spec


def build_provider(spec: dict[str, Any], **extra: Any) -> Embedder:
    """The embedder a provider record describes."""
    options = {k: v for k, v in spec.items() if k != "kind"}
    if spec["kind"] == "local":
        options.setdefault("variant", "fp32")  # recorded before variants existed
    return make_provider(spec["kind"], **options, **extra)


def provider_for_index(
    index: SearchIndex,
    kind: str | None,
    model: str | None,
    base_url: str | None,
    variant: str | None = None,
) -> tuple[Embedder, dict[str, Any]]:
    """The provider asked for, else the one recorded for the index, else the local model.

    A variant alone (no kind) asks for the local model in that variant; the local model
    without a variant keeps the variant recorded for the index."""
    stored = index.get_setting("provider")
    recorded = json.loads(stored) if stored is not None else None
    if kind is None and variant is None and recorded is not None:
        spec = recorded
    else:
        if (
            recorded is not None
            and variant is None
            and (kind or "local") == "local" == recorded["kind"]
        ):
            variant = recorded.get("variant", "fp32")  # `--provider local` keeps the variant
        spec = provider_spec(kind or "local", model, base_url, variant)
    return build_provider(spec), spec


def check_provider(index: SearchIndex, embedder: Embedder) -> None:
    """Refuse to add documents embedded by another model or variant than the ones already
    in the index: their vectors are not comparable, and one query vector cannot serve
    both. ``redvec reembed`` is the way to switch every vector at once."""
    stored = index.get_setting("provider")
    if stored is None or index.count() == 0:
        return
    try:
        recorded = build_provider(json.loads(stored)).name
    except (ConfigError, EmbeddingError, ValueError, TypeError):
        return  # a provider this install cannot build; the dimension check still applies
    if recorded != embedder.name:
        raise ConfigError(
            f"index '{index.name}' holds documents embedded with {recorded}; adding some "
            f"embedded with {embedder.name} would mix vectors that one query cannot compare. "
            f"Leave --provider/--model/--model-variant out to use {recorded}, or switch every "
            f"vector with: redvec reembed -i {index.name} --provider ..."
        )


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
        return build_provider(spec, input_type="search_query")
    return build_provider(spec)
