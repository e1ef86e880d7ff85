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

Outputs, in the export folder: the model files, the labels file, ``comparison.csv``,
``comparison.json`` (with the data source, versions, each TFLite file's input/output dtype and
quantization, and the representative count) and ``comparison.png``.

The measuring is in :mod:`litelab.export.measure`, the writing of the comparison in
:mod:`litelab.export.report` and the resolving of the source in :mod:`litelab.export.source`.
"""

from __future__ import annotations

import contextlib
import dataclasses
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
from litelab.errors import LitelabError, one_of
from litelab.export import source as sources
from litelab.export.convert import convert, representative_images
from litelab.export.measure import (
    EVAL_BATCH,
    LATENCY_REPEATS,
    compare,
    input_size,
    int8_note,
    keras_latency_ms,
    measure_file,
    measure_reference,
    size_of,
    tensor_info,
)
from litelab.export.report import (
    CSV_COLUMNS,
    KERAS_FORMATS,
    PARAMS_NOTE,
    REPORT_FILES,
    comparison_figure,
    format_markdown,
    format_table,
    latency_note,
    plot_comparison,
    rows_to_csv,
    write_report,
)
from litelab.export.source import Source
from litelab.files import write_bytes
from litelab.runs import (
    H5_FILE,
    INT8_FILE,
    KERAS_FILE,
    LABELS_FILE,
    REPRESENTATIVE,
    SAVED_MODEL_DIR,
    model_labels,
    save_model_formats,
)

__all__ = [
    "ALL_FORMATS",
    "CSV_COLUMNS",
    "EVAL_BATCH",
    "FILES",
    "FORMATS",
    "KERAS_FORMATS",
    "LATENCY_REPEATS",
    "NOTES",
    "PARAMS_NOTE",
    "REPORT_FILES",
    "ExportResult",
    "ExportSource",
    "check_out_dir",
    "comparison_figure",
    "data_config_for",
    "export_model",
    "format_markdown",
    "format_table",
    "keras_latency_ms",
    "parse_formats",
    "plot_comparison",
    "resolve_source",
    "rows_to_csv",
    "save_format",
]

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
FILES = {
    "keras": KERAS_FILE,
    "h5": H5_FILE,
    "saved_model": SAVED_MODEL_DIR,
    "tflite-float32": "model_float32.tflite",
    "tflite-dynamic": "model_dynamic.tflite",
    "tflite-float16": "model_float16.tflite",
    "tflite-int8": INT8_FILE,
}
NOTES = {
    "keras": "Keras v3 archive",
    "h5": "legacy Keras HDF5",
    "saved_model": "TensorFlow SavedModel (for TF Serving / converters)",
    "tflite-float32": "float32 weights and math",
    "tflite-dynamic": "int8 weights, float math and I/O",
    "tflite-float16": "float16 weights, float32 math on a CPU",
    "tflite-int8": "full integer",
}
ExportSource = Source  # the old name of a resolved export source


@dataclass
class ExportResult:
    """Where an export went, the comparison rows and the content of comparison.json."""

    out_dir: Path
    rows: list[dict[str, Any]]
    files: dict[str, Path]
    summary: dict[str, Any]
    table: str
    timings: dict[str, dict[str, float]] = field(default_factory=dict)


def parse_formats(text: str | list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """``"all"`` or a comma list of format names -> the formats, in the canonical order."""
    items = text.replace(",", " ").split() if isinstance(text, str) else list(text)
    names = {s.strip().lower() for s in items if s.strip()}
    if not names:
        raise LitelabError(f"--formats is empty; choose from all, {', '.join(FORMATS)}")
    if "all" in names:
        return FORMATS
    for name in sorted(names):
        one_of("format", name, ("all", *FORMATS))
    return tuple(f for f in FORMATS if f in names)


def resolve_source(source: str | Path) -> Source:
    """A run folder, zoo name, model file or SavedModel folder; else a one-line error."""
    return sources.resolve_source(source, purpose="export")


def data_config_for(source: str | Path, given: dict[str, Any]) -> DatasetConfig | None:
    """The data an export of ``source`` uses: a run's own data with the flags given on top;
    for a model file, the flags (None when no --data was given)."""
    from litelab.config import resolve_config

    given = {k: v for k, v in given.items() if v is not None}
    src = resolve_source(source)
    if src.run is not None:
        return dataclasses.replace(src.run.data_config, **given)
    if "source" not in given:
        if given:
            flag = "--" + sorted(given)[0].replace("_", "-")
            raise LitelabError(f"{flag} needs --data: {src.path} is not a run folder")
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
    representative: int = REPRESENTATIVE,
    int8_io: bool = True,
    input_scale: float | None = None,
    seed: int = 42,
    test_limit: int | None = None,
    progress: bool = True,
    data: Dataset | None = None,
    latency_repeats: int = LATENCY_REPEATS,
) -> ExportResult:
    """Export ``source`` to ``formats`` and measure each format on the test split.

    ``source`` is a run folder (its model, labels and data) or any Keras model file
    or SavedModel folder (then ``data_config`` is needed for accuracy and for int8).
    ``test_limit`` overrides the data's test limit; ``data`` passes an already loaded
    dataset instead. The int8 model's representative images come from the training split.
    """
    fmts = parse_formats(formats)
    if representative < 1:
        raise LitelabError(f"--representative must be at least 1, got {representative}")
    if input_scale is not None and not input_scale > 0:
        raise LitelabError(f"--input-scale must be greater than 0, got {input_scale}")
    if latency_repeats < 1:
        raise LitelabError(f"latency repeats must be at least 1, got {latency_repeats}")
    src = resolve_source(source)
    scale = 1.0 if input_scale is None else float(input_scale)
    if data is None and data_config is None and src.run is not None:
        data_config = src.run.data_config
    if data is None and data_config is None and "tflite-int8" in fmts:
        raise LitelabError(
            "tflite-int8 needs representative images: pass --data SOURCE "
            "(or export a run folder, which knows its data)"
        )
    if data_config is not None and test_limit is not None:
        data_config = dataclasses.replace(data_config, test_limit=test_limit)
    out = Path(out_dir) if out_dir is not None else src.default_out
    check_out_dir(out)

    with _quiet_tf_logger():  # one private call, so its arguments go in signature order
        return _export(src, fmts, out, data, data_config, representative, int8_io, scale,
                       seed, progress, latency_repeats, str(source))  # fmt: skip


def _export(
    src: Source,
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
    from litelab.inference import load_model
    from litelab.runs import versions

    say = _say if progress else _silent
    model = load_model(src.path)
    if data is None and data_config is not None:
        say(f"loading {data_config.source} ...")
        data = load_dataset(data_config, seed=seed, progress=progress)
    classes = _classes(src, model, data)
    params = int(model.count_params())

    reference: dict[str, Any] = {"params": params}
    ref_pred = None
    if data is not None:
        ref_pred, measured = measure_reference(model, data.x_test, data.y_test, input_scale=scale)
        reference.update(measured)
        say(f"in-memory Keras model: test accuracy {reference['test_accuracy']:.4f}")
        probe = data.x_test[0]
    else:
        size = input_size(model)
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
    x_test = None if data is None else data.x_test
    for i, fmt in enumerate(fmts, 1):
        path = out / FILES[fmt]
        t0 = time.perf_counter()
        blob = save_format(model, fmt, path, representative=rep, input_scale=scale, int8_io=int8_io)
        write_seconds = time.perf_counter() - t0
        m = measure_file(
            path, blob, x_test=x_test, probe=probe, repeats=latency_repeats, input_scale=scale
        )
        note = NOTES[fmt]
        if m.tflite is not None:
            info = tensor_info(m.tflite)
            info["batched_eval"] = m.tflite.can_batch()
            tflite_info[fmt] = info
            if fmt == "tflite-int8":
                assert rep is not None
                note = int8_note(info, len(rep))
        files[fmt] = path
        timings[fmt] = {
            "write_seconds": round(write_seconds, 3),  # save, or convert + save for TFLite
            "eval_seconds": m.eval_seconds,  # load + predict the whole test set
            "latency_seconds": m.latency_seconds,
        }
        row = _row(fmt, path, params=params, latency_ms=m.latency_ms, note=note)
        row.update(
            compare(
                m.pred,
                ref_pred,
                None if data is None else data.y_test,
                reference.get("test_accuracy"),
            )
        )
        rows.append(row)
        acc_text = "" if row["test_accuracy"] is None else f", accuracy {row['test_accuracy']:.4f}"
        say(
            f"[{i}/{len(fmts)}] {fmt}: {row['size_bytes'] / 1024:,.1f} KB{acc_text}, "
            f"written in {write_seconds:.1f} s, test set in {m.eval_seconds:.1f} s, "
            f"latency {m.latency_ms:.3f} ms"
        )

    summary = {
        "source": source,
        "model_path": str(src.path),
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
        "latency_note": latency_note(latency_repeats),
        "accuracy_change_note": "percentage points against the in-memory Keras model",
        "keras_reference": reference,
        "classes": list(classes),
        "rows": rows,
        "tflite": tflite_info,
        "timings": timings,
        "versions": {**versions(), "ai_edge_litert": _litert_version()},
    }
    name = src.path.name if src.run_dir is None else src.run_dir.name
    table = write_report(
        out, rows=rows, classes=classes, summary=summary, title=f"litelab export: {name}"
    )
    return ExportResult(out, rows, files, summary, table, timings)


def _classes(src: Source, model: Any, data: Dataset | None) -> list[str]:
    """The class names to export, after checking the model against the data."""
    from litelab.inference import check_model_fits

    if data is None:
        check_model_fits(model, input_size(model), None, where=str(src.path))
        return src.labels or model_labels(src.path, int(model.outputs[0].shape[-1]))
    check_model_fits(model, data.x_test.shape[1], data.num_classes, where=str(src.path))
    if len(data.x_test) == 0:
        raise LitelabError(f"no test images in {data.source}")
    labels = src.labels
    if labels is not None and labels != data.classes:
        raise LitelabError(
            f"the run's {LABELS_FILE} ({', '.join(labels[:3])}, ...) does not match the "
            f"data's classes ({', '.join(data.classes[:3])}, ...)"
        )
    return data.classes


def _row(fmt: str, path: Path, *, params: int, latency_ms: float, note: str) -> dict[str, Any]:
    nbytes = size_of(path)
    return {
        "format": fmt,
        "file": FILES[fmt] + ("/" if fmt == "saved_model" else ""),
        "size_bytes": nbytes,
        "size_kb": round(nbytes / 1024, 2),
        "params": params,
        "test_accuracy": None,
        "accuracy_change": None,
        "agreement": None,
        "latency_ms_median": round(latency_ms, 4),
        "note": note,
    }


# --------------------------------------------------------------------------- writing


def save_format(
    model: Any,
    fmt: str,
    path: Path,
    *,
    representative: np.ndarray | None = None,
    input_scale: float = 1.0,
    int8_io: bool = True,
) -> bytes | None:
    """Write ``model`` as ``fmt`` to ``path``, atomically; the flatbuffer for TFLite formats.

    A model Keras cannot save is a one-line error naming the file.
    """
    one_of("format", fmt, FORMATS)
    if fmt in KERAS_FORMATS:
        try:
            save_model_formats(path.parent, model, names={fmt: path.name}, formats=(fmt,))
        except LitelabError:
            raise
        except Exception as exc:  # noqa: BLE001 - Keras raises many types for unsaveable models
            text = str(exc).strip()
            reason = text.splitlines()[0] if text else type(exc).__name__
            raise LitelabError(f"cannot write {path.name} for this model: {reason[:300]}") from None
        return None
    kind = fmt.removeprefix("tflite-")
    blob = convert(
        model, kind, representative=representative, input_scale=input_scale, int8_io=int8_io
    )
    write_bytes(path, blob)
    return blob


# --------------------------------------------------------------------------- helpers


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
