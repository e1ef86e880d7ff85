"""``litelab run | train | evaluate | predict | imagenet``: the jobs on models and data."""

from __future__ import annotations

import argparse
from typing import Any

from litelab.cli.common import (
    PROG,
    Parser,
    add_data_flags,
    add_flags,
    data_values,
    float_value,
    int_value,
    interrupted,
    model_option,
    pick,
    print_top,
)
from litelab.errors import LitelabError


def add_parsers(sub: argparse._SubParsersAction) -> None:
    """Register run, train, evaluate, predict and imagenet."""
    for name, text in (
        ("run", "train, evaluate and save everything (the main job)"),
        ("train", "the same job; --resume continues an interrupted run"),
    ):
        p = sub.add_parser(name, help=text)
        add_data_flags(p)
        add_training_flags(p)
        p.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run")
        p.add_argument(
            "--export",
            action="store_true",
            help="end with `litelab export` and `litelab deploy` of the new run",
        )
        p.add_argument("--target", default="esp-eye", help="board for --export (default esp-eye)")

    p = sub.add_parser("evaluate", help="evaluate any Keras model file on a data source")
    p.add_argument("--model", required=True, help=".keras, .h5 or SavedModel folder")
    add_data_flags(p)
    p.add_argument(
        "--input-scale",
        type=float_value,
        default=1.0,
        help="pixels are fed as value/255*SCALE: 1 for 0..1 models (default), "
        "255 for models that take raw 0..255 (e.g. the MLPerf Tiny ResNet-8)",
    )
    p.add_argument("--seed", type=int_value, default=42)
    p.add_argument(
        "--out", metavar="DIR", help="folder for metrics.json and plots (default: a new one)"
    )
    p.add_argument(
        "--runs-dir", metavar="DIR", help="where timestamped evaluation folders go (evals/)"
    )
    p.add_argument("--quiet", action="store_true")

    p = sub.add_parser("predict", help="top classes for image files")
    p.add_argument(
        "--model", required=True, help=".keras, .h5, SavedModel folder, .tflite or zoo:<name>"
    )
    p.add_argument("images", nargs="+", help="image files (any size or mode)")
    p.add_argument("--top", type=int_value, default=3)
    p.add_argument(
        "--labels", help="class names file, one per line (default: the run's labels.txt)"
    )
    p.add_argument("--input-scale", type=float_value, default=1.0)
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser(
        "imagenet", help="top ImageNet classes for photos with a whole pretrained VGG16/MobileNetV2"
    )
    p.add_argument("images", nargs="+", help="image files (any size or mode; read at 224x224)")
    p.add_argument("--backbone", default="vgg16", help="vgg16 (default) or mobilenetv2")
    p.add_argument("--alpha", type=float_value, default=1.0, help="mobilenetv2 width (default 1.0)")
    p.add_argument(
        "--weights",
        default="imagenet",
        help="imagenet (Keras' download/cache, default) or a local .h5 file with the top",
    )
    p.add_argument("--class-index", help="a local imagenet_class_index.json")
    p.add_argument("--top", type=int_value, default=3)
    p.add_argument("--json", action="store_true", help="machine-readable output")


def add_training_flags(p: argparse.ArgumentParser) -> None:
    from litelab.config import RECIPES  # standard library only: startup stays fast

    g = p.add_argument_group("training")
    g.add_argument("--model", help="zoo model name (see `litelab models`; default baseline)")
    g.add_argument(
        "--recipe",
        help="a named recipe: a model with its data and training settings "
        f"({', '.join(RECIPES)}); "
        "flags and --config still override it",
    )
    g.add_argument("--epochs", type=int_value)
    g.add_argument("--batch-size", type=int_value)
    g.add_argument("--optimizer", help="adam, sgd, nesterov (SGD, momentum 0.9) or rmsprop")
    g.add_argument(
        "--schedule",
        help="learning-rate shape: constant, onecycle, cosine (see --warmup) or exponential "
        "(see --lr-decay)",
    )
    g.add_argument(
        "--lr-decay",
        type=float_value,
        metavar="RATE",
        help="exponential schedule: the rate's factor per epoch (default 0.99, MLPerf Tiny's)",
    )
    g.add_argument(
        "--time-budget",
        type=float_value,
        metavar="SECONDS",
        help="stop before an epoch that would take the fit past SECONDS (the schedule still "
        "spans --epochs)",
    )
    g.add_argument(
        "--warmup", type=float_value, metavar="FRACTION", help="share of steps spent ramping up"
    )
    g.add_argument("--label-smoothing", type=float_value, metavar="EPS", help="e.g. 0.1")
    g.add_argument(
        "--weight-decay", type=float_value, metavar="WD", help="decoupled; spares biases and BN"
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
        type=model_option,
        metavar="KEY=VALUE",
        help="a model family's option, VALUE in TOML syntax, e.g. --model cnn "
        "--option 'filters=[32,64,128]' --option dense_units=128 (repeatable)",
    )
    g.add_argument(
        "--strategy",
        help="tf.distribute strategy: default (one device), mirrored (every GPU here) or "
        "multiworker (several processes or machines; see --workers)",
    )
    g.add_argument(
        "--workers",
        metavar="HOST:PORT,...",
        help="multiworker: every worker's address, the chief first (TF_CONFIG wins if set)",
    )
    g.add_argument(
        "--worker-index", type=int_value, metavar="I", help="multiworker: this worker's place"
    )
    g.add_argument(
        "--weights",
        help="transfer models: imagenet (Keras' download/cache, default), none (from "
        "scratch), or a local .h5 weights file of the backbone",
    )
    add_flags(
        g,
        ("--alpha", float_value, "ALPHA", "mobilenetv2-transfer width: 0.35, 0.5, 0.75, 1.0"),
        ("--fine-tune", int_value, "K",
         "transfer models: a second stage with the backbone's last K layers unfrozen"),
        ("--fine-tune-lr", float_value, "LR", "its learning rate (1e-5)"),
        ("--fine-tune-epochs", int_value, "N", "its epochs (default: --epochs)"),
    )  # fmt: skip
    add_start_flags(p)
    g.add_argument("--lr", dest="learning_rate", type=float_value, help="learning rate")
    g.add_argument("--activation", help="hidden-layer activation: relu, tanh, ...")
    g.add_argument("--seed", type=int_value, help="random seed (default 42)")
    g.add_argument(
        "--augment",
        metavar="LIST",
        help="comma list of flip,crop,cutout,shift,rotation; 'none' turns the recipe's off",
    )
    g.add_argument(
        "--early-stopping",
        type=int_value,
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
    p.add_argument(
        "--runs-dir",
        metavar="DIR",
        help="where timestamped run folders are created (default runs/)",
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        help="the run folder itself (must not exist yet); overrides --runs-dir",
    )
    p.add_argument(
        "--no-evaluate",
        dest="evaluate",
        action="store_false",
        help="train and save only; skip the test-set evaluation and report",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def add_start_flags(p: argparse.ArgumentParser) -> None:
    """--teacher (distillation) and --init (start from a trained model)."""
    g = p.add_argument_group("distillation and starting from a trained model")
    add_flags(
        g,
        ("--teacher", str, "SOURCE",
         "distil from a trained model of the same classes: a run folder, .keras file or "
         "zoo:NAME"),
        ("--distill-temperature", float_value, "T", "softens both predictions (default 4)"),
        ("--distill-alpha", float_value, "A",
         "weight of the teacher's soft loss; 1 - A goes to the labels (default 0.9)"),
        ("--distill-targets", str, "HOW",
         "cached (the teacher predicts each training image once, default), cached-tta "
         "(once, averaged with the image's mirror) or augmented (it predicts every "
         "augmented batch)"),
        ("--init", str, "SOURCE",
         "start from a trained model (run folder, .keras file or zoo:NAME): its weights, "
         "a new class layer for this data's labels"),
    )  # fmt: skip
    g.add_argument(
        "--freeze-backbone",
        action="store_true",
        default=None,
        help="with --init: train the new class layer only (--fine-tune K adds a 2nd stage)",
    )


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
    "lr_decay",
    "time_budget",
    "tta",
    "strategy",
    "fine_tune",
    "fine_tune_lr",
    "fine_tune_epochs",
    "teacher",
    "distill_temperature",
    "distill_alpha",
    "distill_targets",
    "init",
    "freeze_backbone",
)


def _run_config(args: argparse.Namespace) -> Any:
    """(config, run folder name) from the flags, through the library's one resolver."""
    from litelab.jobs import run_config

    training = {k: getattr(args, k) for k in (*TRAINING_FLAGS, "augment", "weights", "alpha")}
    training["model_options"] = dict(args.model_options or [])
    return run_config(
        training,
        data_values(args),
        config_file=args.config,
        runs_dir=args.runs_dir,
        recipe=args.recipe,
        out=args.out,
    )


def cmd_run(args: argparse.Namespace) -> int:
    from litelab.jobs import run

    if args.export:  # an unknown board fails now, not after the training
        from litelab.export.boards import get_target

        get_target(args.target, None, None)
    if args.resume:
        given = [
            f for f in ("source", "model", "recipe", "epochs", "config") if getattr(args, f, None)
        ]
        if given:
            raise LitelabError(f"--resume uses the run's own config; drop --{given[0]}")
        if args.out:
            raise LitelabError("--resume continues its own folder; drop --out")
        config, run_name = None, None
    else:
        config, run_name = _run_config(args)
    strategy = (config.training.strategy if config else None) or ""
    if getattr(args, "workers", None) and strategy != "multiworker":
        raise LitelabError("--workers is for --strategy multiworker")
    if strategy == "multiworker":
        from litelab.multiworker import configure

        configure(args.workers, args.worker_index)
    try:
        result = run(
            config,
            resume=args.resume,
            run_name=run_name,
            evaluate=args.evaluate,
            progress=not args.quiet,
            verbose=0 if args.quiet else "auto",
        )
    except KeyboardInterrupt:
        return interrupted("epochs", "train --resume <run folder>")
    m = result.metrics
    if result.run_dir is None:  # a non-chief worker of a cluster
        print(
            f"worker {m['worker']} of {m['workers']}: trained {m['epochs_run']} epochs; "
            "the chief (worker 0) wrote the run folder"
        )
        return 0
    print(f"run folder: {result.run_dir}")
    _print_run(m, result.run_dir)
    return _export_and_deploy(result.run_dir, args) if args.export else 0


def _export_and_deploy(run_dir: Any, args: argparse.Namespace) -> int:
    """`litelab export RUN` then `litelab deploy RUN --target T`, through their own parsers."""
    from litelab.cli import board, export

    parser = Parser(prog=PROG)
    sub = parser.add_subparsers(dest="command", parser_class=Parser)
    export.add_parsers(sub)
    board.add_parsers(sub)
    quiet = ["--quiet"] if args.quiet else []
    code = export.cmd_export(parser.parse_args(["export", str(run_dir), *quiet]))
    if code:
        return code
    return board.cmd_deploy(parser.parse_args(["deploy", str(run_dir), "--target", args.target]))


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
    from litelab.jobs import evaluate_model
    from litelab.runs import Run, new_run_dir

    cfg = resolve_config(None, data_values(args), None).data
    if args.out:
        out = Path(args.out)
        if out.exists() and any(out.iterdir()) and not Run(out).metrics_path.is_file():
            raise LitelabError(
                f"--out {out} is a non-empty folder that is not an evaluation; choose another"
            )
    else:  # a fresh folder every time, like runs: an earlier evaluation is never replaced
        out = new_run_dir(
            args.runs_dir or "evals", f"eval-{Path(args.model.replace(':', '-')).stem}"
        )
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
    from litelab.jobs import predict_files

    results = predict_files(
        args.model, args.images, top=args.top, input_scale=args.input_scale, labels_file=args.labels
    )
    return print_top(results, args.json)


def cmd_imagenet(args: argparse.Namespace) -> int:
    from litelab.imagenet import classify

    results = classify(
        args.images,
        backbone_name=args.backbone,
        **pick(args, "alpha", "weights", "class_index", "top"),
    )
    return print_top(results, args.json, width=24)


COMMANDS = {
    "run": cmd_run,
    "train": cmd_run,
    "evaluate": cmd_evaluate,
    "predict": cmd_predict,
    "imagenet": cmd_imagenet,
}
