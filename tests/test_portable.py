"""Portable model files: every .keras and .h5 litelab writes loads with plain Keras in a
Python where ``import litelab`` fails, and predicts what the model in memory predicts."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest

from litelab.config import TrainingConfig, resolve_config
from litelab.inference import load_model
from litelab.models import build_model
from litelab.models.layers import BatchNorm, ImageNetPreprocess, has_litelab_objects, portable
from litelab.train import compile_model
from litelab.zoo import entries

# A child Python whose import system refuses litelab (as if it were not installed), that
# loads every file it is given and saves its predictions on the probe images where it is told
# (never beside the file: the zoo's files live inside the package).
REFUSING_CHILD = r"""
import sys
class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name == "litelab" or name.startswith("litelab."):
            raise ImportError("No module named 'litelab' (refused by the test)")
sys.meta_path.insert(0, Refuse())
try:
    import litelab
    raise SystemExit("litelab was importable")
except ImportError:
    pass
import json, numpy as np, keras
for path, probe, out in json.loads(sys.argv[1]):
    model = keras.models.load_model(path)
    np.save(out, model.predict(np.load(probe), verbose=0))
print("loaded", len(json.loads(sys.argv[1])))
"""


def probe_images(shape=(32, 32, 3), n=8, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, *shape), dtype=np.float32)


def config_text(path: Path) -> str:
    if path.suffix == ".keras":
        with zipfile.ZipFile(path) as z:
            return z.read("config.json").decode()
    import h5py

    with h5py.File(path, "r") as f:
        return str(f.attrs["model_config"])


def load_without_litelab(files: list[tuple[Path, np.ndarray]], tmp_path: Path) -> list:
    """Load each file in the refusing child; its predictions on each probe."""
    jobs = []
    for i, (path, probe) in enumerate(files):
        probe_path = tmp_path / f"probe{i}.npy"
        np.save(probe_path, probe)
        jobs.append((str(path), str(probe_path), str(tmp_path / f"plain{i}.npy")))
    proc = subprocess.run(
        [sys.executable, "-c", REFUSING_CHILD, json.dumps(jobs)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return [np.load(out) for _, _, out in jobs]


def nested_model() -> keras.Model:
    """Both preprocessing modes and a nested functional block of litelab BatchNorm, called
    with training=False like a transfer model's backbone."""
    inner_in = keras.Input((32, 32, 3))
    y = keras.layers.Conv2D(4, 3, padding="same")(inner_in)
    y = BatchNorm(momentum=0.9)(y)
    inner = keras.Model(inner_in, y, name="backbone")
    inputs = keras.Input((32, 32, 3))
    a = ImageNetPreprocess("caffe")(inputs)
    b = ImageNetPreprocess("tf")(inputs)
    x = keras.layers.Concatenate()([inner(a, training=False), inner(b / 255.0, training=False)])
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))


def trained(name: str) -> keras.Model:
    """A fast-recipe model (fused BatchNorm, OneCycle schedule) after a few steps, so the
    moving statistics and optimizer slots are not at their initial values."""
    keras.utils.set_random_seed(1)
    model = build_model(name, (32, 32, 3), 10, "relu")
    cfg = TrainingConfig(
        model=name, optimizer="nesterov", schedule="onecycle", warmup=0.2, learning_rate=0.1
    )
    compile_model(model, cfg, steps_per_epoch=4)
    x = (probe_images(n=32) * 255).astype("uint8") / 255.0
    model.fit(x, np.arange(32) % 10, batch_size=8, epochs=1, verbose=0)
    return model


@pytest.mark.parametrize("name", ["fastnet", "mcunet"])
def test_fast_models_become_plain_keras_with_the_same_outputs(name):
    model = trained(name)
    assert has_litelab_objects(model)
    clone = portable(model)
    assert not has_litelab_objects(clone)
    x = probe_images()
    np.testing.assert_allclose(clone.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)
    assert clone.count_params() == model.count_params()
    kinds = {type(layer).__name__ for layer in clone.layers}
    assert "BatchNormalization" in kinds and "BatchNorm" not in kinds
    # compiled the same way, the schedule frozen at its current value, the slots copied
    assert isinstance(clone.get_compile_config()["optimizer"]["config"]["learning_rate"], float)
    assert clone.loss.get_config() == model.loss.get_config()
    slots = {v.path: v for v in clone.optimizer.variables}
    assert model.optimizer.iterations.numpy() == clone.optimizer.iterations.numpy() == 4
    for var in model.optimizer.variables:
        np.testing.assert_array_equal(np.asarray(slots[var.path]), np.asarray(var), var.path)


def test_preprocessing_layers_and_nested_blocks_are_swapped_exactly():
    model = nested_model()
    clone = portable(model)
    x = probe_images()
    np.testing.assert_allclose(clone.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)
    text = json.dumps(clone.get_config())
    assert "litelab" not in text and "BatchNormalization" in text and "Rescaling" in text


def test_a_model_without_litelab_layers_is_saved_as_it_is():
    model = build_model("baseline", (32, 32, 3), 10, "relu")
    assert portable(model) is model


def test_old_files_naming_litelab_batchnorm_still_load_in_litelab(tmp_path):
    model = trained("mcunet")
    model.save(tmp_path / "old.keras")  # as litelab wrote it before: litelab>BatchNorm inside
    assert "litelab>BatchNorm" in config_text(tmp_path / "old.keras")
    loaded = load_model(tmp_path / "old.keras")
    x = probe_images()
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-5)


@pytest.fixture(scope="module")
def artifacts(toy_npz, toy_colours, tmp_path_factory):
    """Every kind of Keras file litelab writes, each with litelab's own prediction on a probe:
    a fastnet run (.keras, .h5), its export (.keras, .h5), a search's best/ run, a warm-up's
    .keras, and the shipped zoo."""
    from litelab.basics.job import run_logistic
    from litelab.export.exporter import export_model
    from litelab.jobs import run
    from litelab.tune.search import TuneSettings, tune

    root = tmp_path_factory.mktemp("portable")
    cfg = resolve_config(None, {"source": str(toy_npz)}, {"model": "fastnet", "epochs": 1}, root)
    run_dir = run(cfg, run_name="fast", progress=False, verbose=0).run_dir
    export_model(run_dir, formats=("keras", "h5"), progress=False, latency_repeats=1)
    space = {"conv_blocks": {"value": 1}, "filters": {"value": 8}, "units": {"value": 8}}
    settings = TuneSettings(tuner="random", trials=1, max_epochs=1, space=space, seed=3)
    best = tune(settings, out=root / "tune", data=toy_colours, progress=False).best_run
    basics_dir, _ = run_logistic(samples=200, epochs=2, out=root / "logistic", progress=False)
    image = probe_images()
    files = {
        "run .keras": (run_dir / "model.keras", image),
        "run .h5": (run_dir / "model.h5", image),
        "export .keras": (run_dir / "export" / "model.keras", image),
        "export .h5": (run_dir / "export" / "model.h5", image),
        "tune best .keras": (best / "model.keras", image),
        "basics .keras": (basics_dir / "logistic_keras.keras", probe_images((2,), n=5)),
    }
    files.update({f"zoo:{e.name} .keras": (e.keras_path, image) for e in entries()})
    expected = {k: load_model(p).predict(x, verbose=0) for k, (p, x) in files.items()}
    return files, expected


def test_every_kind_of_file_loads_and_predicts_without_litelab(artifacts, tmp_path):
    files, expected = artifacts
    assert {"zoo:fast .keras", "zoo:mcu .keras"} <= set(files)
    for kind, (path, _) in files.items():
        assert path.is_file(), kind
        assert "litelab" not in config_text(path), f"{kind} names a litelab class"
    got = load_without_litelab(list(files.values()), tmp_path)
    for kind, out in zip(files, got, strict=True):
        np.testing.assert_allclose(out, expected[kind], atol=1e-5, err_msg=kind)
