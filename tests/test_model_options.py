"""--option KEY=VALUE and --strategy: a model family's knobs and tf.distribute, end to end."""

from __future__ import annotations

import argparse
import json

import pytest

from litelab.cli import main
from litelab.cli.common import model_option as _model_option
from litelab.runs import read_run_config


@pytest.mark.parametrize(
    "text,expected",
    [
        ("filters=[32, 64]", ("filters", [32, 64])),
        ("dropout=0.25", ("dropout", 0.25)),
        ("first_activation=tanh", ("first_activation", "tanh")),
        ('first_activation="tanh"', ("first_activation", "tanh")),
        ("dense_units = 8", ("dense_units", 8)),
    ],
)
def test_option_values_are_toml(text, expected):
    assert _model_option(text) == expected


@pytest.mark.parametrize("text", ["filters", "=3", "two words=1"])
def test_malformed_options_are_rejected(text):
    with pytest.raises(argparse.ArgumentTypeError, match="expected KEY=VALUE"):
        _model_option(text)


def test_run_a_cnn_variant_with_options_under_the_mirrored_strategy(toy_npz, tmp_path, capsys):
    code = main(
        ["run", "--data", str(toy_npz), "--model", "cnn", "--epochs", "1", "--quiet"]
        + ["--option", "filters=[8,16]", "--option", "first_activation=tanh"]
        + ["--option", "dense_units=0", "--strategy", "mirrored"]
        + ["--runs-dir", str(tmp_path)]
    )
    assert code == 0
    (run_dir,) = tmp_path.iterdir()
    config = read_run_config(run_dir)
    assert config.training.model_options == {
        "filters": [8, 16],
        "first_activation": "tanh",
        "dense_units": 0,
    }
    assert config.training.strategy == "mirrored"
    summary = (run_dir / "summary.txt").read_text()
    assert summary.count("Conv2D") == 2 and summary.count("Dense") == 1
    metrics = json.loads((run_dir / "metrics.json").read_text())
    # filters 8 and 16 (3x3 convs), no hidden layer: 224 + 1,168 + 16*6*6*2 + 2 params
    assert metrics["params"] == 224 + 1168 + 16 * 6 * 6 * 2 + 2


def test_unknown_options_and_strategies_fail_before_a_run_folder_exists(toy_npz, tmp_path, capsys):
    code = main(["run", "--data", str(toy_npz), "--option", "width=2", "--runs-dir", str(tmp_path)])
    assert code == 2 and "model 'baseline' has no option 'width'" in capsys.readouterr().err
    code = main(["run", "--data", str(toy_npz), "--strategy", "tpu", "--runs-dir", str(tmp_path)])
    assert code == 2 and "unknown strategy 'tpu'" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_models_lists_the_options_of_families(capsys):
    assert main(["models", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["cnn"]["options"] == [
        "filters",
        "convs_per_block",
        "dense_units",
        "dropout",
        "first_activation",
    ]
    assert rows["baseline"]["options"] == [] and rows["cnn"]["params"] == 167_562
