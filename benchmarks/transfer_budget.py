"""Issue 6: what the transfer models need on a board, measured through TFLite Micro.

ImageNet weights cannot be downloaded on these machines, so the backbones carry random
weights (``--weights none``); the int8 flatbuffer size, the exact TFLM tensor arena and the
MACs do not depend on the weights' values. Each model is converted to full int8 with a
representative set from the data and checked against the ESP-EYE's budget by
``litelab deploy``. Writes benchmarks/results/transfer_budget.json:

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

    from litelab.export.deploy import deploy
    from litelab.models import build_model
    from litelab.models.transfer import backbone_of

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, opts in MODELS.items():
            name = label.split()[0]
            keras.utils.set_random_seed(0)
            model = build_model(name, weights="none", **opts)
            base = backbone_of(model)
            base.trainable = False  # counted as trained: the backbone frozen
            trainable = sum(int(w.numpy().size) for w in model.trainable_weights)
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
