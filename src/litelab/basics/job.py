"""``litelab basics linear|logistic``: the warm-ups as one command each, into a run folder."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from litelab.basics import linear as lin
from litelab.errors import LitelabError
from litelab.files import write_json
from litelab.runs import Run, new_folder, versions


def _out_dir(out: str | Path | None, runs_dir: str | Path, name: str) -> Path:
    if out is None:
        return new_folder(runs_dir, time.strftime(f"basics-{name}-%Y%m%d-%H%M%S"))
    path = Path(out)
    if path.exists() and any(path.iterdir()):
        raise LitelabError(f"{path} exists and is not empty; not writing into it")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _check_counts(**counts: int) -> None:
    """Nonsense counts fail before the run folder exists."""
    for name, value in counts.items():
        if value < 1:
            raise LitelabError(f"--{name} must be at least 1, got {value}")


def export_keras(model: Any, run_dir: Path, stem: str, probe: np.ndarray) -> dict[str, Any]:
    """Save ``model`` as .keras and float32 TFLite (litelab's export code), with the sizes,
    the interpreter's I/O details, and the largest Keras/TFLite difference on ``probe``."""
    from litelab.export.convert import convert
    from litelab.export.inspect import inspect_tflite
    from litelab.export.litert import TFLiteModel
    from litelab.files import write_bytes
    from litelab.runs import save_model_formats

    keras_path = run_dir / f"{stem}.keras"
    save_model_formats(run_dir, model, names={"keras": keras_path.name}, formats=("keras",))
    data = convert(model, "float32")
    tflite_path = run_dir / f"{stem}.tflite"
    write_bytes(tflite_path, data)
    info = inspect_tflite(data, str(tflite_path))
    runner = TFLiteModel(data, str(tflite_path))
    lite = np.concatenate([runner.run_raw(row[None].astype(np.float32)) for row in probe])
    ref = np.asarray(model.predict(probe.astype(np.float32), verbose=0))
    return {
        "keras_file": keras_path.name,
        "keras_bytes": keras_path.stat().st_size,
        "tflite_file": tflite_path.name,
        "tflite_bytes": len(data),
        "tflite_input": info["inputs"][0],
        "tflite_output": info["outputs"][0],
        "tflite_max_abs_diff": float(np.max(np.abs(lite - ref))),
    }


def run_linear(
    *,
    rows: int = 10_000,
    seed: int = 42,
    noise_small: float = 15.0,
    noise_large: float = 20.0,
    epochs: int = 100,
    learning_rate: float = 0.01,
    trials: int = 6,
    out: str | Path | None = None,
    runs_dir: str | Path = "runs",
    progress: bool = True,
) -> tuple[Path, dict[str, Any]]:
    """5 houses (sklearn vs Keras SGD), then ``rows`` houses (sklearn vs SGD vs tuned)."""
    from litelab.basics.plots import plot_lines

    small = lin.small_houses(seed, noise_small)
    large = lin.many_houses(rows, seed, noise_large)
    _check_counts(epochs=epochs, trials=trials)
    if not learning_rate > 0:
        raise LitelabError(f"--lr must be greater than 0, got {learning_rate}")
    run_dir = _out_dir(out, runs_dir, "linear")
    results: dict[str, Any] = {"seed": seed}
    models = {}
    for data, key, tune in ((small, "small", False), (large, "large", True)):
        fits: dict[str, tuple[float, float, float]] = {}
        t = time.perf_counter()
        fits["sklearn (normal equation)"] = (
            *lin.fit_normal_equation(data),
            time.perf_counter() - t,
        )
        t = time.perf_counter()
        sgd = lin.fit_keras_sgd(data, learning_rate=learning_rate, epochs=epochs, seed=seed)
        fits["Keras SGD"] = (sgd.slope, sgd.intercept, time.perf_counter() - t)
        models[f"linear_{key}_sgd"] = sgd.model
        entry: dict[str, Any] = {
            "rows": len(data.x),
            "true": {"slope": data.true_slope, "intercept": data.true_intercept},
            "sgd": {"learning_rate": learning_rate, "epochs": sgd.epochs},
        }
        if tune:
            t = time.perf_counter()
            tuned = lin.tune_keras_sgd(data, str(run_dir / "tuner"), trials=trials, seed=seed)
            fits["Keras SGD, tuned"] = (tuned.slope, tuned.intercept, time.perf_counter() - t)
            entry["tuned"] = {"learning_rate": tuned.learning_rate, "epochs": tuned.epochs}
            models[f"linear_{key}_tuned"] = tuned.model
        entry["methods"] = {
            name: {
                "slope": s,
                "intercept": i,
                "slope_error": s - data.true_slope,
                "intercept_error": i - data.true_intercept,
                "mse": lin.mse(data, s, i),
                "seconds": round(sec, 3),
            }
            for name, (s, i, sec) in fits.items()
        }
        plot_lines(data, {n: (s, i) for n, (s, i, _) in fits.items()}, run_dir / f"{key}.png")
        results[key] = entry
        if progress:
            print(f"{data.name}: true price = {data.true_slope:g} x size + {data.true_intercept:g}")
            for name, m in entry["methods"].items():
                print(
                    f"  {name:<26} slope {m['slope']:.5f}  intercept {m['intercept']:9.3f}  "
                    f"MSE {m['mse']:10.3f}"
                )
    probe = (np.linspace(-2, 2, 9)[:, None]).astype(np.float32)
    results["export"] = {
        name: export_keras(model, run_dir, name, probe) for name, model in models.items()
    }
    results["versions"] = versions()
    write_json(Run(run_dir).metrics_path, results)
    return run_dir, results


def run_logistic(
    *,
    samples: int = 1000,
    seed: int = 42,
    epochs: int = 100,
    out: str | Path | None = None,
    runs_dir: str | Path = "runs",
    progress: bool = True,
) -> tuple[Path, dict[str, Any]]:
    """scikit-learn vs Keras on the course's 2-feature points: reports, boundaries, export."""
    from litelab.basics import logistic as lg
    from litelab.basics.plots import plot_boundaries

    points = lg.course_points(samples, seed)
    _check_counts(epochs=epochs)
    run_dir = _out_dir(out, runs_dir, "logistic")
    t = time.perf_counter()
    sk = lg.fit_sklearn(points)
    sk_seconds = time.perf_counter() - t
    t = time.perf_counter()
    model = lg.fit_keras(points, epochs=epochs, seed=seed)
    keras_seconds = time.perf_counter() - t
    results: dict[str, Any] = {
        "samples": samples,
        "seed": seed,
        "sklearn": {**lg.report(points.y_test, sk.predict(points.x_test)), "seconds": sk_seconds},
        "keras": {
            **lg.report(points.y_test, lg.keras_predict(model, points.x_test)),
            "seconds": keras_seconds,
            "epochs": epochs,
        },
    }
    plot_boundaries(
        points,
        {
            "scikit-learn LogisticRegression": sk.predict,
            "Keras Dense(1, sigmoid), SGD": lambda g: lg.keras_predict(model, g),
        },
        run_dir / "decision_boundaries.png",
    )
    results["export"] = {
        "logistic_keras": export_keras(model, run_dir, "logistic_keras", points.x_test[:20])
    }
    results["versions"] = versions()
    write_json(Run(run_dir).metrics_path, results)
    if progress:
        for name in ("sklearn", "keras"):
            r = results[name]
            print(f"{name:<8} accuracy {r['accuracy']:.4f}  confusion {r['confusion_matrix']}")
    return run_dir, results
