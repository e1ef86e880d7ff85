"""Starting from a trained model (`--init`): the reused weights, the new class layer,
freezing and fine-tuning, what the run records, and the one-line errors."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import keras
import numpy as np
import pytest

from litelab.cli import main
from litelab.config import resolve_config
from litelab.errors import LitelabError
from litelab.inference import load_model
from litelab.jobs import run
from litelab.models.init import class_layer, init_model, source_model_name
from litelab.models.transfer import backbone_of
from litelab.zoo import resolve


def _weights(model):
    return [np.array(w) for w in model.get_weights()]


def test_the_body_keeps_the_source_weights_under_a_new_class_layer():
    zoo_model = load_model("zoo:mcu")
    model = init_model("zoo:mcu", (32, 32, 3), 3)
    assert model.outputs[0].shape[-1] == 3
    body = backbone_of(model)
    body_layers = [layer for layer in body.layers if layer.weights]
    source_layers = [layer for layer in zoo_model.layers if layer.weights][:-1]  # no Dense10
    assert len(body_layers) == len(source_layers)
    for mine, theirs in zip(body_layers, source_layers, strict=True):
        for a, b in zip(mine.get_weights(), theirs.get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)
    assert class_layer(model).name == "classes" and class_layer(model).units == 3
    frozen = init_model("zoo:mcu", (32, 32, 3), 3, freeze_backbone=True)
    assert [w.shape for w in frozen.trainable_weights] == [(64, 3), (3,)]


def test_a_frozen_start_trains_only_the_new_layer_and_records_it(toy_colours, tmp_path):
    training = {"model": "mcunet", "epochs": 2, "init": "zoo:mcu", "freeze_backbone": True}
    training |= {"batch_size": 64}
    cfg = resolve_config(None, {"source": "toy"}, training, str(tmp_path))
    result = run(cfg, data=toy_colours, run_name="frozen", progress=False, verbose=0)
    before = _weights(backbone_of(init_model("zoo:mcu", (32, 32, 3), 2)))
    after = _weights(backbone_of(result.model))
    for a, b in zip(before, after, strict=True):
        np.testing.assert_array_equal(a, b)  # BatchNorm statistics too: inference mode
    metrics = json.loads((tmp_path / "frozen" / "metrics.json").read_text())
    assert metrics["init"] == {
        "source": "zoo:mcu",
        "sha256": hashlib.sha256(Path(resolve("zoo:mcu")).read_bytes()).hexdigest(),
        "reused_params": 70_384,
        "new_params": 64 * 2 + 2,
        "freeze_backbone": True,
    }
    assert metrics["test_accuracy"] >= 0.9  # the zoo's features tell red from blue
    assert 'init = "zoo:mcu"' in (tmp_path / "frozen" / "config.toml").read_text()
    reloaded = keras.models.load_model(tmp_path / "frozen" / "model.keras")
    assert reloaded.outputs[0].shape[-1] == 2


def test_the_cli_starts_from_a_run_folder_and_fine_tunes_in_a_second_stage(
    toy_npz, tmp_path, capsys
):
    first = tmp_path / "first"
    base = ["run", "--data", str(toy_npz), "--epochs", "1", "--quiet"]
    assert main([*base, "--model", "lenet5", "--out", str(first)]) == 0
    assert source_model_name(first) == "lenet5" and source_model_name("zoo:fast") == "fastnet"
    second = tmp_path / "second"
    args = [*base, "--init", str(first), "--freeze-backbone", "--fine-tune", "2"]
    args += ["--fine-tune-epochs", "1", "--no-evaluate", "--out", str(second)]
    assert main(args) == 0
    assert 'model = "lenet5"' in (second / "config.toml").read_text()  # taken from --init
    rows = (second / "history.csv").read_text().splitlines()
    stage = rows[0].split(",").index("stage")
    assert [float(r.split(",")[stage]) for r in rows[1:]] == [1.0, 2.0]
    model = keras.models.load_model(second / "model.keras")
    layers = backbone_of(model).layers  # lenet5's body ends Dense120, Dropout
    assert [layer.trainable for layer in layers[-2:]] == [True, True]
    assert not any(layer.trainable for layer in layers[:-2] if layer.weights)


def test_bad_starts_are_one_line_errors(toy_npz, tmp_path, capsys):
    args = ["run", "--data", str(toy_npz), "--epochs", "1", "--quiet"]
    args += ["--runs-dir", str(tmp_path / "runs")]
    pooled = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.GlobalAveragePooling2D()])
    pooled.save(tmp_path / "pooled.keras")
    for extra, message in (
        (["--init", str(tmp_path / "missing")], "not found"),
        (["--init", "zoo:nothing"], "no zoo model 'nothing'"),
        (["--init", "zoo:mcu", "--model", "tiny"], "holds a mcunet model but --model is tiny"),
        (["--init", str(tmp_path / "pooled.keras")], "does not end in a Dense class layer"),
        (["--model", "tiny", "--freeze-backbone"], "--freeze-backbone needs --init"),
    ):
        assert main(args + extra) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("litelab: error:") and message in err and "\n" not in err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
    with pytest.raises(LitelabError, match="expects input shape"):
        init_model("zoo:mcu", (64, 64, 3), 2)


def test_recording_a_start_whose_file_is_gone_never_fails(tmp_path):
    """The record is written after a long training: the hash taken at the start is kept;
    without one, a source deleted meanwhile gives no hash, not an error that would lose the
    trained model; a present one gives its hash."""
    import types

    from litelab.models import build_model
    from litelab.models.init import record, start_sha256

    model = build_model("tiny", (32, 32, 3), 2)
    path = tmp_path / "start.keras"
    path.write_bytes(b"not really a model, but a file with bytes")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    cfg = types.SimpleNamespace(init=str(path), freeze_backbone=False)
    assert start_sha256(path) == record(cfg, model)["init"]["sha256"] == digest
    path.unlink()
    assert record(cfg, model)["init"]["sha256"] is None and start_sha256(path) is None
    assert record(cfg, model, digest)["init"]["sha256"] == digest


def test_the_start_is_hashed_as_it_is_loaded_and_the_hash_survives_a_resume(toy_colours, tmp_path):
    """The --init file is replaced after the first epoch, and the run is interrupted and
    resumed: metrics.json still names the file the weights came from."""
    import shutil

    from litelab.train import StopAfterEpochs

    start = tmp_path / "start.keras"
    shutil.copyfile(resolve("zoo:mcu"), start)
    digest = hashlib.sha256(start.read_bytes()).hexdigest()

    class ReplaceStart(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            start.write_bytes(b"another file now")

    training = {"model": "mcunet", "epochs": 2, "init": str(start), "batch_size": 64}
    cfg = resolve_config(None, {"source": "toy"}, training, str(tmp_path / "runs"))
    with pytest.raises(KeyboardInterrupt):
        run(
            cfg,
            data=toy_colours,
            run_name="r",
            progress=False,
            verbose=0,
            callbacks=[ReplaceStart(), StopAfterEpochs(1)],
        )
    state = json.loads((tmp_path / "runs" / "r" / "checkpoint" / "state.json").read_text())
    assert state["epochs_done"] == 1 and state["facts"] == {"init_sha256": digest}
    run(resume=tmp_path / "runs" / "r", data=toy_colours, progress=False, verbose=0)
    metrics = json.loads((tmp_path / "runs" / "r" / "metrics.json").read_text())
    assert metrics["epochs_run"] == 2 and metrics["init"]["sha256"] == digest
    assert hashlib.sha256(start.read_bytes()).hexdigest() != digest
