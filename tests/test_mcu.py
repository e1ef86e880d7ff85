"""TFLite Micro checks, memory verdicts, C sources and ``litelab deploy``.

The reference is the MLPerf Tiny ResNet-8 int8 model in ../shared/anchors: its TFLM arena is
55,984 bytes (the smallest arena_size with which TFLM's interpreter allocates and invokes
it; its RecordingMicroAllocator reports the same total). Real-image checks use 50 test images
of the CIFAR-10 JPEG copy in ../shared/datasets; both are skipped when absent.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from litelab.errors import LitelabError
from litelab.export import csource
from litelab.export.boards import TARGETS, get_target, parse_bytes, verdict
from litelab.export.tflm import check_tflm, measure_arena

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
INT8 = SHARED / "anchors" / "mlperf-tiny-ic" / "pretrainedResnet_quant.tflite"
FLOAT = SHARED / "anchors" / "mlperf-tiny-ic" / "pretrainedResnet.tflite"
JPEG_COPY = SHARED / "datasets" / "cifar10-jpeg.tar.gz"
ANCHOR_ARENA = 55_984

needs_anchor = pytest.mark.skipif(not INT8.is_file(), reason=f"{INT8} not present")
needs_gxx = pytest.mark.skipif(shutil.which("g++") is None, reason="g++ not installed")


def _patch_ops(data: bytes, replace: dict[str, str | tuple[str, str]]) -> bytes:
    """The model with some operator codes swapped (e.g. SOFTMAX -> GELU, which TFLM lacks)."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as s

    from litelab.export.inspect import op_name

    model = s.Model.GetRootAs(data, 0)
    names = [op_name(model.OperatorCodes(i)) for i in range(model.OperatorCodesLength())]
    obj = s.ModelT.InitFromObj(model)
    for code, name in zip(obj.operatorCodes, names, strict=True):
        new = replace.get(name)
        if new is None:
            continue
        if isinstance(new, tuple):  # ("CUSTOM", custom code)
            code.builtinCode = code.deprecatedBuiltinCode = s.BuiltinOperator.CUSTOM
            code.customCode = new[1].encode()
        else:
            value = getattr(s.BuiltinOperator, new)
            code.builtinCode = value
            code.deprecatedBuiltinCode = min(value, 127)
    builder = flatbuffers.Builder(len(data) + 1024)
    builder.Finish(obj.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


@pytest.fixture(scope="module")
def baseline_int8() -> tuple[bytes, int]:
    """The zoo's baseline (random weights, fixed seed) as full-int8 TFLite; and its Keras MACs."""
    import keras

    from litelab.export.convert import convert
    from litelab.export.inspect import inspect_keras
    from litelab.models import build_model

    keras.utils.set_random_seed(0)
    model = build_model("baseline")
    rep = np.random.default_rng(0).integers(0, 256, (64, 32, 32, 3), dtype=np.uint8)
    data = convert(model, "int8", representative=rep, input_scale=1.0, int8_io=True)
    return data, inspect_keras(model)["macs"]


@pytest.fixture(scope="module")
def jpeg_test_images(tmp_path_factory):
    """50 stratified test images of the CIFAR-10 JPEG copy (uint8) and their labels."""
    if not JPEG_COPY.is_file():
        pytest.skip(f"{JPEG_COPY} not present")
    from litelab.config import DatasetConfig
    from litelab.data import load_dataset

    mp = pytest.MonkeyPatch()
    mp.setenv("LITELAB_CACHE_DIR", str(tmp_path_factory.mktemp("litelab-cache")))
    try:
        cfg = DatasetConfig(source=str(JPEG_COPY), train_limit=10, test_limit=50, val_split=0.0)
        ds = load_dataset(cfg, seed=42, progress=False)
    finally:
        mp.undo()
    return ds.x_test, ds.y_test


# --- TFLM checks -----------------------------------------------------------------------------


@needs_anchor
def test_anchor_arena_is_exact():
    data = INT8.read_bytes()
    report = check_tflm(data)
    assert report.arena_bytes == ANCHOR_ARENA
    assert measure_arena(data) == ANCHOR_ARENA
    assert report.model_bytes == 98_496 and report.quantization == "int8"
    assert report.input == {
        "dtype": "int8",
        "shape": [1, 32, 32, 3],
        "scale": 1.0,
        "zero_point": -128,
    }
    assert [o["op"] for o in report.ops if o["supported"]][:2] == ["CONV_2D", "ADD"]
    assert report.images_checked == 0 and report.top1_agreement is None and not report.notes


@needs_anchor
def test_anchor_tflm_agrees_with_litert_on_real_images(jpeg_test_images):
    x, y = jpeg_test_images
    report = check_tflm(INT8.read_bytes(), images=x, input_scale=255.0)  # raw 0..255 input
    assert report.images_checked == 50
    assert report.top1_agreement >= 0.98
    # LiteRT's optimized kernels round int8 ADDs and convs differently from TFLM's reference
    # kernels (a few steps); the softmax magnifies it (measured: max 0.20, mean < 0.01).
    assert report.max_abs_diff < 0.3 and report.mean_abs_diff < 0.02
    accuracy = np.mean(report.tflm_scores.argmax(1) == y)
    assert accuracy > 0.5  # 75.4% on the whole test split; 50 images are noisy


@needs_anchor
def test_float_model_runs_on_tflm_with_a_note():
    report = check_tflm(FLOAT.read_bytes())
    assert report.arena_bytes > ANCHOR_ARENA  # float activations take 4x the bytes
    assert report.quantization == "float32"
    assert "float32" in report.notes[0] and "int8" in report.notes[0]


def test_flip_tta_runs_each_image_s_mirror_through_tflm(baseline_int8):
    """check_tflm(flip_tta=True): the second pass is TFLM on the left-right mirror images,
    exactly, and the TTA scores are the two passes' mean (what --flip-tta's program sums)."""
    data, _ = baseline_int8
    rng = np.random.default_rng(3)
    x = rng.integers(0, 256, (6, 32, 32, 3), dtype=np.uint8)
    x[0] = np.concatenate([x[0, :, :16], x[0, :, :16][:, ::-1]], axis=1)  # its own mirror
    calls = []
    report = check_tflm(data, images=x, flip_tta=True, progress=lambda *a: calls.append(a))
    assert calls == [(6, 12), (12, 12)]  # each pass' Invokes, counted over both passes
    mirrored = check_tflm(data, images=np.ascontiguousarray(x[:, :, ::-1]))
    assert np.array_equal(report.tflm_flip_scores, mirrored.tflm_scores)
    assert np.array_equal(report.tflm_tta_scores, (report.tflm_scores + mirrored.tflm_scores) / 2)
    assert np.array_equal(report.tflm_scores[0], report.tflm_flip_scores[0])
    assert not np.array_equal(report.tflm_scores[1:], report.tflm_flip_scores[1:])
    plain = check_tflm(data, images=x)
    assert plain.tflm_flip_scores is None and plain.tflm_tta_scores is None
    assert np.array_equal(plain.tflm_scores, report.tflm_scores)


def test_baseline_int8_runs_on_tflm_like_litert(baseline_int8):
    data, keras_macs = baseline_int8
    from litelab.export.inspect import inspect_tflite

    info = inspect_tflite(data)
    assert info["quantization"] == "int8"
    assert info["macs"] == keras_macs == 4_040_704  # the Keras model's MACs, by hand too
    x = np.random.default_rng(1).integers(0, 256, (20, 32, 32, 3), dtype=np.uint8)
    report = check_tflm(data, images=x)
    assert report.arena_bytes > 0
    assert measure_arena(data) == report.arena_bytes
    scale = report.output["scale"]
    assert report.max_abs_diff <= 2 * scale + 1e-6
    assert report.top1_agreement >= 0.9


@needs_anchor
def test_unsupported_op_is_named():
    data = _patch_ops(INT8.read_bytes(), {"SOFTMAX": "GELU"})
    with pytest.raises(LitelabError, match=r"GELU \(node 15, output tensor 'Identity_int8'\)"):
        check_tflm(data, where="gelu.tflite")
    two = _patch_ops(INT8.read_bytes(), {"SOFTMAX": "GELU", "ADD": ("CUSTOM", "MyOp")})
    with pytest.raises(LitelabError, match="custom op 'MyOp'.*GELU") as err:
        check_tflm(two, where="two.tflite")
    assert str(err.value).startswith("two.tflite uses ops TFLite Micro does not have")


@needs_anchor
def test_corrupt_model_is_refused_before_tflm():
    data = INT8.read_bytes()
    for bad in (data[: len(data) // 2], b"TFL3" * 4, data[:4] + b"XXXX" + data[8:]):
        with pytest.raises(LitelabError, match="bad.tflite"):
            check_tflm(bad, where="bad.tflite")


# --- verdicts --------------------------------------------------------------------------------


def test_targets_and_budgets():
    eye = get_target("esp-eye")
    assert eye.ram_bytes == 532_480 and eye.flash_bytes == 4 * 1024 * 1024  # KB = 1024 B
    assert eye.ram_available < eye.ram_bytes  # ESP-IDF takes its share
    small = get_target("cortex-m-small")
    assert small.ram_bytes == 262_144 and small.flash_bytes == 1_048_576
    custom = get_target(None, "16K", "1M")
    assert (custom.name, custom.ram_available, custom.flash_available) == (
        "custom",
        16_384,
        1_048_576,
    )
    assert get_target("esp-eye", ram="100000").ram_available == 100_000
    assert get_target(None) == TARGETS["esp-eye"]
    assert parse_bytes("256KB") == 262_144 and parse_bytes("4MiB") == 4 * 1024 * 1024
    with pytest.raises(LitelabError, match="esp-eye, cortex-m-small"):
        get_target("arduino")
    with pytest.raises(LitelabError, match="both --ram and --flash"):
        get_target(None, ram="16K")
    with pytest.raises(LitelabError, match="size in bytes"):
        parse_bytes("lots")


def test_verdicts():
    v = verdict(98_496, ANCHOR_ARENA, get_target("esp-eye"))
    assert v["fits"] and v["verdict"] == "fits" and v["ram_margin"] > 0
    assert v["line"].startswith("esp-eye: fits internal RAM: model 98,496 B")
    assert v["tier"] == "internal-heap"  # the tiers themselves: tests/test_boards_tiers.py
    tight = verdict(98_496, ANCHOR_ARENA, get_target(None, "16K", "1M"))
    assert not tight["fits"] and tight["fits_flash"] and not tight["fits_ram"]
    assert tight["ram_margin"] == 16_384 - ANCHOR_ARENA
    assert "does not fit" in tight["line"] and "exceeds 16,384 B RAM by 39,600 B" in tight["line"]
    huge = verdict(5_000_000, 1_000, get_target("cortex-m-small"))
    assert not huge["fits"] and not huge["fits_flash"] and "flash by" in huge["line"]


# --- C sources ---------------------------------------------------------------------------------


def test_c_array_round_trips_and_helpers():
    data = bytes(range(256)) * 3 + b"\x00\xff"
    files = csource.model_data_files(data, "x.tflite")
    assert "alignas(16) const unsigned char g_model_data[]" in files["model_data.cc"]
    assert f"const unsigned int g_model_data_len = {len(data)};" in files["model_data.cc"]
    assert csource.parse_c_array(files["model_data.cc"]) == data
    assert csource.fnv1a32(b"") == 0x811C9DC5 and csource.fnv1a32(b"a") == 0xE40C292C
    assert csource.resolver_method("CONV_2D") == "AddConv2D"
    assert csource.resolver_method("DEPTHWISE_CONV_2D") == "AddDepthwiseConv2D"
    assert csource.resolver_method("AVERAGE_POOL_2D") == "AddAveragePool2D"
    assert csource.resolver_method("FULLY_CONNECTED") == "AddFullyConnected"
    assert csource.resolver_method("RELU6") == "AddRelu6"
    assert csource.resolver_method("SPACE_TO_BATCH_ND") == "AddSpaceToBatchNd"
    assert csource.resolver_method("MyOp") is None
    assert csource.arena_margin(ANCHOR_ARENA) >= 2048
    assert (ANCHOR_ARENA + csource.arena_margin(ANCHOR_ARENA)) % 16 == 0


def _compile_and_run(project: Path, tmp_path: Path) -> dict[str, str]:
    exe = tmp_path / "check_model"
    subprocess.run(
        [
            "g++",
            "-std=c++17",
            "-Wall",
            "-Werror",
            f"-I{project / 'main'}",
            str(project / "host" / "check_model.cc"),
            str(project / "main" / "model_data.cc"),
            "-o",
            str(exe),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    return dict(line.split("=", 1) for line in out.splitlines())


def _render(
    data: bytes, classes: list[str], target: str = "esp-eye", flip_tta: bool = False
) -> dict[str, str]:
    return csource.render_project(
        data,
        classes=classes,
        ops=["CONV_2D", "ADD", "SOFTMAX"],
        arena_bytes=ANCHOR_ARENA,
        input_shape=[1, 32, 32, 3],
        input_scale=255.0,
        target=get_target(target),
        facts={"quantization": "int8", "macs": 12_501_632, "verdict_line": "esp-eye: fits"},
        flip_tta=flip_tta,
    )


@needs_gxx
def test_generated_array_compiles_with_the_exact_bytes(tmp_path):
    data = INT8.read_bytes() if INT8.is_file() else bytes(range(256)) * 40 + b"TFL3"
    classes = ['say "hi"', "back\\slash", "café", "what??!", "plain"]
    out = csource.write_project(tmp_path / "project", _render(data, classes))
    result = _compile_and_run(out, tmp_path)
    assert int(result["g_model_data_len"]) == len(data)
    assert int(result["fnv1a"], 16) == csource.fnv1a32(data)
    assert result["aligned16"] == "1"
    assert result["labels"] == '5 first=say "hi"'
    text = (out / "main" / "model_data.cc").read_text()
    assert csource.parse_c_array(text) == data


def test_board_program_registers_the_ops_and_the_arena(tmp_path):
    files = _render(b"TFL3" * 10, ["a", "b"])
    main = files["main/main.cc"]
    assert "tflite::MicroMutableOpResolver<kOpCount> resolver;" in main
    assert "constexpr int kOpCount = 3;" in main
    for method in ("AddConv2D", "AddAdd", "AddSoftmax"):
        assert f"resolver.{method}()" in main
    arena = ANCHOR_ARENA + csource.arena_margin(ANCHOR_ARENA)
    assert f"constexpr int kTensorArenaSize = {arena};" in main
    assert f"constexpr int kMeasuredArenaSize = {ANCHOR_ARENA};" in main
    # the frame comes from GetFrame(): the camera on the ESP-EYE, a test pattern without one
    assert '#include "frame_source.h"' in main and "GetFrame(frame)" in main
    assert "constexpr float kPixelToInput = 1.0f;" in main
    assert {"main/frame_camera.cc", "main/frame_test_pattern.cc"} <= set(files)
    assert "espressif/esp-tflite-micro" in files["main/idf_component.yml"]
    assert "idf_component_register" in files["main/CMakeLists.txt"]
    assert "project.cmake" in files["CMakeLists.txt"]
    assert "idf.py build flash monitor" in files["README.md"]
    generic = _render(b"TFL3" * 10, ["a", "b"], target="cortex-m-small")
    assert "main/idf_component.yml" not in generic and "int main()" in generic["main/main.cc"]


def test_write_project_never_touches_foreign_files(tmp_path):
    files = _render(b"TFL3" * 10, ["a", "b"])
    out = tmp_path / "deploy"
    csource.write_project(out, files)
    assert (out / csource.MANIFEST).is_file()
    (out / "build").mkdir()
    (out / "build" / "app.bin").write_bytes(b"firmware")  # what idf.py build leaves
    (out / "sdkconfig").write_text("CONFIG_X=y\n")
    csource.write_project(out, _render(b"TFL3" * 20, ["a", "b"]))  # regenerate: fine
    assert (out / "build" / "app.bin").read_bytes() == b"firmware"
    assert (out / "sdkconfig").read_text() == "CONFIG_X=y\n"
    assert csource.parse_c_array((out / "main" / "model_data.cc").read_text()) == b"TFL3" * 20
    (out / "main" / "main.cc").write_text("// my edits\n")
    with pytest.raises(LitelabError, match="edited since litelab wrote it"):
        csource.write_project(out, files)
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(LitelabError, match="did not write"):
        csource.write_project(foreign, files)
    assert (foreign / "notes.txt").read_text() == "keep me"


# --- litelab deploy ------------------------------------------------------------------------------


def _deploy(argv: list[str]) -> int:
    from litelab.cli.board import add_deploy_parser, cmd_deploy
    from litelab.cli.common import Parser as _Parser

    parser = _Parser(prog="litelab")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    add_deploy_parser(sub)
    return cmd_deploy(parser.parse_args(["deploy", *argv]))


@needs_anchor
def test_deploy_cli_on_the_anchor(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert _deploy([str(INT8), "--target", "esp-eye"]) == 0
    out = capsys.readouterr().out
    assert "tensor arena: 55,984 bytes" in out
    assert "verdict: esp-eye: fits" in out
    assert "(the input tensor covers 0..255: raw pixels)" in out
    project = tmp_path / "deploy" / "esp-eye"
    for rel in ("main/main.cc", "main/model_data.cc", "main/labels.h", "README.md"):
        assert (project / rel).is_file(), rel
    assert csource.parse_c_array((project / "main" / "model_data.cc").read_text()) == (
        INT8.read_bytes()
    )
    assert '"airplane"' in (project / "main" / "labels.h").read_text()
    assert "constexpr float kPixelToInput = 1.0f;" in (project / "main" / "main.cc").read_text()
    assert "fits" in (project / "README.md").read_text()

    assert _deploy([str(INT8), "--ram", "16K", "--flash", "1M", "--out", "tight", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["verdict"]["verdict"] == "does not fit" and result["arena_bytes"] == 55_984
    assert result["target"]["name"] == "custom" and (tmp_path / "tight" / "README.md").is_file()

    with pytest.raises(LitelabError, match="unknown target 'uno'; choose one of esp-eye"):
        _deploy([str(INT8), "--target", "uno"])
    with pytest.raises(LitelabError, match="not found"):
        _deploy([str(tmp_path / "nothing.tflite")])


def test_deploy_cli_on_a_run_folder(tmp_path, capsys, baseline_int8, cifar_python_files, data_env):
    from litelab.config import resolve_config
    from litelab.runs import write_config, write_labels

    archive = tmp_path / "cifar-10-python.tar.gz"
    cifar_python_files(archive, per_batch=4)
    run = tmp_path / "runs" / "r1"
    (run / "export").mkdir(parents=True)
    write_config(run, resolve_config(None, {"source": str(archive)}, None))
    write_labels(run, [f"c{i}" for i in range(10)])
    (run / "export" / "model_int8.tflite").write_bytes(baseline_int8[0])
    assert _deploy([str(run), "--target", "cortex-m-small", "--check-images", "4"]) == 0
    out = capsys.readouterr().out
    assert "TFLM vs LiteRT on 4 test images" in out and "verdict: cortex-m-small: fits" in out
    project = run / "deploy" / "cortex-m-small"
    assert '"c0"' in (project / "main" / "labels.h").read_text()
    assert not (project / "main" / "idf_component.yml").exists()


def test_deploy_keras_model_needs_data(tmp_path):
    from litelab.models import build_model

    path = tmp_path / "m.keras"
    build_model("tiny").save(path)
    with pytest.raises(LitelabError, match="pass --data"):
        _deploy([str(path), "--out", str(tmp_path / "out")])


# A minimal stand-in for the TFLM and ESP-IDF headers main.cc includes: enough for the
# compiler to check the generated program's syntax and types (no TFLM sources here).
_STUBS = {
    "tensorflow/lite/micro/micro_interpreter.h": """
#pragma once
#include <cstddef>
#include <cstdint>
typedef enum { kTfLiteOk = 0, kTfLiteError = 1 } TfLiteStatus;
typedef enum { kTfLiteFloat32 = 1, kTfLiteUInt8 = 3, kTfLiteInt8 = 9 } TfLiteType;
const char* TfLiteTypeGetName(TfLiteType type);
struct TfLiteQuantizationParams { float scale; int32_t zero_point; };
struct TfLiteIntArray { int size; int data[8]; };
union TfLitePtrUnion { int8_t* int8; uint8_t* uint8; float* f; char* raw; };
struct TfLiteTensor {
  TfLiteType type; TfLitePtrUnion data; TfLiteIntArray* dims;
  TfLiteQuantizationParams params; size_t bytes;
};
namespace tflite {
struct Model { uint32_t version() const; };
const Model* GetModel(const void* buffer);
class MicroOpResolver {};
class MicroInterpreter {
 public:
  MicroInterpreter(const Model*, const MicroOpResolver&, uint8_t*, size_t,
                   void* resource_variables = nullptr, void* profiler = nullptr);
  TfLiteStatus AllocateTensors();
  TfLiteStatus Invoke();
  TfLiteTensor* input(size_t index);
  TfLiteTensor* output(size_t index);
  size_t arena_used_bytes() const;
};
}  // namespace tflite
""",
    "tensorflow/lite/micro/micro_log.h": "#pragma once\nvoid MicroPrintf(const char*, ...);\n",
    "tensorflow/lite/micro/micro_mutable_op_resolver.h": """
#pragma once
#include "tensorflow/lite/micro/micro_interpreter.h"
namespace tflite {
template <unsigned int N> class MicroMutableOpResolver : public MicroOpResolver {
 public:
  TfLiteStatus AddConv2D(); TfLiteStatus AddAdd(); TfLiteStatus AddSoftmax();
};
}  // namespace tflite
""",
    "tensorflow/lite/micro/system_setup.h": "namespace tflite { void InitializeTarget(); }\n",
    "tensorflow/lite/micro/micro_time.h": "#pragma once\n#include <cstdint>\nnamespace tflite {"
    " uint32_t ticks_per_second(); uint32_t GetCurrentTimeTicks(); }\n",
    "tensorflow/lite/schema/schema_generated.h": "#define TFLITE_SCHEMA_VERSION 3\n",
    "esp_heap_caps.h": """
#pragma once
#include <cstddef>
#define MALLOC_CAP_8BIT (1 << 2)
#define MALLOC_CAP_SPIRAM (1 << 10)
#define MALLOC_CAP_INTERNAL (1 << 11)
extern "C" void* heap_caps_aligned_alloc(size_t alignment, size_t size, unsigned caps);
""",
    "esp_timer.h": '#pragma once\n#include <cstdint>\nextern "C" int64_t esp_timer_get_time();\n',
    "freertos/FreeRTOS.h": "#pragma once\n#define pdMS_TO_TICKS(ms) (ms)\n",
    "freertos/task.h": '#pragma once\nextern "C" void vTaskDelay(unsigned ticks);\n',
}


@needs_gxx
@pytest.mark.parametrize("flip_tta", [False, True], ids=["one-pass", "flip-tta"])
@pytest.mark.parametrize("defines", [[], ["-DESP_PLATFORM"]])
def test_board_program_compiles_against_an_api_stub(tmp_path, defines, flip_tta):
    stubs = tmp_path / "stubs"
    for rel, text in _STUBS.items():
        (stubs / rel).parent.mkdir(parents=True, exist_ok=True)
        (stubs / rel).write_text(text)
    files = _render(b"TFL3" * 10, ["a", "b"], flip_tta=flip_tta)
    project = csource.write_project(tmp_path / "p", files)
    subprocess.run(
        ["g++", "-std=c++17", "-Wall", "-Wextra", "-Werror", "-fsyntax-only", *defines]
        + [f"-I{stubs}", f"-I{project / 'main'}", str(project / "main" / "main.cc")],
        check=True,
        capture_output=True,
        timeout=120,
    )


def test_dynamic_range_model_is_refused_with_a_hint():
    from litelab.export.convert import convert
    from litelab.models import build_model

    data = convert(build_model("tiny"), "dynamic")
    with pytest.raises(LitelabError, match=r"FULLY_CONNECTED \(node .*dynamic range models do"):
        check_tflm(data, where="tiny_dynamic.tflite")


def test_deploy_converts_a_keras_file_with_data(tmp_path, capsys, cifar_python_files, data_env):
    from litelab.models import build_model

    archive = tmp_path / "cifar-10-python.tar.gz"
    cifar_python_files(archive, per_batch=4)
    path = tmp_path / "tiny.keras"
    build_model("tiny").save(path)
    argv = [str(path), "--data", str(archive), "--out", str(tmp_path / "out"), "--json"]
    assert _deploy([*argv, "--target", "cortex-m-small", "--check-images", "4"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["converted"] and result["quantization"] == "int8"
    assert result["input"]["dtype"] == "int8" and result["input_scale"] == 1.0
    assert result["images_checked"] == 4 and result["top1_agreement"] >= 0.75
    assert result["arena_bytes"] > 0 and result["verdict"]["fits"]
    assert result["macs"] == 30 * 30 * 10 * 27 + 2250 * 100 + 1000
    text = (tmp_path / "out" / "main" / "labels.h").read_text()
    assert '"class0"' in text  # the data's class names


def test_constant_logits_are_refused_instead_of_aborting_tflm(tmp_path):
    """TFLM's SOFTMAX Prepare calls abort() on a tiny input scale; litelab says why first."""
    import keras

    from litelab.export.convert import convert

    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Flatten()(inputs)
    bias = keras.initializers.Constant(1e-6)
    out = keras.layers.Dense(3, "softmax", kernel_initializer="zeros", bias_initializer=bias)(x)
    rep = np.random.default_rng(0).integers(0, 255, (20, 8, 8, 3), dtype=np.uint8)
    data = convert(keras.Model(inputs, out), "int8", representative=rep)
    with pytest.raises(LitelabError, match="SOFTMAX input's int8 scale .* nearly constant"):
        check_tflm(data, where="flat")
