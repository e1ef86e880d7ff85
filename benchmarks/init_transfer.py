"""Does ``--init`` pay? Transfer to held-out classes, against training from scratch.

The offline stand-in for the course's ImageNet transfer (whose weights cannot be
downloaded here), on the CIFAR-10 (JPEG copy):

1. a backbone (``mcunet``, the ``mcu`` recipe) is trained on 5 classes (airplane,
   automobile, bird, cat, deer; ``--backbone-per-class`` images each), as a run folder;
2. for the other 5 classes (dog, frog, horse, ship, truck), with 50 and with 200 training
   images per class, the same architecture is trained three ways on the same images with
   the same recipe (batch 64, learning rate 0.05, one-cycle, flip + translate, label
   smoothing 0.2, ``--epochs-50`` / ``--epochs-200`` epochs, seed 42):
   - ``scratch``: random initialisation;
   - ``init``: ``--init <backbone run>``, the whole network trained;
   - ``init-frozen``: ``--init <backbone run> --freeze-backbone``, the new class layer only;
3. each is tested on all 5,000 test images of the 5 held-out classes.

CPU budget: the image passes are counted and reported (``image_passes``) with the wall
time; the defaults are about 170,000 passes, a few minutes on an idle 2-core machine.

    python benchmarks/init_transfer.py --data ../shared/datasets/cifar10-jpeg.tar.gz
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]
SOURCE_CLASSES = (0, 1, 2, 3, 4)
TARGET_CLASSES = (5, 6, 7, 8, 9)
TRANSFER = {
    "batch_size": 64,
    "learning_rate": 0.05,
}


def subset(data, classes, per_class: int | None, seed: int):
    """The images of ``classes`` (relabelled 0..k-1): ``per_class`` training images of each
    (seeded choice; None: all) and every test image of them."""
    import numpy as np

    from litelab.data import Dataset

    rng = np.random.default_rng(seed)
    train_idx = []
    for c in classes:
        idx = np.flatnonzero(data.y_train == c)
        train_idx += list(rng.choice(idx, per_class, replace=False) if per_class else idx)
    train_idx = np.sort(np.array(train_idx))
    test_idx = np.flatnonzero(np.isin(data.y_test, classes))
    remap = {c: i for i, c in enumerate(classes)}

    def relabel(y):
        return np.array([remap[int(v)] for v in y], dtype=np.int64)

    empty = data.x_train[:0]
    return Dataset(
        data.x_train[train_idx],
        relabel(data.y_train[train_idx]),
        empty,
        data.y_train[:0],
        data.x_test[test_idx],
        relabel(data.y_test[test_idx]),
        [data.classes[c] for c in classes],
        f"{data.source}, classes {', '.join(data.classes[c] for c in classes)}",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared/datasets/cifar10-jpeg.tar.gz"))
    parser.add_argument("--model", default="mcunet")
    parser.add_argument("--backbone-per-class", type=int, default=2000)
    parser.add_argument("--backbone-epochs", type=int, default=8)
    parser.add_argument("--epochs-50", type=int, default=40)
    parser.add_argument("--epochs-200", type=int, default=20)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--out", default=str(ROOT / "benchmarks" / "results" / "init_transfer.json")
    )
    args = parser.parse_args()

    import keras

    from litelab.config import resolve_config
    from litelab.data import load_dataset
    from litelab.inference import predict_probs
    from litelab.jobs import run
    from litelab.runs import versions
    from litelab.train import train
    from litelab.zoo.publish import cpu_name

    full = load_dataset(
        resolve_config(None, {"source": args.data, "val_split": 0.0}, None).data,
        seed=args.seed,
        progress=False,
    )

    def accuracy(model, data) -> float:
        return round(float((predict_probs(model, data.x_test).argmax(1) == data.y_test).mean()), 4)

    started = time.perf_counter()
    passes = 0
    with tempfile.TemporaryDirectory() as tmp:
        source = subset(full, SOURCE_CLASSES, args.backbone_per_class, args.seed)
        cfg = resolve_config(
            None,
            {"source": "subset", "val_split": 0.0},
            {"model": args.model, "epochs": args.backbone_epochs, "seed": args.seed},
            tmp,
            recipe="mcu",
        )
        t0 = time.perf_counter()
        backbone = run(cfg, data=source, evaluate=False, progress=False, verbose=0)
        passes += len(source.x_train) * args.backbone_epochs
        backbone_info = {
            "classes": source.classes,
            "train_images": len(source.x_train),
            "epochs": args.backbone_epochs,
            "test_accuracy_on_its_classes": accuracy(backbone.model, source),
            "seconds": round(time.perf_counter() - t0, 1),
        }
        print("backbone", backbone_info, file=sys.stderr, flush=True)
        rows = []
        for per_class, epochs in ((50, args.epochs_50), (200, args.epochs_200)):
            target = subset(full, TARGET_CLASSES, per_class, args.seed)
            for name, extra in (
                ("scratch", {}),
                ("init", {"init": str(backbone.run_dir)}),
                ("init-frozen", {"init": str(backbone.run_dir), "freeze_backbone": True}),
            ):
                keras.backend.clear_session()
                training = {"model": args.model, "epochs": epochs, "seed": args.seed}
                training |= TRANSFER | extra
                cfg = resolve_config(
                    None, {"source": "subset", "val_split": 0.0}, training, tmp, recipe="mcu"
                )
                t0 = time.perf_counter()
                result = train(cfg.training, target, Path(tmp) / f"{name}-{per_class}", verbose=0)
                passes += len(target.x_train) * epochs
                row = {
                    "images_per_class": per_class,
                    "start": name,
                    "epochs": epochs,
                    "test_accuracy": accuracy(result.model, target),
                    "num_test": len(target.x_test),
                    "seconds": round(time.perf_counter() - t0, 1),
                }
                rows.append(row)
                print(row, file=sys.stderr, flush=True)
    out = {
        "question": "--init from a backbone trained on other classes vs the same architecture "
        "from scratch, on few images of held-out classes",
        "data": full.source,
        "model": args.model,
        "backbone": backbone_info,
        "target_classes": [full.classes[c] for c in TARGET_CLASSES],
        "transfer_recipe": {"recipe": "mcu", **TRANSFER, "seed": args.seed},
        "results": rows,
        "image_passes": passes,
        "wall_seconds": round(time.perf_counter() - started, 1),
        "cpu": cpu_name(),
        "note": "shared 2-core machine (other engineers' jobs running): wall seconds are "
        "inflated; accuracies do not depend on the load",
        "versions": versions(),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
