"""End to end on a stratified slice of the CIFAR-10 JPEG copy: run, reload, predict, evaluate.

These use the real CLI entry point (``litelab.cli.main``) and the real data in ../shared.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from litelab.cli import main
from litelab.config import DatasetConfig, resolve_config
from litelab.data import load_dataset
from litelab.errors import LitelabError
from litelab.inference import load_model, predict_probs
from litelab.jobs import run
from litelab.train import StopAfterEpochs

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LITELAB_SHARED", ROOT.parent / "shared"))
JPEG = SHARED / "datasets" / "cifar10-jpeg.tar.gz"
ANCHOR_H5 = SHARED / "anchors" / "mlperf-tiny-ic" / "pretrainedResnet.h5"

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not JPEG.is_file(), reason=f"{JPEG} not present"),
]

TRAIN, TEST = 600, 200


@pytest.fixture(scope="module", autouse=True)
def _cache(module_cache_dir):
    """Decoded arrays go to a cache folder of this module's own."""


@pytest.fixture(scope="module")
def data():
    cfg = DatasetConfig(source=str(JPEG), train_limit=TRAIN, test_limit=TEST)
    return load_dataset(cfg, seed=42, progress=False)


@pytest.fixture(scope="module")
def finished(data, tmp_path_factory):
    runs = tmp_path_factory.mktemp("runs")
    cfg = resolve_config(
        None,
        {"source": str(JPEG), "train_limit": TRAIN, "test_limit": TEST},
        {"model": "baseline", "epochs": 2},
        str(runs),
    )
    return run(cfg, data=data, progress=False, verbose=0)


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("litelab: error: ")
    return err[0]


def test_run_writes_every_artifact(finished):
    d = finished.run_dir
    for name in (
        "model.keras",
        "model.h5",
        "saved_model/saved_model.pb",
        "config.toml",
        "labels.txt",
        "history.csv",
        "summary.txt",
        "metrics.json",
        "report.md",
        "accuracy.png",
        "loss.png",
        "confusion_matrix.png",
        "predictions_grid.png",
        "random_prediction.png",
        "per_class_accuracy.png",
    ):
        assert (d / name).exists(), name
    assert not (d / "checkpoint").exists()
    assert list((d / "logs").rglob("*tfevents*")), "no TensorBoard events"
    m = json.loads((d / "metrics.json").read_text())
    for key in (
        "test_accuracy",
        "test_loss",
        "params",
        "confusion_matrix",
        "per_class",
        "classes",
        "train_seconds",
        "epochs_run",
        "versions",
    ):
        assert key in m, key
    assert m["params"] == 167_562 and m["epochs_run"] == 2
    assert m["num_train"] == int(TRAIN * 0.8) and m["num_val"] == int(TRAIN * 0.2)
    assert np.asarray(m["confusion_matrix"]).sum() == TEST
    assert set(m["versions"]) >= {"python", "tensorflow", "keras"}
    assert 0.0 <= m["test_accuracy"] <= 1.0
    history = (d / "history.csv").read_text().splitlines()
    assert history[0].startswith("epoch,loss,accuracy,val_loss,val_accuracy")
    assert len(history) == 3
    assert "Total params: 167,562" in (d / "summary.txt").read_text()
    assert f"{100 * m['test_accuracy']:.2f}" in (d / "report.md").read_text()


@pytest.mark.parametrize("fmt", ["model.keras", "model.h5", "saved_model"])
def test_saved_models_reload_and_predict_the_same(finished, data, fmt):
    before = predict_probs(finished.model, data.x_test)
    after = predict_probs(load_model(finished.run_dir / fmt), data.x_test)
    np.testing.assert_allclose(after, before, atol=1e-5)
    acc = float((after.argmax(1) == data.y_test).mean())
    assert acc == pytest.approx(finished.metrics["test_accuracy"])


def test_predict_cli_any_size_and_mode(finished, data, tmp_path, capsys):
    big = Image.fromarray(data.x_test[0]).resize((96, 80)).convert("RGBA")
    big.save(tmp_path / "a.png")
    Image.fromarray(data.x_test[1]).convert("L").save(tmp_path / "b.jpg")
    model = finished.run_dir / "model.keras"
    assert (
        main(
            [
                "predict",
                "--model",
                str(model),
                str(tmp_path / "a.png"),
                str(tmp_path / "b.jpg"),
                "--json",
            ]
        )
        == 0
    )
    out = json.loads(capsys.readouterr().out)
    assert [Path(r["file"]).name for r in out] == ["a.png", "b.jpg"]
    for r in out:
        probs = [t["probability"] for t in r["top"]]
        assert len(probs) == 3 and probs == sorted(probs, reverse=True) and sum(probs) <= 1.0001
        assert all(t["class"] in data.classes for t in r["top"])
    assert main(["predict", "--model", str(model), str(tmp_path / "a.png")]) == 0
    text = capsys.readouterr().out
    assert "a.png" in text and out[0]["top"][0]["class"] in text


def test_evaluate_never_replaces_an_earlier_evaluation(finished, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = [
        "evaluate",
        "--model",
        str(finished.run_dir / "model.keras"),
        "--data",
        str(JPEG),
        "--train-limit",
        "50",
        "--test-limit",
        "50",
        "--quiet",
    ]
    assert main(args) == 0 and main(args) == 0
    folders = sorted((tmp_path / "evals").iterdir())
    assert len(folders) == 2 and all((f / "metrics.json").is_file() for f in folders)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("precious")
    assert main([*args, "--out", str(tmp_path / "mine")]) == 2
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "precious"


def test_evaluate_cli_matches_the_run(finished, tmp_path, capsys):
    out = tmp_path / "eval"
    code = main(
        [
            "evaluate",
            "--model",
            str(finished.run_dir / "model.h5"),
            "--data",
            str(JPEG),
            "--train-limit",
            str(TRAIN),
            "--test-limit",
            str(TEST),
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert code == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["test_accuracy"] == pytest.approx(finished.metrics["test_accuracy"])
    assert (out / "confusion_matrix.png").is_file() and (out / "report.md").is_file()


@pytest.mark.skipif(not ANCHOR_H5.is_file(), reason="MLPerf anchor not present")
def test_evaluate_foreign_model_needs_its_input_scale(tmp_path, capsys):
    args = [
        "evaluate",
        "--model",
        str(ANCHOR_H5),
        "--data",
        str(JPEG),
        "--train-limit",
        "100",
        "--test-limit",
        "300",
        "--quiet",
    ]
    assert main([*args, "--input-scale", "255", "--out", str(tmp_path / "raw")]) == 0
    assert main([*args, "--out", str(tmp_path / "unit")]) == 0
    raw = json.loads((tmp_path / "raw" / "metrics.json").read_text())["test_accuracy"]
    unit = json.loads((tmp_path / "unit" / "metrics.json").read_text())["test_accuracy"]
    assert raw > 0.6  # the reference scores 75% on the full JPEG test split
    assert raw > unit + 0.2  # fed 0..1, it sees near-black images


def test_interrupted_run_resumes_without_losing_epochs(data, tmp_path):
    cfg = resolve_config(
        None,
        {"source": str(JPEG), "train_limit": TRAIN, "test_limit": TEST},
        {"model": "tiny", "epochs": 3},
        str(tmp_path),
    )
    with pytest.raises(KeyboardInterrupt):
        run(cfg, data=data, progress=False, verbose=0, callbacks=[StopAfterEpochs(2)])
    (run_dir,) = tmp_path.iterdir()
    state = json.loads((run_dir / "checkpoint" / "state.json").read_text())
    assert state["epochs_done"] == 2 and not (run_dir / "model.keras").exists()
    first_two = state["history"]["loss"]
    result = run(resume=run_dir, data=data, progress=False, verbose=0)
    assert result.run_dir == run_dir
    assert result.metrics["epochs_run"] == 3
    history = (run_dir / "history.csv").read_text().splitlines()
    assert len(history) == 4
    assert [float(r.split(",")[1]) for r in history[1:3]] == pytest.approx(first_two)
    assert not (run_dir / "checkpoint").exists()
    with pytest.raises(LitelabError, match="already finished"):
        run(resume=run_dir, data=data, progress=False, verbose=0)


def test_same_seed_same_numbers(data, tmp_path):
    def once():
        cfg = resolve_config(
            None, {"source": str(JPEG)}, {"model": "tiny", "epochs": 1, "seed": 7}, str(tmp_path)
        )
        return run(cfg, data=data, progress=False, verbose=0).metrics

    a, b = once(), once()
    assert a["test_loss"] == b["test_loss"] and a["confusion_matrix"] == b["confusion_matrix"]
    assert len(list(tmp_path.iterdir())) == 2  # two folders: nothing overwritten


def test_cli_run_quick_slice(tmp_path, capsys):
    code = main(
        [
            "run",
            "--data",
            str(JPEG),
            "--train-limit",
            "300",
            "--test-limit",
            "100",
            "--epochs",
            "1",
            "--model",
            "lenet5",
            "--runs-dir",
            str(tmp_path),
            "--quiet",
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "test accuracy:" in out and "run folder:" in out
    (run_dir,) = tmp_path.iterdir()
    assert 'activation = "tanh"' in (run_dir / "config.toml").read_text()


@pytest.mark.parametrize(
    "argv,needle",
    [
        (["run", "--model", "resnet9000"], "unknown model 'resnet9000'"),
        (["run", "--epochs", "0"], "--epochs must be at least 1"),
        (["run", "--lr", "-1"], "--lr must be greater than 0"),
        (["run", "--batch-size", "0"], "--batch-size must be at least 1"),
        (["run", "--epochs", "three"], "expected an integer"),
        (["run", "--data", "/nonexistent/cifar.tar.gz"], "/nonexistent/cifar.tar.gz"),
        (["run", "--data", str(JPEG), "--train-limit", "999999"], "999999"),
        (["run", "--optimizer", "adamax"], "unknown optimizer"),
        (["frobnicate"], "invalid choice"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(argv, needle, tmp_path, capsys):
    runs = tmp_path / "runs"
    assert main([*argv, "--runs-dir", str(runs)] if argv[0] == "run" else argv) == 2
    assert needle in _one_error_line(capsys)
    assert not runs.exists() or not any(runs.iterdir()), "a failed run left a folder behind"


def test_bad_model_files_are_one_line(finished, tmp_path, capsys):
    import keras

    not_model = tmp_path / "notes.h5"
    not_model.write_text("hello")
    missing = tmp_path / "missing.keras"
    gray = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Flatten(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    gray.save(tmp_path / "mnist.keras")
    five = keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            keras.layers.Flatten(),
            keras.layers.Dense(5, activation="softmax"),
        ]
    )
    five.save(tmp_path / "five.keras")
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(b"not really a jpeg")
    cases = [
        (["evaluate", "--model", str(not_model), "--data", str(JPEG)], "not an HDF5"),
        (["evaluate", "--model", str(missing), "--data", str(JPEG)], "model not found"),
        (
            [
                "evaluate",
                "--model",
                str(tmp_path / "mnist.keras"),
                "--data",
                str(JPEG),
                "--test-limit",
                "50",
            ],
            "expects input shape",
        ),
        (
            [
                "evaluate",
                "--model",
                str(tmp_path / "five.keras"),
                "--data",
                str(JPEG),
                "--test-limit",
                "50",
                "--train-limit",
                "50",
                "--quiet",
            ],
            "outputs 5 classes but the data has 10",
        ),
        (["predict", "--model", str(finished.run_dir / "model.keras"), str(photo)], "photo.jpg"),
        (["train", "--resume", str(finished.run_dir)], "already finished"),
    ]
    for argv, needle in cases:
        assert main(argv) == 2, argv
        assert needle in _one_error_line(capsys)
