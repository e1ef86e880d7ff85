"""`litelab zoo --plot`: accuracy against int8 bytes, arena and MACs for every zoo entry,
beside the MLPerf Tiny reference. Cards only: a fake zoo needs no trained model."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from litelab import zoo
from litelab.cli import main
from litelab.plots.zoo import MLPERF_ANCHOR, PANELS, plotted_rows, zoo_figure

CARDS = {
    "alpha": {"acc": 0.80, "int8": 80_000, "arena": 25_000, "macs": 7_000_000},
    "beta": {"acc": 0.85, "int8": 400_000, "arena": 30_000, "macs": 12_000_000},
    "gamma": {"acc": None, "int8": 90_000, "arena": 20_000, "macs": 5_000_000},  # no TFLM run
}


def write_zoo(root, cards):
    for name, c in cards.items():
        (root / name).mkdir(parents=True)
        card = {
            "name": name,
            "model": "mcunet",
            "metrics": {"test_accuracy": 0.5, "int8_tflm_accuracy": c["acc"]},
            "sizes": {"int8_bytes": c["int8"], "arena_bytes": c["arena"], "macs": c["macs"]},
        }
        (root / name / "card.json").write_text(json.dumps(card))
    return root


@pytest.fixture
def fake_zoo(tmp_path, monkeypatch):
    root = write_zoo(tmp_path / "zoo", CARDS)
    monkeypatch.setenv("LITELAB_ZOO_DIR", str(root))
    return root


def test_each_panel_has_every_model_with_figures_and_the_anchor(fake_zoo):
    rows = zoo.summary_rows()
    assert [r["name"] for r in plotted_rows(rows)] == ["alpha", "beta"]  # gamma: no accuracy
    fig = zoo_figure(rows)
    axes = fig.axes
    assert len(axes) == len(PANELS) == 3
    for ax, (key, label) in zip(axes, PANELS, strict=True):
        assert ax.get_xlabel() == label
        points = np.concatenate([c.get_offsets() for c in ax.collections])
        card_key = {"int8_bytes": "int8", "arena_bytes": "arena", "macs": "macs"}[key]
        expected = [(CARDS[n][card_key], CARDS[n]["acc"]) for n in ("alpha", "beta")]
        expected.append((MLPERF_ANCHOR[key], MLPERF_ANCHOR["accuracy"]))
        np.testing.assert_allclose(sorted(map(tuple, points)), sorted(expected))
        texts = {t.get_text() for t in ax.texts}
        assert {"zoo:alpha", "zoo:beta", "MLPerf ResNet-8"} <= texts


def test_the_cli_writes_a_png_and_never_replaces_the_default_file(
    fake_zoo, tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    assert main(["zoo", "--plot"]) == 0
    assert "zoo.png (2 models" in capsys.readouterr().out
    with Image.open(tmp_path / "zoo.png") as img:
        assert img.format == "PNG" and img.width > 600
    before = (tmp_path / "zoo.png").read_bytes()
    assert main(["zoo", "--plot"]) == 2
    assert "already exists" in capsys.readouterr().err
    assert (tmp_path / "zoo.png").read_bytes() == before
    target = tmp_path / "figs" / "zoo.png"
    target.parent.mkdir()
    target.write_bytes(b"old")
    assert main(["zoo", "--plot", str(target)]) == 0  # a named path is written as asked
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.skipif(bool(__import__("os").environ.get("LITELAB_ZOO_DIR")), reason="custom zoo")
def test_every_shipped_entry_is_plotted():
    rows = zoo.summary_rows()
    assert rows and len(plotted_rows(rows)) == len(rows)
