"""The ``litelab`` command: one thin verb per job; the logic lives in the library.

litelab run        train, evaluate and save everything (the main job)
litelab train      the same job; with --resume continues an interrupted run
litelab evaluate   any Keras model file on any data source
litelab predict    top-3 classes for image files
litelab models     the zoo, with parameter counts
litelab imagenet   top ImageNet classes for photos (whole VGG16 / MobileNetV2)
litelab basics     linear / logistic regression warm-ups, scikit-learn vs Keras
litelab tune       keras-tuner search; the best model retrained as a run
litelab experiment the course's manual study (or a plan file), one comparison table
litelab serve      local web app: runs, comparisons, classify photos in the browser
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from litelab.errors import LitelabError

PROG = "litelab"


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad option in one line (exit 2), without the usage dump."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise LitelabError(f"{message} (see `{self.prog} --help`)")


def _int(text: str) -> int:
    """An integer flag; its range is checked where the value is used (configs, commands)."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def _model_option(text: str) -> tuple[str, Any]:
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


def _add_data_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("data")
    g.add_argument(
        "--data",
        dest="source",
        metavar="SOURCE",
        help="cifar10 (default), cifar-10-python.tar.gz, cifar-10-binary.tar.gz, "
        "cifar-10-batches-py/, an image folder or .tar.gz/.zip of one, or .npz",
    )
    g.add_argument(
        "--val-split",
        type=_float,
        metavar="FRACTION",
        help="fraction of the training set held out for validation, taken from its "
        "end (default 0.2: CIFAR-10's last 10,000)",
    )
    g.add_argument(
        "--shuffle",
        action="store_true",
        default=None,
        help="shuffle the training set with the seed before the validation split",
    )
    g.add_argument(
        "--train-limit",
        type=_int,
        metavar="N",
        help="use a stratified subset of N training images",
    )
    g.add_argument(
        "--test-limit",
        type=_int,
        metavar="N",
        help="use a stratified subset of N test images",
    )
    g.add_argument(
        "--image-size", type=_int, metavar="PX", help="image side in pixels (default 32)"
    )
    g.add_argument(
        "--no-cache",
        dest="cache",
        action="store_false",
        default=None,
        help="do not read or write the decoded-array cache",
    )


def _add_training_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("training")
    g.add_argument("--model", help="zoo model name (see `litelab models`; default baseline)")
    g.add_argument(
        "--recipe",
        help="a named recipe: a model with its data and training settings (fast); "
        "flags and --config still override it",
    )
    g.add_argument("--epochs", type=_int)
    g.add_argument("--batch-size", type=_int)
    g.add_argument("--optimizer", help="adam, sgd, nesterov (SGD, momentum 0.9) or rmsprop")
    g.add_argument(
        "--schedule", help="learning-rate shape: constant, onecycle or cosine (see --warmup)"
    )
    g.add_argument(
        "--warmup", type=_float, metavar="FRACTION", help="share of steps spent ramping up"
    )
    g.add_argument("--label-smoothing", type=_float, metavar="EPS", help="e.g. 0.1")
    g.add_argument(
        "--weight-decay", type=_float, metavar="WD", help="decoupled; spares biases and BN"
    )
    g.add_argument(
        "--tta",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="average each test image with its mirror image at evaluation",
    )
    g.add_argument(
        "--option",
        dest="model_options",
        action="append",
        type=_model_option,
        metavar="KEY=VALUE",
        help="a model family's option, VALUE in TOML syntax, e.g. --model cnn "
        "--option 'filters=[32,64,128]' --option dense_units=128 (repeatable)",
    )
    g.add_argument(
        "--strategy",
        help="tf.distribute strategy: default (one device) or mirrored (every GPU here)",
    )
    g.add_argument(
        "--weights",
        help="transfer models: imagenet (Keras' download/cache, default), none (from "
        "scratch), or a local .h5 weights file of the backbone",
    )
    g.add_argument("--alpha", type=_float, help="mobilenetv2-transfer width: 0.35, 0.5, 0.75, 1.0")
    g.add_argument(
        "--fine-tune",
        type=_int,
        metavar="K",
        help="transfer models: a second stage with the backbone's last K layers unfrozen",
    )
    g.add_argument("--fine-tune-lr", type=_float, metavar="LR", help="its learning rate (1e-5)")
    g.add_argument(
        "--fine-tune-epochs", type=_int, metavar="N", help="its epochs (default: --epochs)"
    )
    g.add_argument("--lr", dest="learning_rate", type=_float, help="learning rate")
    g.add_argument("--activation", help="hidden-layer activation: relu, tanh, ...")
    g.add_argument("--seed", type=_int, help="random seed (default 42)")
    g.add_argument(
        "--augment",
        metavar="LIST",
        help="comma list of flip,crop,cutout,shift,rotation; 'none' turns the recipe's off",
    )
    g.add_argument(
        "--early-stopping",
        type=_int,
        metavar="PATIENCE",
        help="stop when val_loss has not improved for PATIENCE epochs",
    )
    g.add_argument(
        "--nondeterministic",
        dest="deterministic",
        action="store_false",
        default=None,
        help="allow faster non-deterministic kernels",
    )
    p.add_argument("--config", help="TOML file with [data] and [training] tables")
    p.add_argument("--runs-dir", help="where run folders are created (default runs/)")
    p.add_argument(
        "--no-evaluate",
        dest="evaluate",
        action="store_false",
        help="train and save only; skip the test-set evaluation and report",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG, description="Small image classifiers from data to a microcontroller."
    )
    from litelab import __version__

    parser.add_argument("--version", action="version", version=f"litelab {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    for name, text in (
        ("run", "train, evaluate and save everything (the main job)"),
        ("train", "the same job; --resume continues an interrupted run"),
    ):
        p = sub.add_parser(name, help=text)
        _add_data_flags(p)
        _add_training_flags(p)
        p.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run")
        p.add_argument(
            "--export",
            action="store_true",
            help="end with `litelab export` and `litelab deploy` of the new run",
        )
        p.add_argument("--target", default="esp-eye", help="board for --export (default esp-eye)")

    p = sub.add_parser("evaluate", help="evaluate any Keras model file on a data source")
    p.add_argument("--model", required=True, help=".keras, .h5 or SavedModel folder")
    _add_data_flags(p)
    p.add_argument(
        "--input-scale",
        type=_float,
        default=1.0,
        help="pixels are fed as value/255*SCALE: 1 for 0..1 models (default), "
        "255 for models that take raw 0..255 (e.g. the MLPerf Tiny ResNet-8)",
    )
    p.add_argument("--seed", type=_int, default=42)
    p.add_argument("--out", help="folder for metrics.json and plots (default: eval-<model name>)")
    p.add_argument("--quiet", action="store_true")

    p = sub.add_parser("predict", help="top classes for image files")
    p.add_argument(
        "--model", required=True, help=".keras, .h5, SavedModel folder, .tflite or zoo:<name>"
    )
    p.add_argument("images", nargs="+", help="image files (any size or mode)")
    p.add_argument("--top", type=_int, default=3)
    p.add_argument(
        "--labels", help="class names file, one per line (default: the run's labels.txt)"
    )
    p.add_argument("--input-scale", type=_float, default=1.0)
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser(
        "imagenet", help="top ImageNet classes for photos with a whole pretrained VGG16/MobileNetV2"
    )
    p.add_argument("images", nargs="+", help="image files (any size or mode; read at 224x224)")
    p.add_argument("--backbone", default="vgg16", help="vgg16 (default) or mobilenetv2")
    p.add_argument("--alpha", type=_float, default=1.0, help="mobilenetv2 width (default 1.0)")
    p.add_argument(
        "--weights",
        default="imagenet",
        help="imagenet (Keras' download/cache, default) or a local .h5 file with the top",
    )
    p.add_argument("--class-index", help="a local imagenet_class_index.json")
    p.add_argument("--top", type=_int, default=3)
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser(
        "basics", help="the warm-ups: linear and logistic regression, scikit-learn vs Keras"
    )
    p.add_argument("problem", choices=("linear", "logistic"))
    p.add_argument("--rows", type=_int, default=10_000, help="linear: houses in the large set")
    p.add_argument("--samples", type=_int, default=1000, help="logistic: points")
    p.add_argument("--noise", type=_float, help="linear: price noise std of the large set (20)")
    p.add_argument("--epochs", type=_int, default=100, help="Keras SGD epochs (100)")
    p.add_argument("--trials", type=_int, default=6, help="linear: keras-tuner trials (6)")
    p.add_argument("--seed", type=_int, default=42)
    p.add_argument("--out", help="the run folder (default runs/basics-<problem>-<time>)")
    p.add_argument("--runs-dir", default="runs")
    p.add_argument("--quiet", action="store_true")

    from litelab.export.cli_export import add_export_parser
    from litelab.export.cli_mcu import add_deploy_parser, add_inspect_parser

    add_export_parser(sub)
    add_inspect_parser(sub)
    add_deploy_parser(sub)

    from litelab.tune.cli import add_tune_parsers

    add_tune_parsers(sub)

    from litelab.serve.cli import add_serve_parser

    add_serve_parser(sub)

    p = sub.add_parser("zoo", help="list the trained models shipped with litelab (zoo:<name>)")
    p.add_argument("name", nargs="?", help="show one entry's whole card")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("models", help="list the model zoo with parameter counts")
    p.add_argument("--json", action="store_true")
    return parser


DATA_FLAGS = ("source", "val_split", "shuffle", "train_limit", "test_limit", "image_size", "cache")
TRAINING_FLAGS = (
    "model",
    "epochs",
    "batch_size",
    "optimizer",
    "learning_rate",
    "activation",
    "seed",
    "early_stopping",
    "deterministic",
    "schedule",
    "warmup",
    "label_smoothing",
    "weight_decay",
    "tta",
    "strategy",
    "fine_tune",
    "fine_tune_lr",
    "fine_tune_epochs",
)


def _data_values(args: argparse.Namespace) -> dict[str, Any]:
    """The data flags the user gave (unset ones are None and do not override)."""
    return {k: getattr(args, k) for k in DATA_FLAGS}


def _run_config(args: argparse.Namespace) -> Any:
    from litelab.config import read_toml, resolve_config

    file_values = read_toml(args.config) if args.config else None
    training = {k: getattr(args, k) for k in TRAINING_FLAGS}
    augment = args.augment
    if augment is not None:
        augment = () if augment.strip().lower() in ("none", "") else augment
    training["augment"] = augment
    options = dict(args.model_options or [])
    options.update({k: getattr(args, k) for k in ("weights", "alpha") if getattr(args, k)})
    training["model_options"] = options or None
    return resolve_config(
        file_values, _data_values(args), training, args.runs_dir, recipe=args.recipe
    )


def cmd_run(args: argparse.Namespace) -> int:
    from litelab.pipeline import run

    if args.export:  # an unknown board fails now, not after the training
        from litelab.export.mcu import get_target

        get_target(args.target, None, None)
    if args.resume:
        given = [
            f for f in ("source", "model", "recipe", "epochs", "config") if getattr(args, f, None)
        ]
        if given:
            raise LitelabError(f"--resume uses the run's own config; drop --{given[0]}")
        config = None
    else:
        config = _run_config(args)
    try:
        result = run(
            config,
            resume=args.resume,
            evaluate=args.evaluate,
            progress=not args.quiet,
            verbose=0 if args.quiet else "auto",
        )
    except KeyboardInterrupt:
        return interrupted("epochs", "train --resume <run folder>")
    m = result.metrics
    print(f"run folder: {result.run_dir}")
    _print_run(m, result.run_dir)
    return _export_and_deploy(result.run_dir, args) if args.export else 0


def interrupted(kept: str, resume: str) -> int:
    """What Ctrl-C prints: what was kept and the command that continues; exit code 130."""
    print(
        f"\n{PROG}: interrupted; finished {kept} are kept. Continue with: {PROG} {resume}",
        file=sys.stderr,
    )
    return 130


def _export_and_deploy(run_dir: Any, args: argparse.Namespace) -> int:
    """`litelab export RUN` then `litelab deploy RUN --target T`, through the same parser."""
    quiet = ["--quiet"] if args.quiet else []
    code = cmd_export(build_parser().parse_args(["export", str(run_dir), *quiet]))
    if code:
        return code
    return cmd_deploy(build_parser().parse_args(["deploy", str(run_dir), "--target", args.target]))


def _print_run(m: dict[str, Any], run_dir: Any) -> None:
    if "test_accuracy" in m:
        tta = ""
        if m.get("tta"):
            tta = f" (flip TTA; {m['test_accuracy_without_tta']:.4f} without)"
        print(
            f"test accuracy: {m['test_accuracy']:.4f}{tta}  test loss: {m['test_loss']:.4f}  "
            f"params: {m['params']:,}  epochs: {m['epochs_run']}  "
            f"train time: {m['train_seconds']:.1f} s  ({m.get('data_source', '')})"
        )
        print(f"report: {run_dir / 'report.md'}")


def cmd_evaluate(args: argparse.Namespace) -> int:
    from pathlib import Path

    from litelab.config import resolve_config
    from litelab.pipeline import evaluate_model
    from litelab.runs import new_run_dir

    cfg = resolve_config(None, _data_values(args), None).data
    if args.out:
        out = Path(args.out)
        if out.exists() and any(out.iterdir()) and not (out / "metrics.json").is_file():
            raise LitelabError(
                f"--out {out} is a non-empty folder that is not an evaluation; choose another"
            )
    else:  # a fresh folder every time, like runs: an earlier evaluation is never replaced
        out = new_run_dir("evals", f"eval-{Path(args.model.replace(':', '-')).stem}")
    m = evaluate_model(
        args.model, cfg, out, input_scale=args.input_scale, seed=args.seed, progress=not args.quiet
    )
    print(
        f"test accuracy: {m['test_accuracy']:.4f}  test loss: {m['test_loss']:.4f}  "
        f"({m['num_test']} images, {m['data_source']})"
    )
    print(f"metrics and plots: {out}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from litelab.pipeline import predict_files

    results = predict_files(
        args.model, args.images, top=args.top, input_scale=args.input_scale, labels_file=args.labels
    )
    return _print_top(results, args.json)


def _print_top(results: list[dict[str, Any]], as_json: bool, width: int = 14) -> int:
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


def cmd_imagenet(args: argparse.Namespace) -> int:
    from litelab.imagenet import classify

    results = classify(
        args.images,
        backbone_name=args.backbone,
        alpha=args.alpha,
        weights=args.weights,
        class_index=args.class_index,
        top=args.top,
    )
    return _print_top(results, args.json, width=24)


def cmd_basics(args: argparse.Namespace) -> int:
    from litelab.basics.job import run_linear, run_logistic

    common = dict(seed=args.seed, epochs=args.epochs, out=args.out, runs_dir=args.runs_dir)
    if args.problem == "linear":
        noise = {} if args.noise is None else {"noise_large": args.noise}
        run_dir, _ = run_linear(
            rows=args.rows, trials=args.trials, progress=not args.quiet, **noise, **common
        )
    else:
        run_dir, _ = run_logistic(samples=args.samples, progress=not args.quiet, **common)
    print(f"run folder: {run_dir}")
    return 0


def cmd_zoo(args: argparse.Namespace) -> int:
    from litelab import zoo

    if args.name:
        card = zoo.get_entry(args.name.removeprefix(zoo.PREFIX)).card
        print(json.dumps(card, indent=2))
        return 0
    rows = zoo.summary_rows()
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

    head = ("name", "test acc", "int8 TFLM", "params", "MACs", "int8 bytes", "arena", "train s")
    table = [head] + [
        (
            f"zoo:{r['name']}",
            pct(r["test_accuracy"]),
            pct(r["int8_tflm_accuracy"]),
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
    import numpy as np

    from litelab.models import build_model, get_model_spec, model_names
    from litelab.models.registry import model_options
    from litelab.models.transfer import backbone_of

    rows = []
    for name in model_names():
        spec = get_model_spec(name)
        # Transfer models are counted as trained: the backbone frozen (its weights need no
        # download just to count them).
        opts = {"weights": "none"} if "weights" in model_options(name) else {}
        model = build_model(name, **opts)
        if backbone_of(model) is not None:
            backbone_of(model).trainable = False
        trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
        rows.append(
            {
                "name": name,
                "params": int(model.count_params()),
                "trainable_params": trainable,
                "source": spec.source,
                "layers": spec.description,
                "options": model_options(name),
                "recipe": {
                    k: list(v) if isinstance(v, tuple) else v for k, v in spec.recipe.items()
                },
            }
        )
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


def cmd_export(args: argparse.Namespace) -> int:
    from litelab.export.cli_export import cmd_export as run_export

    return run_export(args)


def cmd_inspect(args: argparse.Namespace) -> int:
    from litelab.export.cli_mcu import cmd_inspect as run_inspect

    return run_inspect(args)


def cmd_deploy(args: argparse.Namespace) -> int:
    from litelab.export.cli_mcu import cmd_deploy as run_deploy

    return run_deploy(args)


COMMANDS = {
    "export": cmd_export,
    "inspect": cmd_inspect,
    "deploy": cmd_deploy,
    "run": cmd_run,
    "train": cmd_run,
    "evaluate": cmd_evaluate,
    "predict": cmd_predict,
    "models": cmd_models,
    "zoo": cmd_zoo,
    "imagenet": cmd_imagenet,
    "basics": cmd_basics,
    "tune": lambda args: _tune_cli().cmd_tune(args),
    "experiment": lambda args: _tune_cli().cmd_experiment(args),
    "serve": lambda args: _serve_cli().cmd_serve(args),
}


def _serve_cli() -> Any:
    from litelab.serve import cli as serve_cli

    return serve_cli


def _tune_cli() -> Any:
    from litelab.tune import cli as tune_cli  # keras-tuner loads only for these verbs

    return tune_cli


def _quiet_tensorflow() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import logging
    import warnings

    warnings.filterwarnings("ignore", message=".*HDF5 file via `model.save\\(\\)`.*")
    logging.getLogger("absl").setLevel(logging.ERROR)
    try:
        import absl.logging

        absl.logging.set_verbosity(absl.logging.ERROR)
    except ImportError:
        pass


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit code (0 ok, 2 user error, 130 interrupted)."""
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if not args.command:
            parser.print_help()
            return 2
        _quiet_tensorflow()
        return COMMANDS[args.command](args)
    except LitelabError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
