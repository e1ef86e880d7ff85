"""The shipped zoo: publishing a run as an entry, `litelab zoo`, and zoo:<name> everywhere.

A tiny entry is published into a temporary zoo (``LITELAB_ZOO_DIR``) from a real run on
toy data; the entries that ship inside the package are checked against their cards.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from litelab import zoo
from litelab.cli import main
from litelab.config import resolve_config
from litelab.errors import LitelabError
from litelab.export.inspect import inspect_tflite
from litelab.export.tflm import measure_arena
from litelab.jobs import run
from litelab.zoo.publish import publish

PACKAGE_ZOO = Path(zoo.__file__).resolve().parent


@pytest.fixture(scope="module")
def toy_zoo(tmp_path_factory, toy_colours):
    """A zoo folder with one entry, published from a 2-epoch lenet5 run on toy colours."""
    root = tmp_path_factory.mktemp("zoo")
    runs = tmp_path_factory.mktemp("runs")
    data = toy_colours
    cfg = resolve_config(None, {"source": "toy"}, {"model": "lenet5", "epochs": 2}, str(runs))
    result = run(cfg, data=data, progress=False, verbose=0)
    entry = publish(
        result.run_dir,
        "toy",
        data=data,
        goal="a test entry",
        command="litelab run --model lenet5 --epochs 2",
        root=root,
    )
    return root, entry, result, data


@pytest.fixture
def use_toy_zoo(toy_zoo, monkeypatch):
    monkeypatch.setenv("LITELAB_ZOO_DIR", str(toy_zoo[0]))
    return toy_zoo


def test_publish_writes_the_files_and_an_honest_card(toy_zoo):
    root, entry, result, data = toy_zoo
    folder = root / "toy"
    for name in ("model.keras", "model_int8.tflite", "labels.txt", "card.json"):
        assert (folder / name).is_file()
    card = json.loads((folder / "card.json").read_text())
    int8 = (folder / "model_int8.tflite").read_bytes()
    assert card["sizes"]["int8_bytes"] == len(int8)
    assert card["sizes"]["arena_bytes"] == measure_arena(int8)
    assert card["sizes"]["macs"] == inspect_tflite(int8)["macs"] > 0
    assert card["metrics"]["test_accuracy"] == result.metrics["test_accuracy"]
    assert card["metrics"]["int8_tflm_images"] == len(data.x_test)
    assert 0.0 <= card["metrics"]["int8_tflm_accuracy"] <= 1.0
    assert card["training"]["seed"] == 42 and "lenet5" in card["training"]["command"]
    assert card["data"].startswith("CIFAR-10 (JPEG copy)") or "toy" in card["data"]
    assert (folder / "labels.txt").read_text().split() == ["red", "blue"]


def test_publish_never_overwrites_unless_asked(toy_zoo):
    root, entry, result, data = toy_zoo
    before = (root / "toy" / "card.json").read_bytes()
    with pytest.raises(LitelabError, match="exists"):
        publish(result.run_dir, "toy", data=data, goal="x", command="y", root=root)
    assert (root / "toy" / "card.json").read_bytes() == before
    with pytest.raises(LitelabError, match="not a finished run"):
        publish(root, "other", data=data, goal="x", command="y", root=root)


def test_flip_tta_is_measured_on_the_shipped_file_and_written_to_the_card(toy_zoo, tmp_path):
    import shutil

    import numpy as np

    from litelab.export.tflm import check_tflm
    from litelab.zoo.publish import measure_flip_tta

    root, _, _, data = toy_zoo
    shutil.copytree(root / "toy", tmp_path / "toy")
    int8 = (tmp_path / "toy" / "model_int8.tflite").read_bytes()
    row = measure_flip_tta("toy", data=data, root=tmp_path)
    card = json.loads((tmp_path / "toy" / "card.json").read_text())
    assert row["int8_tflm_accuracy"] == card["metrics"]["int8_tflm_accuracy"]
    report = check_tflm(int8, images=data.x_test, flip_tta=True)
    tta = float(np.mean(report.tflm_tta_scores.argmax(1) == data.y_test))
    assert (
        card["metrics"]["int8_tflm_accuracy_flip_tta"]
        == row["int8_tflm_accuracy_flip_tta"]
        == round(tta, 4)
    )
    assert card["metrics"]["int8_tflm_flip_tta_images"] == len(data.x_test)
    assert "twice the latency" in card["flip_tta"]["note"]
    assert (tmp_path / "toy" / "model_int8.tflite").read_bytes() == int8  # files untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["toy"]  # no .tmp / .old left
    # a card whose single-pass figure the file does not give is refused, and kept
    card["metrics"]["int8_tflm_accuracy"] = row["int8_tflm_accuracy"] + 0.5
    (tmp_path / "toy" / "card.json").write_text(json.dumps(card))
    before = (tmp_path / "toy" / "card.json").read_bytes()
    with pytest.raises(LitelabError, match="not the one it describes"):
        measure_flip_tta("toy", data=data, root=tmp_path)
    assert (tmp_path / "toy" / "card.json").read_bytes() == before


def test_zoo_lists_and_shows_entries(use_toy_zoo, capsys):
    assert main(["zoo"]) == 0
    out = capsys.readouterr().out
    assert "zoo:toy" in out and "CIFAR-10 (JPEG copy)" in out
    assert main(["zoo", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows] == ["toy"]
    assert main(["zoo", "zoo:toy"]) == 0
    assert json.loads(capsys.readouterr().out)["goal"] == "a test entry"


def test_unknown_zoo_name_is_one_line(use_toy_zoo, tmp_path, capsys):
    img = tmp_path / "a.png"
    Image.new("RGB", (40, 30), (200, 10, 10)).save(img)
    assert main(["predict", "--model", "zoo:nope", str(img)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no zoo model 'nope'" in err[0] and "toy" in err[0]


def test_predict_with_a_zoo_model_uses_its_labels(use_toy_zoo, tmp_path, capsys):
    red, blue = tmp_path / "red.jpg", tmp_path / "blue.png"
    Image.new("RGB", (64, 48), (230, 40, 40)).save(red)
    Image.new("RGB", (20, 20), (40, 40, 230)).save(blue)
    assert main(["predict", "--model", "zoo:toy", str(red), str(blue), "--json"]) == 0
    results = json.loads(capsys.readouterr().out)
    assert {t["class"] for r in results for t in r["top"]} == {"red", "blue"}


def test_deploy_a_zoo_model_needs_no_data(use_toy_zoo, tmp_path, capsys):
    out = tmp_path / "board"
    argv = ["deploy", "zoo:toy", "--target", "esp-eye", "--out", str(out), "--json"]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["converted"] is False  # the shipped int8 file, as is
    assert report["arena_bytes"] == use_toy_zoo[1].card["sizes"]["arena_bytes"]
    assert '"red"' in (out / "main" / "labels.h").read_text()


def test_export_of_a_zoo_model_writes_beside_the_user_not_the_package(
    use_toy_zoo, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    assert main(["export", "zoo:toy", "--formats", "keras,tflite-float32", "--quiet"]) == 0
    assert (tmp_path / "export-toy" / "model_float32.tflite").is_file()
    assert not (use_toy_zoo[0] / "toy" / "export").exists()


SHIPPED = [e for e in zoo.entries()] if not __import__("os").environ.get("LITELAB_ZOO_DIR") else []


@pytest.mark.parametrize("entry", SHIPPED, ids=[e.name for e in SHIPPED])
def test_shipped_entries_match_their_cards(entry):
    assert entry.folder.parent == PACKAGE_ZOO
    card = entry.card
    int8 = entry.int8_path.read_bytes()
    assert card["sizes"]["int8_bytes"] == len(int8)
    assert card["sizes"]["macs"] == inspect_tflite(int8)["macs"]
    assert card["sizes"]["arena_bytes"] == measure_arena(int8)
    assert card["data"].startswith("CIFAR-10 (JPEG copy)")
    assert card["metrics"]["int8_tflm_images"] == card["metrics"]["num_test"] == 10_000
    if "int8_tflm_accuracy_flip_tta" in card["metrics"]:  # benchmarks/flip_tta.py's, all images
        assert card["metrics"]["int8_tflm_flip_tta_images"] == 10_000
    for key in ("command", "seed", "cpu", "versions", "train_seconds"):
        assert card["training"][key] not in (None, "")
    assert (entry.folder / "labels.txt").read_text().split()[0] == "airplane"
    # only what publish writes: nothing a test or a tool left beside the shipped files
    names = {p.name for p in entry.folder.iterdir()}
    assert names == {zoo.CARD, zoo.KERAS_FILE, zoo.INT8_FILE, zoo.LABELS}, names


@pytest.mark.skipif(not SHIPPED, reason="custom zoo")
def test_the_shipped_zoo_stays_under_15_mb():
    total = sum(p.stat().st_size for e in SHIPPED for p in e.folder.iterdir())
    assert total < 15 * 2**20, total
