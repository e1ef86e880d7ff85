"""litelab tune: the course space, every tuner, resume, budget, bad input, distributed mode."""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import keras
import keras_tuner as kt
import numpy as np
import pytest

from litelab.cli import main
from litelab.config import DatasetConfig
from litelab.errors import LitelabError
from litelab.runs import read_run_config
from litelab.tune import hypermodel as hm_module
from litelab.tune.hypermodel import Deadline
from litelab.tune.search import TuneSettings, read_settings, tune
from litelab.tune.space import course_space, load_space

QUICK = {"conv_blocks": {"value": 1}, "filters": {"values": [8, 16]}, "units": {"value": 16}}


def journal_events(tune_dir: Path) -> list[dict]:
    events = []
    for path in sorted((tune_dir / "journal").glob("*.jsonl")):
        for line in path.read_text().splitlines():
            events.append({**json.loads(line), "tuner": path.stem})
    return events


def read_trials(tune_dir: Path) -> list[dict]:
    return list(csv.DictReader((tune_dir / "trials.csv").open()))


# --------------------------------------------------------------------------- the space


def test_default_space_is_the_courses():
    space = course_space(max_epochs=9)
    hp = kt.HyperParameters()
    for param in space.values():
        param.declare(hp)
    by_name = {p.name: p for p in hp.space}
    assert (by_name["conv_blocks"].min_value, by_name["conv_blocks"].max_value) == (1, 3)
    assert (by_name["filters"].min_value, by_name["filters"].max_value) == (32, 128)
    assert by_name["filters"].step == 32 and by_name["units"].step == 32
    assert by_name["learning_rate"].sampling == "log"
    assert (by_name["learning_rate"].min_value, by_name["learning_rate"].max_value) == (
        1e-4,
        1e-2,
    )
    assert set(by_name["optimizer"].values) == {"adam", "sgd", "rmsprop"}
    assert set(by_name["activation"].values) == {"relu", "tanh"}
    assert by_name["dropout"].max_value == 0.5
    assert isinstance(by_name["augment"], kt.engine.hyperparameters.Boolean)
    assert (by_name["epochs"].min_value, by_name["epochs"].max_value) == (3, 9)


def test_a_space_file_changes_only_what_it_names(tmp_path):
    path = tmp_path / "space.toml"
    path.write_text(
        '[learning_rate]\nvalues = [0.01, 0.001]\n[optimizer]\nvalue = "sgd"\n'
        "[conv_blocks]\nmin = 1\nmax = 2\n"
    )
    space = load_space(path, max_epochs=4)
    assert space["learning_rate"].values == (0.01, 0.001)
    assert space["optimizer"].value == "sgd"
    assert (space["conv_blocks"].min, space["conv_blocks"].max) == (1, 2)
    assert space["units"] == course_space(4)["units"]


@pytest.mark.parametrize(
    "text,message",
    [
        ("[lr]\nvalue = 1", r"unknown hyperparameter \[lr\]"),
        ("[learning_rate]\nmin = 0.1\nmax = 0.01", "min 0.1 is greater than max 0.01"),
        ('[learning_rate]\nmin = 0.0\nmax = 0.1\nsampling = "log"', "must be greater than 0"),
        ('[optimizer]\nvalues = ["adamw"]', "'adamw' must be one of"),
        ("[conv_blocks]\nvalue = 4", "must be 1, 2 or 3"),
        ("[units]\nmin = 8\nmax = 64\nstpe = 8", "unknown key 'stpe' in \\[units\\]"),
        ("[dropout]\nmin = 0.2\nmax = 1.0", r"\[dropout\] max = 1.0 must be in \[0, 1\)"),
        ("[batch_size]\nmin = 16", "needs value, values, or both min and max"),
        ("[filters]\nmin = 8\nmax = 16\nstep = 0", "step must be greater than 0"),
        ("[units]\nmin = 2.5\nmax = 8", "must be an integer"),
        ("learning_rate = 3", r"\[learning_rate\] must be a table"),
        ("[units\nmin = 1", "not valid TOML"),
    ],
)
def test_bad_space_files_name_the_key(tmp_path, text, message):
    path = tmp_path / "space.toml"
    path.write_text(text)
    with pytest.raises(LitelabError, match=message):
        load_space(path, max_epochs=4)


def test_missing_space_file_and_hyperband_epochs_are_errors(tmp_path):
    with pytest.raises(LitelabError, match="search space file not found"):
        load_space(tmp_path / "nope.toml", 3)
    with pytest.raises(LitelabError, match="Hyperband gives each trial its own epochs"):
        TuneSettings(tuner="hyperband", space={"epochs": {"value": 2}})


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"tuner": "grid"}, "unknown tuner 'grid'"),
        ({"trials": 0}, "--trials must be at least 1"),
        ({"max_epochs": 0}, "--max-epochs must be at least 1"),
        ({"objective": "f1"}, "unknown objective 'f1'"),
        ({"data": DatasetConfig(val_split=0.0)}, "needs a validation split"),
        ({"space": {"units": {"min": 64, "max": 32}}}, "min 64 is greater than max 32"),
    ],
)
def test_nonsense_settings_are_one_line_errors(kwargs, message):
    with pytest.raises(LitelabError, match=message):
        TuneSettings(**kwargs)


# --------------------------------------------------------------------------- searches


@pytest.mark.parametrize("tuner", ["random", "bayesian", "hyperband"])
def test_every_tuner_runs_two_trials_and_reports_them(tuner, toy_colours, tmp_path):
    space = dict(QUICK)
    if tuner != "hyperband":
        space["epochs"] = {"values": [1, 2]}
    settings = TuneSettings(tuner=tuner, trials=2, max_epochs=2, factor=2, space=space, patience=3)
    result = tune(settings, out=tmp_path / "t", data=toy_colours, retrain=False, progress=False)
    assert result.ended == "finished"
    rows = read_trials(result.tune_dir)
    assert [r["trial"] for r in rows] == [t["trial"] for t in result.trials]
    assert len(rows) == 2 and all(r["status"] == "COMPLETED" for r in rows)
    for row in rows:
        assert row["filters"] in ("8", "16") and row["units"] == "16"
        assert 0.0 <= float(row["objective"]) <= 1.0
        if tuner != "hyperband":  # epochs are a hyperparameter (seed 001's custom tuner)
            assert row["epochs_trained"] == row["epochs"]
    assert (result.tune_dir / "objective.png").read_bytes()[:4] == b"\x89PNG"
    best = json.loads((result.tune_dir / "best_hyperparameters.json").read_text())
    assert best["training"]["model"] == "cnn"
    assert best["training"]["model_options"]["filters"] == [best["hyperparameters"]["filters_0"]]
    saved = json.loads((result.tune_dir / "tune.json").read_text())
    assert saved["status"] == "finished" and saved["trials_completed"] == 2
    assert "| trial | status |" in (result.tune_dir / "report.md").read_text()


def test_the_best_model_is_retrained_on_train_and_val_as_a_normal_run(toy_colours, tmp_path):
    settings = TuneSettings(tuner="random", trials=2, max_epochs=2, space=QUICK, seed=3)
    result = tune(settings, out=tmp_path / "t", data=toy_colours, progress=False)
    run_dir = result.best_run
    assert run_dir == tmp_path / "t" / "best"
    config = read_run_config(run_dir)
    assert config.data.val_split == 0.0
    assert config.training.model == "cnn"
    assert config.training.epochs == result.best["epochs"]
    assert config.training.learning_rate == pytest.approx(
        result.best["hyperparameters"]["learning_rate"]
    )
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["num_train"] == len(toy_colours.x_train) + len(toy_colours.x_val)
    assert metrics["num_val"] == 0
    model = keras.models.load_model(run_dir / "model.keras")
    assert model.count_params() == metrics["params"]
    assert result.best_metrics["test_accuracy"] == metrics["test_accuracy"]


def test_an_interrupted_search_resumes_without_repeating_finished_trials(
    toy_colours, tmp_path, monkeypatch
):
    settings = TuneSettings(tuner="random", trials=3, max_epochs=1, space=QUICK)
    real_fit = hm_module.CourseHyperModel.fit
    calls = []

    def fit_then_interrupt(self, hp, model, data, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt  # Ctrl-C during the second trial
        return real_fit(self, hp, model, data, **kwargs)

    monkeypatch.setattr(hm_module.CourseHyperModel, "fit", fit_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        tune(settings, out=tmp_path / "t", data=toy_colours, retrain=False, progress=False)
    monkeypatch.setattr(hm_module.CourseHyperModel, "fit", real_fit)
    first_trial = (tmp_path / "t" / "search" / "trial_0" / "trial.json").read_bytes()

    result = tune(resume=tmp_path / "t", data=toy_colours, retrain=False, progress=False)
    starts = [e["trial"] for e in journal_events(result.tune_dir) if e["event"] == "start"]
    ends = [e["trial"] for e in journal_events(result.tune_dir) if e["event"] == "end"]
    assert starts == ["0", "1", "1", "2"]  # trial 1 again (interrupted), never trial 0
    assert sorted(ends) == ["0", "1", "2"]
    assert (tmp_path / "t" / "search" / "trial_0" / "trial.json").read_bytes() == first_trial
    assert [r["status"] for r in read_trials(result.tune_dir)] == ["COMPLETED"] * 3


def test_resuming_a_different_search_is_refused(toy_colours, tmp_path):
    settings = TuneSettings(tuner="random", trials=1, max_epochs=1, space=QUICK)
    tune(settings, out=tmp_path / "t", data=toy_colours, retrain=False, progress=False)
    other = TuneSettings(tuner="bayesian", trials=1, max_epochs=1, space=QUICK)
    with pytest.raises(LitelabError, match="different search: tuner was 'random', now 'bayesian'"):
        tune(other, resume=tmp_path / "t", data=toy_colours, progress=False)
    assert read_settings(tmp_path / "t").tuner == "random"
    with pytest.raises(LitelabError, match="already holds a search; continue it with --resume"):
        tune(settings, out=tmp_path / "t", data=toy_colours, progress=False)
    with pytest.raises(LitelabError, match="not a litelab search folder"):
        tune(resume=tmp_path, data=toy_colours, progress=False)


def test_a_spent_budget_stops_the_search_cleanly(toy_colours, tmp_path):
    settings = TuneSettings(tuner="random", trials=5, max_epochs=1, space=QUICK)
    result = tune(
        settings,
        out=tmp_path / "t",
        data=toy_colours,
        budget_minutes=1e-6,
        retrain=False,
        progress=False,
    )
    assert result.ended == "budget" and result.trials == [] and result.best is None
    assert json.loads((tmp_path / "t" / "tune.json").read_text())["status"] == "budget"


def test_the_deadline_callback_ends_training_at_the_first_epoch_end():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    x = np.zeros((8, 2), "float32")
    passed = Deadline(time.time() - 1)
    history = model.fit(x, x[:, :1], epochs=5, verbose=0, callbacks=[passed])
    assert len(history.history["loss"]) == 1 and passed.fired
    future = Deadline(time.time() + 3600)
    history = model.fit(x, x[:, :1], epochs=3, verbose=0, callbacks=[future])
    assert len(history.history["loss"]) == 3 and not future.fired


# --------------------------------------------------------------------------- the command


def test_tune_command_end_to_end_with_a_space_file(toy_npz, tmp_path, capsys):
    space = tmp_path / "my_space.toml"
    space.write_text("[conv_blocks]\nvalue = 1\n[units]\nvalue = 16\n[epochs]\nvalue = 1\n")
    out = tmp_path / "search"
    code = main(
        ["tune", "--data", str(toy_npz), "--space", str(space), "--tuner", "random"]
        + ["--trials", "2", "--max-epochs", "1", "--train-limit", "150", "--out", str(out)]
        + ["--quiet", "--seed", "7"]
    )
    assert code == 0
    text = capsys.readouterr().out
    assert "ended: finished; 2 of 2 trials completed" in text
    assert "retrained on train+val: test accuracy" in text
    saved = read_settings(out)
    assert saved.space == {
        "conv_blocks": {"value": 1},
        "units": {"value": 16},
        "epochs": {"value": 1},
    }
    assert (saved.seed, saved.data.train_limit) == (7, 150)
    assert (out / "best" / "model.keras").is_file()
    assert len(read_trials(out)) == 2


@pytest.mark.parametrize(
    "args,message",
    [
        (["--tuner", "grid"], "unknown tuner 'grid'"),
        (["--budget-minutes", "0"], "--budget-minutes must be greater than 0"),
        (["--space", "missing.toml"], "search space file not found"),
        (["--distributed", "worker"], "--distributed needs --chief HOST:PORT"),
        (["--distributed", "worker", "--chief", "nohost"], "--chief must be HOST:PORT"),
        (["--resume", "nowhere"], "--resume continues its own folder; drop --out"),
        (["--val-split", "0"], "needs a validation split"),
    ],
)
def test_tune_command_bad_input_is_one_line(args, message, toy_npz, tmp_path, capsys):
    code = main(["tune", "--data", str(toy_npz), "--out", str(tmp_path / "s"), *args])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1
    assert not (tmp_path / "s").exists()


def test_tune_refuses_to_write_into_a_folder_the_user_made(toy_npz, tmp_path, capsys):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    assert main(["tune", "--data", str(toy_npz), "--out", str(mine)]) == 2
    assert "exists and is not empty" in capsys.readouterr().err
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_worker_without_a_chief_times_out_naming_the_address(toy_npz, tmp_path, capsys):
    port = _free_port()
    t0 = time.perf_counter()
    code = main(
        ["tune", "--data", str(toy_npz), "--out", str(tmp_path / "s"), "--distributed"]
        + ["worker", "--chief", f"127.0.0.1:{port}", "--connect-timeout", "1"]
    )
    assert code == 2 and time.perf_counter() - t0 < 30
    assert f"no tuning chief answered at 127.0.0.1:{port} within 1 s" in capsys.readouterr().err


def test_a_chief_whose_port_is_taken_says_so(toy_npz, tmp_path, capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code = main(
            ["tune", "--data", str(toy_npz), "--out", str(tmp_path / "s"), "--distributed"]
            + ["chief", "--chief", f"127.0.0.1:{port}"]
        )
    assert code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


def test_one_chief_and_two_workers_share_the_trials_out(toy_npz, tmp_path):
    """keras-tuner's distributed mode on loopback: every trial runs once, on a worker."""
    out = tmp_path / "shared"
    port = _free_port()
    common = [sys.executable, "-m", "litelab.cli", "tune", "--data", str(toy_npz)]
    common += ["--tuner", "random", "--trials", "6", "--max-epochs", "2", "--quiet"]
    common += ["--out", str(out), "--chief", f"127.0.0.1:{port}", "--no-retrain"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    logs = {name: open(tmp_path / f"{name}.log", "w") for name in ("chief", "w1", "w2")}
    chief = subprocess.Popen(
        [*common, "--distributed", "chief"], env=env, stdout=logs["chief"], stderr=subprocess.STDOUT
    )
    workers = [
        subprocess.Popen(
            [*common, "--distributed", "worker", "--worker-id", str(i)],
            env=env,
            stdout=logs[f"w{i}"],
            stderr=subprocess.STDOUT,
        )
        for i in (1, 2)
    ]
    try:
        codes = [p.wait(timeout=300) for p in (chief, *workers)]
    finally:
        for p in (chief, *workers):
            p.kill()
        for f in logs.values():
            f.close()
    assert codes == [0, 0, 0], {n: (tmp_path / f"{n}.log").read_text()[-2000:] for n in logs}
    events = journal_events(out)
    starts = [(e["tuner"], e["trial"]) for e in events if e["event"] == "start"]
    trial_ids = [t for _, t in starts]
    assert sorted(trial_ids) == sorted(set(trial_ids)) and len(trial_ids) == 6  # none twice
    assert {tuner for tuner, _ in starts} == {"worker1", "worker2"}  # shared out, chief ran none
    rows = read_trials(out)
    assert len(rows) == 6 and all(r["status"] == "COMPLETED" for r in rows)
    assert {r["worker"] for r in rows} == {"worker1", "worker2"}
    assert json.loads((out / "tune.json").read_text())["status"] == "finished"


def test_a_space_too_deep_for_small_images_is_refused_before_any_trial(toy_colours, tmp_path):
    import dataclasses

    small = dataclasses.replace(
        toy_colours,
        x_train=toy_colours.x_train[:, :12, :12],
        x_val=toy_colours.x_val[:, :12, :12],
        x_test=toy_colours.x_test[:, :12, :12],
    )
    with pytest.raises(LitelabError, match="12px images have room for at most 2 conv block"):
        tune(TuneSettings(tuner="random", trials=1), out=tmp_path / "t", data=small)
    assert not (tmp_path / "t").exists()
    ok = TuneSettings(tuner="random", trials=1, max_epochs=1, space={**QUICK})
    assert tune(ok, out=tmp_path / "t", data=small, retrain=False, progress=False).trials


def test_best_hyperparameters_leave_out_bookkeeping_and_unbuilt_blocks():
    from litelab.tune.search import public_values

    values = {"conv_blocks": 2, "filters_0": 8, "filters_1": 16, "filters_2": 32}
    values.update({"tuner/epochs": 3, "tuner/trial_id": "01", "units": 5})
    assert public_values(values) == {
        "conv_blocks": 2,
        "filters_0": 8,
        "filters_1": 16,
        "units": 5,
    }
