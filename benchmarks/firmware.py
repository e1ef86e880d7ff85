"""Issue 15: the generated board program, built and run for real (host, QEMU Cortex-M4/M55).

For each model (zoo:mcu, zoo:fast, the baseline, the MLPerf Tiny ResNet-8 int8 anchor):

- `litelab deploy MODEL --target esp-eye --verify host --images 200`: the program compiled for
  this PC with TFLM's reference kernels, bit-exactness with TFLM's Python interpreter,
  agreement with LiteRT, arena_used_bytes, the ESP-NN host build against it; plus the ESP-EYE
  tier and the ESP32 latency estimate from the verdict (litelab.export.boards);
- `litelab deploy MODEL --target cortex-m4|cortex-m55 --verify qemu --images 50`: the program
  with CMSIS-NN under QEMU: same class / bytes as the host build, flash and RAM of the ELF,
  instructions per inference and the estimated milliseconds.

Build times: the first build of each (model, target) and, for the first model, a second one
from the cache. Writes benchmarks/results/firmware.json:

    python benchmarks/firmware.py --data ../shared/datasets/cifar10-jpeg.tar.gz \
        --tflm ../shared/toolchains/tflm [--baseline-run runs/<baseline run>]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from seed_baseline import machine  # noqa: E402

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared"
ANCHOR = SHARED / "anchors" / "mlperf-tiny-ic" / "pretrainedResnet_quant.tflite"


def _baseline_run(data: str, out: Path) -> Path:
    """The course's baseline CNN, trained for 2 epochs on a 10,000-image slice."""
    from litelab.config import resolve_config
    from litelab.jobs import run

    cfg = resolve_config(
        None,
        {"source": data, "train_limit": 10_000, "test_limit": 1000},
        {"model": "baseline", "epochs": 2},
        str(out),
    )
    return run(cfg, run_name="baseline", progress=False, verbose=0).run_dir


def _host_row(r: dict) -> dict:
    fw = r["firmware"]
    esp = fw.get("esp_nn", {})
    v = r["verdict"]
    latency = v.get("latency") or {}
    return {
        "images": fw["images"],
        "bit_exact_with_tflm_python": fw["bit_exact_with_tflm_python"],
        "inputs_identical": fw["inputs_identical"],
        "same_class_as_litert": fw["same_class_as_litert"],
        "arena_used_bytes": fw["arena_used_bytes"],
        "arena_measured_by_python_tflm": r["arena_bytes"],
        "esp_nn_host": esp,
        "esp_eye_tier": v.get("tier"),
        "esp_eye_verdict": v.get("line"),
        "esp32_estimate": latency,
        "build_seconds": fw["build_seconds"],
        "line": fw["line"],
    }


def _qemu_row(r: dict) -> dict:
    fw = r["firmware"]
    return {
        "images": fw["images"],
        "same_class_as_host": fw["same_class_as_host"],
        "same_bytes_as_host": fw["same_bytes_as_host"],
        "memory": fw["memory"],
        "stack_used_bytes": fw["stack_used_bytes"],
        "arena_used_bytes": fw["arena_used_bytes"],
        "instructions_per_inference": fw["instructions_per_inference"],
        "estimated_ms": fw["estimated_ms"],
        "estimate_basis": fw["estimate_basis"],
        "build_seconds": fw["build_seconds"],
        "run_seconds": fw["run_seconds"],
        "line": fw["line"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--tflm", default=str(SHARED / "toolchains" / "tflm"))
    ap.add_argument("--baseline-run", help="a trained baseline run (default: train one)")
    ap.add_argument("--host-images", type=int, default=200)
    ap.add_argument("--qemu-images", type=int, default=50)
    ap.add_argument("--models", default="zoo:mcu,zoo:fast,baseline,mlperf-resnet8")
    ap.add_argument("--cache", help="LITELAB_CACHE_DIR for the builds (default: a fresh one)")
    ap.add_argument("--out", default=str(HERE / "results" / "firmware.json"))
    args = ap.parse_args()

    from litelab.export.deploy import deploy
    from litelab.firmware.verify import MLPERF_RESNET8_MS
    from litelab.zoo.publish import cpu_name

    tmp = Path(tempfile.mkdtemp(prefix="fw-bench-"))
    os.environ["LITELAB_CACHE_DIR"] = args.cache or str(tmp / "cache")
    sources = {"zoo:mcu": "zoo:mcu", "zoo:fast": "zoo:fast", "mlperf-resnet8": str(ANCHOR)}
    wanted = args.models.split(",")
    if "baseline" in wanted:
        sources["baseline"] = args.baseline_run or str(_baseline_run(args.data, tmp / "runs"))
    rows, timings = [], []
    data = {"source": args.data, "train_limit": 500}
    for name in wanted:
        src = sources[name]
        row: dict = {"model": name, "source": src}
        for target, mode, n in (
            ("esp-eye", "host", args.host_images),
            ("cortex-m4", "qemu", args.qemu_images),
            ("cortex-m55", "qemu", args.qemu_images),
        ):
            for attempt in ("first", "again"):
                start = time.monotonic()
                r = deploy(
                    src,
                    target=target,
                    data=dict(data, test_limit=max(n, 100)),
                    check_images=n,
                    verify=mode,
                    images=n,
                    tflm=args.tflm,
                    out=str(tmp / "deploy" / name.replace(":", "-") / target / attempt),
                    quiet=False,
                )
                fw = r["firmware"]
                timings.append(
                    {
                        "model": name,
                        "target": target,
                        "attempt": attempt,
                        "build_seconds": fw["build_seconds"],
                        "deploy_seconds": round(time.monotonic() - start, 1),
                    }
                )
                print(f"{name} {target} {attempt}: {fw['line']}", flush=True)
                if attempt == "first" and name != wanted[0]:
                    break  # a second build (from the cache): timed once, on the first model
            row["model_bytes"], row["macs"] = r["model_bytes"], r["macs"]
            row["host" if mode == "host" else target] = (
                _host_row if mode == "host" else _qemu_row
            )(r)
        rows.append(row)
    result = {
        "benchmark": "firmware",
        "data": f"CIFAR-10 (JPEG copy): {args.data}",
        "cpu": cpu_name(),
        "machine": machine(),
        "tflm": "tensorflow/tflite-micro 90b983c2b3f1480642e040bbd2ddb37b998f3424 "
        "(CMSIS-NN 4ab83cc3, ESP-NN d45b843c, esp-tflite-micro 99f49e14)",
        "toolchains": _versions(),
        "instruction_counting": "qemu-system-arm -icount shift=0 (1 ns of virtual time per "
        "instruction), SysTick at the board's clock read by TFLM's GetCurrentTimeTicks()",
        "mlperf_tiny_resnet8_published": MLPERF_RESNET8_MS,
        "rows": rows,
        "timings": timings,
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    table = Path(args.out).with_suffix(".md")
    table.write_text("\n".join(readme_table(result)) + "\n")
    print(f"wrote {args.out} and {table}")


def readme_table(result: dict) -> list[str]:
    """The README's table: one row per model, host / ESP-EYE / QEMU figures side by side."""
    from litelab.files import markdown_table

    def est(fw: dict, mhz: int) -> str:
        ms = [e["ms"] for e in fw["estimated_ms"] if e["clock_mhz"] == mhz]
        return f"~{ms[0]:,.0f}" if ms else "-"

    rows = []
    for r in result["rows"]:
        h, m4, m55 = r["host"], r["cortex-m4"], r["cortex-m55"]
        esp = h.get("esp_nn_host") or {}
        lat = h.get("esp32_estimate") or {}
        rows.append(
            [
                r["model"],
                f"{r['model_bytes']:,}",
                f"{r['macs'] / 1e6:.2f} M",
                f"{h['bit_exact_with_tflm_python']}/{h['images']}",
                f"{h['same_class_as_litert']}/{h['images']}",
                f"{esp.get('bit_exact_with_reference', '-')}/{esp.get('images', '-')}",
                f"{h['arena_used_bytes']:,}",
                h["esp_eye_tier"],
                f"~{lat.get('ms_reference_kernels', 0):,.0f} / ~{lat.get('ms_esp_nn', 0):,.0f}",
                f"{m4['same_bytes_as_host']}/{m4['images']}",
                f"{m4['memory']['flash']:,} / {m4['memory']['ram']:,}",
                f"{m4['instructions_per_inference']['median'] / 1e6:.1f} M",
                est(m4, 120),
                f"{m55['same_bytes_as_host']}/{m55['images']}",
                f"{m55['instructions_per_inference']['median'] / 1e6:.1f} M",
                est(m55, 400),
            ]
        )
    header = [
        "model",
        "int8 B",
        "MACs",
        "host bit-exact",
        "same class as LiteRT",
        "ESP-NN host bit-exact",
        "arena used B",
        "ESP-EYE tier",
        "ESP32 est. ms (ref / ESP-NN)",
        "M4 same bytes",
        "M4 flash / RAM B",
        "M4 instr.",
        "M4 est. ms @120 MHz",
        "M55 same bytes",
        "M55 instr.",
        "M55 est. ms @400 MHz",
    ]
    return markdown_table(header, rows)


def _versions() -> dict:
    import subprocess

    out = {}
    for tool in ("g++", "arm-none-eabi-gcc", "qemu-system-arm"):
        try:
            text = subprocess.run([tool, "--version"], capture_output=True, text=True).stdout
            out[tool] = text.splitlines()[0]
        except (OSError, IndexError):
            out[tool] = None
    return out


if __name__ == "__main__":
    main()
