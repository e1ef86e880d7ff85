"""The ``litelab`` command: one thin verb per job; the logic lives in the library.

One module per command group, each with ``add_parsers(sub)`` and ``COMMANDS``:

- :mod:`litelab.cli.training`: run, train, evaluate, predict, imagenet
- :mod:`litelab.cli.zoo`: models, zoo
- :mod:`litelab.cli.basics`: basics (linear / logistic regression warm-ups)
- :mod:`litelab.cli.export`: export (every format, compared)
- :mod:`litelab.cli.board`: inspect, deploy (TFLite Micro check and C sources)
- :mod:`litelab.cli.tune`: tune, experiment
- :mod:`litelab.cli.serve`: serve (the local web app)
- :mod:`litelab.cli.common`: the parser class, value parsers, data flags, quiet start

Building the parser imports nothing heavy: TensorFlow, Keras and keras-tuner load only when
a command runs (``litelab --help`` answers at once).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from litelab.cli import basics, board, export, serve, training, tune, zoo
from litelab.cli.common import PROG, Parser, quiet_tensorflow
from litelab.errors import LitelabError

GROUPS = (training, export, board, tune, serve, zoo, basics)
# Commands that never touch TensorFlow: they skip its (quietened) start-up.
NO_TENSORFLOW = frozenset({"models", "zoo", "serve"})


def commands() -> dict[str, Callable[[argparse.Namespace], int]]:
    """Every verb and the function that runs it."""
    table: dict[str, Callable[[argparse.Namespace], int]] = {}
    for group in GROUPS:
        table.update(group.COMMANDS)
    return table


def build_parser() -> argparse.ArgumentParser:
    """The whole ``litelab`` parser (instant: no heavy import)."""
    from litelab import __version__

    parser = Parser(
        prog=PROG, description="Small image classifiers from data to a microcontroller."
    )
    parser.add_argument("--version", action="version", version=f"litelab {__version__}")
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="let TensorFlow's own start-up and C++ log lines through (or LITELAB_TF_LOGS=1)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for group in GROUPS:
        group.add_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (0 ok, 2 user error, 130 interrupted)."""
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not args.command:
            parser.print_help()
            return 2
        if args.command not in NO_TENSORFLOW:
            quiet_tensorflow(verbose=args.verbose)
        return commands()[args.command](args)
    except LitelabError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return exc.exit_code


__all__ = ["build_parser", "commands", "main"]
