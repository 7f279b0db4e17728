"""The one small protocol every embedding provider follows, and the provider registry."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from redvec.errors import ConfigError, EmbeddingError, VectorError

__all__ = ["Embedder", "EmbeddingError", "check_dims", "make_provider"]


@runtime_checkable
class Embedder(Protocol):
    """``name`` identifies model and settings (it keys the cache); ``dims`` is the width."""

    @property
    def name(self) -> str:
        """Identifies the model and its settings: keys the cache, recorded with an index."""

    @property
    def dims(self) -> int:
        """The dimension of the vectors."""

    def embed(self, texts: list[str]) -> npt.NDArray[np.float32]:
        """One float32 row per text, in order; :class:`EmbeddingError` when it fails."""


def check_dims(provider: Embedder, index_dims: int, index: str) -> None:
    """Refuse, before anything is written, a provider whose vectors do not fit the index."""
    if provider.dims != index_dims:
        raise VectorError(
            f"provider '{provider.name}' makes {provider.dims}-d vectors but index '{index}' "
            f"expects {index_dims}-d; use a matching model or create the index with "
            f"dims: {provider.dims}"
        )


def make_provider(kind: str, **options: Any) -> Embedder:
    """A provider by name: ``local``, ``openai`` (any OpenAI-compatible server), ``cohere``."""
    kind = kind.lower()
    if kind == "local":
        from redvec.embeddings.local import LocalEmbedder

        return LocalEmbedder(**options)
    if kind == "openai":
        from redvec.embeddings.openai import OpenAIEmbedder

        return OpenAIEmbedder(**options)
    if kind == "cohere":
        from redvec.embeddings.cohere import CohereEmbedder

        return CohereEmbedder(**options)
    raise ConfigError(f"unknown embedding provider {kind!r}: use local, openai or cohere")
