"""``litelab models | zoo``: what can be trained, and what ships trained."""

from __future__ import annotations

import argparse
import json
from typing import Any


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register models and zoo."""
    p = sub.add_parser("zoo", help="list the trained models shipped with litelab (zoo:<name>)")
    p.add_argument("name", nargs="?", help="show one entry's whole card")
    p.add_argument("--json", action="store_true")
    p.add_argument(
        "--plot",
        nargs="?",
        const="",
        metavar="PATH",
        help="write a PNG of accuracy against int8 bytes, arena and MACs for every zoo "
        "model, with the MLPerf Tiny reference (default zoo.png, never replaced)",
    )

    p = sub.add_parser("models", help="list the model zoo with parameter counts")
    p.add_argument("--json", action="store_true")


def cmd_zoo(args: argparse.Namespace) -> int:
    from litelab import zoo

    if args.name:
        card = zoo.get_entry(args.name.removeprefix(zoo.PREFIX)).card
        print(json.dumps(card, indent=2))
        return 0
    rows = zoo.summary_rows()
    if args.plot is not None:
        from litelab.plots.zoo import plot_zoo, plotted_rows

        path = plot_zoo(rows, args.plot or "zoo.png", overwrite=bool(args.plot))
        print(f"zoo figure: {path} ({len(plotted_rows(rows))} models and the MLPerf reference)")
        return 0
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no trained models are shipped with this install")
        return 0

    def pct(v: Any) -> str:
        return f"{100 * v:.2f}%" if isinstance(v, int | float) else "-"

    def num(v: Any) -> str:
        return f"{v:,}" if isinstance(v, int) else "-"

    head = (
        "name",
        "test acc",
        "int8 TFLM",
        "+flip TTA",
        "params",
        "MACs",
        "int8 bytes",
        "arena",
        "train s",
    )
    table = [head] + [
        (
            f"zoo:{r['name']}",
            pct(r["test_accuracy"]),
            pct(r["int8_tflm_accuracy"]),
            pct(r.get("int8_tflm_accuracy_flip_tta")),
            num(r["params"]),
            num(r["macs"]),
            num(r["int8_bytes"]),
            num(r["arena_bytes"]),
            f"{r['train_seconds']:.0f}" if r["train_seconds"] else "-",
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    for row in table:
        print(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    print("accuracies on the CIFAR-10 (JPEG copy) test split; `litelab zoo NAME` shows a card")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from litelab.models.catalog import rows as catalog_rows

    rows = catalog_rows()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"{'name':<20} {'params':>11} {'trainable':>11}  source")
    for r in rows:
        print(f"{r['name']:<20} {r['params']:>11,} {r['trainable_params']:>11,}  {r['source']}")
        print(f"{'':<20} {'':>11} {'':>11}  {r['layers']}")
        if r["options"]:
            print(f"{'':<46}options (--option KEY=VALUE): {', '.join(r['options'])}")
    return 0


COMMANDS = {"models": cmd_models, "zoo": cmd_zoo}
