"""Deploy: take an int8 model to a board.

A run folder (its exported int8 model, else its Keras model converted to int8 with
500 training images of the run's data), a .tflite file, a ``zoo:`` name, or a Keras model
file (``data`` needed for the int8 conversion), resolved by
:func:`litelab.export.source.resolve_source`, is checked under TensorFlow Lite for
Microcontrollers, its exact arena measured, compared with LiteRT on test images, judged
against a target's memory, and written out as C sources for the board. The whole result is
kept beside the sources as ``deploy.json`` (the verdict `litelab serve` shows).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from litelab.errors import LitelabError
from litelab.export.source import Source, is_tflite, resolve_source

if TYPE_CHECKING:
    from litelab.runs import Run

REPORT_FILE = "deploy.json"
__all__ = ["REPORT_FILE", "DeployOptions", "deploy", "format_deploy", "inspect_path", "is_tflite"]


@dataclasses.dataclass(frozen=True)
class DeployOptions:
    """Everything deploy can be told; the CLI flags of ``litelab deploy`` map one to one.

    ``data`` holds :class:`~litelab.config.DatasetConfig` fields (``source``, ``test_limit``,
    ...) that override a run's own data, or name the data for a model file.
    """

    model_source: str
    target: str | None = None
    ram: str | int | None = None
    flash: str | int | None = None
    out: str | None = None
    data: dict[str, Any] = dataclasses.field(default_factory=dict)
    check_images: int = 100
    input_scale: float | None = None
    labels: str | None = None
    seed: int = 42
    verify: str = "none"  # "host" / "qemu": build and run the program (litelab.firmware)
    images: int = 50  # test images for --verify
    tflm: str | None = None  # TFLM source tree or archives folder (else $LITELAB_TFLM_DIR...)
    quiet: bool = True  # no progress lines from the --verify builds
    flip_tta: bool = False  # the program classifies each frame and its mirror image, averaged


def inspect_path(path: str | Path) -> dict[str, Any]:
    """Inspect any model file litelab reads."""
    from litelab.export.inspect import inspect_keras, inspect_tflite
    from litelab.zoo import resolve

    path = Path(resolve(path))
    if not path.exists():
        raise LitelabError(f"model not found: {path}")
    if is_tflite(path):
        return inspect_tflite(path)
    from litelab.inference import load_model

    info = inspect_keras(load_model(path))
    info["path"] = str(path)
    return info


@dataclasses.dataclass
class _Int8Model:
    """What deploy works on: the int8 model bytes and the source they came from."""

    data: bytes
    source: Source
    converted: bool = False
    input_scale: float | None = None

    @property
    def label(self) -> str:  # for messages
        return str(self.source.path)


def _data_config(opts: DeployOptions, run: Run | None):
    from litelab.config import resolve_config

    values = dict(opts.data)
    if run is not None:
        cfg = run.data_config
        given = {k: v for k, v in values.items() if v is not None}
        return dataclasses.replace(cfg, **given) if given else cfg
    if values.get("source") is None:
        return None
    return resolve_config(None, values, None).data


def _load_images(cfg, n_train: int, n_test: int, seed: int):
    """Up to ``n_train`` training and ``n_test`` test images (a stratified limited load)."""
    from litelab.data import load_dataset

    def cap(limit: int | None, n: int) -> int:
        return n if limit is None else min(limit, n)

    limits = {
        "train_limit": cap(cfg.train_limit, max(n_train, 10)),
        "test_limit": cap(cfg.test_limit, max(n_test, 1)),
    }
    for _ in range(3):  # a source smaller than a limit: drop that limit and load it all
        try:
            return load_dataset(
                dataclasses.replace(cfg, val_split=0.0, **limits), seed=seed, progress=False
            )
        except LitelabError as exc:
            key = next((k for k in limits if f"--{k.replace('_', '-')} " in str(exc)), None)
            if key is None or limits[key] == getattr(cfg, key):
                raise
            limits[key] = getattr(cfg, key)
    raise LitelabError(f"cannot load {cfg.source}")


def _int8_model(src: Source, opts: DeployOptions, dataset_fn) -> _Int8Model:
    """The source's int8 flatbuffer: read as it is, or converted from a Keras model."""
    from litelab.export.convert import convert, representative_images
    from litelab.export.litert import read_tflite
    from litelab.inference import load_model
    from litelab.runs import REPRESENTATIVE

    if is_tflite(src.path):
        return _Int8Model(read_tflite(src.path), src)
    ds = dataset_fn()
    if ds is None:
        raise LitelabError(
            f"converting {src.path} to int8 needs representative images: pass --data"
        )
    scale = 1.0 if opts.input_scale is None else opts.input_scale
    model = load_model(src.path)
    rep = representative_images(ds.x_train, REPRESENTATIVE, seed=opts.seed)
    data = convert(model, "int8", representative=rep, input_scale=scale, int8_io=True)
    return _Int8Model(data, src, converted=True, input_scale=scale)


def _auto_input_scale(inp: dict[str, Any]) -> tuple[float, str]:
    """255 when a quantized input covers 0..255 (raw pixels, like MLPerf's ResNet-8), else 1."""
    if inp["scale"] and np.dtype(inp["dtype"]).kind in "iu":
        info = np.iinfo(np.dtype(inp["dtype"]))
        top = (info.max - inp["zero_point"]) * inp["scale"]
        if 200.0 <= top <= 320.0:
            return 255.0, f"the input tensor covers 0..{top:.0f}: raw pixels"
        return 1.0, f"the input tensor covers 0..{top:.3g}"
    return 1.0, "litelab's default"


def _labels(opts: DeployOptions, src: Source, ds, num_outputs: int) -> list[str]:
    """--labels, else the source's labels file, else the data's classes, else defaults."""
    if not opts.labels and src.labels_file is None and ds is not None:
        if len(ds.classes) == num_outputs:
            return list(ds.classes)
    return src.class_names(num_outputs, opts.labels)


def deploy(source: str | Path | None, **options: Any) -> dict[str, Any]:
    """The whole deploy job; returns everything it found and where the sources went.

    ``options`` are the fields of :class:`DeployOptions`, e.g.
    ``deploy("runs/x", target="esp-eye", data={"source": "cifar10-jpeg.tar.gz"})``.
    """
    from litelab.export import csource
    from litelab.export.boards import get_target, verdict, verdict_markdown
    from litelab.export.inspect import inspect_tflite
    from litelab.export.tflm import check_tflm
    from litelab.runs import REPRESENTATIVE

    if source is None:  # no model: name the best shipped one that fits (export/suggest.py)
        from litelab.export.suggest import no_model_error

        raise no_model_error(options.get("target"), options.get("ram"), options.get("flash"))
    opts = DeployOptions(model_source=str(source), **options)
    target = get_target(opts.target, opts.ram, opts.flash)  # bad target: fail before work
    if opts.check_images < 0:
        raise LitelabError(f"--check-images must be 0 or more, got {opts.check_images}")
    if opts.verify != "none":
        from litelab.firmware.verify import check_mode

        check_mode(opts.verify, target.name, opts.images)
    n_test = max(opts.check_images, opts.images if opts.verify != "none" else 0)
    src = resolve_source(opts.model_source, purpose="deploy")
    cfg = _data_config(opts, src.run)
    if opts.verify != "none" and cfg is None:
        raise LitelabError(f"--verify {opts.verify} runs the program on test images: pass --data")
    cache: dict[str, Any] = {}

    def dataset():
        if cfg is None:
            return None
        if "ds" not in cache:
            cache["ds"] = _load_images(cfg, REPRESENTATIVE, n_test, opts.seed)
        return cache["ds"]

    source = _int8_model(src, opts, dataset)
    info = inspect_tflite(source.data, source.label)
    inp = info["inputs"][0]
    if opts.input_scale is not None:
        scale, why = opts.input_scale, "--input-scale"
    elif source.input_scale is not None or src.kind == "run":
        scale, why = source.input_scale or 1.0, "litelab models take pixels / 255"
    else:
        scale, why = _auto_input_scale(inp)

    ds = dataset() if opts.check_images > 0 else None
    images = ds.x_test[: opts.check_images] if ds is not None else None
    report = check_tflm(
        source.data, images=images, input_scale=scale, where=source.label, flip_tta=opts.flip_tta
    )
    accuracy = accuracy_tta = None
    if ds is not None and report.tflm_scores is not None:
        y = ds.y_test[: len(report.tflm_scores)]
        accuracy = float(np.mean(report.tflm_scores.argmax(1) == y))
        if report.tflm_tta_scores is not None:
            accuracy_tta = float(np.mean(report.tflm_tta_scores.argmax(1) == y))
    v = verdict(
        len(source.data),
        report.arena_bytes,
        target,
        arena_allocated=report.arena_bytes + csource.arena_margin(report.arena_bytes),
        macs=info["macs"],
        op_types=[o["op"] for o in info["ops"]],
    )
    classes = _labels(opts, src, ds, int(np.prod(report.output["shape"][1:])))

    agreement = None
    if report.top1_agreement is not None:
        agreement = (
            f"top-1 agreement {100 * report.top1_agreement:.1f}% on {report.images_checked} "
            f"test images, output difference max {report.max_abs_diff:.4g}, "
            f"mean {report.mean_abs_diff:.2g}"
        )
    ops = [o["op"] for o in info["ops"]]
    files = csource.render_project(
        source.data,
        classes=classes,
        ops=ops,
        arena_bytes=report.arena_bytes,
        input_shape=inp["shape"],
        input_scale=scale,
        target=target,
        facts={
            "quantization": info["quantization"],
            "macs": info["macs"],
            "verdict_line": v["line"],
            "verdict_details": verdict_markdown(v),
            "agreement_line": agreement,
            "input_line": _input_line(inp, scale),
            "flip_tta_line": _flip_tta_line(accuracy, accuracy_tta, report.images_checked)
            if opts.flip_tta
            else None,
        },
        source=Path(source.label).name,
        flip_tta=opts.flip_tta,
    )
    if opts.out:
        out = Path(opts.out)
    elif src.run is not None:
        out = src.run.deploy_dir / target.name
    else:
        out = Path("deploy") / target.name
    result = {
        "source": source.label,
        "converted": source.converted,
        "target": dataclasses.asdict(target),
        "model_bytes": len(source.data),
        "quantization": info["quantization"],
        "input": inp,
        "output": info["outputs"][0],
        "input_scale": scale,
        "input_scale_reason": why,
        "macs": info["macs"],
        "ops": report.ops,
        "arena_bytes": report.arena_bytes,
        "arena_allocated": report.arena_bytes + csource.arena_margin(report.arena_bytes),
        "images_checked": report.images_checked,
        "top1_agreement": report.top1_agreement,
        "max_abs_diff": report.max_abs_diff,
        "mean_abs_diff": report.mean_abs_diff,
        "tflm_accuracy": accuracy,
        "flip_tta": opts.flip_tta,
        "tflm_accuracy_flip_tta": accuracy_tta,
        "data_source": ds.source if ds is not None else None,
        "notes": report.notes,
        "verdict": v,
        "out": str(out),
        "fnv1a": f"{csource.fnv1a32(source.data):08x}",
    }
    if opts.verify != "none":  # the generated program itself, built and run (firmware/)
        from litelab.firmware.verify import verify_deploy

        test = dataset()
        result["firmware"] = verify_deploy(
            opts.verify,
            source.data,
            files,
            test.x_test[: opts.images] if test is not None else np.zeros((0,)),
            target=target,
            io=report.input,
            input_scale=scale,
            arena=report.arena_bytes,
            flip_tta=opts.flip_tta,
            tflm=opts.tflm,
            progress=None if opts.quiet else _progress,
        )
    # The whole result beside the sources: `litelab serve` shows the verdict from it.
    files[REPORT_FILE] = json.dumps(result, indent=2, default=_plain) + "\n"
    csource.write_project(out, files)
    result["files"] = sorted(files) + [csource.MANIFEST]
    return result


def _progress(line: str) -> None:
    import sys

    print(line, file=sys.stderr, flush=True)


def _plain(value: Any) -> Any:
    """numpy scalars and arrays in the deploy result, as JSON values."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


def _flip_tta_line(plain: float | None, tta: float | None, images: int) -> str:
    line = "on: each frame and its mirror image, scores averaged (2 inferences a frame)"
    if plain is not None and tta is not None:
        line += (
            f"; TFLM top-1 accuracy {100 * tta:.1f}% with it, {100 * plain:.1f}% without, "
            f"on {images} test images"
        )
    return line


def _input_line(i: dict[str, Any], input_scale: float) -> str:
    quant = f" scale {i['scale']:g} zero point {i['zero_point']}" if i["scale"] else ""
    return f"{i['dtype']} {i['shape']}{quant}; pixels fed as value / 255 * {input_scale:g}"


def format_deploy(r: dict[str, Any]) -> str:
    """The deploy result as a few readable lines."""
    lines = [
        f"model: {r['source']}{' (converted to int8)' if r['converted'] else ''}: "
        f"{r['model_bytes']:,} bytes, {r['quantization']}, {r['macs']:,} MACs per inference",
    ]
    ops = ", ".join(f"{o['op']} x{o['count']}" if o["count"] > 1 else o["op"] for o in r["ops"])
    lines.append(f"ops ({len(r['ops'])}, all supported by TFLite Micro): {ops}")
    lines.append(f"input: {_input_line(r['input'], r['input_scale'])} ({r['input_scale_reason']})")
    lines.append(
        f"tensor arena: {r['arena_bytes']:,} bytes (exact, TFLite Micro); the board program "
        f"allocates {r['arena_allocated']:,}"
    )
    if r["top1_agreement"] is not None:
        acc = ""
        if r["tflm_accuracy"] is not None:
            acc = f"; TFLM top-1 accuracy {100 * r['tflm_accuracy']:.1f}%"
            if r.get("tflm_accuracy_flip_tta") is not None:
                acc += f", {100 * r['tflm_accuracy_flip_tta']:.1f}% with flip TTA"
        lines.append(
            f"TFLM vs LiteRT on {r['images_checked']} test images: top-1 agreement "
            f"{100 * r['top1_agreement']:.1f}%, output difference max {r['max_abs_diff']:.4g} "
            f"mean {r['mean_abs_diff']:.2g}{acc}"
        )
    else:
        lines.append("TFLM vs LiteRT: not compared (pass --data to check on test images)")
    for note in r["notes"]:
        lines.append(f"note: {note}")
    lines.append(f"verdict: {r['verdict']['line']}")
    if r["verdict"].get("latency"):
        lines.append(r["verdict"]["latency"]["line"])
    if r.get("flip_tta"):
        lines.append(
            "flip TTA: the program classifies each frame and its mirror image and averages "
            "them: 2 inferences a frame (twice the latency of one), the same arena"
        )
    if r.get("firmware"):
        lines.append(f"verify: {r['firmware']['line']}")
        if r["firmware"].get("esp_nn", {}).get("line"):
            lines.append(f"verify: {r['firmware']['esp_nn']['line']}")
    lines.append(f"C sources: {r['out']}/ (README.md has the build steps)")
    return "\n".join(lines) + "\n"
