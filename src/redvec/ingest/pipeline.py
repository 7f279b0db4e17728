"""Ingestion: records -> documents (chunked) -> embeddings (cached) -> pipelined upserts.

Accounting is exact: every record read is written, skipped as unchanged, or rejected
with its place and reason, so ``read == written + skipped + rejected`` always holds.

Re-running is cheap and safe. Each written document's content hash (over its record,
the embedding model and the chunking) is stored with its chunk count in
``redvec:ingest:<index>`` in the same pipeline as the document itself, so after an
interruption (Ctrl-C, Redis restarting) the same command skips what was written and
the embedding cache spares what was embedded but not written.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import IO, Any

import redis

from redvec._resp import text
from redvec.embeddings.base import Embedder, check_dims
from redvec.embeddings.cache import CachedEmbedder
from redvec.errors import RedisUnavailableError, RedvecError
from redvec.index import SearchIndex
from redvec.ingest.chunker import chunk_text
from redvec.ingest.readers import Record

__all__ = ["STATE_PREFIX", "FieldMap", "IngestSummary", "Ingestor"]

STATE_PREFIX = "redvec:ingest:"


@dataclass
class FieldMap:
    """Which record fields are the id, the text to embed, and the metadata to keep."""

    id_field: str = "id"
    text_fields: list[str] = field(default_factory=lambda: ["text"])
    metadata_fields: list[str] | None = None  # None keeps every other field


@dataclass
class IngestSummary:
    read: int = 0
    written: int = 0
    skipped: int = 0
    rejected: int = 0
    chunks_written: int = 0
    embedded: int = 0
    cache_hits: int = 0
    deleted: int = 0

    @property
    def balanced(self) -> bool:
        return self.read == self.written + self.skipped + self.rejected

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass
class _Doc:
    record: Record
    doc_id: str
    digest: str
    texts: list[str]  # what is embedded, one per chunk
    base: dict[str, Any]
    pieces: list[str]  # what is stored in the body field, one per chunk


class Ingestor:
    """Ingest records into one index with one embedding provider."""

    def __init__(
        self,
        index: SearchIndex,
        embedder: Embedder,
        *,
        fields: FieldMap | None = None,
        chunk_size: int | None = None,
        chunk_overlap: int = 0,
        batch_size: int = 64,
        rejects: IO[str] | None = None,
        on_reject: Callable[[Record, str], None] | None = None,
        on_progress: Callable[[IngestSummary], None] | None = None,
    ) -> None:
        self.index = index
        self.fields = fields or FieldMap()
        self.vector_field = index.schema.vector_field()
        check_dims(embedder, self.vector_field.dims, index.name)
        self.embedder = (
            embedder
            if isinstance(embedder, CachedEmbedder)
            else CachedEmbedder(embedder, index.client)
        )
        if chunk_size is not None:
            chunk_text("probe", chunk_size, chunk_overlap)  # validates size and overlap
        self.chunk_size = chunk_size
        self.chunk_overlap = chunk_overlap
        self.batch_size = batch_size
        self.rejects = rejects
        self.on_reject = on_reject
        self.on_progress = on_progress
        self.summary = IngestSummary()
        self.state_key = STATE_PREFIX + index.name
        self.seen: set[str] = set()

    # -- records -> documents ----------------------------------------------------------

    def _reject(self, record: Record, reason: str) -> None:
        self.summary.rejected += 1
        if self.on_reject is not None:
            self.on_reject(record, reason)
        if self.rejects is not None:
            line = {
                "source": record.source,
                "line": record.line,
                "reason": reason,
                "record": record.data,
            }
            self.rejects.write(json.dumps(line, default=str) + "\n")

    def _prepare(self, record: Record) -> _Doc | None:
        if record.error is not None or record.data is None:
            self._reject(record, record.error or "empty record")
            return None
        data = record.data
        raw_id = data.get(self.fields.id_field)
        if raw_id is None or raw_id == "" or isinstance(raw_id, bool | dict | list | float):
            self._reject(record, f"missing or unusable id field '{self.fields.id_field}'")
            return None
        doc_id = str(raw_id)
        parts: list[str] = []
        for name in self.fields.text_fields:
            value = data.get(name)
            if value is None:
                parts.append("")
                continue
            if not isinstance(value, str):
                kind = type(value).__name__
                self._reject(record, f"text field '{name}' must be a string, got {kind}")
                return None
            parts.append(value)
        if not any(p.strip() for p in parts):
            self._reject(record, f"no text in {', '.join(self.fields.text_fields)}")
            return None
        keep = self.fields.metadata_fields
        base = {
            k: v
            for k, v in data.items()
            if k != self.fields.id_field
            and k != self.vector_field.name
            and (keep is None or k in keep or k in self.fields.text_fields)
        }
        # Chunking splits the last text field (the body); the others (a title, say) stay
        # whole on every chunk and lead each chunk's embedded text.
        head = "\n\n".join(p for p in parts[:-1] if p.strip())
        body = parts[-1]
        if self.chunk_size:
            pieces = chunk_text(body, self.chunk_size, self.chunk_overlap)
        else:
            pieces = [body]
        texts = [f"{head}\n\n{p}" if head and p else head or p for p in pieces or [""]]
        digest = hashlib.sha256(
            json.dumps(
                [base, self.embedder.name, self.chunk_size, self.chunk_overlap],
                sort_keys=True,
                default=str,
            ).encode()
        ).hexdigest()[:32]
        return _Doc(record, doc_id, digest, texts, base, pieces or [""])

    def _documents(self, doc: _Doc, vectors: Any) -> list[dict[str, Any]]:
        vf = self.vector_field.name
        if self.chunk_size is None:
            return [{**doc.base, "id": doc.doc_id, vf: vectors[0]}]
        body_field = self.fields.text_fields[-1]
        return [
            {
                **doc.base,
                body_field: chunk,
                "id": f"{doc.doc_id}#{n}",
                "parent_id": doc.doc_id,
                "chunk": n,
                vf: vec,
            }
            for n, (chunk, vec) in enumerate(zip(doc.pieces, vectors, strict=True))
        ]

    # -- the run -----------------------------------------------------------------------

    def _unchanged(self, docs: list[_Doc]) -> tuple[list[bool], list[Any]]:
        """Per document: unchanged (hash matches and its first key exists), and its state."""
        client = self.index.client
        pipe = client.pipeline(transaction=False)
        pipe.hmget(self.state_key, [d.doc_id for d in docs])
        for d in docs:
            first = d.doc_id if self.chunk_size is None else f"{d.doc_id}#0"
            pipe.exists(self.index.schema.key(first))
        states, *exists = pipe.execute()
        out = []
        for d, state, present in zip(docs, states, exists, strict=True):
            digest = text(state).split(":", 1)[0] if state else None
            out.append(digest == d.digest and bool(present))
        return out, states

    def _stale_chunks(self, doc_id: str, old_state: Any, keep: int) -> list[str]:
        if self.chunk_size is None or not old_state:
            return []
        try:
            old_count = int(text(old_state).split(":", 1)[1])
        except (IndexError, ValueError):
            return []
        return [f"{doc_id}#{n}" for n in range(keep, old_count)]

    def _flush(self, batch: list[_Doc]) -> None:
        if not batch:
            return
        unchanged, states = self._unchanged(batch)
        todo: list[_Doc] = []
        old_states: list[Any] = []
        for d, same, state in zip(batch, unchanged, states, strict=True):
            self.seen.add(d.doc_id)
            if same:
                self.summary.skipped += 1
            else:
                todo.append(d)
                old_states.append(state)
        if todo:
            texts = [t for d in todo for t in d.texts]
            before = (self.embedder.stats.hits, self.embedder.stats.computed)
            vectors = self.embedder.embed(texts)
            self.summary.cache_hits += self.embedder.stats.hits - before[0]
            self.summary.embedded += self.embedder.stats.computed - before[1]
            encoded: list[list[Any]] = []
            extra: list[Any] = []
            written = 0
            offset = 0
            for d, old in zip(todo, old_states, strict=True):
                doc_vectors = vectors[offset : offset + len(d.texts)]
                offset += len(d.texts)
                try:
                    parts = [self.index.encode(x)[1] for x in self._documents(d, doc_vectors)]
                except RedvecError as e:
                    self._reject(d.record, str(e))
                    continue
                encoded.extend(parts)
                stale = self._stale_chunks(d.doc_id, old, len(d.texts))
                if stale:
                    extra.append(("DEL", *[self.index.schema.key(s) for s in stale]))
                    if self.index.schema.storage == "split":
                        extra.append(("DEL", *[self.index.schema.document_key(s) for s in stale]))
                extra.append(("HSET", self.state_key, d.doc_id, f"{d.digest}:{len(d.texts)}"))
                written += 1
                self.summary.chunks_written += len(parts)
            self.index.write(encoded, extra)
            self.summary.written += written
        if self.on_progress is not None:
            self.on_progress(self.summary)

    def run(self, records: Iterable[Record], *, delete_missing: bool = False) -> IngestSummary:
        """Ingest every record; with ``delete_missing``, remove documents not in the source."""
        try:
            batch: list[_Doc] = []
            texts = 0
            for record in records:
                self.summary.read += 1
                doc = self._prepare(record)
                if doc is None:
                    continue
                batch.append(doc)
                texts += len(doc.texts)
                if texts >= self.batch_size:
                    self._flush(batch)
                    batch, texts = [], 0
            self._flush(batch)
            if delete_missing:
                self._delete_missing()
        except redis.TimeoutError as e:
            raise RedisUnavailableError(
                f"Redis did not answer in time during ingest ({e}; the limit is "
                f"REDVEC_COMMAND_TIMEOUT): {self.summary.written} documents are confirmed "
                f"written and the batch in flight may have landed too; run the same command "
                f"again to finish: written documents are skipped"
            ) from None
        except redis.ConnectionError as e:
            raise RedisUnavailableError(
                f"lost Redis during ingest after {self.summary.written} documents were "
                f"confirmed written ({e}); run the same command again to "
                f"finish: written documents are skipped"
            ) from None
        return self.summary

    def _delete_missing(self) -> None:
        client = self.index.client
        known = {text(k): v for k, v in client.hgetall(self.state_key).items()}
        gone = [doc_id for doc_id in known if doc_id not in self.seen]
        for doc_id in gone:
            ids = (
                [doc_id]
                if self.chunk_size is None
                else self._stale_chunks(doc_id, known[doc_id], 0)
            )
            self.index.delete(ids)
            client.hdel(self.state_key, doc_id)
        self.summary.deleted = len(gone)
