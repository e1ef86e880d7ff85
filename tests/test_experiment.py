"""litelab experiment: the course's study as a plan, plan files, the comparison, resume."""

from __future__ import annotations

import csv
import json

import pytest

from litelab.cli import main
from litelab.errors import LitelabError
from litelab.runs import read_run_config
from litelab.study import COURSE_PLAN, load_plan, plan_from_dict, variant_config


def configs(plan):
    return {v.name: variant_config(plan, v).training for v in plan.variants}


def test_the_course_plan_is_seed_004s_study():
    c = configs(COURSE_PLAN)
    assert list(c) == [
        "baseline",
        "lr-1e-4",
        "lr-1e-2",
        "batch32-epochs20",
        "batch64-epochs15",
        "sgd",
        "rmsprop",
        "tanh-first-layer",
        "deeper",
        "wider",
        "augment",
        "dropout",
    ]
    base = c["baseline"]
    assert (base.model, base.optimizer, base.learning_rate, base.batch_size, base.epochs) == (
        "cnn",
        "adam",
        1e-3,
        32,
        10,
    )
    assert c["lr-1e-4"].learning_rate == 1e-4 and c["lr-1e-2"].learning_rate == 1e-2
    assert (c["batch32-epochs20"].batch_size, c["batch32-epochs20"].epochs) == (32, 20)
    assert (c["batch64-epochs15"].batch_size, c["batch64-epochs15"].epochs) == (64, 15)
    assert (c["sgd"].optimizer, c["sgd"].learning_rate) == ("sgd", 0.01)  # Keras' 'sgd'
    assert c["rmsprop"].optimizer == "rmsprop"
    assert c["tanh-first-layer"].model_options == {"first_activation": "tanh"}
    assert c["deeper"].model_options == {"convs_per_block": 2}
    assert c["wider"].model_options == {"dense_units": 128}
    assert c["augment"].augment == ("flip", "crop")
    # The dropout model is seed 002's, but trained under this plan's recipe, not its own.
    assert c["dropout"].model == "dropout-cnn"
    assert (c["dropout"].optimizer, c["dropout"].batch_size, c["dropout"].epochs) == (
        "adam",
        32,
        10,
    )
    for name, cfg in c.items():  # one change at a time: everything else is the baseline's
        if name != "baseline":
            assert cfg != base and cfg.seed == base.seed
    assert variant_config(COURSE_PLAN, COURSE_PLAN.variants[0]).data.val_split == 0.2


@pytest.mark.parametrize(
    "values,message",
    [
        ({"variants": []}, "at least one"),
        ({"variants": [{"name": "a"}, {"name": "a"}]}, "two variants are named 'a'"),
        ({"variants": [{"name": "a", "data": {}}]}, "variants share the base's data"),
        ({"variants": [{"name": "../x"}]}, "needs a name of letters"),
        ({"variants": [{"name": "a", "training": {"lr": 1}}]}, "variant 'a': unknown key 'lr'"),
        (
            {"variants": [{"name": "a", "training": {"epochs": 0}}]},
            "variant 'a': --epochs must be at least 1",
        ),
        ({"variants": [{"name": "a"}], "minutes": 0}, "minutes must be a number above 0"),
        ({"variants": [{"name": "a"}], "steps": 3}, "unknown key 'steps'"),
        ({"variants": [{"name": "a"}], "base": {"model": "x"}}, "holds only"),
    ],
)
def test_bad_plans_name_what_is_wrong(values, message):
    with pytest.raises(LitelabError, match=message):
        plan_from_dict(values, where="p.toml")


def test_plan_names_and_files(tmp_path):
    assert load_plan("course") is COURSE_PLAN
    with pytest.raises(LitelabError, match="no plan named 'nope' and no such file"):
        load_plan("nope")
    bad = tmp_path / "bad.toml"
    bad.write_text("[[variants]\n")
    with pytest.raises(LitelabError, match="not valid TOML"):
        load_plan(bad)


PLAN = """
name = "mini"
description = "two learning rates on the toy data"
[base.training]
model = "cnn"
epochs = 2
batch_size = 16
model_options = { filters = [8, 16], dense_units = 16 }
[[variants]]
name = "baseline"
[[variants]]
name = "slow"
description = "ten times smaller steps"
training = { learning_rate = 1e-4, model_options = { dense_units = 8 } }
"""


def test_experiment_command_compares_every_variant_and_resumes(toy_npz, tmp_path, capsys):
    plan = tmp_path / "mini.toml"
    plan.write_text(PLAN)
    out = tmp_path / "exp"
    assert (
        main(
            ["experiment", "--plan", str(plan), "--data", str(toy_npz), "--out", str(out)]
            + ["--quiet"]
        )
        == 0
    )
    text = capsys.readouterr().out
    assert "best: " in text
    rows = list(csv.DictReader((out / "comparison.csv").open()))
    assert [r["variant"] for r in rows] == ["baseline", "slow"]
    for row in rows:
        assert 0 <= float(row["test_accuracy"]) <= 1 and int(row["int8_bytes"]) > 1000
        assert int(row["epochs"]) == 2 and int(row["params"]) > 0
    slow = read_run_config(out / "slow")
    assert slow.training.learning_rate == 1e-4
    assert slow.training.model_options == {"filters": [8, 16], "dense_units": 8}
    assert read_run_config(out / "baseline").training.model_options["dense_units"] == 16
    assert (out / "val_curves.png").read_bytes()[:4] == b"\x89PNG"
    comparison = json.loads((out / "comparison.json").read_text())
    assert comparison["best"]["variant"] in ("baseline", "slow")
    assert len(comparison["rows"][0]["val_accuracy_curve"]) == 2
    report = (out / "report.md").read_text()
    assert "Best: **" in report and "| variant |" in report

    # An interrupted experiment: the second variant never finished.
    (out / "slow" / "metrics.json").unlink()
    first = (out / "baseline" / "metrics.json").stat().st_mtime_ns
    assert main(["experiment", "--resume", str(out), "--quiet"]) == 0
    assert (out / "baseline" / "metrics.json").stat().st_mtime_ns == first
    assert (out / "slow" / "metrics.json").is_file()
    assert len(list(csv.DictReader((out / "comparison.csv").open()))) == 2


def test_the_course_plan_runs_from_the_command_line(toy_npz, tmp_path, capsys):
    out = tmp_path / "course"
    code = main(
        ["experiment", "--data", str(toy_npz), "--variants", "baseline,wider", "--out", str(out)]
        + ["--quiet", "--no-int8", "--train-limit", "120"]
    )
    assert code == 0
    rows = json.loads((out / "comparison.json").read_text())["rows"]
    assert [r["variant"] for r in rows] == ["baseline", "wider"]
    assert rows[1]["params"] > rows[0]["params"]  # 128 hidden units instead of 64
    assert all(r["epochs"] == 10 for r in rows)


@pytest.mark.parametrize(
    "args,message",
    [
        (["--plan", "nope"], "no plan named 'nope'"),
        (["--variants", "baseline,fastest"], "plan 'course' has no variant 'fastest'"),
        (["--resume", "x", "--seed", "1"], "--resume uses the experiment's own settings"),
    ],
)
def test_experiment_bad_input_is_one_line(args, message, toy_npz, tmp_path, capsys):
    code = main(["experiment", *args, "--out", str(tmp_path / "e")])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1
    assert not (tmp_path / "e").exists()
