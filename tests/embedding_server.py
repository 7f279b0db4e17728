"""A local HTTP server that speaks the OpenAI and Cohere embedding wire protocols, and the
Cohere (``POST /v2/rerank``) and text-embeddings-inference (``POST /rerank``) rerank ones.

It answers over a real socket with deterministic vectors (a hash of each text), checks
the bearer key, and can be told to fail the next N requests with a status (429, 500)
so retries are exercised. It is a test peer, not a mock of redvec's code.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

API_KEY = "test-key"


def vector_for(text: str, dims: int, model: str = "m") -> list[float]:
    seed = int.from_bytes(hashlib.sha256(f"{model}|{text}".encode()).digest()[:8], "little")
    v = np.random.default_rng(seed).normal(size=dims)
    return (v / np.linalg.norm(v)).astype(np.float32).tolist()


TEI_MAX_BATCH = 32  # text-embeddings-inference's default --max-client-batch-size


def relevance(query: str, text: str) -> float:
    """The rerank score this server gives ``text`` for ``query``: the share of the query's
    words the text holds (what a test predicts the order from)."""
    words = set(query.lower().split())
    return len(words & set(text.lower().split())) / max(1, len(words))


class EmbeddingServer:
    def __init__(self, dims: int = 8) -> None:
        self.dims = dims
        self.requests: list[dict[str, Any]] = []
        self.fail_next: list[int] = []
        self.retry_after: str | None = None
        self.delay = 0.0  # seconds each request takes, to catch a batch in flight
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(raw)

            def do_POST(self) -> None:
                payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append({"path": self.path, "json": payload})
                if server.delay:
                    time.sleep(server.delay)
                if self.headers.get("Authorization") != f"Bearer {API_KEY}":
                    self._send(401, {"error": {"message": "Incorrect API key provided"}})
                    return
                if server.fail_next:
                    status = server.fail_next.pop(0)
                    headers = {"Retry-After": server.retry_after} if server.retry_after else {}
                    self._send(status, {"error": {"message": "try later"}}, headers)
                    return
                if self.path == "/v1/embeddings":
                    texts = payload["input"]
                    data = [
                        {
                            "object": "embedding",
                            "index": i,
                            "embedding": vector_for(t, server.dims, payload["model"]),
                        }
                        for i, t in enumerate(texts)
                    ]
                    data.reverse()  # the protocol orders by "index", not by position
                    self._send(200, {"object": "list", "data": data, "model": payload["model"]})
                elif self.path == "/v2/embed":
                    vectors = [
                        vector_for(t, server.dims, payload["model"]) for t in payload["texts"]
                    ]
                    self._send(
                        200,
                        {"id": "x", "embeddings": {"float": vectors}, "texts": payload["texts"]},
                    )
                elif self.path == "/v2/rerank":
                    scored = [
                        {"index": i, "relevance_score": relevance(payload["query"], d)}
                        for i, d in enumerate(payload["documents"])
                    ]
                    scored.sort(key=lambda r: (-r["relevance_score"], r["index"]))
                    top = scored[: payload.get("top_n") or len(scored)]
                    self._send(200, {"id": "x", "results": top, "meta": {}})
                elif self.path == "/rerank":
                    if len(payload["texts"]) > TEI_MAX_BATCH:
                        self._send(
                            422,
                            {"error": f"batch size {len(payload['texts'])} > maximum allowed "
                             f"batch size {TEI_MAX_BATCH}", "error_type": "Validation"},
                        )  # fmt: skip
                        return
                    scored = [
                        {"index": i, "score": relevance(payload["query"], t)}
                        for i, t in enumerate(payload["texts"])
                    ]
                    scored.sort(key=lambda r: (-r["score"], r["index"]))
                    self._send(200, scored)
                else:
                    self._send(404, {"error": "not found"})

        class Server(ThreadingHTTPServer):
            def handle_error(self, request: Any, client_address: Any) -> None:
                pass  # a client killed mid-request (the worker tests do that) is expected

        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> EmbeddingServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
