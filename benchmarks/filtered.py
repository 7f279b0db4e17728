"""Pre-filtered KNN at every selectivity: redvec's planner, RediSearch's own choice and
each policy forced, with recall@10 against exact filtered search (issue 17).

Selectivities 0.1% to 90% on a TAG, a NUMERIC and a combined (TAG and NUMERIC) filter;
for each: QPS, p50, p99 and recall@10 for every method, one query at a time. The last
lines state the targets as measured: the planner at least 0.9 of the best forced policy
(recall@10 >= 0.95) on every filter, and at least 0.4 of unfiltered QPS at >= 1%.

    python benchmarks/filtered.py                      # 20k x 384
    python benchmarks/filtered.py --n 100000 --dims 128
    python benchmarks/filtered.py --out results/filtered.json --plot docs/img/filtered.svg

The same run is ``redvec bench filtered``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from redvec import EmbeddedServer, connect
from redvec.bench.filtered import run_filtered, summary_lines, write_json, write_plot


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--dims", type=int, default=384)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--budget", type=float, default=3.0, help="seconds per method and filter")
    ap.add_argument("--url", help="an existing Redis with search (default: embedded)")
    ap.add_argument("--out", type=Path, help="write the results as JSON here")
    ap.add_argument("--plot", type=Path, help="write a plot (SVG) here")
    args = ap.parse_args()

    server = None
    url = args.url
    if url is None:
        server = EmbeddedServer(appendonly=False).start()
        url = server.url
    try:
        report = run_filtered(
            connect(url), n=args.n, dims=args.dims, queries=args.queries,
            budget_s=args.budget, log=print,
        )  # fmt: skip
        print(f"\nbuilt {args.n} x {args.dims} HNSW in {report.build_s:.1f}s; "
              f"unfiltered {report.unfiltered_qps:.0f} q/s")  # fmt: skip
        for line in summary_lines(report):
            print(line)
        if args.out:
            write_json(report, args.out)
        if args.plot and write_plot(report, args.plot):
            print(f"plot: {args.plot}")
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
