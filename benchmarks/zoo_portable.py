"""Republish the shipped zoo's model.keras files as plain Keras files, and show that
accuracy through every file is unchanged.

For each entry: test accuracy (plain and mirror-averaged) of the current model.keras,
loaded by litelab, and of its int8 flatbuffer through LiteRT; then
:func:`litelab.zoo.publish.republish_portable`; then the new model.keras loaded by plain
``keras.models.load_model`` in a child Python whose import system refuses ``litelab``, on
the same test split (the whole CIFAR-10 (JPEG copy) test split by default), with the
largest probability difference against the old file. The int8 file must keep its bytes.

    .venv/bin/python benchmarks/zoo_portable.py --data ../shared/datasets/cifar10-jpeg.tar.gz
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from litelab.zoo.publish import cpu_name  # the CPU model every result records

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import sys
class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name == "litelab" or name.startswith("litelab."):
            raise ImportError("litelab is refused in this process")
sys.meta_path.insert(0, Refuse())
import json, numpy as np, keras
arrays = np.load(sys.argv[2])
x, y = arrays["x"].astype("float32") / 255.0, arrays["y"]
model = keras.models.load_model(sys.argv[1], compile=False)
model_layers = lambda m: json.loads(m.to_json())["config"]["layers"]
p = model.predict(x, batch_size=500, verbose=0)
m = model.predict(x[:, :, ::-1], batch_size=500, verbose=0)
np.save(sys.argv[3], p)
print(json.dumps({"accuracy": float((p.argmax(1) == y).mean()),
                  "accuracy_tta": float(((p + m).argmax(1) == y).mean()),
                  "classes": sorted({l["class_name"] for l in model_layers(model)})}))
"""


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    from litelab.config import DatasetConfig
    from litelab.data import load_dataset
    from litelab.export.litert import TFLiteModel
    from litelab.inference import load_model, predict_probs
    from litelab.runs import versions
    from litelab.zoo import entries
    from litelab.zoo.publish import republish_portable

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=str(ROOT.parent / "shared/datasets/cifar10-jpeg.tar.gz"))
    ap.add_argument("--test-limit", type=int, default=None)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "zoo_portable.json"))
    args = ap.parse_args()
    data = load_dataset(DatasetConfig(source=args.data, val_split=0.0, test_limit=args.test_limit))
    x, y = data.x_test, data.y_test
    result = {
        "data": f"CIFAR-10 (JPEG copy), {len(x)} test images",
        "cpu": cpu_name(),
        "cores": len(os.sched_getaffinity(0)),
        "versions": versions(),
        "entries": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        npz = Path(tmp) / "test.npz"
        np.savez(npz, x=x, y=y)
        for entry in entries():
            t0 = time.perf_counter()
            old_text = (entry.keras_path).read_bytes()
            model = load_model(entry.keras_path)
            p = predict_probs(model, x, batch_size=500)
            mirrored = predict_probs(model, x[:, :, ::-1], batch_size=500)
            int8 = TFLiteModel.from_file(entry.int8_path).predict_scores(x, batch_size=500)
            before = {
                "keras_bytes": len(old_text),
                "names_litelab_class": b"litelab>" in _zip_config(entry.keras_path),
                "accuracy": float((p.argmax(1) == y).mean()),
                "accuracy_tta": float(((p + mirrored).argmax(1) == y).mean()),
                "int8_litert_accuracy": float((int8.argmax(1) == y).mean()),
                "int8_sha256": sha256(entry.int8_path),
            }
            new = republish_portable(entry.name)
            out = Path(tmp) / f"{entry.name}.npy"
            child = subprocess.run(
                [sys.executable, "-c", CHILD, str(new.keras_path), str(npz), str(out)],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            if child.returncode != 0:
                raise SystemExit(f"{entry.name}: plain Keras failed: {child.stderr[-800:]}")
            plain = json.loads(child.stdout.strip().splitlines()[-1])
            after = {
                "keras_bytes": new.keras_path.stat().st_size,
                "names_litelab_class": b"litelab>" in _zip_config(new.keras_path),
                "accuracy": plain["accuracy"],
                "accuracy_tta": plain["accuracy_tta"],
                "layer_classes": plain["classes"],
                "max_abs_prob_diff_vs_before": float(np.abs(np.load(out) - p).max()),
                "int8_sha256": sha256(new.int8_path),
            }
            card = new.card["metrics"]
            result["entries"][entry.name] = {
                "card_test_accuracy": card["test_accuracy"],
                "card_test_accuracy_without_tta": card.get("test_accuracy_without_tta"),
                "card_int8_tflm_accuracy": card.get("int8_tflm_accuracy"),
                "before (litelab loads)": before,
                "after (plain keras, litelab refused)": after,
                "seconds": round(time.perf_counter() - t0, 1),
            }
            print(
                f"{entry.name}: accuracy {before['accuracy']:.4f} -> {after['accuracy']:.4f}, "
                f"tta {before['accuracy_tta']:.4f} -> {after['accuracy_tta']:.4f}, "
                f"max |dp| {after['max_abs_prob_diff_vs_before']:.2e}, int8 LiteRT "
                f"{before['int8_litert_accuracy']:.4f} (bytes kept: "
                f"{before['int8_sha256'] == after['int8_sha256']})"
            )
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


def _zip_config(path: Path) -> bytes:
    import zipfile

    with zipfile.ZipFile(path) as z:
        return z.read("config.json")


if __name__ == "__main__":
    main()
