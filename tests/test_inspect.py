"""litelab inspect: I/O, ops, weights and MACs of .tflite and Keras models.

The reference is the MLPerf Tiny ResNet-8 in ../shared/anchors (skipped without it): MLPerf
quotes about 12.5 M MACs for it, and the int8 file's op counts are checked against the file.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from litelab.errors import LitelabError
from litelab.export.inspect import format_inspection, inspect_keras, inspect_tflite

ANCHORS = Path(__file__).resolve().parents[1].parent / "shared" / "anchors" / "mlperf-tiny-ic"
INT8 = ANCHORS / "pretrainedResnet_quant.tflite"
FLOAT = ANCHORS / "pretrainedResnet.tflite"
H5 = ANCHORS / "pretrainedResnet.h5"
RESNET8_MACS = 12_501_632  # 9 convs 12,500,992 + dense 64 x 10

needs_anchor = pytest.mark.skipif(not INT8.is_file(), reason=f"{INT8} not present")


@needs_anchor
def test_mlperf_int8_anchor():
    info = inspect_tflite(INT8)
    assert info["size_bytes"] == 98_496
    assert info["quantization"] == "int8"
    (inp,) = info["inputs"]
    assert inp["dtype"] == "int8" and inp["shape"] == [1, 32, 32, 3]
    assert inp["scale"] == 1.0 and inp["zero_point"] == -128
    (out,) = info["outputs"]
    assert out["dtype"] == "int8" and out["shape"] == [1, 10]
    assert out["scale"] == pytest.approx(1 / 256) and out["zero_point"] == -128
    counts = {o["op"]: o["count"] for o in info["ops"]}
    assert counts == {
        "CONV_2D": 9,
        "ADD": 3,
        "AVERAGE_POOL_2D": 1,
        "RESHAPE": 1,
        "FULLY_CONNECTED": 1,
        "SOFTMAX": 1,
    }
    assert info["operators"] == 16 and info["tensors"] == 38
    assert info["macs"] == RESNET8_MACS
    assert info["macs"] == pytest.approx(12.5e6, rel=0.01)  # MLPerf Tiny: ~12.5 M
    # int8 weights + int32 biases of 78,666 parameters, plus the reshape's shape constant
    assert 78_666 < info["weight_bytes"] < 98_496
    text = format_inspection(info)
    assert "scale 1 zero point -128" in text and "12,501,632" in text and "CONV_2D" in text


@needs_anchor
def test_float_anchor_has_the_same_macs_and_4x_weights():
    info = inspect_tflite(FLOAT.read_bytes())
    assert info["quantization"] == "float32" and info["inputs"][0]["scale"] is None
    assert info["macs"] == RESNET8_MACS
    assert info["weight_bytes"] > 3.5 * inspect_tflite(INT8)["weight_bytes"]


@needs_anchor
def test_keras_h5_macs_equal_the_tflite_macs():
    from litelab.inference import load_model

    info = inspect_keras(load_model(H5))
    assert info["params"]["total"] == 78_666
    assert info["macs"] == inspect_tflite(INT8)["macs"] == RESNET8_MACS
    convs = [entry for entry in info["layers"] if entry["type"] == "Conv2D"]
    assert len(convs) == 9
    assert "Total params" in info["summary"]
    assert "12,501,632" in format_inspection(info)


def test_baseline_macs_by_hand():
    from litelab.models import build_model

    info = inspect_keras(build_model("baseline"))
    by_type = [(e["type"], e["macs"]) for e in info["layers"] if e["macs"]]
    assert by_type == [
        ("Conv2D", 30 * 30 * 32 * 27),
        ("Conv2D", 13 * 13 * 64 * 288),
        ("Dense", 2304 * 64),
        ("Dense", 64 * 10),
    ]
    assert info["macs"] == 30 * 30 * 32 * 27 + 13 * 13 * 64 * 288 + 2304 * 64 + 64 * 10
    assert info["params"]["trainable"] == info["params"]["total"]


def test_depthwise_separable_and_nested_macs():
    import keras
    from keras import layers

    inner = keras.Sequential([layers.Input((8, 8, 16)), layers.Dense(4)], name="inner")
    model = keras.Sequential(
        [
            layers.Input((10, 10, 3)),
            layers.DepthwiseConv2D(3, depth_multiplier=2),  # 8x8x6 outputs, 9 MACs each
            layers.SeparableConv2D(16, 3, padding="same"),  # dw 8x8x6x9 + pw 8x8x6x16
            inner,  # 8x8x4 outputs, 16 MACs each
        ]
    )
    info = inspect_keras(model)
    macs = {e["name"]: e["macs"] for e in info["layers"]}
    assert list(macs.values()) == [8 * 8 * 6 * 9, 8 * 8 * 6 * 9 + 8 * 8 * 6 * 16, 8 * 8 * 4 * 16]
    assert any(name.startswith("inner/") for name in macs)
    assert info["macs_unknown_layers"] == []


@needs_anchor
@pytest.mark.parametrize("cut", [7, 100, 50_000, 98_000])
def test_truncated_tflite_is_a_clear_error(tmp_path, cut):
    bad = tmp_path / "cut.tflite"
    bad.write_bytes(INT8.read_bytes()[:cut])
    with pytest.raises(LitelabError, match="cut.tflite"):
        inspect_tflite(bad)


@needs_anchor
def test_corrupt_tflite_is_a_clear_error(tmp_path):
    data = bytearray(INT8.read_bytes())
    data[8:4000] = bytes(3992)  # vtables and tables zeroed
    bad = tmp_path / "corrupt.tflite"
    bad.write_bytes(bytes(data))
    with pytest.raises(LitelabError, match="corrupt.tflite"):
        inspect_tflite(bad)
    bad.write_bytes(b"not a model at all")
    with pytest.raises(LitelabError, match="not a TFLite model"):
        inspect_tflite(bad)
    with pytest.raises(LitelabError, match="not found"):
        inspect_tflite(tmp_path / "missing.tflite")


def _inspect_cli(argv: list[str]):
    from litelab.cli.board import add_inspect_parser, cmd_inspect
    from litelab.cli.common import Parser as _Parser

    parser = _Parser(prog="litelab")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    add_inspect_parser(sub)
    return cmd_inspect(parser.parse_args(["inspect", *argv]))


@needs_anchor
def test_inspect_cli_text_and_json(capsys):
    assert _inspect_cli([str(INT8)]) == 0
    out = capsys.readouterr().out
    assert "98,496 bytes" in out and "FULLY_CONNECTED" in out
    assert _inspect_cli([str(INT8), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["macs"] == RESNET8_MACS and info["inputs"][0]["zero_point"] == -128


def test_inspect_cli_keras_file(tmp_path, capsys):
    from litelab.models import build_model

    path = tmp_path / "tiny.keras"
    build_model("tiny").save(path)
    assert _inspect_cli([str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["format"] == "keras" and info["macs"] == 30 * 30 * 10 * 27 + 2250 * 100 + 1000
    with pytest.raises(LitelabError, match="not found"):
        _inspect_cli([str(tmp_path / "nope.keras")])
