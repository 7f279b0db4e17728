"""Prometheus metrics for one service instance, in its own registry.

Request counts and latencies are labelled by route template (``/v1/indexes/{name}/search``),
never by raw path, so an index name or a document id cannot explode the series count.
Index sizes and indexing progress are read from ``FT.INFO`` when Prometheus scrapes,
so they are never stale and cost nothing between scrapes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import redis
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from redvec.connection import index_progress
from redvec.index import list_indexes
from redvec.schema import BUFFER_SUFFIX

__all__ = ["Metrics"]

_LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip


# Redis-side gauges from INFO, read at scrape time: (INFO field, metric suffix, help).
_SERVER_GAUGES = (
    ("used_memory", "used_memory_bytes", "Memory Redis has allocated (INFO used_memory)"),
    ("maxmemory", "maxmemory_bytes", "Redis's memory limit, 0 when unlimited"),
    ("instantaneous_ops_per_sec", "ops_per_second", "Commands per second Redis is serving"),
    ("connected_clients", "connected_clients", "Client connections open on Redis"),
    ("loading", "loading", "1 while Redis loads its data after a restart"),
    ("rdb_changes_since_last_save", "changes_since_last_save", "Writes not yet in an RDB snapshot"),
)


class _IndexCollector(Collector):
    def __init__(
        self, client: Callable[[], redis.Redis], mergers: Callable[[], dict[str, Any]]
    ) -> None:
        self.client = client
        self.mergers = mergers

    def collect(self) -> Iterator[Metric]:
        docs = GaugeMetricFamily(
            "redvec_index_documents", "Documents in the index (FT.INFO num_docs)", labels=["index"]
        )
        percent = GaugeMetricFamily(
            "redvec_index_percent_indexed",
            "Share of the index built (1 when fully indexed)",
            labels=["index"],
        )
        failures = GaugeMetricFamily(
            "redvec_index_indexing_failures",
            "Documents the index refused (FT.INFO hash_indexing_failures): a wrong vector "
            "length or a value of the wrong type; they are stored but not searchable",
            labels=["index"],
        )
        buffered = GaugeMetricFamily(
            "redvec_write_buffer_documents",
            "Documents waiting in the index's write buffer (searchable, not yet merged)",
            labels=["index"],
        )
        merged = CounterMetricFamily(
            "redvec_write_buffer_merged",
            "Documents this service's merger moved from the write buffer into the index; "
            "buffer documents / rate(merged) is how long the buffer takes to drain",
            labels=["index"],
        )
        up = GaugeMetricFamily("redvec_redis_up", "1 when Redis answered the last scrape")
        server = {
            key: GaugeMetricFamily(f"redvec_redis_{name}", help_)
            for key, name, help_ in _SERVER_GAUGES
        }
        try:
            client = self.client()
            info = client.info()
            for name in list_indexes(client):
                try:
                    p = index_progress(client, name)
                except redis.ResponseError:
                    continue  # dropped between the listing and FT.INFO
                docs.add_metric([name], p.num_docs)
                percent.add_metric([name], p.percent_indexed)
                failures.add_metric([name], p.hash_indexing_failures)
                try:
                    held = index_progress(client, name + BUFFER_SUFFIX).num_docs
                except redis.ResponseError:
                    continue  # no write buffer
                buffered.add_metric([name], held)
            for name, merger in list(self.mergers().items()):
                merged.add_metric([name], merger.totals.moved)
            for key, family in server.items():
                if key in info:
                    family.add_metric([], float(info[key]))
            up.add_metric([], 1)
        except (redis.ConnectionError, redis.TimeoutError):
            up.add_metric([], 0)
        yield docs
        yield percent
        yield failures
        yield buffered
        yield merged
        yield up
        yield from server.values()


class Metrics:
    """The service's Prometheus metrics, on a registry of its own (so several services in one
    process, as in the tests, never collide); see docs/api.md for the list."""

    def __init__(
        self,
        client: Callable[[], redis.Redis],
        mergers: Callable[[], dict[str, Any]] = dict,
    ) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "redvec_http_requests",
            "HTTP requests by route, method and status",
            ["route", "method", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "redvec_http_request_duration_seconds",
            "HTTP request latency by route and method",
            ["route", "method"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.redis_latency = Histogram(
            "redvec_redis_roundtrip_seconds",
            "Redis round trips made by the service, by operation",
            ["operation"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.embedding_latency = Histogram(
            "redvec_embedding_seconds",
            "Time the service spent embedding text, by purpose (query or document)",
            ["purpose"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.written = Counter(
            "redvec_ingest_documents_written", "Documents upserted through the API", ["index"],
            registry=r,
        )  # fmt: skip
        self.embedded = Counter(
            "redvec_ingest_documents_embedded",
            "Documents the service embedded before writing",
            ["index"],
            registry=r,
        )
        self.enqueued = Counter(
            "redvec_ingest_documents_enqueued",
            "Documents handed to the stream worker",
            ["index"],
            registry=r,
        )
        self.rejected = Counter(
            "redvec_ingest_documents_rejected",
            "Documents refused (each a 422 naming it)",
            ["index"],
            registry=r,
        )
        self.fast_lane = Counter(
            "redvec_search_fast_lane",
            "Search requests the fast lane answered, or handed to the full handler "
            "(a body that does not decode or validate, or over the limit)",
            ["outcome"],
            registry=r,
        )
        r.register(_IndexCollector(client, mergers))

    def timed_redis(self, operation: str) -> Any:
        """A context manager that records one Redis round trip of ``operation``."""
        return self.redis_latency.labels(operation).time()

    def timed_embedding(self, purpose: str) -> Any:
        """A context manager that records embedding for ``purpose`` (query, document):
        a provider's time, kept apart from Redis round trips."""
        return self.embedding_latency.labels(purpose).time()

    def exposition(self) -> bytes:
        """The metrics in Prometheus' text format, for ``GET /metrics``."""
        return generate_latest(self.registry)
