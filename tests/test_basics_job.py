"""`litelab basics linear|logistic`: the run folder, the recovered line, both classifiers,
and TFLite files that predict what Keras does (through litelab's export code)."""

import json

import pytest

from litelab.cli import main


def test_basics_linear_recovers_the_line_and_exports(tmp_path, capsys):
    out = tmp_path / "lin"
    code = main(
        ["basics", "linear", "--rows", "400", "--epochs", "30", "--trials", "2"]
        + ["--out", str(out), "--quiet"]
    )
    assert code == 0
    m = json.loads((out / "metrics.json").read_text())
    large = m["large"]["methods"]
    assert set(large) == {"sklearn (normal equation)", "Keras SGD", "Keras SGD, tuned"}
    for name in ("sklearn (normal equation)", "Keras SGD"):
        assert large[name]["slope"] == pytest.approx(0.1, abs=0.01), name
        assert large[name]["intercept"] == pytest.approx(200, abs=6), name
    # The normal equation is the least-squares optimum; the others can only come close.
    best = large["sklearn (normal equation)"]["mse"]
    assert best < 1.2 * 20**2  # noise std 20
    assert best <= large["Keras SGD"]["mse"] <= 1.01 * best
    assert best <= large["Keras SGD, tuned"]["mse"] <= 1.10 * best  # 2 trials only
    small = m["small"]["methods"]["sklearn (normal equation)"]
    assert small["slope"] == pytest.approx(0.1, abs=0.01)
    assert 1 <= m["large"]["tuned"]["epochs"] <= 60  # its epochs, or fewer (early stopping)
    for name, e in m["export"].items():
        assert (out / e["keras_file"]).is_file() and (out / e["tflite_file"]).is_file(), name
        assert e["tflite_input"]["shape"] == [1, 1] and e["tflite_max_abs_diff"] < 1e-4
    assert (out / "large.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "small.png").is_file()


def test_basics_logistic_both_classifiers_and_export(tmp_path):
    out = tmp_path / "log"
    assert main(["basics", "logistic", "--epochs", "40", "--out", str(out), "--quiet"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    for name in ("sklearn", "keras"):
        assert m[name]["accuracy"] >= 0.85, name  # the course reports 88%
        assert sum(map(sum, m[name]["confusion_matrix"])) == 200  # the 20% test split
        assert "macro avg" in m[name]["classification_report"]
    e = m["export"]["logistic_keras"]
    assert e["tflite_input"]["shape"] == [1, 2] and e["tflite_max_abs_diff"] < 1e-5
    assert (out / "decision_boundaries.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    "args,message",
    [
        (["linear", "--rows", "1"], "--rows must be at least 2"),
        (["linear", "--noise", "-1"], "--noise must be 0 or more"),
        (["linear", "--epochs", "0"], "--epochs must be at least 1"),
        (["logistic", "--samples", "3"], "--samples must be at least 10"),
        (["quadratic"], "invalid choice"),
    ],
)
def test_basics_bad_options(args, message, tmp_path, capsys):
    assert main(["basics", *args, "--out", str(tmp_path / "o")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
