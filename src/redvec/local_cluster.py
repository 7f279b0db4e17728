"""A local Redis Cluster of embedded masters: what `redvec server start --cluster N` runs,
and what the tests and benchmarks shard over. Indexes that span a cluster (any cluster,
this one or a managed one) are :mod:`redvec.cluster`'s."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import redis
from redis.cluster import RedisCluster

from redvec._resp import text
from redvec.connection import connect_cluster
from redvec.errors import (
    ConfigError,
    NotRunningError,
    ServerError,
)
from redvec.server import EmbeddedServer, find_free_port, port_in_use, read_state
from redvec.waiting import poll_until

__all__ = ["CLUSTER_STATE", "SLOTS", "LocalCluster", "read_cluster_state"]

CLUSTER_STATE = "redvec-cluster.json"
SLOTS = 16384


# -- a local cluster of embedded masters --------------------------------------------------


class LocalCluster:
    """``masters`` embedded servers joined into one Redis Cluster, slots split evenly.

    Each node is an :class:`EmbeddedServer` in ``<data_dir>/node-<i>``; the cluster
    writes ``redvec-cluster.json`` so that ``redvec server status|stop --dir`` find it.
    """

    def __init__(
        self,
        data_dir: str | Path,
        masters: int = 3,
        *,
        host: str = "127.0.0.1",
        ports: Sequence[int] | None = None,
        appendonly: bool = True,
        node_timeout_ms: int = 5000,
        startup_timeout: float = 30.0,
    ) -> None:
        if masters < 1:
            raise ConfigError(f"a cluster needs at least one master, got {masters}")
        if ports is not None and len(ports) != masters:
            raise ConfigError(f"{masters} masters need {masters} ports, got {len(ports)}")
        self.data_dir = Path(data_dir).absolute()
        self.host = host
        self.startup_timeout = startup_timeout
        self.nodes = [
            EmbeddedServer(
                self.data_dir / f"node-{i}",
                port=None if ports is None else ports[i],
                host=host,
                appendonly=appendonly,
                extra_args=[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    str(node_timeout_ms),
                ],
            )
            for i in range(masters)
        ]

    @property
    def url(self) -> str:
        """A startup node's URL: cluster clients discover the rest from it."""
        return self.nodes[0].url

    def start(self) -> LocalCluster:
        """Start every node, give each an even share of the slots, join them, wait for ok."""
        if read_cluster_state(self.data_dir) is not None:
            raise ServerError(f"a redvec cluster already runs on {self.data_dir}")
        started: list[EmbeddedServer] = []
        try:
            for node in self.nodes:
                if node.port is None:
                    node.port = _free_cluster_port(self.host)
                node.start()
                started.append(node)
            clients = [n.client() for n in self.nodes]
            fresh = all(
                not c.execute_command("CLUSTER", "SLOTS") for c in clients
            )  # a restarted cluster keeps its slots in nodes.conf
            if fresh:
                n = len(clients)
                for i, c in enumerate(clients):
                    c.execute_command(
                        "CLUSTER", "ADDSLOTSRANGE", i * SLOTS // n, (i + 1) * SLOTS // n - 1
                    )
                for c in clients[1:]:
                    c.execute_command("CLUSTER", "MEET", self.host, self.nodes[0].port)
            self._wait_ok(clients)
        except BaseException:
            for node in started:
                with contextlib.suppress(Exception):
                    node.stop()
            raise
        self._write_state()
        return self

    def _wait_ok(self, clients: list[redis.Redis]) -> None:
        def joined() -> bool | None:
            states = [text(c.execute_command("CLUSTER", "INFO")) for c in clients]
            known = [len(c.execute_command("CLUSTER", "NODES").splitlines()) for c in clients]
            ok = all("cluster_state:ok" in s for s in states)
            return True if ok and all(k == len(clients) for k in known) else None

        if poll_until(joined, timeout=self.startup_timeout, interval=0.05) is None:
            raise ServerError(
                f"the cluster did not reach cluster_state:ok within "
                f"{self.startup_timeout:.0f}s; see {self.data_dir}/node-*/redis.log"
            )

    def _write_state(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        state = {"host": self.host, "nodes": [str(n.data_dir) for n in self.nodes]}
        (self.data_dir / CLUSTER_STATE).write_text(json.dumps(state))

    def stop(self) -> None:
        """Stop every node (their data directories stay)."""
        for node in self.nodes:
            with contextlib.suppress(NotRunningError):
                node.stop()
        with contextlib.suppress(OSError):
            (self.data_dir / CLUSTER_STATE).unlink()

    def client(self) -> RedisCluster:
        """A RESP2 cluster client to this cluster."""
        return connect_cluster(self.url)

    @classmethod
    def attach(cls, data_dir: str | Path) -> LocalCluster:
        """The cluster already running on ``data_dir`` (started by another process)."""
        data_dir = Path(data_dir).absolute()
        state = read_cluster_state(data_dir)
        if state is None:
            raise NotRunningError(f"no redvec cluster is running on {data_dir}")
        cluster = cls(data_dir, len(state), host=state[0].host)
        cluster.nodes = [EmbeddedServer.attach(s.data_dir) for s in state]
        return cluster

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _free_cluster_port(host: str) -> int:
    """A free port whose cluster bus port (port + 10000) is free too, as Redis needs."""
    for _ in range(1000):
        port = find_free_port(host)
        if port <= 55535 and not port_in_use(host, port + 10000):
            return port
    raise ServerError(f"found no free port pair (p, p+10000) on {host} for a cluster node")


def read_cluster_state(data_dir: Path) -> list[Any] | None:
    """The running nodes' states of the cluster on ``data_dir``, or None when none runs."""
    try:
        raw = json.loads((Path(data_dir) / CLUSTER_STATE).read_text())
    except (OSError, ValueError):
        return None
    states = [read_state(Path(p)) for p in raw.get("nodes", [])]
    if not states or any(s is None for s in states):
        return None
    return states
