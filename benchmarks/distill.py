"""Distillation: the teacher on every augmented batch, or its soft targets cached once?

Both ways train the same student (``mcunet``, the ``mcu`` recipe: Nesterov one-cycle, label
smoothing 0.2, flip + translate) against the same teacher (``zoo:fast``) on a stratified
slice of the CIFAR-10 (JPEG copy), from the same seed, with the same loss
(:class:`litelab.distill.Distiller`, T = 4, alpha = 0.9):

- ``augmented`` (``--distill-targets augmented``): the teacher runs inside each training
  step on the batch the student sees, augmentation included;
- ``cached`` (``--distill-targets cached``): the teacher predicts the un-augmented training
  images once, before training; each step looks its soft targets up by image index (so a
  flipped or shifted image gets the soft targets of the original);
- ``student``: no teacher, the cost and accuracy floor.

All three go through :func:`litelab.train.train`, as ``litelab run`` does.

Each is trained ``--rounds`` times, alternating, so that load from other work on this
shared machine hits all alike. Epoch time excludes the checkpoint write and the first
(tracing) epoch; the cached variant's one teacher pass (timed here on its own, the same
``predict_probs`` call the library makes) is amortised over the epochs. Accuracy is on the
slice's test images.

    python benchmarks/distill.py --data ../shared/datasets/cifar10-jpeg.tar.gz
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared/datasets/cifar10-jpeg.tar.gz"))
    parser.add_argument("--teacher", default="zoo:fast")
    parser.add_argument("--student", default="mcunet")
    parser.add_argument("--train-limit", type=int, default=5000)
    parser.add_argument("--test-limit", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "distill.json"))
    args = parser.parse_args()

    import keras
    import numpy as np

    from litelab.config import resolve_config
    from litelab.data import load_dataset
    from litelab.inference import load_model, predict_probs
    from litelab.runs import versions
    from litelab.train import train
    from litelab.zoo.publish import cpu_name

    data_over = {
        "source": args.data,
        "val_split": 0.0,
        "train_limit": args.train_limit,
        "test_limit": args.test_limit,
    }
    base = {"model": args.student, "epochs": args.epochs, "seed": args.seed}
    cfg_student = resolve_config(None, data_over, base, recipe="mcu")
    data = load_dataset(cfg_student.data, seed=42, progress=False)
    with_teacher = {**base, "teacher": args.teacher}
    cfg_teacher = resolve_config(None, data_over, with_teacher, recipe="mcu").training

    def accuracy(model) -> float:
        return float((predict_probs(model, data.x_test).argmax(1) == data.y_test).mean())

    teacher_model = load_model(args.teacher)
    teacher_acc = accuracy(teacher_model)
    configs = {
        "student": cfg_student.training,
        "augmented": dataclasses.replace(cfg_teacher, distill_targets="augmented"),
        "cached": dataclasses.replace(cfg_teacher, distill_targets="cached"),
    }
    results: dict[str, list[dict]] = {name: [] for name in configs}
    for r in range(args.rounds):
        for name, cfg in configs.items():
            keras.backend.clear_session()
            teacher_seconds = 0.0
            if name == "cached":
                t0 = time.perf_counter()
                predict_probs(teacher_model, data.x_train)
                teacher_seconds = time.perf_counter() - t0
            start = time.perf_counter()
            with tempfile.TemporaryDirectory() as tmp:
                res = train(cfg, data, Path(tmp), verbose=0)
                model, epochs = res.model, res.history["epoch_seconds"]
            total = time.perf_counter() - start
            steady = statistics.median(epochs[1:]) if len(epochs) > 1 else epochs[0]
            row = {
                "round": r + 1,
                "epoch_seconds": [round(s, 3) for s in epochs],
                "steady_epoch_seconds": round(steady, 3),
                "images_per_second": round(len(data.x_train) / steady, 1),
                "teacher_pass_seconds": round(teacher_seconds, 3),
                "wall_seconds": round(total, 2),
                "test_accuracy": accuracy(model),
            }
            results[name].append(row)
            print(name, row, file=sys.stderr, flush=True)

    def summary(rows):
        epoch = statistics.median(r["steady_epoch_seconds"] for r in rows)
        teacher = statistics.median(r["teacher_pass_seconds"] for r in rows)
        return {
            "median_steady_epoch_seconds": round(epoch, 3),
            "median_images_per_second": round(len(data.x_train) / epoch, 1),
            "teacher_pass_seconds": round(teacher, 3),
            "seconds_per_epoch_amortised": round(epoch + teacher / args.epochs, 3),
            "mean_test_accuracy": round(float(np.mean([r["test_accuracy"] for r in rows])), 4),
        }

    summaries = {k: summary(v) for k, v in results.items()}
    ref = summaries["student"]["seconds_per_epoch_amortised"]
    for s in summaries.values():
        s["cost_vs_student"] = round(s["seconds_per_epoch_amortised"] / ref, 3)
    out = {
        "question": "teacher on each augmented batch (litelab) vs soft targets cached once",
        "data": data.source,
        "num_train": len(data.x_train),
        "num_test": len(data.x_test),
        "teacher": args.teacher,
        "teacher_test_accuracy": teacher_acc,
        "student": args.student,
        "recipe": "mcu",
        "epochs": args.epochs,
        "temperature": cfg_teacher.distill_temperature,
        "alpha": cfg_teacher.distill_alpha,
        "rounds": args.rounds,
        "seed": args.seed,
        "summary": summaries,
        "runs": results,
        "cpu": cpu_name(),
        "note": "shared 2-core machine (other engineers' jobs running): compare ratios "
        "within this run, not absolute seconds",
        "versions": versions(),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(summaries, indent=2))


if __name__ == "__main__":
    main()
