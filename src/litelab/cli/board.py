"""``litelab inspect`` and ``litelab deploy``: look inside a model; take it to a board.

inspect  PATH                  a .tflite, .keras, .h5 or SavedModel: I/O, ops, weights, MACs
deploy   SOURCE --target T     TFLite Micro check, exact arena, verdict, C sources

The jobs themselves are library functions in :mod:`litelab.export.deploy`.
"""

from __future__ import annotations

import argparse
import json

from litelab.cli.common import add_data_flags, data_values, float_value, int_value
from litelab.export.boards import TARGETS

# --- inspect -------------------------------------------------------------------------------


def add_inspect_parser(sub) -> argparse.ArgumentParser:
    """Register ``inspect`` on the CLI's subparsers."""
    p = sub.add_parser("inspect", help="inputs, outputs, ops, weights and MACs of a model")
    p.add_argument("path", help=".tflite, .keras, .h5 or SavedModel folder")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    return p


def cmd_inspect(args: argparse.Namespace) -> int:
    from litelab.export.deploy import inspect_path
    from litelab.export.inspect import format_inspection

    info = inspect_path(args.path)
    if args.json:
        print(json.dumps(info, indent=2, default=str))
    else:
        print(format_inspection(info), end="")
    return 0


# --- deploy --------------------------------------------------------------------------------


def add_deploy_parser(sub) -> argparse.ArgumentParser:
    """Register ``deploy`` on the CLI's subparsers."""

    p = sub.add_parser(
        "deploy",
        help="check a model on TFLite Micro, measure its arena, write C sources for a board",
    )
    p.add_argument(
        "model_source",
        metavar="SOURCE",
        nargs="?",
        help="a run folder, a .tflite file, or a Keras model (.keras, .h5, SavedModel; "
        "needs --data for the int8 conversion); none: name the best zoo model that fits",
    )
    p.add_argument("--target", help=f"board: {', '.join(TARGETS)} (default esp-eye)")
    p.add_argument(
        "--ram", metavar="BYTES", help="RAM for the tensor arena, e.g. 262144 or 256K (K = 1024)"
    )
    p.add_argument("--flash", metavar="BYTES", help="flash for the model, e.g. 1M (M = 1024**2)")
    p.add_argument(
        "--out", help="folder for the C sources (default <run>/deploy/<target> or deploy/<target>)"
    )
    add_data_flags(p)
    p.add_argument(
        "--check-images",
        type=int_value,
        default=100,
        metavar="N",
        help="test images run through TFLM and LiteRT to compare them (default 100; 0 skips)",
    )
    p.add_argument(
        "--input-scale",
        type=float_value,
        default=None,
        help="pixels are fed as value/255*SCALE (default: 1 for litelab models; for a "
        ".tflite, 255 if its int8 input covers 0..255, else 1)",
    )
    p.add_argument("--labels", help="class names file, one per line")
    p.add_argument("--seed", type=int_value, default=42)
    p.add_argument(
        "--verify",
        choices=("none", "host", "qemu"),
        default="none",
        help="build the generated program and run it on test images: host (this PC, TFLM "
        "reference kernels, compared with TFLM's Python interpreter) or qemu (emulated "
        "cortex-m4 / cortex-m55 with CMSIS-NN, compared with the host build)",
    )
    p.add_argument(
        "--images", type=int_value, default=50, metavar="N", help="test images for --verify"
    )
    p.add_argument(
        "--tflm",
        metavar="DIR",
        help="TFLite Micro sources for --verify: a source tree or a folder of the pinned "
        "archives (default $LITELAB_TFLM_DIR, else litelab's cache, else a download)",
    )
    p.add_argument(
        "--flip-tta",
        action="store_true",
        help="the program classifies each frame and its mirror image and averages the two "
        "(flip TTA: twice the inference time, the same arena); the checks measure it too",
    )
    p.add_argument("--quiet", action="store_true", help="no progress lines from --verify")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    return p


def cmd_deploy(args: argparse.Namespace) -> int:
    from litelab.export.deploy import deploy, format_deploy

    result = deploy(
        args.model_source,
        target=args.target,
        ram=args.ram,
        flash=args.flash,
        out=args.out,
        data={k: v for k, v in data_values(args).items() if v is not None},
        check_images=args.check_images,
        input_scale=args.input_scale,
        labels=args.labels,
        seed=args.seed,
        verify=args.verify,
        images=args.images,
        tflm=args.tflm,
        quiet=args.quiet,
        flip_tta=args.flip_tta,
    )
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        print(format_deploy(result), end="")
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register inspect and deploy."""
    add_inspect_parser(sub)
    add_deploy_parser(sub)


COMMANDS = {"inspect": cmd_inspect, "deploy": cmd_deploy}
