"""Embedding providers behind one small protocol, and a cache in Redis."""

from redvec.embeddings.base import Embedder, EmbeddingError, check_dims, make_provider
from redvec.embeddings.cache import CachedEmbedder, CacheStats

__all__ = [
    "CacheStats",
    "CachedEmbedder",
    "Embedder",
    "EmbeddingError",
    "check_dims",
    "make_provider",
]
