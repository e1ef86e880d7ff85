"""`litelab deploy` without a model names the best shipped model that fits the board."""

from __future__ import annotations

import json

import pytest

from litelab import zoo
from litelab.cli import main
from litelab.export.boards import get_target, verdict
from litelab.export.suggest import fitting_models, no_model_error

KB = 1024


def write_zoo(root, cards):
    for name, (acc, size, arena, *flip) in cards.items():
        (root / name).mkdir(parents=True)
        card = {
            "metrics": {
                "int8_tflm_accuracy": acc,
                "int8_tflm_accuracy_flip_tta": (flip or [None])[0],
            },
            "sizes": {"int8_bytes": size, "arena_bytes": arena, "macs": 1},
        }
        (root / name / "card.json").write_text(json.dumps(card))
    return root


@pytest.fixture
def use_zoo(tmp_path, monkeypatch):
    def make(cards):
        root = write_zoo(tmp_path / f"zoo{len(list(tmp_path.iterdir()))}", cards)
        monkeypatch.setenv("LITELAB_ZOO_DIR", str(root))

    return make


def test_the_most_accurate_model_that_fits_wins(use_zoo):
    use_zoo(
        {
            "small": (0.80, 80_000, 25_000),
            "huge": (0.95, 5_000_000, 25_000),  # over the ESP-EYE's flash
            "greedy": (0.90, 90_000, 900 * KB),  # an arena only the PSRAM holds: slower
            "unmeasured": (None, 70_000, 20_000),
        }
    )
    esp = get_target("esp-eye")
    # internal RAM before PSRAM, then accuracy; "unmeasured" fits but has none to rank by
    assert [s.name for s in fitting_models(esp)] == ["small", "unmeasured", "greedy"]
    message = str(no_model_error("esp-eye"))
    assert "zoo:small" in message and "80.00%" in message
    assert message.endswith("litelab deploy zoo:small --target esp-eye")


def test_a_model_made_for_the_board_comes_first_once_it_ships(use_zoo):
    use_zoo({"mcu": (0.82, 81_696, 25_120), "esp-eye": (0.81, 400_000, 90_000)})
    assert fitting_models(get_target("esp-eye"))[0].name == "esp-eye"
    assert fitting_models(get_target("cortex-m-small"))[0].name == "mcu"


def test_a_card_s_better_flip_tta_figure_suggests_deploying_with_it(use_zoo):
    use_zoo({"esp-eye": (0.8791, 1_022_760, 96_072, 0.8893)})
    message = str(no_model_error("esp-eye"))
    assert "87.91% int8 through TFLite Micro, 88.93% with --flip-tta" in message
    assert message.endswith("litelab deploy zoo:esp-eye --target esp-eye --flip-tta")
    use_zoo({"esp-eye": (0.8791, 1_022_760, 96_072, 0.8700)})  # worse: not suggested
    message = str(no_model_error("esp-eye"))
    assert "flip" not in message and message.endswith("--target esp-eye")


def test_no_model_fits_says_so(use_zoo, capsys):
    use_zoo({"mcu": (0.82, 81_696, 25_120)})
    assert main(["deploy", "--ram", "8K", "--flash", "1M"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("litelab: error: no model given, and no shipped model fits")
    assert "\n" not in err


@pytest.mark.skipif(bool(__import__("os").environ.get("LITELAB_ZOO_DIR")), reason="custom zoo")
def test_the_shipped_zoo_answers_for_the_esp_eye(capsys):
    assert main(["deploy", "--target", "esp-eye"]) == 2
    err = capsys.readouterr().err.strip()
    best = fitting_models(get_target("esp-eye"))[0]
    assert (
        f"is zoo:{best.name} " in err and f"litelab deploy zoo:{best.name} --target esp-eye" in err
    )
    assert best.name == "esp-eye"  # the entry made for the board ships, and it fits
    assert str(best.verdict["tier"]).startswith("internal")
    entry = zoo.get_entry(best.name)
    sizes = entry.card["sizes"]
    assert verdict(sizes["int8_bytes"], sizes["arena_bytes"], get_target("esp-eye"))["fits"]
    assert entry.int8_path.is_file()
