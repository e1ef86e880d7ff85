"""Which tricks pay on a 2-core CPU: training images/s of fast-model variants.

Compute only (``train_on_batch`` on one resident batch of 256, so the input pipeline is out
of the picture), each variant timed in rounds that alternate with the others so that load
from other work hits all alike; the figure is the median of the rounds. Variants:

- ``fast_vgg`` at different channel widths (the 32x32 layer's width matters most);
- Keras' BatchNormalization vs litelab's fused BatchNorm vs no normalisation at all;
- XLA (``jit_compile=True``) on and off.

Writes benchmarks/results/fast_widths.json:

    python benchmarks/fast_widths.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]
BATCH = 256


def build(widths, norm: str):
    import keras
    from keras import layers

    from litelab.models.layers import BatchNorm

    inputs = keras.Input((32, 32, 3))
    x = inputs
    for i, filters in enumerate(widths):
        if i:
            x = layers.MaxPooling2D(2)(x)
        x = layers.Conv2D(filters, 3, padding="same", use_bias=norm == "none")(x)
        if norm == "keras":
            x = layers.BatchNormalization(momentum=0.9)(x)
        elif norm == "fused":
            x = BatchNorm(momentum=0.9)(x)
        x = layers.Activation("relu")(x)
    x = layers.GlobalMaxPooling2D()(x)
    return keras.Model(inputs, layers.Dense(10, activation="softmax")(x))


VARIANTS = {
    "32-64-128-256 keras-bn": ((32, 64, 128, 256), "keras", False),
    "32-64-128-256 fused-bn": ((32, 64, 128, 256), "fused", False),
    "32-64-128-256 no-norm": ((32, 64, 128, 256), "none", False),
    "32-64-128-256 keras-bn xla": ((32, 64, 128, 256), "keras", True),
    "16-64-128-256 keras-bn": ((16, 64, 128, 256), "keras", False),
    "16-64-128-256 fused-bn (fastnet)": ((16, 64, 128, 256), "fused", False),
    "16-48-128-256 fused-bn": ((16, 48, 128, 256), "fused", False),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=8, help="batches per timed round")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "fast_widths.json"))
    args = parser.parse_args()

    import keras
    import tensorflow as tf

    from litelab.export.inspect import inspect_keras
    from litelab.train import make_optimizer

    x = tf.random.uniform((BATCH, 32, 32, 3))
    y = tf.one_hot(tf.random.uniform((BATCH,), 0, 10, tf.int32), 10)
    models, times = {}, {}
    for name, (widths, norm, xla) in VARIANTS.items():
        keras.utils.set_random_seed(0)
        m = build(widths, norm)
        m.compile(
            optimizer=make_optimizer("nesterov", 0.05, 5e-4),
            loss=keras.losses.CategoricalCrossentropy(label_smoothing=0.2),
            jit_compile=xla,
        )
        m.train_on_batch(x, y)  # build and trace outside the timing
        models[name], times[name] = m, []
    for _ in range(args.rounds):
        for name, m in models.items():
            start = time.perf_counter()
            for _ in range(args.steps):
                m.train_on_batch(x, y)
            times[name].append(args.steps * BATCH / (time.perf_counter() - start))
    base = statistics.median(times["32-64-128-256 keras-bn"])
    rows = {}
    for name, m in models.items():
        med = statistics.median(times[name])
        rows[name] = {
            "images_per_second": round(med, 1),
            "ratio_vs_32_keras_bn": round(med / base, 3),
            "macs": inspect_keras(m)["macs"],
            "params": int(m.count_params()),
            "each_round": [round(t, 1) for t in times[name]],
        }
    result = {
        "benchmark": "fast_vgg variants: training images/s, batch 256, compute only",
        "rounds": args.rounds,
        "variants": rows,
        "machine": {
            "cpus": len(os.sched_getaffinity(0)),
            "platform": platform.platform(),
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
        },
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    for name, r in rows.items():
        print(f"{name:36s} {r['images_per_second']:8.1f} img/s  x{r['ratio_vs_32_keras_bn']}")


if __name__ == "__main__":
    main()
