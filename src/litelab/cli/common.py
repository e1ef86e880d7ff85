"""What every command group shares: the parser class, value parsers, the data flags,
the interrupt message and a quiet TensorFlow start.

Nothing here imports TensorFlow, Keras or keras-tuner at module level: building the whole
parser must stay instant (``litelab --help``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from typing import Any

from litelab.errors import LitelabError

PROG = "litelab"


class Parser(argparse.ArgumentParser):
    """argparse that reports a bad option in one line (exit 2), without the usage dump."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise LitelabError(f"{message} (see `{self.prog} --help`)")


def int_value(text: str) -> int:
    """An integer flag; its range is checked where the value is used (configs, commands)."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def float_value(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def model_option(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` with VALUE in TOML syntax (``[32, 64]``, ``0.5``, ``"tanh"``, ``tanh``)."""
    import tomllib

    key, sep, value = text.partition("=")
    key, value = key.strip(), value.strip()
    if not sep or not key.isidentifier():
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        return key, value  # a bare word: a string


def add_flags(group: Any, *flags: tuple[str, Any, str, str]) -> None:
    """Add value flags given as ``(flag, type, METAVAR, help)`` rows to a parser or group."""
    for flag, kind, metavar, text in flags:
        group.add_argument(flag, type=kind, metavar=metavar, help=text)


def pick(args: argparse.Namespace, *names: str) -> dict[str, Any]:
    """``{name: args.name}``: the flags a command hands on to its library call unchanged."""
    return {name: getattr(args, name) for name in names}


def add_data_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data")
    g.add_argument(
        "--data",
        dest="source",
        metavar="SOURCE",
        help="cifar10 (default), cifar-10-python.tar.gz, cifar-10-binary.tar.gz, "
        "cifar-10-batches-py/, an image folder or .tar.gz/.zip of one, or .npz",
    )
    g.add_argument(
        "--shuffle",
        action="store_true",
        default=None,
        help="shuffle the training set with the seed before the validation split",
    )
    add_flags(
        g,
        ("--val-split", float_value, "FRACTION", "fraction of the training set held out for "
         "validation, taken from its end (default 0.2: CIFAR-10's last 10,000)"),
        ("--train-limit", int_value, "N", "use a stratified subset of N training images"),
        ("--test-limit", int_value, "N", "use a stratified subset of N test images"),
        ("--image-size", int_value, "PX", "image side in pixels (default 32)"),
    )  # fmt: skip
    g.add_argument(
        "--no-cache",
        dest="cache",
        action="store_false",
        default=None,
        help="do not read or write the decoded-array cache",
    )


DATA_FLAGS = ("source", "val_split", "shuffle", "train_limit", "test_limit", "image_size", "cache")


def data_values(args: argparse.Namespace) -> dict[str, Any]:
    """The data flags the user gave (unset ones are None and do not override)."""
    return {k: getattr(args, k) for k in DATA_FLAGS}


def interrupted(kept: str, resume: str) -> int:
    """What Ctrl-C prints: what was kept and the command that continues; exit code 130."""
    print(
        f"\n{PROG}: interrupted; finished {kept} are kept. Continue with: {PROG} {resume}",
        file=sys.stderr,
    )
    return 130


def print_top(results: list[dict[str, Any]], as_json: bool, width: int = 14) -> int:
    """The top classes of each file (predict, imagenet), as text or JSON."""
    if as_json:
        print(json.dumps(results, indent=2))
        return 0
    for r in results:
        print(r["file"])
        for t in r["top"]:
            extra = f"  ({t['wordnet_id']})" if "wordnet_id" in t else ""
            print(f"  {t['class']:<{width}} {t['probability']:.4f}{extra}")
    return 0


# TensorFlow's C++ start-up notices (absl, oneDNN, cpu_feature_guard): never litelab's news.
TF_NOISE = re.compile(
    r"absl::InitializeLog|oneDNN custom operations|cpu_feature_guard|"
    r"rebuild TensorFlow with the appropriate compiler flags|"
    r"Unable to register cu(DNN|FFT|BLAS) factory|computation placer already registered|"
    r"Could not find cuda drivers|TF-TRT Warning"
)


def tf_logs_wanted(verbose: bool = False) -> bool:
    """``--verbose`` or ``LITELAB_TF_LOGS=1`` lets TensorFlow's own logging through."""
    return verbose or os.environ.get("LITELAB_TF_LOGS", "") not in ("", "0")


def quiet_tensorflow(verbose: bool = False) -> None:
    """Import TensorFlow and Keras with their C++ start-up lines swallowed.

    The environment is set before the first import; what the native libraries still print
    on fd 2 while loading (this build's oneDNN notice ignores ``TF_CPP_MIN_LOG_LEVEL``) is
    captured, and any line that is not a known start-up notice is passed on.
    """
    if "tensorflow" in sys.modules:
        return
    if tf_logs_wanted(verbose):
        import tensorflow  # noqa: F401

        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import logging
    import warnings

    from litelab.files import capture_stderr

    with capture_stderr() as log:
        import keras  # noqa: F401  (imports TensorFlow, its backend)
        import tensorflow  # noqa: F401
    leaked = [line for line in "".join(log).splitlines() if line and not TF_NOISE.search(line)]
    if leaked:
        print("\n".join(leaked), file=sys.stderr)
    warnings.filterwarnings("ignore", message=".*HDF5 file via `model.save\\(\\)`.*")
    logging.getLogger("absl").setLevel(logging.ERROR)
    try:
        import absl.logging

        absl.logging.set_verbosity(absl.logging.ERROR)
    except ImportError:
        pass


def add_common_flags(
    p: argparse.ArgumentParser, *, out: str | None = None, runs_dir: str | None = None
) -> None:
    """``--out DIR`` (the command's output folder) and ``--runs-dir DIR`` where the command
    makes timestamped folders: one spelling for output locations in every command."""
    if out is not None:
        p.add_argument("--out", metavar="DIR", help=out)
    if runs_dir is not None:
        p.add_argument("--runs-dir", metavar="DIR", help=runs_dir)
