"""`redvec recommend ...` and `redvec eval recommend`."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer
import typer.main

from redvec.cli.common import (
    JsonOpt,
    UrlOpt,
    app,
    err,
    out,
    print_json,
    print_table,
)
from redvec.connection import connect
from redvec.errors import ValidationError

recommend_app = typer.Typer(
    help="Recommendations: users as interest vectors.", no_args_is_help=True
)
app.add_typer(recommend_app, name="recommend")
eval_app = typer.Typer(help="Evaluate redvec on public datasets.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")

RecName = Annotated[str, typer.Option("--name", help="Recommender name (key prefix)")]


@recommend_app.command("user")
def recommend_user(
    user_id: Annotated[str, typer.Argument(help="User id")],
    n: Annotated[int, typer.Option("-n", min=1, max=1000, help="How many items")] = 10,
    neighbours: Annotated[
        int, typer.Option(min=1, max=1000, help="Nearest users to draw from (K)")
    ] = 50,
    filter: Annotated[
        str | None, typer.Option(help='Filter over users, e.g. "labels:Comedy time>=880000000"')
    ] = None,
    name: RecName = "rec",
    as_json: JsonOpt = False,
    url: UrlOpt = None,
) -> None:
    """Items for a user, from what their nearest neighbours liked."""
    from redvec.recommend import Recommender

    rec = Recommender(connect(url), name)
    result = rec.recommend(user_id, n, neighbours=neighbours, filter=filter)
    if as_json:
        print_json(result.to_dict())
        return
    if result.fallback:
        why = {
            "no_interest_vector": f"user {user_id} has liked nothing yet (no interest vector)",
            "no_neighbours": "no other user matches the filter"
            if filter
            else "no other user has an interest vector yet",
            "nothing_new": f"the nearest users liked nothing that user {user_id} has not",
        }.get(result.reason or "", "no recommendation from neighbours")
        out.print(f"{why}: the most popular items instead")
    titles = _titles(rec, [r.item for r in result.items])
    print_table(
        ["item", "score", "title", "from users"],
        [
            [r.item, f"{r.score:.3f}", titles.get(r.item, ""), ", ".join(r.because)]
            for r in result.items
        ],
        right={0, 1},
    )


def _titles(rec: Any, items: list[str]) -> dict[str, str]:
    pipe = rec.client.pipeline(transaction=False)
    for i in items:
        pipe.hget(f"{rec.name}:item:{i}", "title")
    return {i: (t or b"").decode() for i, t in zip(items, pipe.execute(), strict=True)}


@recommend_app.command("similar")
def recommend_similar(
    item_id: Annotated[str, typer.Argument(help="Item id")],
    n: Annotated[int, typer.Option("-n", min=1, max=1000, help="How many items")] = 10,
    name: RecName = "rec",
    as_json: JsonOpt = False,
    url: UrlOpt = None,
) -> None:
    """Items whose embeddings are nearest to ITEM's."""
    from redvec.recommend import Recommender

    rec = Recommender(connect(url), name)
    similar = rec.similar_items(item_id, n)
    if as_json:
        print_json([{"item": i, "similarity": s} for i, s in similar])
        return
    titles = _titles(rec, [i for i, _ in similar])
    print_table(
        ["item", "similarity", "title"],
        [[i, f"{sim:.3f}", titles.get(i, "")] for i, sim in similar],
        right={0, 1},
    )


@recommend_app.command("load-movielens")
def recommend_load_movielens(
    path: Annotated[Path, typer.Argument(help="The ml-100k folder")],
    kind: Annotated[str, typer.Option(help="genres or factors")] = "factors",
    split: Annotated[str, typer.Option(help="Training split: ua, ub, u1..u5")] = "ua",
    positives: Annotated[
        str, typer.Option(help="Which ratings are likes: all, or the lowest that counts")
    ] = "4",
    binary: Annotated[
        bool, typer.Option(help="Each like weighs 1 in a user's vector, whatever its stars")
    ] = False,
    name: RecName = "rec",
    url: UrlOpt = None,
) -> None:
    """Build a recommender from MovieLens-100k's training ratings (replaces NAME)."""
    from redvec.recommend.movielens import load_into, read_movielens

    t = time.perf_counter()
    rec = load_into(
        connect(url), read_movielens(path), name=name, kind=kind, split=split,
        positive=_positive(positives), binary=binary,
    )  # fmt: skip
    out.print(
        f"recommender '{name}': {rec.users.count()} users, {rec.items.count()} items, "
        f"{kind} vectors ({rec.dims}-d), in {time.perf_counter() - t:.1f} s"
    )


@recommend_app.command("items")
def recommend_items(
    like: Annotated[
        list[str], typer.Option("--like", help="An item to find more like (repeatable)")
    ],
    unlike: Annotated[
        list[str] | None, typer.Option("--unlike", help="An item to steer away from (repeatable)")
    ] = None,
    strategy: Annotated[
        str, typer.Option(help="average_vector (one KNN) or best_score (each example scored)")
    ] = "average_vector",
    n: Annotated[int, typer.Option("-n", min=1, max=1000, help="How many items")] = 10,
    filter: Annotated[
        str | None, typer.Option(help='Filter over items, e.g. "tags:Comedy"')
    ] = None,
    name: RecName = "rec",
    as_json: JsonOpt = False,
    url: UrlOpt = None,
) -> None:
    """Items like the --like examples and unlike the --unlike ones (by example)."""
    from redvec.recommend import Recommender

    rec = Recommender(connect(url), name)
    items = rec.by_example(like, unlike or [], n=n, strategy=strategy, filter=filter)
    if as_json:
        print_json({"items": [r.to_dict() for r in items], "strategy": strategy})
        return
    titles = _titles(rec, [r.item for r in items])
    print_table(
        ["item", "score", "title", "closest to"],
        [[r.item, f"{r.score:.3f}", titles.get(r.item, ""), ", ".join(r.because)] for r in items],
        right={0, 1},
    )


@eval_app.command("recommend")
def eval_recommend(
    movielens: Annotated[Path, typer.Option(help="The ml-100k folder")],
    protocol: Annotated[
        str | None,
        typer.Option(
            help="mymedialite: folds u1..u5, every rating a positive, full rankings "
            "(the field's reference table)"
        ),
    ] = None,
    folds: Annotated[
        str | None, typer.Option(help="Comma-separated folds to cross-validate, e.g. u1,u2")
    ] = None,
    positives: Annotated[
        str | None,
        typer.Option(help="Which ratings are positives: all, or the lowest that counts (4)"),
    ] = None,
    split: Annotated[str, typer.Option(help="ua, ub, or u1..u5 (the single-split table)")] = "ua",
    neighbours: Annotated[int, typer.Option(help="K nearest users")] = 50,
    ef_runtime: Annotated[int, typer.Option(help="EF_RUNTIME for the user KNN")] = 200,
    factors: Annotated[int, typer.Option(help="SVD factors")] = 32,
    out_file: Annotated[Path | None, typer.Option("--out", help="Write the report as JSON")] = None,
    url: UrlOpt = None,
) -> None:
    """redvec user-KNN against exact user-KNN and most popular on MovieLens-100k.

    Without --protocol or --folds: one split (ua), ratings of 4 and up positive, top 10.
    With them: cross-validation over full rankings (prec@5/10, recall@10, MAP, NDCG, AUC,
    coverage; mean and spread over folds), and recommend-by-example's hit rate."""
    if protocol is not None and protocol != "mymedialite":
        raise ValidationError(f"unknown protocol {protocol!r}: use mymedialite")
    if protocol is None and folds is None:
        if positives is not None:
            raise ValidationError("--positives applies to --folds or --protocol")
        _eval_split(movielens, split, neighbours, ef_runtime, factors, out_file, url)
        return
    from redvec.lists import comma_list
    from redvec.recommend.crossval import FOLDS, agreement, evaluate_folds

    chosen = tuple(comma_list(folds)) if folds else FOLDS
    report = evaluate_folds(
        connect(url), movielens, folds=chosen, positive=_positive(positives or "all"),
        neighbours=neighbours, ef_runtime=ef_runtime, factors=factors,
        progress=lambda m: err.print(m),
    )  # fmt: skip
    _print_folds(report)
    out.print(
        f"redvec vs exact user-KNN, largest relative gap over the fold means "
        f"{agreement(report):.2%} (must be <= 1%)"
    )
    if out_file is not None:
        out_file.write_text(json.dumps(report, indent=2))


def _positive(value: str) -> float:
    if value == "all":
        return 1.0
    try:
        return float(value)
    except ValueError:
        raise ValidationError(
            f"--positives must be 'all' or a rating such as 4, got {value!r}"
        ) from None


def _print_folds(report: dict[str, Any]) -> None:
    from redvec.recommend.crossval import METRICS

    folds = report["folds"]
    users = ", ".join(f"{f} {report['users'][f]}" for f in folds)
    out.print(
        f"MovieLens-100k folds {','.join(folds)} (test users: {users}); positives: "
        f"ratings >= {report['positive']:g}; K={report['neighbours']}, "
        f"EF_RUNTIME {report['ef_runtime']}; mean (std) over folds",
        soft_wrap=True,
    )

    def line(cells: list[str]) -> None:
        out.print("| " + " | ".join(cells) + " |", markup=False, soft_wrap=True)

    line(["method", *METRICS])
    line(["---"] * (len(METRICS) + 1))
    for name, m in report["methods"].items():
        line([name, *(f"{m[k]:.4f} ({m['spread'][k]['std']:.4f})" for k in METRICS)])
    if "u1" in folds:
        out.print("fold u1 (MyMediaLite's published table matches this fold):")
        line(["method", *METRICS])
        line(["---"] * (len(METRICS) + 1))
        for name, m in report["methods"].items():
            line([name, *(f"{m['folds']['u1'][k]:.4f}" for k in METRICS)])
        for name, m in report["mymedialite"].items():
            line([f"MyMediaLite {name}", *(f"{m[k]:.3f}" if k in m else "-" for k in METRICS)])
    if "by_example" in report:
        ex = report["by_example"]
        out.print(
            f"recommend by example: one held-out test positive per user, from their "
            f"{ex['examples']} most recent training positives; hit rate@10, mean (std)"
        )
        for name, m in ex.items():
            if isinstance(m, dict):
                hr = m["spread"]["hit_rate@10"]
                line([name, f"{m['hit_rate@10']:.4f} ({hr['std']:.4f})"])


def _eval_split(
    movielens: Path,
    split: str,
    neighbours: int,
    ef_runtime: int,
    factors: int,
    out_file: Path | None,
    url: str | None,
) -> None:
    from redvec.recommend.movielens import agreement, evaluate

    report = evaluate(
        connect(url), movielens, split=split, neighbours=neighbours, ef_runtime=ef_runtime,
        factors=factors, progress=lambda m: err.print(m),
    )  # fmt: skip
    out.print(
        f"MovieLens-100k split {split}: {report['users']} test users with a positive, "
        f"K={neighbours}, EF_RUNTIME {ef_runtime}, top {report['n']}",
        soft_wrap=True,
    )
    head = "| vectors | method | P@10 | R@10 | nDCG@10 | HR@10 | coverage |"
    out.print(head, markup=False, soft_wrap=True)
    out.print("|---|---|---|---|---|---|---|", markup=False, soft_wrap=True)
    for r in report["rows"]:
        out.print(
            f"| {r['kind']} | {r['method']} | {r['precision']:.4f} | {r['recall']:.4f} | "
            f"{r['ndcg']:.4f} | {r['hit_rate']:.4f} | {r['coverage']:.4f} |",
            markup=False,
            soft_wrap=True,
        )
    gaps = agreement(report)
    for kind, gap in sorted(gaps.items()):
        out.print(f"{kind}: redvec vs exact, largest relative gap {gap:.2%} (must be <= 1%)")
    if out_file is not None:
        out_file.write_text(json.dumps(report, indent=2))
