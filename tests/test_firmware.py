"""The generated board program, compiled and run for real (litelab.firmware).

One session-scoped cache holds the TFLM sources (unpacked from ../shared/toolchains/tflm)
and the compiled libraries: the host build compiles TFLM's core plus the kernels zoo:mcu
uses once, the Cortex-M4 build the same with CMSIS-NN once, and every later build links
from the cache. The images are test images of the CIFAR-10 (JPEG copy).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from litelab.cli import main
from litelab.errors import LitelabError

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LITELAB_SHARED", ROOT.parent / "shared"))
TFLM_ARCHIVES = SHARED / "toolchains" / "tflm"
JPEG = SHARED / "datasets" / "cifar10-jpeg.tar.gz"
HAVE_ARM = shutil.which("arm-none-eabi-gcc") and shutil.which("qemu-system-arm")

needs_sources = pytest.mark.skipif(
    not (TFLM_ARCHIVES.is_dir() and JPEG.is_file() and shutil.which("g++")),
    reason="../shared TFLM archives, the JPEG copy or g++ not present",
)
needs_arm = pytest.mark.skipif(
    not HAVE_ARM and not os.environ.get("LITELAB_REQUIRE_FIRMWARE"),
    reason="arm-none-eabi-gcc / qemu-system-arm not installed",
)


@pytest.fixture(scope="session")
def fw_cache(tmp_path_factory):
    """One LITELAB_CACHE_DIR for the whole session: sources unpacked and libraries built once."""
    return tmp_path_factory.mktemp("fw-cache")


@pytest.fixture
def fw_env(fw_cache, monkeypatch):
    monkeypatch.setenv("LITELAB_CACHE_DIR", str(fw_cache))
    monkeypatch.setenv("LITELAB_TFLM_DIR", str(TFLM_ARCHIVES))
    return fw_cache


def _deploy(out: Path, *extra: str, images: int, capsys) -> dict:
    argv = [
        "deploy",
        "zoo:mcu",
        "--data",
        str(JPEG),
        "--train-limit",
        "20",
        "--test-limit",
        str(images),
        "--check-images",
        str(images),
        "--images",
        str(images),
        "--out",
        str(out),
        "--json",
        "--quiet",
        *extra,
    ]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    saved = json.loads((out / "deploy.json").read_text())
    assert saved["firmware"]["line"] == report["firmware"]["line"]
    return report


@pytest.fixture(scope="session")
def host_report(fw_cache, tmp_path_factory):
    """`litelab deploy zoo:mcu --verify host --images 20`, once per session."""
    mp = pytest.MonkeyPatch()
    mp.setenv("LITELAB_CACHE_DIR", str(fw_cache))
    mp.setenv("LITELAB_TFLM_DIR", str(TFLM_ARCHIVES))
    out = tmp_path_factory.mktemp("host") / "esp-eye"
    argv = [
        "deploy",
        "zoo:mcu",
        "--target",
        "esp-eye",
        "--data",
        str(JPEG),
        "--train-limit",
        "20",
        "--test-limit",
        "20",
        "--check-images",
        "20",
        "--verify",
        "host",
        "--images",
        "20",
        "--out",
        str(out),
        "--json",
        "--quiet",
    ]
    import contextlib
    import io

    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf):
            assert main(argv) == 0
    finally:
        mp.undo()
    return json.loads(buf.getvalue()), out


@needs_sources
def test_host_build_is_bit_exact_with_tflm_python(host_report):
    report, out = host_report
    fw = report["firmware"]
    assert fw["mode"] == "host" and fw["images"] == 20
    assert fw["inputs_identical"] == 20  # main.cc's FillInput made the expected tensor
    assert fw["bit_exact_with_tflm_python"] == 20, fw["differing_images"]
    assert fw["flip_tta"] is False and fw["same_class_as_tflm_python"] == 20
    assert "constexpr bool kFlipTta = false;" in (out / "main" / "main.cc").read_text()
    assert fw["same_class_as_litert"] >= 18
    # the program's own arena use: at most what it allocates, near what litelab measured
    assert 0.8 * report["arena_bytes"] <= fw["arena_used_bytes"] <= report["arena_allocated"]
    # only the kernels zoo:mcu uses were compiled, not TFLM's ~100 kernel files
    kernels = fw["library"]["kernels"]
    assert "conv.cc" in kernels and "fully_connected.cc" in kernels
    assert "lstm_eval.cc" not in kernels and len(kernels) < 20
    saved = json.loads((out / "deploy.json").read_text())
    assert saved["firmware"]["bit_exact_with_tflm_python"] == 20
    # the project carries the frame-source files the program was built with
    assert (out / "main" / "frame_test_pattern.cc").is_file()
    assert "frame_test_pattern.cc" in (out / "main" / "CMakeLists.txt").read_text()


@needs_sources
def test_second_build_of_a_configuration_comes_from_the_cache(host_report, fw_env, tmp_path):
    import time

    from litelab.firmware.host import build_host
    from litelab.firmware.sources import find_tree

    _, out = host_report
    files = {f"main/{p.name}": p.read_text() for p in (out / "main").iterdir() if p.is_file()}
    tree = find_tree()
    assert tree.origin == "LITELAB_TFLM_DIR"
    start = time.monotonic()
    exe, lib = build_host(tree, files, tmp_path / "again")
    assert lib.compiled == 0 and lib.path.is_file() and exe.is_file()
    assert time.monotonic() - start < 60  # links only (the cold build takes minutes)


@needs_sources
@needs_arm
def test_qemu_cortex_m4_gives_the_host_build_s_classes(host_report, fw_env, tmp_path, capsys):
    """With --flip-tta: both builds run each frame and its mirror; every pass is compared."""
    report = _deploy(
        tmp_path / "m4",
        "--target",
        "cortex-m4",
        "--verify",
        "qemu",
        "--flip-tta",
        images=10,
        capsys=capsys,
    )
    fw = report["firmware"]
    assert fw["machine"] == "mps2-an386" and fw["images"] == 10
    assert fw["passes_per_frame"] == 2 and fw["same_bytes_as_host"] == 10
    assert fw["same_class_as_host"] == 10
    host = fw["host"]
    assert host["flip_tta"] and host["inputs_identical"] == 10  # both passes' input tensors
    assert host["bit_exact_with_tflm_python"] == 10  # both passes' outputs
    assert host["same_class_as_tflm_python"] == 10  # the top class of the summed scores
    assert report["flip_tta"] and report["tflm_accuracy_flip_tta"] is not None
    assert "constexpr bool kFlipTta = true;" in (tmp_path / "m4" / "main" / "main.cc").read_text()
    assert "flip TTA" in (tmp_path / "m4" / "README.md").read_text()
    mem = fw["memory"]
    # the model's bytes are in flash, the arena in RAM, as the linked ELF says
    assert mem["rodata"] > report["model_bytes"] and mem["flash"] < report["model_bytes"] + 400_000
    assert mem["arena"] == report["arena_allocated"] and mem["ram"] > mem["arena"]
    assert 0 < fw["stack_used_bytes"] < mem["stack"]
    insns = fw["instructions_per_inference"]["median"]
    assert report["macs"] < insns < 20 * report["macs"]  # CMSIS-NN: a few instructions per MAC
    assert fw["estimated_ms"] and "estimate" in fw["estimate_basis"]
    assert fw["mlperf_tiny_resnet8"]["results"][0]["ms"] == 704


@needs_sources
@needs_arm
def test_the_op_by_op_dump_compares_every_op_of_host_and_qemu(host_report, fw_env, tmp_path):
    """The diagnostic `--verify qemu` runs where outputs differ: both builds print each op's
    output hash; on agreeing builds it finds every op and no difference."""
    from litelab.firmware.sources import ARM_PARTS, find_tree
    from litelab.firmware.verify import per_op_diff

    report, out = host_report
    files = {
        str(p.relative_to(out)): p.read_text(encoding="utf-8")
        for p in out.rglob("*")
        if p.is_file() and p.suffix in (".cc", ".h", ".c")
    }
    data = (ROOT / "src" / "litelab" / "zoo" / "mcu" / "model_int8.tflite").read_bytes()
    image = np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    tree = find_tree(None, ARM_PARTS)
    diff = per_op_diff(
        tree, files, data, image, target="cortex-m4", arena=report["arena_bytes"], work=tmp_path
    )
    assert diff["ops"] == sum(op["count"] for op in report["ops"])  # 10 for zoo:mcu
    assert diff["differing_ops"] == 0 and diff["first_differing_op"] is None
    assert diff["line"] == "no op differs"


@needs_sources
def test_missing_tflm_tree_offline_is_one_line(tmp_path, monkeypatch, capsys, toy_npz):
    import urllib.request

    monkeypatch.setenv("LITELAB_CACHE_DIR", str(tmp_path / "empty-cache"))
    monkeypatch.delenv("LITELAB_TFLM_DIR", raising=False)

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    argv = [
        "deploy",
        "zoo:mcu",
        "--data",
        str(toy_npz),
        "--check-images",
        "4",
        "--verify",
        "host",
        "--images",
        "4",
        "--out",
        str(tmp_path / "o"),
        "--quiet",
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("litelab: error: ")
    assert "tflite-micro-90b983c2.tar.gz" in err[0] and "flatbuffers-v25.9.23.tar.gz" in err[0]
    assert "--tflm DIR" in err[0] and "LITELAB_TFLM_DIR" in err[0]


@pytest.mark.parametrize(
    ("tool", "package"),
    [("arm-none-eabi-gcc", "gcc-arm-none-eabi"), ("qemu-system-arm", "qemu-system-arm")],
)
def test_missing_arm_tools_name_their_apt_packages(
    tool, package, monkeypatch, capsys, toy_npz, tmp_path
):
    import litelab.firmware.build as build

    real = shutil.which
    monkeypatch.setattr(
        build.shutil, "which", lambda name, *a, **k: None if name == tool else real(name, *a, **k)
    )
    argv = [
        "deploy",
        "zoo:mcu",
        "--target",
        "cortex-m4",
        "--data",
        str(toy_npz),
        "--verify",
        "qemu",
        "--images",
        "4",
        "--out",
        str(tmp_path / "o"),
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and tool in err[0] and package in err[0] and "apt-get install" in err[0]
    assert not (tmp_path / "o").exists()  # refused before any work


def test_verify_qemu_needs_an_emulated_target(capsys, toy_npz, tmp_path):
    argv = [
        "deploy",
        "zoo:mcu",
        "--target",
        "esp-eye",
        "--data",
        str(toy_npz),
        "--verify",
        "qemu",
        "--out",
        str(tmp_path / "o"),
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cortex-m4" in err[0] and "cortex-m55" in err[0]


@needs_sources
def test_an_op_tflm_lacks_is_one_line(fw_env, tmp_path):
    from litelab.firmware.build import registered_methods
    from litelab.firmware.host import build_host
    from litelab.firmware.sources import find_tree

    main_cc = (
        "  if (resolver.AddConv2D() != kTfLiteOk) return false;\n"
        "  if (resolver.AddGelu() != kTfLiteOk) return false;\n"
    )
    assert registered_methods(main_cc) == ["AddConv2D", "AddGelu"]
    files = {"main/main.cc": main_cc, "main/model_data.cc": "", "main/frame_source.h": ""}
    with pytest.raises(LitelabError, match=r"has no kernel for op GELU") as err:
        build_host(find_tree(), files, tmp_path)
    assert "\n" not in str(err.value)


def test_program_inputs_round_like_the_c_program():
    from litelab.firmware.verify import program_inputs

    io = {"dtype": "int8", "scale": 1.0 / 255.0, "zero_point": -128}
    x = np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1)
    q = program_inputs(x, io, 1.0)
    assert q.dtype == np.int8 and q.min() == -128 and q.max() == 127
    # 0.5 steps round half to even, as the C's rintf and numpy's round (LiteRT evaluation) do
    half = {"dtype": "int8", "scale": 2.0, "zero_point": 0}  # raw pixels (input scale 255)
    got = program_inputs(np.array([[[[1, 3, 5]]]], np.uint8), half, 255.0)
    assert got.tolist() == [[[[0, 2, 2]]]]


def test_program_inputs_are_litelab_s_own_quantized_inputs():
    """The tensor the C program is expected to make is the one litelab's LiteRT evaluation
    feeds the int8 model (so 'bit-exact' compares like with like)."""
    from litelab.export.litert import TFLiteModel
    from litelab.firmware.verify import program_inputs

    path = ROOT / "src" / "litelab" / "zoo" / "mcu" / "model_int8.tflite"
    model = TFLiteModel(path.read_bytes(), "zoo:mcu")
    scale, zero = model.input["quantization"]
    io = {"dtype": np.dtype(model.input["dtype"]).name, "scale": scale, "zero_point": zero}
    x = np.random.default_rng(0).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    expected = model.quantize_input(x)
    assert np.array_equal(program_inputs(x, io, 1.0), expected)


def test_a_flip_tta_program_s_mirror_lines_are_read_and_must_cover_every_frame():
    from litelab.firmware.program import parse_output

    head = "tensor arena: 1000 bytes used of 2000 (litelab measured 990)\nticks per second: 1000\n"
    frame = "frame {i}: top class: cat (3), score 0.500, ticks 7, input 0000000{i}, output 0a{i}f\n"
    mirror = "frame {i} mirror: ticks 9, input 0000001{i}, output 0b{i}e\n"
    text = head + "".join(mirror.format(i=i) + frame.format(i=i) for i in range(2))
    run = parse_output(text, 2, "prog")
    assert run.outputs.tolist() == [[0x0A, 0x0F], [0x0A, 0x1F]]
    assert run.mirror_outputs.tolist() == [[0x0B, 0x0E], [0x0B, 0x1E]]
    assert run.mirror_input_hashes == [0x10, 0x11] and run.mirror_ticks.tolist() == [9, 9]
    assert run.all_outputs.tolist() == [[0x0A, 0x0F, 0x0B, 0x0E], [0x0A, 0x1F, 0x0B, 0x1E]]
    plain = parse_output(head + frame.format(i=0), 1, "prog")
    assert plain.mirror_outputs is None and plain.all_outputs is plain.outputs
    with pytest.raises(LitelabError, match="mirror passes for 1 of 2 frames"):
        parse_output(head + mirror.format(i=0) + frame.format(i=0) + frame.format(i=1), 2, "prog")
