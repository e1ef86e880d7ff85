"""The five course labs in examples/ run top to bottom (nbclient) on small slices of the
CIFAR-10 (JPEG copy), offline, with backbone weights written here, and produce real
outputs: accuracies in [0, 1], figures, tables and the files they say they write."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
JPEG_COPY = ROOT.parent / "shared" / "datasets" / "cifar10-jpeg.tar.gz"
NOTEBOOKS = sorted(p.name for p in EXAMPLES.glob("*.ipynb"))

pytestmark = pytest.mark.skipif(not JPEG_COPY.is_file(), reason="no CIFAR-10 (JPEG copy)")


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    """Environment for the kernels: the slice switch, the JPEG copy, one decoded-array
    cache for all five, an empty Keras home, and random backbone weights files standing in
    for ImageNet's (nothing can be downloaded here)."""
    import keras
    import numpy as np

    from litelab.config import DatasetConfig
    from litelab.data import load_dataset
    from litelab.models.pretrained import BACKBONES

    d = tmp_path_factory.mktemp("notebook-env")
    # One stratified slice of the JPEG copy, decoded once and handed to every notebook as an
    # .npz (the notebooks slice it again with LITELAB_SMALL's limits).
    part = load_dataset(
        DatasetConfig(source=str(JPEG_COPY), val_split=0.0, train_limit=500, test_limit=200),
        progress=False,
    )
    np.savez(
        d / "cifar10-jpeg-slice.npz",
        x_train=part.x_train,
        y_train=part.y_train,
        x_test=part.x_test,
        y_test=part.y_test,
        classes=np.array(part.classes),
    )
    keras.utils.set_random_seed(0)
    BACKBONES["vgg16"].build(32, include_top=False).save_weights(d / "vgg16_notop.weights.h5")
    top = BACKBONES["mobilenetv2"].build(224, include_top=True, alpha=0.35)
    top.save_weights(d / "mnv2_top.weights.h5")
    index = {str(i): [f"n{i:08d}", f"imagenet_class_{i}"] for i in range(1000)}
    (d / "class_index.json").write_text(json.dumps(index))
    keras.backend.clear_session()
    return {
        "LITELAB_SMALL": "1",
        "LITELAB_DATA": str(d / "cifar10-jpeg-slice.npz"),
        "LITELAB_CACHE_DIR": str(tmp_path_factory.getbasetemp() / "notebook-cache"),
        "KERAS_HOME": str(d / "keras-home"),
        "LITELAB_VGG16_WEIGHTS": str(d / "vgg16_notop.weights.h5"),
        "LITELAB_IMAGENET_BACKBONE": "mobilenetv2",
        "LITELAB_IMAGENET_ALPHA": "0.35",
        "LITELAB_IMAGENET_WEIGHTS": str(d / "mnv2_top.weights.h5"),
        "LITELAB_CLASS_INDEX": str(d / "class_index.json"),
        "LITELAB_OUT": "runs",
        "TF_CPP_MIN_LOG_LEVEL": "2",
    }


def execute(name: str, env: dict[str, str], workdir: Path, monkeypatch) -> list:
    """Run the notebook in ``workdir``; its code cells (with outputs). Fails on any error."""
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    book = nbformat.read(EXAMPLES / name, as_version=4)
    client = nbclient.NotebookClient(
        book, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(workdir)}}
    )
    client.execute()
    return [c for c in book.cells if c.cell_type == "code"]


def text_of(cell) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append(out["text"])
        elif "data" in out:
            parts.append(out["data"].get("text/plain", ""))
    return "".join(parts)


def kinds(cell) -> set[str]:
    return {k for out in cell.get("outputs", []) for k in out.get("data", {})}


def fractions(text: str, label: str) -> list[float]:
    return [float(v) for v in re.findall(rf"(?m){label}:? (\d\.\d+)", text)]


def run_folders(workdir: Path) -> list[Path]:
    return sorted(p.parent for p in (workdir / "runs").rglob("metrics.json"))


def test_every_lab_has_a_notebook_that_states_its_time():
    assert len(NOTEBOOKS) == 5 and [n[:3] for n in NOTEBOOKS] == ["000", "001", "002", "003", "004"]
    for name in NOTEBOOKS:
        book = nbformat.read(EXAMPLES / name, as_version=4)
        assert "2-core laptop" in book.cells[0].source, name
        assert "LITELAB_SMALL" in book.cells[0].source, name
        assert all(not c.get("outputs") for c in book.cells if c.cell_type == "code"), name


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_and_shows_real_results(name, env, tmp_path, monkeypatch):
    cells = execute(name, env, tmp_path, monkeypatch)
    text = "\n".join(text_of(c) for c in cells)
    images = sum("image/png" in kinds(c) for c in cells)
    tables = sum("text/html" in kinds(c) for c in cells)
    folders = run_folders(tmp_path)
    assert folders, "no run folder written"
    if name.startswith("000"):
        (acc,) = fractions(text, "^test accuracy")
        assert 0.0 <= acc <= 1.0
        assert 0.0 <= fractions(text, "VGG16 transfer test accuracy")[0] <= 1.0
        assert images >= 4 and tables >= 2
        run = next(f for f in folders if f.name.endswith("-baseline"))
        for file in ("model.keras", "model.h5", "saved_model", "export/model_int8.tflite"):
            assert (run / file).exists(), file
        assert "'dtype': 'int8'" in text and "smaller than model.keras" in text
    elif name.startswith("001"):
        assert "Keras SGD, tuned" in text and "max |Keras - TFLite|" in text
        accs = fractions(text, "accuracy")
        assert len(accs) == 2 and all(0.0 <= a <= 1.0 for a in accs)
        assert (tmp_path / "runs" / "logistic" / "logistic_keras.tflite").is_file()
        assert images == 0 and tables >= 2  # the warm-ups show their PNGs inside HTML
    elif name.startswith("002"):
        assert images >= 4 and tables >= 1
        names = {f.name.split("-", 2)[-1] for f in folders}
        assert {"vgg-blocks", "dropout-cnn"} <= names
    elif name.startswith("003"):
        assert {"tiny", "wide", "lenet5"} <= {f.name.split("-", 2)[-1] for f in folders}
        assert text.count("imagenet_class_") >= 3 and images >= 1
    else:
        assert re.search(r"best variant: \S+ \((\d\.\d+)\)", text)
        assert "best hyperparameters" in text
        assert (tmp_path / "runs" / "study" / "comparison.json").is_file()
        assert (tmp_path / "runs" / "tune" / "best" / "model.keras").is_file()
        assert "esp-eye" in text
