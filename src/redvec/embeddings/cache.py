"""An embedding cache in Redis, keyed by model and text, so unchanged text is embedded once.

Keys are ``redvec:emb:<model>:<sha256 of the text>`` holding float32 bytes; lookups
are one MGET per batch and stores one pipeline, so the cache costs two round trips per
batch whatever its size.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import redis

from redvec import keys
from redvec.embeddings.base import Embedder

__all__ = ["CacheStats", "CachedEmbedder"]

PREFIX = keys.EMBEDDING_CACHE


@dataclass
class CacheStats:
    """What a :class:`CachedEmbedder` answered from the cache (``hits``) and embedded
    (``computed``)."""

    hits: int = 0
    computed: int = 0


class CachedEmbedder:
    """Wraps a provider; same protocol, plus ``stats`` of hits and computed embeddings."""

    def __init__(self, provider: Embedder, client: redis.Redis, ttl: int | None = None) -> None:
        self.provider = provider
        self.client = client
        self.ttl = ttl
        self.stats = CacheStats()

    @property
    def name(self) -> str:
        """The wrapped embedder's name."""
        return self.provider.name

    @property
    def dims(self) -> int:
        """The wrapped embedder's dimension."""
        return self.provider.dims

    def _key(self, text: str) -> str:
        return f"{PREFIX}{self.provider.name}:{hashlib.sha256(text.encode()).hexdigest()}"

    def embed(self, texts: list[str]) -> npt.NDArray[np.float32]:
        """As the wrapped embedder, with texts embedded before read from Redis (keyed by the
        embedder's name and the text's digest)."""
        if not texts:
            return np.zeros((0, self.dims), dtype=np.float32)
        keys = [self._key(t) for t in texts]
        cached = self.client.mget(keys)
        out = np.empty((len(texts), self.dims), dtype=np.float32)
        missing: dict[str, list[int]] = {}
        for i, (text, blob) in enumerate(zip(texts, cached, strict=True)):
            if isinstance(blob, bytes) and len(blob) == 4 * self.dims:
                out[i] = np.frombuffer(blob, dtype="<f4")
                self.stats.hits += 1
            else:
                missing.setdefault(text, []).append(i)
        if missing:
            unique = list(missing)
            vectors = self.provider.embed(unique)
            self.stats.computed += len(unique)
            pipe = self.client.pipeline(transaction=False)
            for text, vec in zip(unique, vectors, strict=True):
                for i in missing[text]:
                    out[i] = vec
                pipe.set(self._key(text), np.asarray(vec, dtype="<f4").tobytes(), ex=self.ttl)
            pipe.execute()
        return out
