"""Reading, chunking, embedding and writing documents; and the Redis Streams worker."""

from redvec.ingest.chunker import chunk_text
from redvec.ingest.pipeline import FieldMap, Ingestor, IngestSummary
from redvec.ingest.readers import Record, read_records

__all__ = ["FieldMap", "IngestSummary", "Ingestor", "Record", "chunk_text", "read_records"]
