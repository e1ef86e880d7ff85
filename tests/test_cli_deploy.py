"""The export/inspect/deploy verbs through the real `litelab` entry point, and run --export."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from litelab.cli import main

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LITELAB_SHARED", ROOT.parent / "shared"))
JPEG = SHARED / "datasets" / "cifar10-jpeg.tar.gz"
ANCHOR_INT8 = SHARED / "anchors" / "mlperf-tiny-ic" / "pretrainedResnet_quant.tflite"

pytestmark = pytest.mark.skipif(
    not (JPEG.is_file() and ANCHOR_INT8.is_file()), reason="../shared data not present"
)


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("LITELAB_CACHE_DIR", str(tmp_path / "cache"))


def test_inspect_the_reference_int8_model(capsys):
    assert main(["inspect", str(ANCHOR_INT8), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    text = json.dumps(info)
    assert "CONV_2D" in text and "12501632" in text.replace(",", "")


def test_deploy_the_reference_model_to_two_targets(tmp_path, capsys):
    common = [str(ANCHOR_INT8), "--data", str(JPEG), "--train-limit", "50", "--test-limit", "50"]
    out = tmp_path / "esp"
    assert main(["deploy", *common, "--target", "esp-eye", "--out", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["verdict"]["fits"] is True and report["arena_bytes"] == 55_984
    assert report["top1_agreement"] >= 0.9
    assert (out / "main" / "model_data.cc").is_file() and (out / "main" / "labels.h").is_file()
    assert "kTensorArenaSize" in (out / "main" / "main.cc").read_text()
    tight = ["deploy", *common, "--target", "esp-eye", "--ram", "16K", "--out", str(tmp_path / "t")]
    assert main([*tight, "--json"]) == 0  # a verdict, not a crash
    assert json.loads(capsys.readouterr().out)["verdict"]["fits"] is False


def test_unknown_target_fails_before_any_training(tmp_path, capsys):
    runs = tmp_path / "runs"
    argv = ["run", "--data", str(JPEG), "--export", "--target", "arduino-uno"]
    assert main([*argv, "--runs-dir", str(runs)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "arduino-uno" in err[0] and "esp-eye" in err[0]
    assert not runs.exists()


def test_run_with_export_ends_with_every_format_and_board_sources(tmp_path, capsys):
    argv = ["run", "--data", str(JPEG), "--train-limit", "300", "--test-limit", "100",
            "--epochs", "1", "--export", "--target", "cortex-m-small",
            "--runs-dir", str(tmp_path), "--quiet"]  # fmt: skip
    assert main(argv) == 0
    out = capsys.readouterr().out
    (run_dir,) = tmp_path.iterdir()
    export = run_dir / "export"
    for name in (
        "model_float32.tflite",
        "model_dynamic.tflite",
        "model_float16.tflite",
        "model_int8.tflite",
        "comparison.csv",
        "comparison.json",
        "comparison.png",
    ):
        assert (export / name).is_file(), name
    rows = json.loads((export / "comparison.json").read_text())["rows"]
    assert len(rows) == 7
    board = run_dir / "deploy" / "cortex-m-small"
    (model_cc,) = board.rglob("model_data.cc")
    assert model_cc.read_text().count("0x") > 100_000  # every byte of a ~170 KB int8 model
    assert "verdict" in out and "fits" in out


def test_deploy_is_a_library_call_too(tmp_path):
    from litelab.export.deploy import deploy

    data = {"source": str(JPEG), "train_limit": 50, "test_limit": 30}
    report = deploy(ANCHOR_INT8, target="cortex-m-small", out=str(tmp_path), data=data)
    assert report["arena_bytes"] == 55_984 and report["images_checked"] == 30
    assert report["verdict"]["fits"] is True and report["input_scale"] == 255.0
