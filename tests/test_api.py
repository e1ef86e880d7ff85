"""The notebook API: litelab.load_data/train/predict/tune/basics, the same code paths and
the same one-line errors as the CLI verbs; Run's plots, export table, verdict and HTML."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tomllib

import pytest
from matplotlib.figure import Figure
from PIL import Image

import litelab
from litelab.cli import main
from litelab.errors import LitelabError
from litelab.runs import Run as FolderRun


def cli_error(argv: list[str], capsys) -> str:
    """The one line the CLI prints for ``argv``, without its ``litelab: error:`` prefix."""
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("litelab: error: "), err
    return err[0].removeprefix("litelab: error: ")


def test_import_litelab_loads_no_tensorflow_and_names_the_api():
    code = (
        "import sys, litelab; names = [litelab.load_data, litelab.predict, litelab.open_run, "
        "litelab.Run, litelab.basics.logistic]; "
        "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))"
    )
    env = {k: v for k, v in os.environ.items() if k != "LITELAB_TF_LOGS"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
    # litelab.train and litelab.tune are modules too (Python puts a package's submodules on
    # it); calling them is the notebook call
    assert all(callable(f) for f in (litelab.train, litelab.tune, litelab.basics.linear))
    assert litelab.train.compile_model and litelab.tune.TuneSettings


@pytest.fixture(scope="module")
def trained(toy_npz, tmp_path_factory):
    root = tmp_path_factory.mktemp("api")
    data = litelab.load_data(toy_npz, quiet=True)
    run = litelab.train("tiny", data, epochs=2, runs_dir=root / "runs", quiet=True, seed=3)
    return root, data, run


def test_train_is_litelab_run_with_the_same_config(trained, toy_npz, capsys):
    root, data, run = trained
    assert isinstance(run, FolderRun) and run.is_finished
    assert len(data.x_test) == 64 and data.classes == ["red", "blue"]
    assert 0.0 <= run.metrics["test_accuracy"] <= 1.0
    argv = ["run", "--data", str(toy_npz), "--model", "tiny", "--epochs", "2", "--seed", "3"]
    assert main([*argv, "--out", str(root / "cli"), "--quiet", "--no-evaluate"]) == 0
    api_cfg = tomllib.loads(run.config_path.read_text())
    cli_cfg = tomllib.loads((root / "cli" / "config.toml").read_text())
    api_cfg.pop("runs_dir"), cli_cfg.pop("runs_dir")
    assert api_cfg == cli_cfg


def test_run_plots_summary_and_html(trained):
    _, _, run = trained
    for kind in ("curves", "loss", "confusion", "per-class", "grid"):
        assert isinstance(run.plot(kind), Figure), kind
    with pytest.raises(LitelabError, match="unknown plot 'roc'; choose one of curves"):
        run.plot("roc")
    page = run._repr_html_()
    assert "tiny" in page and "test accuracy" in page and "params" in page
    assert f"{run.metrics['params']:,}" in page and "model.keras bytes" in page
    reopened = litelab.open_run(run.path)
    assert reopened.summary()["test accuracy"] == run.metrics["test_accuracy"]


def test_export_table_and_deploy_verdict(trained):
    _, _, run = trained
    table = run.export(formats="tflite-float32,tflite-int8", latency_repeats=2)
    assert table["format"] == ["tflite-float32", "tflite-int8"]
    assert all(0.0 <= a <= 1.0 for a in table["test_accuracy"])
    assert "<table>" in table._repr_html_() and "model_int8.tflite" in repr(table)
    try:
        import pandas  # noqa: F401
    except ImportError:
        with pytest.raises(LitelabError, match="pandas is not installed"):
            table.to_pandas()
    else:
        assert table.to_pandas().shape[0] == 2
    verdict = run.deploy("esp-eye", check_images=8)
    assert verdict.fits and verdict.line.startswith("esp-eye: fits")
    assert "arena bytes" in verdict._repr_html_()
    assert "verdict (esp-eye)" in run.summary() and "int8 .tflite bytes" in run.summary()


def test_predict_gives_the_cli_answer(trained, tmp_path, capsys):
    _, data, run = trained
    photo = tmp_path / "photo.png"
    Image.fromarray(data.x_test[0]).save(photo)
    table = litelab.predict(run, photo, top=2)
    assert table["class"][0] in ("red", "blue") and len(table) == 2
    capsys.readouterr()
    argv = ["predict", "--model", str(run.model_path), str(photo), "--top", "2", "--json"]
    assert main(argv) == 0

    cli = json.loads(capsys.readouterr().out)
    assert [t["class"] for t in cli[0]["top"]] == table["class"]
    assert [t["probability"] for t in cli[0]["top"]] == table["probability"]


@pytest.mark.parametrize(
    "call, argv",
    [
        (lambda d: litelab.train("tiny", d, epochs=0), ["run", "--model", "tiny", "--epochs", "0"]),
        (
            lambda d: litelab.train("tiny", d, optimizer="adamw"),
            ["run", "--model", "tiny", "--optimizer", "adamw"],
        ),
        (lambda d: litelab.train("nosuch", d), ["run", "--model", "nosuch"]),
        (lambda d: litelab.tune(d, tuner="grid"), ["tune", "--tuner", "grid"]),
        (lambda d: litelab.tune(d, trials=0), ["tune", "--trials", "0"]),
        (lambda d: litelab.basics.linear(rows=1), ["basics", "linear", "--rows", "1"]),
        (lambda d: litelab.basics.logistic(epochs=0), ["basics", "logistic", "--epochs", "0"]),
    ],
)
def test_bad_arguments_raise_the_cli_line(call, argv, toy_npz, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(LitelabError) as info:
        call(str(toy_npz))
    assert str(info.value) == cli_error([*argv, *data_flag(argv, toy_npz)], capsys)


def data_flag(argv: list[str], toy_npz) -> list[str]:
    return ["--data", str(toy_npz)] if argv[0] in ("run", "tune") else []


def test_bad_sources_and_keywords(tmp_path, capsys):
    missing = tmp_path / "missing.npz"
    with pytest.raises(LitelabError) as info:
        litelab.load_data(missing)
    assert str(info.value) == cli_error(["run", "--data", str(missing)], capsys)
    with pytest.raises(LitelabError) as info:
        litelab.predict("zoo:nosuch", tmp_path / "x.png")
    assert str(info.value) == cli_error(["predict", "--model", "zoo:nosuch", "x.png"], capsys)
    with pytest.raises(LitelabError, match="unknown training setting 'batchsize'"):
        litelab.train("tiny", "cifar10", batchsize=3)
    with pytest.raises(LitelabError, match="unknown data setting 'limit'"):
        litelab.load_data("cifar10", limit=3)
