"""Local embedding speed and quality: each model variant against sentence-transformers.

For the local model (all-MiniLM-L6-v2) this measures, in one run on one machine:

- warm docs/s on SciFact abstracts (title + abstract, as `redvec ingest` joins them, cut at
  256 tokens) and on short texts (SciFact's claims), batch 32, for sentence-transformers on
  torch and for each ONNX variant (fp32, int8). Rounds are interleaved, so a busy moment
  of the machine falls on every contestant alike; median and spread are printed;
- cosine of each variant's vectors to sentence-transformers' and to the fp32 variant's
  (mean and minimum);
- cold start: a new process, from `import` to the first vector (model files built);
- cold start of `redvec search --text` on an index recorded with the fast variant;
- SciFact nDCG@10 of dense search for each variant through `redvec bench retrieval`
  (an embedded Redis in a temporary folder unless --url is given).

    python benchmarks/embed.py [--docs 384] [--rounds 3] [--skip-ndcg] [--url URL]

It ends with `fast variant vs sentence-transformers: N.NNx, nDCG@10 gap D.DDDD`.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from redvec.embeddings.local import VARIANTS, LocalEmbedder

SCIFACT = Path(__file__).resolve().parents[2] / "shared" / "data" / "scifact"
FAST = "int8"
REDVEC = [sys.executable, "-m", "redvec"]


def abstracts(n: int) -> list[str]:
    out = []
    with gzip.open(SCIFACT / "corpus.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            d = json.loads(line)
            out.append(f"{d['title']}\n\n{d['text']}" if d["title"] else d["text"])
            if len(out) >= n:
                break
    return out


def claims(n: int) -> list[str]:
    with open(SCIFACT / "queries.jsonl", encoding="utf-8") as f:
        return [json.loads(line)["text"] for line in f][:n]


def sentence_transformers() -> Callable[[list[str]], np.ndarray]:
    from sentence_transformers import SentenceTransformer

    from redvec.embeddings.local import model_dir

    model = SentenceTransformer(model_dir(), device="cpu")

    def embed(texts: list[str]) -> np.ndarray:
        v = model.encode(texts, batch_size=32, normalize_embeddings=True, show_progress_bar=False)
        return np.asarray(v, dtype=np.float32)

    return embed


def cold_start(code: str) -> float:
    t = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(done.stderr)
    return time.perf_counter() - t


def spread(xs: list[float]) -> str:
    return f"{statistics.median(xs):7.1f} ({min(xs):.1f}-{max(xs):.1f})"


def speed(name: str, texts: list[str], contestants: dict[str, Callable[[list[str]], np.ndarray]],
          rounds: int) -> dict[str, list[float]]:  # fmt: skip
    rates: dict[str, list[float]] = {c: [] for c in contestants}
    for _ in range(rounds):
        for c, embed in contestants.items():
            t = time.perf_counter()
            embed(texts)
            rates[c].append(len(texts) / (time.perf_counter() - t))
    print(f"\n{name}: {len(texts)} texts, docs/s median (min-max) over {rounds} rounds")
    base = statistics.median(rates["sentence-transformers"])
    for c, xs in rates.items():
        print(f"  {c:24s} {spread(xs)}  {statistics.median(xs) / base:.2f}x")
    return rates


def ndcg(variant: str, url: str) -> tuple[float, dict[str, dict[str, float]]]:
    with tempfile.TemporaryDirectory() as out:
        done = subprocess.run(
            [*REDVEC, "bench", "retrieval", "--beir", str(SCIFACT), "--mode", "dense",
             "--model-variant", variant, "--out", out, "--url", url],
            capture_output=True, text=True,
        )  # fmt: skip
        if done.returncode:
            raise SystemExit(done.stderr)
        report = json.loads((Path(out) / "report.json").read_text())
    rows: dict[str, dict[str, float]] = report["rows"]
    return rows["exact (numpy)"]["ndcg@10"], rows


def search_cold_start(url: str, rounds: int) -> list[float]:
    """`redvec search --text` as a user runs it, on the SciFact index with the fast variant."""
    from redvec import connect
    from redvec.index import SearchIndex
    from redvec.providers import provider_spec, remember_provider

    remember_provider(
        SearchIndex.open(connect(url), "beir_scifact"), provider_spec("local", variant=FAST)
    )
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        done = subprocess.run(
            [*REDVEC, "search", "-i", "beir_scifact", "--text", "vitamin D and bone density",
             "-k", "10", "--url", url], capture_output=True, text=True,
        )  # fmt: skip
        if done.returncode:
            raise SystemExit(done.stderr)
        times.append(time.perf_counter() - t)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--docs", type=int, default=384, help="SciFact abstracts embedded per round")
    ap.add_argument("--short", type=int, default=1024, help="short texts embedded per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--skip-ndcg", action="store_true", help="no SciFact retrieval runs")
    ap.add_argument("--url", help="Redis with the search module (default: a temporary one)")
    args = ap.parse_args()
    if not (SCIFACT / "corpus.jsonl.gz").exists():
        raise SystemExit(f"needs the SciFact set at {SCIFACT}")

    variants = {v: LocalEmbedder(variant=v, backend="onnx") for v in VARIANTS}
    for e in variants.values():
        e.embed(["build the model file once, outside the clock"])
    print(f"machine: {os.cpu_count()} cores; onnx threads: onnxruntime's default")

    print("\ncold start, new process to first vector (median of 3, seconds):")
    cold = {
        "sentence-transformers": "from sentence_transformers import SentenceTransformer\n"
        "from redvec.embeddings.local import model_dir\n"
        "SentenceTransformer(model_dir(), device='cpu').encode(['hello'])",
        **{
            f"onnx {v}": "from redvec.embeddings.local import LocalEmbedder\n"
            f"LocalEmbedder(variant={v!r}).embed(['hello'])"
            for v in VARIANTS
        },
    }
    for name, code in cold.items():
        times = [cold_start(code) for _ in range(3)]
        print(f"  {name:24s} {statistics.median(times):.2f} ({min(times):.2f}-{max(times):.2f})")

    st = sentence_transformers()
    contestants: dict[str, Callable[[list[str]], np.ndarray]] = {"sentence-transformers": st}
    contestants |= {f"onnx {v}": e.embed for v, e in variants.items()}
    docs, short = abstracts(args.docs), claims(args.short)
    for t in (docs[:32], short[:32]):
        for embed in contestants.values():
            embed(t)  # warm every path
    long_rates = speed("SciFact abstracts", docs, contestants, args.rounds)
    speed("short texts (SciFact claims)", short, contestants, args.rounds)

    reference = st(docs)
    exact = variants["fp32"].embed(docs)
    print("\ncosine on the abstracts, mean / min: to sentence-transformers | to onnx fp32")
    for v, e in variants.items():
        mine = e.embed(docs)
        to_st, to_fp32 = (mine * reference).sum(1), (mine * exact).sum(1)
        print(
            f"  onnx {v:19s} {to_st.mean():.5f} / {to_st.min():.5f} | "
            f"{to_fp32.mean():.5f} / {to_fp32.min():.5f}"
        )

    gap = float("nan")
    if not args.skip_ndcg:
        server = None
        url = args.url
        if url is None:
            from redvec import EmbeddedServer

            server = EmbeddedServer(tempfile.mkdtemp(prefix="redvec-embed-"), appendfsync="no")
            server.start()
            url = server.url
        try:
            print("\nSciFact nDCG@10 (redvec bench retrieval --mode dense), exact / HNSW:")
            scores = {}
            for v in VARIANTS:
                scores[v], rows = ndcg(v, url)
                dense = next(m for k, m in rows.items() if k.startswith("dense"))
                print(f"  {v:8s} {scores[v]:.4f} / {dense['ndcg@10']:.4f}")
            gap = scores["fp32"] - scores[FAST]
            times = search_cold_start(url, 3)
            print(
                f"\nredvec search --text, {FAST} recorded, new process: "
                f"{statistics.median(times):.2f} s ({min(times):.2f}-{max(times):.2f})"
            )
        finally:
            if server is not None:
                server.stop()

    ratio = statistics.median(long_rates[f"onnx {FAST}"]) / statistics.median(
        long_rates["sentence-transformers"]
    )
    print(f"\nfast variant vs sentence-transformers: {ratio:.2f}x, nDCG@10 gap {gap:.4f}")


if __name__ == "__main__":
    main()
