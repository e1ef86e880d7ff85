"""Export one trained model to every format a deployment may want, and compare them.

``export_model`` writes the Keras formats (``.keras``, legacy ``.h5``, SavedModel) and the
four TFLite variants (float32, dynamic-range, float16, full-integer int8), then measures each
one *through that format*: the Keras files are reloaded from disk and the TFLite files run in
LiteRT. Every row of the comparison says how big the file is, its test accuracy, how much
that moved against the in-memory Keras model (percentage points), how often it predicts the
same class as Keras, and its median batch-1 latency on this host.

The ``params`` column is the Keras model's parameter count on every row: TFLite has no
parameter API (its tensors mix weights, biases and quantization data), so the count of the
model the file was made from is the honest number.

Outputs, in the export folder: the model files, ``labels.txt``, ``comparison.csv``,
``comparison.json`` (with the data source, versions, each TFLite file's input/output dtype and
quantization, and the representative count) and ``comparison.png``.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import logging
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from litelab.config import DatasetConfig
from litelab.data import Dataset, load_dataset
from litelab.errors import LitelabError
from litelab.export.convert import convert, representative_images
from litelab.export.litert import TFLiteModel
from litelab.io import atomic_path, write_bytes, write_json, write_text

FORMATS = (
    "keras",
    "h5",
    "saved_model",
    "tflite-float32",
    "tflite-dynamic",
    "tflite-float16",
    "tflite-int8",
)
ALL_FORMATS = FORMATS
KERAS_FORMATS = ("keras", "h5", "saved_model")
FILES = {
    "keras": "model.keras",
    "h5": "model.h5",
    "saved_model": "saved_model",
    "tflite-float32": "model_float32.tflite",
    "tflite-dynamic": "model_dynamic.tflite",
    "tflite-float16": "model_float16.tflite",
    "tflite-int8": "model_int8.tflite",
}
REPORT_FILES = ("comparison.csv", "comparison.json", "comparison.png", "labels.txt")
CSV_COLUMNS = (
    "format",
    "file",
    "size_bytes",
    "size_kb",
    "params",
    "test_accuracy",
    "accuracy_change",
    "agreement",
    "latency_ms_median",
    "note",
)
PARAMS_NOTE = (
    "params is the Keras model's parameter count on every row: TFLite has no parameter API"
)
NOTES = {
    "keras": "Keras v3 archive",
    "h5": "legacy Keras HDF5",
    "saved_model": "TensorFlow SavedModel (for TF Serving / converters)",
    "tflite-float32": "float32 weights and math",
    "tflite-dynamic": "int8 weights, float math and I/O",
    "tflite-float16": "float16 weights, float32 math on a CPU",
    "tflite-int8": "full integer",
}
EVAL_BATCH = 32  # measured: 10-40% faster than one at a time; larger batches no better
LATENCY_REPEATS = 100


@dataclass
class ExportResult:
    """Where an export went, the comparison rows and the content of comparison.json."""

    out_dir: Path
    rows: list[dict[str, Any]]
    files: dict[str, Path]
    summary: dict[str, Any]
    table: str
    timings: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass(frozen=True)
class ExportSource:
    """A resolved ``export`` source: the model file and, for a run folder, the run."""

    model_path: Path
    run_dir: Path | None = None
    labels: list[str] | None = None
    name: str | None = None  # a zoo entry's name

    @property
    def default_out(self) -> Path:
        """``<run>/export`` for a run, else ``export-<model stem or zoo name>`` here."""
        if self.run_dir is not None:
            return self.run_dir / "export"
        return Path(f"export-{self.name or self.model_path.stem or self.model_path.name}")


def parse_formats(text: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """``"all"`` or a comma list of format names -> the formats, in the canonical order."""
    items = text.replace(",", " ").split() if isinstance(text, str) else list(text)
    names = {s.strip().lower() for s in items if s.strip()}
    if not names:
        raise LitelabError(f"--formats is empty; choose from all, {', '.join(FORMATS)}")
    if "all" in names:
        return FORMATS
    bad = sorted(names - set(FORMATS))
    if bad:
        raise LitelabError(f"unknown format {bad[0]!r}; choose from all, {', '.join(FORMATS)}")
    return tuple(f for f in FORMATS if f in names)


def resolve_source(source: str | Path) -> ExportSource:
    """A run folder (has config.toml) or a model file/SavedModel folder; else one-line error."""
    from litelab.runs import CONFIG_FILE, LABELS_FILE
    from litelab.zoo import PREFIX, is_zoo_ref, resolve

    def label_lines(labels_path: Path) -> list[str] | None:
        if not labels_path.is_file():
            return None
        text = labels_path.read_text(encoding="utf-8")
        return [s.strip() for s in text.splitlines() if s.strip()]

    if is_zoo_ref(source):  # the shipped model; files go to export-<name>, not the package
        path = Path(resolve(source))
        return ExportSource(
            path, None, label_lines(path.parent / LABELS_FILE), source[len(PREFIX) :]
        )
    path = Path(source)
    if not path.exists():
        raise LitelabError(f"export source not found: {path}")
    if path.is_dir() and (path / CONFIG_FILE).is_file():
        model = path / "model.keras"
        if not model.is_file():
            raise LitelabError(
                f"run {path} has no model.keras (unfinished? `litelab train --resume {path}`)"
            )
        return ExportSource(model, path, label_lines(path / LABELS_FILE))
    if path.is_dir() and not (path / "saved_model.pb").is_file():
        raise LitelabError(
            f"{path} is neither a run folder (no config.toml) nor a SavedModel "
            "(no saved_model.pb); pass a run folder, a .keras or .h5 file or a SavedModel"
        )
    if path.is_file() and path.suffix.lower() not in (".keras", ".h5", ".hdf5"):
        raise LitelabError(
            f"{path} is not a model: export takes a run folder, a .keras or .h5 file "
            "or a SavedModel folder"
        )
    return ExportSource(path)


def data_config_for(source: str | Path, given: dict[str, Any]) -> DatasetConfig | None:
    """The data an export of ``source`` uses: a run's own data with the flags given on top;
    for a model file, the flags (None when no --data was given)."""
    from litelab.config import resolve_config
    from litelab.runs import read_run_config

    given = {k: v for k, v in given.items() if v is not None}
    src = resolve_source(source)
    if src.run_dir is not None:
        base = read_run_config(src.run_dir).data
        return dataclasses.replace(base, **given)
    if "source" not in given:
        if given:
            flag = "--" + sorted(given)[0].replace("_", "-")
            raise LitelabError(f"{flag} needs --data: {src.model_path} is not a run folder")
        return None
    return resolve_config(None, given, None).data


def check_out_dir(out_dir: Path) -> None:
    """Refuse a folder holding anything but an earlier export's files (never clobber)."""
    if not out_dir.exists():
        return
    if not out_dir.is_dir():
        raise LitelabError(f"--out {out_dir} is a file, not a folder")
    owned = set(FILES.values()) | set(REPORT_FILES)
    foreign = sorted(
        p.name
        for p in out_dir.iterdir()
        if p.name not in owned and not (p.name.startswith(".") and ".tmp" in p.name)
    )
    if foreign:
        raise LitelabError(
            f"export folder {out_dir} holds files that are not an earlier export "
            f"(e.g. {foreign[0]}); choose another with --out"
        )


def export_model(
    source: str | Path,
    *,
    data_config: DatasetConfig | None = None,
    formats: str | tuple[str, ...] | list[str] = ALL_FORMATS,
    out_dir: str | Path | None = None,
    representative: int = 500,
    int8_io: bool = True,
    input_scale: float | None = None,
    seed: int = 42,
    test_limit: int | None = None,
    progress: bool = True,
    data: Dataset | None = None,
    latency_repeats: int = LATENCY_REPEATS,
) -> ExportResult:
    """Export ``source`` to ``formats`` and measure each format on the test split.

    ``source`` is a run folder (its model.keras, labels.txt and data) or any Keras model file
    or SavedModel folder (then ``data_config`` is needed for accuracy and for int8).
    ``test_limit`` overrides the data's test limit; ``data`` passes an already loaded
    dataset instead. The int8 model's representative images come from the training split.
    """
    from litelab.runs import read_run_config

    fmts = parse_formats(formats)
    if representative < 1:
        raise LitelabError(f"--representative must be at least 1, got {representative}")
    if input_scale is not None and not input_scale > 0:
        raise LitelabError(f"--input-scale must be greater than 0, got {input_scale}")
    if latency_repeats < 1:
        raise LitelabError(f"latency repeats must be at least 1, got {latency_repeats}")
    src = resolve_source(source)
    scale = 1.0 if input_scale is None else float(input_scale)
    if data is None and data_config is None and src.run_dir is not None:
        data_config = read_run_config(src.run_dir).data
    if data is None and data_config is None and "tflite-int8" in fmts:
        raise LitelabError(
            "tflite-int8 needs representative images: pass --data SOURCE "
            "(or export a run folder, which knows its data)"
        )
    if data_config is not None and test_limit is not None:
        data_config = dataclasses.replace(data_config, test_limit=test_limit)
    out = Path(out_dir) if out_dir is not None else src.default_out
    check_out_dir(out)

    with _quiet_tf_logger():
        return _export(
            src,
            fmts,
            out,
            data,
            data_config,
            representative,
            int8_io,
            scale,
            seed,
            progress,
            latency_repeats,
            str(source),
        )


def _export(
    src: ExportSource,
    fmts: tuple[str, ...],
    out: Path,
    data: Dataset | None,
    data_config: DatasetConfig | None,
    representative: int,
    int8_io: bool,
    scale: float,
    seed: int,
    progress: bool,
    latency_repeats: int,
    source: str,
) -> ExportResult:
    """The body of :func:`export_model`, once its arguments are checked."""
    from litelab.modelio import check_model_fits, load_model, predict_probs
    from litelab.runs import versions

    say = _say if progress else _silent
    model = load_model(src.model_path)
    size = _input_size(model)
    if data is None and data_config is not None:
        say(f"loading {data_config.source} ...")
        data = load_dataset(data_config, seed=seed, progress=progress)
    if data is not None:
        check_model_fits(model, data.x_test.shape[1], data.num_classes, where=str(src.model_path))
        if len(data.x_test) == 0:
            raise LitelabError(f"no test images in {data.source}")
        if src.labels is not None and src.labels != data.classes:
            raise LitelabError(
                f"the run's labels.txt ({', '.join(src.labels[:3])}, ...) does not match the "
                f"data's classes ({', '.join(data.classes[:3])}, ...)"
            )
        classes = data.classes
    else:
        check_model_fits(model, size, None, where=str(src.model_path))
        classes = src.labels or _default_labels(src.model_path, int(model.outputs[0].shape[-1]))
    params = int(model.count_params())

    reference: dict[str, Any] = {"params": params}
    ref_pred = None
    if data is not None:
        t0 = time.perf_counter()
        ref_pred = predict_probs(model, data.x_test, input_scale=scale).argmax(axis=1)
        reference["test_accuracy"] = _accuracy(ref_pred, data.y_test)
        reference["eval_seconds"] = round(time.perf_counter() - t0, 3)
        say(f"in-memory Keras model: test accuracy {reference['test_accuracy']:.4f}")
        probe = data.x_test[0]
    else:
        probe = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)

    rep = None
    if "tflite-int8" in fmts:
        assert data is not None
        rep = representative_images(data.x_train, representative, seed)

    out.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    rows: list[dict[str, Any]] = []
    tflite_info: dict[str, Any] = {}
    timings: dict[str, dict[str, float]] = {}
    for i, fmt in enumerate(fmts, 1):
        path = out / FILES[fmt]
        t0 = time.perf_counter()
        note = NOTES[fmt]
        if fmt in KERAS_FORMATS:
            _write_keras(model, fmt, path)
            t1 = time.perf_counter()
            loaded = load_model(path)
            pred = None
            if data is not None:
                pred = predict_probs(loaded, data.x_test, input_scale=scale).argmax(axis=1)
            t2 = time.perf_counter()
            latency = keras_latency_ms(loaded, probe, latency_repeats, scale)
        else:
            kind = fmt.removeprefix("tflite-")
            blob = convert(model, kind, representative=rep, input_scale=scale, int8_io=int8_io)
            write_bytes(path, blob)
            t1 = time.perf_counter()
            tfl = TFLiteModel(blob, str(path))
            pred = None
            if data is not None:
                pred = tfl.predict_scores(data.x_test, scale, batch_size=EVAL_BATCH).argmax(axis=1)
            t2 = time.perf_counter()
            latency = tfl.latency_ms(probe, latency_repeats, scale)
            info = _tensor_info(tfl)
            info["batched_eval"] = tfl.can_batch()
            tflite_info[fmt] = info
            if kind == "int8":
                assert rep is not None
                note = _int8_note(info, len(rep))
        t3 = time.perf_counter()
        files[fmt] = path
        timings[fmt] = {
            "write_seconds": round(t1 - t0, 3),  # save, or convert + save for TFLite
            "eval_seconds": round(t2 - t1, 3),  # load + predict the whole test set
            "latency_seconds": round(t3 - t2, 3),
        }
        nbytes = _size_of(path)
        row: dict[str, Any] = {
            "format": fmt,
            "file": FILES[fmt] + ("/" if fmt == "saved_model" else ""),
            "size_bytes": nbytes,
            "size_kb": round(nbytes / 1024, 2),
            "params": params,
            "test_accuracy": None,
            "accuracy_change": None,
            "agreement": None,
            "latency_ms_median": round(latency, 4),
            "note": note,
        }
        if pred is not None and data is not None and ref_pred is not None:
            acc = _accuracy(pred, data.y_test)
            row["test_accuracy"] = acc
            row["accuracy_change"] = round((acc - reference["test_accuracy"]) * 100, 2)
            row["agreement"] = round(float(np.mean(pred == ref_pred)) * 100, 2)
        rows.append(row)
        acc_text = "" if row["test_accuracy"] is None else f", accuracy {row['test_accuracy']:.4f}"
        say(
            f"[{i}/{len(fmts)}] {fmt}: {nbytes / 1024:,.1f} KB{acc_text}, "
            f"written in {t1 - t0:.1f} s, test set in {t2 - t1:.1f} s, "
            f"latency {latency:.3f} ms"
        )

    write_text(out / "labels.txt", "\n".join(classes) + "\n")
    table = format_table(rows)
    write_text(out / "comparison.csv", rows_to_csv(rows))
    summary = {
        "source": source,
        "model_path": str(src.model_path),
        "run_dir": None if src.run_dir is None else str(src.run_dir),
        "data_source": None if data is None else data.source,
        "num_test": 0 if data is None else len(data.x_test),
        "num_train_split": 0 if data is None else len(data.x_train),
        "input_scale": scale,
        "int8_io": int8_io,
        "representative": None if rep is None else len(rep),
        "representative_requested": representative,
        "seed": seed,
        "params": params,
        "params_note": PARAMS_NOTE,
        "latency_note": (
            f"host CPU, batch 1, median of {latency_repeats} calls after warm-up: LiteRT "
            "invoke (its default thread count) for TFLite; model(x, training=False) for the "
            "Keras formats, which runs eagerly layer by layer for .keras/.h5 (Python "
            "overhead dominates at batch 1) but as one traced graph for the SavedModel"
        ),
        "accuracy_change_note": "percentage points against the in-memory Keras model",
        "keras_reference": reference,
        "classes": list(classes),
        "rows": rows,
        "tflite": tflite_info,
        "timings": timings,
        "versions": {**versions(), "ai_edge_litert": _litert_version()},
    }
    write_json(out / "comparison.json", summary)
    name = src.model_path.name if src.run_dir is None else src.run_dir.name
    plot_comparison(rows, out / "comparison.png", title=f"litelab export: {name}")
    return ExportResult(out, rows, files, summary, table, timings)


# --------------------------------------------------------------------------- measuring


def keras_latency_ms(
    model: Any, image: np.ndarray, repeats: int = LATENCY_REPEATS, input_scale: float = 1.0
) -> float:
    """Median wall time of one batch-1 ``model(x, training=False)`` call, in milliseconds.

    Timed like ``TFLiteModel.latency_ms``: the same scaled image, warm-up calls first.
    """
    import keras

    x = keras.ops.convert_to_tensor(image[None].astype(np.float32) * np.float32(input_scale / 255))
    for _ in range(10):
        np.asarray(model(x, training=False))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        np.asarray(model(x, training=False))
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1000.0)


def _accuracy(pred: np.ndarray, y: np.ndarray) -> float:
    return round(float(np.mean(pred == y)), 6)


def _tensor_info(tfl: TFLiteModel) -> dict[str, Any]:
    def one(d: dict[str, Any]) -> dict[str, Any]:
        scale, zero = d["quantization"]
        return {
            "dtype": np.dtype(d["dtype"]).name,
            "shape": [int(v) for v in d["shape"]],
            "scale": float(scale),
            "zero_point": int(zero),
        }

    return {"input": one(tfl.input), "output": one(tfl.output)}


def _int8_note(info: dict[str, Any], count: int) -> str:
    i = info["input"]
    if i["dtype"] in ("int8", "uint8"):
        io_text = f"{i['dtype']} I/O (input scale {i['scale']:.6g}, zero point {i['zero_point']})"
    else:
        io_text = f"{i['dtype']} I/O"
    return f"full integer, {io_text}, {count} representative train images"


def _size_of(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def _input_size(model: Any) -> int:
    shape = model.inputs[0].shape if model.inputs else None
    if shape is not None and len(shape) == 4 and shape[1] is not None:
        return int(shape[1])
    return 32


def _default_labels(model_path: Path, num_outputs: int) -> list[str]:
    from litelab.pipeline import labels_for

    return labels_for(model_path, num_outputs)


def _litert_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("ai-edge-litert")
    except PackageNotFoundError:
        return "unknown"


@contextlib.contextmanager
def _quiet_tf_logger() -> Iterator[None]:
    """Hide TensorFlow's "triggered tf.function retracing" notices: measuring several
    reloaded copies of one model is exactly what triggers them, and they are harmless."""
    logger = logging.getLogger("tensorflow")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _say(message: str) -> None:
    print(f"litelab export: {message}", file=sys.stderr, flush=True)


def _silent(message: str) -> None:
    pass


# --------------------------------------------------------------------------- writing


def _write_keras(model: Any, fmt: str, path: Path) -> None:
    """model.keras, model.h5 or saved_model/, atomically; failures are one line."""
    try:
        if fmt == "saved_model":
            with atomic_path(path, suffix="") as tmp:
                model.export(str(tmp), format="tf_saved_model", verbose=False)
            return
        absl_logger = logging.getLogger("absl")
        level = absl_logger.level
        absl_logger.setLevel(logging.ERROR)  # the "HDF5 is legacy" notice: writing it is the point
        try:
            with atomic_path(path) as tmp:
                model.save(tmp)
        finally:
            absl_logger.setLevel(level)
    except LitelabError:
        raise
    except Exception as exc:  # noqa: BLE001 - Keras raises many types for unsaveable models
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise LitelabError(f"cannot write {path.name} for this model: {reason[:300]}") from None


def rows_to_csv(rows: list[dict[str, Any]]) -> str:
    """The comparison rows as CSV text (empty cells where there was no test data)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow(["" if row[c] is None else row[c] for c in CSV_COLUMNS])
    return buf.getvalue()


def format_table(rows: list[dict[str, Any]]) -> str:
    """The comparison as an aligned text table, with the params note under it."""
    header = ("format", "file", "size KB", "params", "accuracy", "change pp", "agree %", "ms")

    def num(value: Any, spec: str) -> str:
        return "-" if value is None else format(value, spec)

    body = [
        (
            r["format"],
            r["file"],
            f"{r['size_kb']:,.1f}",
            f"{r['params']:,}",
            num(r["test_accuracy"], ".4f"),
            num(r["accuracy_change"], "+.2f"),
            num(r["agreement"], ".2f"),
            num(r["latency_ms_median"], ".3f"),
        )
        for r in rows
    ]
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(header)]
    lines = []
    for cells in (header, *body):
        parts = [
            c.ljust(w) if i < 2 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        lines.append("  ".join(parts).rstrip())
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append("params: the Keras model's count on every row (TFLite has no parameter API)")
    lines.append("change: accuracy points vs the in-memory Keras model; agree: same class as")
    lines.append("Keras, % of test images; ms: host batch-1 median latency")
    return "\n".join(lines)


def comparison_figure(rows: list[dict[str, Any]], title: str = "litelab export") -> Any:
    """Two panels: file size per format (KB, log scale) and test accuracy per format."""
    from litelab.plots import _new_figure

    if not rows:
        raise LitelabError("no formats to plot")
    names = [r["format"] for r in rows]
    colors = ["#1f77b4" if n in KERAS_FORMATS else "#ff7f0e" for n in names]
    fig = _new_figure(11.0, 4.4)
    ax_size, ax_acc = fig.subplots(1, 2)
    y = np.arange(len(rows))
    sizes = [max(r["size_kb"], 1e-3) for r in rows]
    ax_size.barh(y, sizes, color=colors)
    ax_size.set_xscale("log")
    ax_size.set_yticks(y, names)
    ax_size.invert_yaxis()
    ax_size.set_xlabel("File size (KB, log scale)")
    ax_size.set_title("Size")
    for yi, s in zip(y, sizes, strict=True):
        ax_size.text(s, yi, f" {s:,.0f}" if s >= 10 else f" {s:.2g}", va="center", fontsize=8)
    ax_size.set_xlim(min(sizes) / 2, max(sizes) * 4)
    ax_size.grid(True, axis="x", alpha=0.3)
    accs = [r["test_accuracy"] for r in rows]
    if all(a is None for a in accs):
        ax_acc.text(0.5, 0.5, "no test data", ha="center", va="center", transform=ax_acc.transAxes)
        ax_acc.set_axis_off()
    else:
        vals = [np.nan if a is None else a * 100 for a in accs]
        ax_acc.barh(y, vals, color=colors)
        ax_acc.set_yticks(y, names)
        ax_acc.invert_yaxis()
        ax_acc.set_xlim(0, 100)
        ax_acc.set_xlabel("Test accuracy (%)")
        ax_acc.set_title("Accuracy")
        for yi, v in zip(y, vals, strict=True):
            if np.isfinite(v):
                ax_acc.text(v, yi, f" {v:.2f}", va="center", fontsize=8)
        ax_acc.grid(True, axis="x", alpha=0.3)
    fig.suptitle(title)
    return fig


def plot_comparison(rows: list[dict[str, Any]], path: str | Path, title: str = "") -> Path:
    """Write :func:`comparison_figure` as a PNG, atomically."""
    from litelab.plots import _save

    return _save(comparison_figure(rows, title or "litelab export"), path)
