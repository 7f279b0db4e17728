"""Re-computing every vector of an index with a (new) provider, resumably.

Only vectors are rewritten (in split storage only the vector HASHes; no JSON document
is touched; with a write buffer through the buffer, like every write). Ids already done
with this provider are kept in a set ``redvec:reembed:<index>:<provider>``, so an
interrupted run resumes where it stopped; the set is removed when the run completes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from redvec import keys
from redvec.core import DocumentWalk
from redvec.documents import text_to_embed
from redvec.embeddings.base import Embedder, check_dims
from redvec.embeddings.cache import CachedEmbedder
from redvec.index import SearchIndex

__all__ = ["ReembedSummary", "reembed"]


@dataclass
class ReembedSummary:
    """What a re-embed did: documents seen, vectors updated, already done (a resumed run),
    and documents without text to embed."""

    seen: int = 0
    updated: int = 0
    already_done: int = 0
    without_text: int = 0


def reembed(
    index: SearchIndex,
    embedder: Embedder,
    text_fields: list[str],
    *,
    batch_size: int = 64,
    on_progress: Callable[[ReembedSummary], None] | None = None,
) -> ReembedSummary:
    """Replace every document's vector with ``embedder``'s embedding of its ``text_fields``,
    in place (nothing else of a document changes). Resumable: documents done are recorded
    until the run completes, so a rerun after a crash skips them.
    :class:`VectorError` when the embedder's dimension is not the index's."""
    vf = index.schema.vector_field()
    check_dims(embedder, vf.dims, index.name)
    cached = (
        embedder if isinstance(embedder, CachedEmbedder) else CachedEmbedder(embedder, index.client)
    )
    client = index.client
    done_key = f"{keys.REEMBED}{index.name}:{embedder.name}"
    summary = ReembedSummary()
    ids: list[str] = []

    def flush() -> None:
        done = client.smismember(done_key, ids) if ids else []
        todo = [i for i, d in zip(ids, done, strict=True) if not d]
        summary.already_done += len(ids) - len(todo)
        docs = index.get(todo)
        pairs = []
        for doc_id, doc in zip(todo, docs, strict=True):
            parts = [doc.get(f) for f in text_fields] if doc else []
            body = text_to_embed(parts)
            if body:
                pairs.append((doc_id, body))
            else:
                summary.without_text += 1
        if pairs:
            vectors = cached.embed([b for _, b in pairs])
            index.update_vectors([i for i, _ in pairs], list(vectors))
            client.sadd(done_key, *[i for i, _ in pairs])
            summary.updated += len(pairs)
        ids.clear()
        if on_progress is not None:
            on_progress(summary)

    walk = DocumentWalk(index.schema)
    for pattern in walk.patterns:
        for key in client.scan_iter(match=pattern, count=1000):
            doc_id = walk.take(key)
            if doc_id is None:
                continue
            ids.append(doc_id)
            summary.seen += 1
            if len(ids) >= batch_size:
                flush()
    flush()
    client.delete(done_key)
    return summary
