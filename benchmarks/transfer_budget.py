"""Issue 6: what the transfer models need on a board, measured through TFLite Micro.

ImageNet weights cannot be downloaded on these machines, so the backbones carry random
weights (``--weights none``), frozen, under a head trained for one epoch on 512 images; the
int8 flatbuffer size, the exact TFLM tensor arena and the MACs do not depend on the values.
Each model is converted to full int8 with a representative set from the data and checked
against the ESP-EYE's budget by ``litelab deploy``. Writes benchmarks/results/transfer_budget.json:

    python benchmarks/transfer_budget.py --data ../shared/datasets/cifar10-jpeg.tar.gz
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from seed_baseline import machine  # noqa: E402

MODELS = {
    "vgg16-transfer": {},
    "mobilenetv2-transfer alpha 0.35": {"alpha": 0.35},
    "mobilenetv2-transfer alpha 0.5": {"alpha": 0.5},
    "mobilenetv2-transfer alpha 1.0": {"alpha": 1.0},
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--target", default="esp-eye")
    ap.add_argument("--check-images", type=int, default=20)
    ap.add_argument("--out", default="benchmarks/results/transfer_budget.json")
    args = ap.parse_args()

    import keras

    from litelab.config import DatasetConfig
    from litelab.data import load_dataset
    from litelab.export.deploy import deploy
    from litelab.models import build_model
    from litelab.models.transfer import backbone_of

    data = load_dataset(DatasetConfig(source=args.data, train_limit=512), progress=False)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, opts in MODELS.items():
            name = label.split()[0]
            keras.utils.set_random_seed(0)
            model = build_model(name, weights="none", **opts)
            base = backbone_of(model)
            base.trainable = False  # as it trains with ImageNet weights: the backbone frozen
            trainable = sum(int(w.numpy().size) for w in model.trainable_weights)
            # One epoch of the head on a slice: an untrained head's logits are constant, and
            # TFLite Micro refuses such a SOFTMAX (litelab says so; its Prepare would abort).
            model.compile("adam", "sparse_categorical_crossentropy")
            model.fit(data.x_train / 255.0, data.y_train, epochs=1, batch_size=32, verbose=0)
            path = Path(tmp) / f"{name}-{opts.get('alpha', 1.0)}.keras"
            model.save(path)
            report = deploy(
                str(path),
                target=args.target,
                data={"source": args.data, "test_limit": max(args.check_images, 10)},
                check_images=args.check_images,
                out=str(Path(tmp) / "c"),
            )
            v = report["verdict"]
            row = {
                "model": label,
                "params": int(model.count_params()),
                "trainable_params_frozen": trainable,
                "int8_bytes": report["model_bytes"],
                "arena_bytes": report["arena_bytes"],
                "macs": report["macs"],
                "fits": v["fits"],
                "verdict": v["line"],
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    result = {
        "data": "CIFAR-10 (JPEG copy), representative and check images",
        "weights": "random (--weights none): ImageNet weights cannot be downloaded here",
        "target": args.target,
        "rows": rows,
        "machine": machine(),
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
