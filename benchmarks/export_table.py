"""The export comparison table for two models on the full CIFAR-10 JPEG test split.

(a) litelab's ``baseline`` CNN trained 10 epochs by ``litelab run`` (or the run given with
    ``--run``), exported from its run folder (input scale 1);
(b) the MLPerf Tiny ResNet-8 anchor (``pretrainedResnet.h5``, raw 0..255 input: scale 255).

Each is exported to every format and measured through each format on the same 10,000 test
images (``--test-limit`` for a quick check). MLPerf's own int8 file is measured on the same
images too, next to ours. Writes benchmarks/results/export_table.json and the two
comparison CSVs beside it, and prints a summary (float-vs-int8 accuracy change, size ratio
float32/int8, host latency):

    python benchmarks/export_table.py [--run runs/<baseline run>] [--test-limit 300]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
DEFAULT_DATA = SHARED / "datasets" / "cifar10-jpeg.tar.gz"
ANCHOR_DIR = SHARED / "anchors" / "mlperf-tiny-ic"
RESULTS = ROOT / "benchmarks" / "results"
SEED = 42


def train_baseline(data_path: Path, runs_dir: Path, data) -> Path:
    """``litelab run --model baseline --epochs 10`` on the JPEG copy; returns the run folder."""
    from litelab.config import resolve_config
    from litelab.jobs import run

    cfg = resolve_config(
        None, {"source": str(data_path)}, {"model": "baseline", "epochs": 10}, str(runs_dir)
    )
    return run(cfg, data=data, progress=False, verbose=0).run_dir


def shipped_int8(data, test_x) -> dict:
    """MLPerf's own int8 file (pretrainedResnet_quant.tflite) on the same test images."""
    import numpy as np

    from litelab.export.litert import TFLiteModel

    path = ANCHOR_DIR / "pretrainedResnet_quant.tflite"
    if not path.is_file():
        return {}
    tfl = TFLiteModel.from_file(path)
    start = time.perf_counter()
    pred = tfl.predict_scores(test_x, 255.0, batch_size=32).argmax(axis=1)
    return {
        "file": str(path),
        **board_figures(path),
        "size_bytes": tfl.size,
        "test_accuracy": round(float(np.mean(pred == data.y_test)), 6),
        "latency_ms_median": round(tfl.latency_ms(test_x[0], 100, 255.0), 4),
        "batched_eval": tfl.can_batch(),
        "eval_seconds": round(time.perf_counter() - start, 2),
    }


def board_figures(tflite_path: Path) -> dict:
    """What a microcontroller pays for an int8 file: bytes, TFLM arena, MACs."""
    from litelab.export.inspect import inspect_tflite
    from litelab.export.tflm import measure_arena

    data = tflite_path.read_bytes()
    return {
        "int8_bytes": len(data),
        "tflm_arena_bytes": measure_arena(data, str(tflite_path)),
        "macs": inspect_tflite(data)["macs"],
    }


def headline(result) -> dict:
    """Float-vs-int8 accuracy change, float32/int8 size ratio and latencies of one export."""
    rows = {r["format"]: r for r in result.rows}
    f32, i8 = rows["tflite-float32"], rows["tflite-int8"]
    return {
        **board_figures(result.out_dir / "model_int8.tflite"),
        "keras_test_accuracy": result.summary["keras_reference"]["test_accuracy"],
        "float32_test_accuracy": f32["test_accuracy"],
        "int8_test_accuracy": i8["test_accuracy"],
        "int8_vs_float32_points": round((i8["test_accuracy"] - f32["test_accuracy"]) * 100, 2),
        "int8_vs_keras_points": i8["accuracy_change"],
        "int8_agreement_percent": i8["agreement"],
        "size_ratio_float32_over_int8": round(f32["size_bytes"] / i8["size_bytes"], 2),
        "latency_ms": {r["format"]: r["latency_ms_median"] for r in result.rows},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, help="a finished baseline run (else one is trained)")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--test-limit", type=int, help="stratified test subset (quick checks)")
    parser.add_argument("--representative", type=int, default=500)
    parser.add_argument("--work", type=Path, help="export folders go here (default: a temp dir)")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    from litelab.cli.common import quiet_tensorflow as _quiet_tensorflow
    from litelab.config import DatasetConfig
    from litelab.data import load_dataset
    from litelab.data.splits import limit_candidates
    from litelab.export.exporter import export_model
    from litelab.runs import versions

    _quiet_tensorflow()
    work = args.work or Path(tempfile.mkdtemp(prefix="litelab-export-table-"))
    start = time.perf_counter()
    # The full load is cached after its first decode; a limited one would decode again, so
    # the --test-limit subset is taken here, the same stratified subset litelab would take.
    data = load_dataset(DatasetConfig(source=str(args.data)), seed=SEED, progress=True)
    if args.test_limit is not None:
        keep = limit_candidates(data.y_test, args.test_limit, SEED, "test", str(args.data))
        data = dataclasses.replace(data, x_test=data.x_test[keep], y_test=data.y_test[keep])
    load_s = time.perf_counter() - start
    print(f"data: {len(data.x_train):,} train, {len(data.x_test):,} test, {data.source}")

    run_dir = args.run
    train_s = None
    if run_dir is None:
        start = time.perf_counter()
        run_dir = train_baseline(args.data, work / "runs", data)
        train_s = time.perf_counter() - start
        print(f"trained baseline in {train_s:.0f} s: {run_dir}")

    results: dict = {"models": {}}
    exports = {
        "baseline": dict(source=run_dir, input_scale=1.0, out_dir=work / "export-baseline"),
        "mlperf_resnet8": dict(
            source=ANCHOR_DIR / "pretrainedResnet.h5",
            input_scale=255.0,
            out_dir=work / "export-mlperf-resnet8",
        ),
    }
    args.results.mkdir(parents=True, exist_ok=True)
    for name, spec in exports.items():
        print(f"\n== {name}: {spec['source']}")
        start = time.perf_counter()
        result = export_model(
            spec["source"],
            data=data,
            input_scale=spec["input_scale"],
            out_dir=spec["out_dir"],
            representative=args.representative,
            seed=SEED,
        )
        seconds = time.perf_counter() - start
        print(result.table)
        shutil.copyfile(
            result.out_dir / "comparison.csv", args.results / f"export_table_{name}.csv"
        )
        entry = {
            "source": str(spec["source"]),
            "input_scale": spec["input_scale"],
            "export_folder": str(result.out_dir),
            "export_seconds": round(seconds, 1),
            "summary": headline(result),
            "rows": result.rows,
            "tflite": result.summary["tflite"],
            "timings": result.timings,
            "keras_reference": result.summary["keras_reference"],
        }
        if name == "mlperf_resnet8":
            entry["mlperf_shipped_int8"] = shipped_int8(data, data.x_test)
        results["models"][name] = entry

    results.update(
        {
            "data_source": data.source,
            "num_test": len(data.x_test),
            "test_limit": args.test_limit,
            "representative": args.representative,
            "baseline_run": str(run_dir),
            "baseline_train_seconds": None if train_s is None else round(train_s, 1),
            "data_load_seconds": round(load_s, 1),
            "versions": versions(),
        }
    )
    out = args.results / "export_table.json"
    out.write_text(json.dumps(results, indent=2) + "\n")

    print(f"\n== summary ({len(data.x_test):,} test images, {data.source})")
    for name, entry in results["models"].items():
        h = entry["summary"]
        lat = h["latency_ms"]
        print(
            f"{name}: keras {h['keras_test_accuracy']:.4f}, float32 "
            f"{h['float32_test_accuracy']:.4f}, int8 {h['int8_test_accuracy']:.4f} "
            f"({h['int8_vs_float32_points']:+.2f} pts vs float32, agreement "
            f"{h['int8_agreement_percent']:.2f}%), size float32/int8 "
            f"{h['size_ratio_float32_over_int8']:.2f}x, latency ms keras "
            f"{lat.get('keras', float('nan')):.3f} / float32 {lat['tflite-float32']:.3f} "
            f"/ int8 {lat['tflite-int8']:.3f}; int8 {h['int8_bytes']:,} B, TFLM arena "
            f"{h['tflm_arena_bytes']:,} B, {h['macs']:,} MACs"
        )
        shipped = entry.get("mlperf_shipped_int8")
        if shipped:
            print(
                f"  MLPerf's own int8 file: {shipped['test_accuracy']:.4f}, "
                f"{shipped['size_bytes']:,} B, {shipped['latency_ms_median']:.3f} ms, TFLM arena "
                f"{shipped['tflm_arena_bytes']:,} B, {shipped['macs']:,} MACs"
            )
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
