"""Ingestion: records -> documents (chunked) -> embeddings (cached) -> pipelined upserts.

Accounting is exact: every record read is written, skipped as unchanged, or rejected
with its place and reason, so ``read == written + skipped + rejected`` always holds. A
document counts as written only once Redis took it and RediSearch indexed it; a second
record with an id already read in the same run is rejected (the first one is kept),
naming the line where that id was first read.

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
from dataclasses import asdict, dataclass
from typing import IO, Any

import redis

from redvec import keys
from redvec._resp import text
from redvec.documents import document_id, text_to_embed
from redvec.embeddings.base import Embedder, check_dims
from redvec.embeddings.cache import CachedEmbedder
from redvec.errors import RedisTimeoutError, RedisUnavailableError, RedvecError
from redvec.index import SearchIndex
from redvec.ingest.chunker import chunk_text
from redvec.ingest.readers import Record

__all__ = ["STATE_PREFIX", "DeleteRefused", "FieldMap", "IngestSummary", "Ingestor"]

STATE_PREFIX = keys.INGEST_STATE


@dataclass
class FieldMap:
    """Which record fields are the id, the text to embed, and the metadata to keep.

    ``text_fields`` None means the index schema's TEXT fields (``["text"]`` if it has
    none), in schema order: what the index searches is what gets embedded.
    """

    id_field: str = "id"
    text_fields: list[str] | None = None
    metadata_fields: list[str] | None = None  # None keeps every other field


@dataclass
class IngestSummary:
    """What an ingest run did, record by record: read, written, skipped as unchanged, rejected
    (with reasons in the rejects file), duplicates, chunks and embeddings made."""

    read: int = 0
    written: int = 0
    skipped: int = 0
    rejected: int = 0
    chunks_written: int = 0
    chunks_embedded: int = 0  # texts embedded so far (chunks, when chunking)
    embedded: int = 0
    cache_hits: int = 0
    deleted: int = 0
    duplicates: int = 0  # records rejected because their id was already read this run
    truncated: int = 0  # texts longer than the model's sequence length (cut when embedded)

    @property
    def balanced(self) -> bool:
        """Every record read is accounted for: written, skipped or rejected."""
        return self.read == self.written + self.skipped + self.rejected

    def to_dict(self) -> dict[str, int]:
        """The summary as printed by ``redvec ingest --json``."""
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
        if self.fields.text_fields is None:
            text_fields = [f.name for f in index.schema.fields if f.kind == "text"]
            self.fields = FieldMap(
                self.fields.id_field, text_fields or ["text"], self.fields.metadata_fields
            )
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
        # Every id read from the source this run, rejected or not: --delete-missing never
        # deletes one of them. Values: where the id was first read.
        self.seen: dict[str, str] = {}
        self.unreadable = 0  # records whose id could not be known (bad JSON, say)
        self.would_delete: list[str] = []  # --delete-missing: what is (or, dry, would be) gone

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
            self.unreadable += 1
            self._reject(record, record.error or "empty record")
            return None
        data = record.data
        doc_id = document_id(data, self.fields.id_field)
        if doc_id is None:
            self.unreadable += 1
            self._reject(record, f"missing or unusable id field '{self.fields.id_field}'")
            return None
        where = record.source if record.line is None else f"{record.source}:{record.line}"
        first = self.seen.get(doc_id)
        if first is not None:
            self.summary.duplicates += 1
            self._reject(
                record, f"duplicate id '{doc_id}': already read at {first}; the first is kept"
            )
            return None
        self.seen[doc_id] = where
        if record.text_cells:
            try:
                data = self._typed(data)
            except ValueError as e:
                self._reject(record, str(e))
                return None
        assert self.fields.text_fields is not None
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
        text_fields = self.fields.text_fields
        base = {
            k: v
            for k, v in data.items()
            if k != self.fields.id_field
            and k != self.vector_field.name
            and (keep is None or k in keep or k in text_fields)
        }
        # Chunking splits the last text field (the body); the others (a title, say) stay
        # whole on every chunk and lead each chunk's embedded text.
        body = parts[-1]
        if self.chunk_size:
            pieces = chunk_text(body, self.chunk_size, self.chunk_overlap)
        else:
            pieces = [body]
        texts = [text_to_embed([*parts[:-1], p]) for p in pieces or [""]]
        digest = hashlib.sha256(
            json.dumps(
                [base, self.embedder.name, self.chunk_size, self.chunk_overlap],
                sort_keys=True,
                default=str,
            ).encode()
        ).hexdigest()[:32]
        return _Doc(record, doc_id, digest, texts, base, pieces or [""])

    def _typed(self, row: dict[str, Any]) -> dict[str, Any]:
        """A CSV row (every cell a string) with its cells converted by the schema: NUMERIC
        to numbers (an empty cell is no value), TAG split on its separator, a vector from
        its JSON list; other cells stay strings."""
        out = dict(row)
        for f in self.index.schema.fields:
            cell = out.get(f.name)
            if not isinstance(cell, str):
                continue
            if cell.strip() == "" and f.kind in ("numeric", "tag", "vector", "geo"):
                del out[f.name]
            elif f.kind == "numeric":
                try:
                    out[f.name] = int(cell) if cell.strip().lstrip("+-").isdigit() else float(cell)
                except ValueError:
                    raise ValueError(f"field '{f.name}': {cell!r} is not a number") from None
            elif f.kind == "tag":
                parts = [p.strip() for p in cell.split(f.separator)]
                out[f.name] = parts if len(parts) > 1 else parts[0]
            elif f.kind == "vector":
                try:
                    out[f.name] = json.loads(cell)
                except ValueError:
                    raise ValueError(
                        f"field '{f.name}': a vector cell is a JSON list, got {cell[:40]!r}"
                    ) from None
        return out

    def _documents(self, doc: _Doc, vectors: Any) -> list[dict[str, Any]]:
        vf = self.vector_field.name
        if self.chunk_size is None:
            return [{**doc.base, "id": doc.doc_id, vf: vectors[0]}]
        assert self.fields.text_fields is not None
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
        """Per document: unchanged (hash matches and its first key exists, in the index
        or in its write buffer), and its state."""
        client = self.index.client
        schema = self.index.schema
        pipe = client.pipeline(transaction=False)
        pipe.hmget(self.state_key, [d.doc_id for d in docs])
        places = len(schema.places(""))
        for d in docs:
            first = d.doc_id if self.chunk_size is None else f"{d.doc_id}#0"
            for key in schema.places(first):  # one EXISTS each: a cluster's slots differ
                pipe.exists(key)
        states, *exists = pipe.execute()
        out = []
        for n, (d, state) in enumerate(zip(docs, states, strict=True)):
            digest = text(state).split(":", 1)[0] if state else None
            present = any(exists[n * places : (n + 1) * places])
            out.append(digest == d.digest and present)
        return out, states

    def _stale_keys(self, doc_id: str, old_state: Any, chunks: int | None) -> list[str]:
        """Ids of ``doc_id``'s keys from its previous write that this write does not
        replace: chunks beyond the new count, or every key of the other shape when
        chunking was switched on or off (``chunks`` None: written whole)."""
        if not old_state:
            return []
        parts = text(old_state).split(":")
        try:
            old_count = int(parts[1])
        except (IndexError, ValueError):
            return []
        if len(parts) > 2:
            old_chunked = parts[2] == "c"
        else:  # written before the shape was recorded: look at what is stored
            places = self.index.schema.places(f"{doc_id}#0")
            old_chunked = any(self.index.client.exists(key) for key in places)
        if not old_chunked:
            return [] if chunks is None else [doc_id]
        keep = 0 if chunks is None else chunks
        return [f"{doc_id}#{n}" for n in range(keep, old_count)]

    def _embed(self, texts: list[str]) -> Any:
        """Embed in slices of ``batch_size``, reporting progress after each, so a long
        document (many chunks) shows its chunks going by instead of "0 docs/s"."""
        if len(texts) <= self.batch_size:
            out = self.embedder.embed(texts)
            self.summary.chunks_embedded += len(texts)
            return out
        import numpy as np

        parts = []
        for lo in range(0, len(texts), self.batch_size):
            parts.append(self.embedder.embed(texts[lo : lo + self.batch_size]))
            self.summary.chunks_embedded += len(texts[lo : lo + self.batch_size])
            if self.on_progress is not None:
                self.on_progress(self.summary)
        return np.concatenate(parts)

    def _state(self, d: _Doc) -> str:
        return f"{d.digest}:{len(d.texts)}:{'w' if self.chunk_size is None else 'c'}"

    def _flush(self, batch: list[_Doc]) -> None:
        if not batch:
            return
        unchanged, states = self._unchanged(batch)
        todo: list[_Doc] = []
        old_states: list[Any] = []
        for d, same, state in zip(batch, unchanged, states, strict=True):
            if same:
                self.summary.skipped += 1
            else:
                todo.append(d)
                old_states.append(state)
        if todo:
            texts = [t for d in todo for t in d.texts]
            before = (self.embedder.stats.hits, self.embedder.stats.computed)
            cut = _truncated_so_far(self.embedder)
            vectors = self._embed(texts)
            self.summary.truncated += _truncated_so_far(self.embedder) - cut
            self.summary.cache_hits += self.embedder.stats.hits - before[0]
            self.summary.embedded += self.embedder.stats.computed - before[1]
            encoded: list[tuple[str, list[Any]]] = []
            owner: dict[str, int] = {}  # chunk id -> position in ready
            ready: list[tuple[_Doc, Any, int]] = []
            offset = 0
            for d, old in zip(todo, old_states, strict=True):
                doc_vectors = vectors[offset : offset + len(d.texts)]
                offset += len(d.texts)
                try:
                    parts = [self.index.encode(x) for x in self._documents(d, doc_vectors)]
                except RedvecError as e:
                    self._reject(d.record, str(e))
                    continue
                for chunk_id, _ in parts:
                    owner[chunk_id] = len(ready)
                ready.append((d, old, len(parts)))
                encoded.extend(parts)
            report = self.index.write_documents(encoded)
            failed: dict[int, str] = {}
            for chunk_id, reason in report.failed.items():
                failed.setdefault(owner[chunk_id], reason)
            # Bookkeeping only for documents whose every key landed and was indexed: a
            # state entry for a document that does not exist would make every re-run
            # skip it as "unchanged".
            bookkeeping: list[Any] = []
            for n, (d, old, count) in enumerate(ready):
                if n in failed:
                    self._reject(d.record, failed[n])
                    continue
                stale = self._stale_keys(d.doc_id, old, None if self.chunk_size is None else count)
                if stale:
                    schema = self.index.schema
                    bookkeeping.append(
                        ("DEL", *[k for x in stale for k in schema.store.keys_of(schema, x)])
                    )
                bookkeeping.append(("HSET", self.state_key, d.doc_id, self._state(d)))
                self.summary.written += 1
                self.summary.chunks_written += count
            if bookkeeping:
                self.index.write([], bookkeeping)
        if self.on_progress is not None:
            self.on_progress(self.summary)

    def run(
        self,
        records: Iterable[Record],
        *,
        delete_missing: bool = False,
        force: bool = False,
        dry_run: bool = False,
    ) -> IngestSummary:
        """Ingest every record; with ``delete_missing``, then remove the documents whose
        ids the source no longer has (:meth:`missing`), unless the run looks wrong.

        ``delete_missing`` refuses (:class:`DeleteRefused`, nothing deleted) when the run
        read nothing, rejected more than half of what it read, or could not tell the id
        of some record, unless ``force``; ``dry_run`` deletes nothing and lists in
        ``would_delete`` what would go.
        """
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
                self._delete_missing(force=force, dry_run=dry_run)
        except (redis.TimeoutError, RedisTimeoutError) as raised:
            e = raised.__cause__ or raised
            raise RedisUnavailableError(
                f"Redis did not answer in time during ingest ({e}; the limit is "
                f"REDVEC_COMMAND_TIMEOUT): {self.summary.written} documents are confirmed "
                f"written and the batch in flight may have landed too; run the same command "
                f"again to finish: written documents are skipped"
            ) from None
        except (redis.ConnectionError, RedisUnavailableError) as raised:
            e = raised.__cause__ or raised
            raise RedisUnavailableError(
                f"lost Redis during ingest after {self.summary.written} documents were "
                f"confirmed written ({e}); run the same command again to "
                f"finish: written documents are skipped"
            ) from None
        return self.summary

    def missing(self) -> list[str]:
        """Ids this index holds from earlier runs that no record of this run carries
        (rejected records included: their ids are in the source)."""
        known = [text(k) for k in self.index.client.hkeys(self.state_key)]
        return sorted(doc_id for doc_id in known if doc_id not in self.seen)

    def _delete_missing(self, *, force: bool, dry_run: bool) -> None:
        s = self.summary
        why = None
        if s.read == 0:
            why = "the run read no records (an empty file or folder?)"
        elif s.rejected * 2 > s.read:
            why = f"the run rejected {s.rejected} of {s.read} records (more than half)"
        elif self.unreadable:
            why = (
                f"{self.unreadable} records could not be read or have no usable id, so "
                f"which documents they are cannot be told"
            )
        gone = self.missing()
        self.would_delete = gone
        if dry_run:
            return
        if why is not None and gone and not force:
            raise DeleteRefused(
                f"refusing to delete {len(gone)} documents missing from the source: {why}. "
                f"Nothing was deleted; fix the source, or use --force (--dry-run lists them)",
                s,
            )
        client = self.index.client
        known = dict(zip(gone, client.hmget(self.state_key, gone) if gone else [], strict=True))
        for doc_id in gone:
            state = known[doc_id]
            chunked = self._stale_keys(doc_id, state, 0)
            ids = chunked if chunked else [doc_id]
            self.index.delete(ids)
            client.hdel(self.state_key, doc_id)
        s.deleted = len(gone)


class DeleteRefused(RedvecError):
    """``--delete-missing`` refused to delete: the run does not look like the whole
    source (nothing read, most records rejected, or records without a known id)."""

    def __init__(self, message: str, summary: IngestSummary) -> None:
        super().__init__(message)
        self.summary = summary


def _truncated_so_far(embedder: Embedder) -> int:
    """Texts the provider cut at its sequence length so far (0 when it cannot tell)."""
    inner = getattr(embedder, "provider", embedder)
    return int(getattr(inner, "truncated_total", 0) or 0)
