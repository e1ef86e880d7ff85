"""The board's pixel steps (templates/common/preprocess.c) against litelab's Python path.

preprocess.c is compiled on the host with gcc and called through ctypes. It is fed real photos
as a camera delivers them, RGB565 (high byte first, as esp32-camera stores the OV2640's
frames): CIFAR-10 (JPEG copy) test images enlarged to the ESP-EYE's QQVGA (160x120), and
non-square photos at their own size. Its output must match what `litelab predict` makes of the
same RGB565-decoded image (litelab.data.load_image_files), within one grey level per pixel,
and give zoo:mcu's int8 model the same input bytes and top class.
"""

from __future__ import annotations

import ctypes
import importlib.util
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from litelab.data import load_image_files
from litelab.export.csource import TEMPLATES

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("LITELAB_SHARED", ROOT.parent / "shared"))
JPEG = SHARED / "datasets" / "cifar10-jpeg.tar.gz"
CAMERA_SRC = next(
    iter(sorted((SHARED / "toolchains" / "tflm").glob("esp32-camera-*.tar.gz"))), None
)
ZOO_MCU = ROOT / "src" / "litelab" / "zoo" / "mcu" / "model_int8.tflite"
CC = shutil.which("gcc") or shutil.which("cc")
SIZE = 32  # zoo:mcu's input
LITELAB_INT8 = 0

pytestmark = pytest.mark.skipif(CC is None, reason="no C compiler (gcc) on this machine")

_SHIM = """
#include "preprocess.h"
int litelab_test_quantize(const uint8_t* p, int n, float k, float s, int z, int t, void* out) {
  return litelab_quantize(p, n, k, s, z, t, out);
}
"""


class _Plan(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_int)
        for name in ("in_w", "in_h", "out_w", "out_h", "taps_x", "taps_y", "first", "last")
    ] + [(name, ctypes.c_void_p) for name in ("xb", "yb", "xw", "yw", "rows", "line")]


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    """preprocess.c as a shared library, built with the flags a board build would use."""
    folder = tmp_path_factory.mktemp("preprocess")
    common = Path(str(TEMPLATES.joinpath("common")))
    shim = folder / "shim.c"
    shim.write_text(_SHIM)
    so = folder / "libpreprocess.so"
    subprocess.run(
        [CC, "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-ffp-contract=off", "-shared",
         "-fPIC", f"-I{common}", str(common / "preprocess.c"), str(shim), "-o", str(so), "-lm"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    lib = ctypes.CDLL(str(so))
    lib.litelab_resize_bytes.restype = ctypes.c_size_t
    lib.litelab_test_quantize.argtypes = [
        ctypes.c_void_p, ctypes.c_int, ctypes.c_float, ctypes.c_float, ctypes.c_int,
        ctypes.c_int, ctypes.c_void_p,
    ]  # fmt: skip
    return lib


def to_rgb565(rgb: np.ndarray) -> np.ndarray:
    """(h, w, 3) uint8 -> (h, w, 2) bytes of RGB565, high byte first (what the camera sends)."""
    r, g, b = (rgb[..., i].astype(np.uint16) for i in range(3))
    v = ((r >> 3) << 11) | ((g >> 2) << 5) | (b >> 3)
    return np.stack([v >> 8, v & 0xFF], -1).astype(np.uint8)


def from_rgb565(frame: np.ndarray) -> np.ndarray:
    """The inverse, with each value's top bits repeated below it (31 -> 255)."""
    v = (frame[..., 0].astype(np.uint16) << 8) | frame[..., 1]
    r, g, b = (v >> 11) & 31, (v >> 5) & 63, v & 31
    return np.stack([(r << 3) | (r >> 2), (g << 2) | (g >> 4), (b << 3) | (b >> 2)], -1).astype(
        np.uint8
    )


def c_preprocess(lib, frame: np.ndarray, crop: bool) -> np.ndarray:
    """The board's path: RGB565 frame -> (crop) -> SIZE x SIZE RGB888, by preprocess.c."""
    h, w = frame.shape[:2]
    x0 = y0 = 0
    in_w, in_h = w, h
    if crop:
        x0_c, y0_c, side = ctypes.c_int(), ctypes.c_int(), ctypes.c_int()
        lib.litelab_center_square(w, h, ctypes.byref(x0_c), ctypes.byref(y0_c), ctypes.byref(side))
        x0, y0, in_w, in_h = x0_c.value, y0_c.value, side.value, side.value
    n = lib.litelab_resize_bytes(in_w, in_h, SIZE, SIZE)
    memory = ctypes.create_string_buffer(n)
    plan = _Plan()
    assert lib.litelab_resize_init(ctypes.byref(plan), in_w, in_h, SIZE, SIZE, memory, n) == 0
    out = np.zeros((SIZE, SIZE, 3), np.uint8)
    src = np.ascontiguousarray(frame)
    lib.litelab_resize_rgb565(
        ctypes.byref(plan), src.ctypes.data_as(ctypes.c_void_p), w, x0, y0, 1,
        out.ctypes.data_as(ctypes.c_void_p),
    )  # fmt: skip
    return out


def python_preprocess(decoded: list[np.ndarray], crop: bool, folder: Path) -> np.ndarray:
    """litelab's path: the decoded frames as image files through load_image_files (predict)."""
    paths = []
    for i, img in enumerate(decoded):
        if crop:
            h, w = img.shape[:2]
            s = min(h, w)
            img = img[(h - s) // 2 : (h - s) // 2 + s, (w - s) // 2 : (w - s) // 2 + s]
        path = folder / f"frame{i}.png"  # lossless: the RGB565-decoded pixels exactly
        Image.fromarray(img).save(path)
        paths.append(path)
    return load_image_files(paths, size=SIZE)


def _cifar_test_images(per_class: int = 2) -> list[np.ndarray]:
    """A few test images of each class of the JPEG copy (test/ comes first in the archive)."""
    got: dict[str, list[np.ndarray]] = {}
    with tarfile.open(JPEG, "r:gz") as tar:
        for member in tar:
            parts = member.name.split("/")
            if not member.isfile() or "test" not in parts:
                continue
            label = parts[-2]
            if len(got.setdefault(label, [])) < per_class:
                with Image.open(tar.extractfile(member)) as im:
                    got[label].append(np.asarray(im.convert("RGB")))
            if len(got) == 10 and all(len(v) == per_class for v in got.values()):
                break
    return [img for label in sorted(got) for img in got[label]]


def _photos() -> list[np.ndarray]:
    """Non-square photos: scikit-learn's two sample photos (and a tall strip of one),
    esp32-camera's test pictures (real camera frames) when ../shared has its sources."""
    sklearn = importlib.util.find_spec("sklearn")  # its files, without importing it (slow)
    assert sklearn is not None and sklearn.submodule_search_locations
    images = Path(sklearn.submodule_search_locations[0]) / "datasets" / "images"
    photos = []
    for name in ("china.jpg", "flower.jpg"):
        with Image.open(images / name) as im:
            photos.append(np.asarray(im.convert("RGB")))
    # a tall strip of one (640x150): Pillow runs the vertical pass first on such a shape
    photos.append(np.ascontiguousarray(np.rot90(photos[0])[:, 200:350]))
    if CAMERA_SRC is not None:
        with tarfile.open(CAMERA_SRC, "r:gz") as tar:
            for member in tar:
                if member.isfile() and member.name.endswith(".jpeg"):
                    with Image.open(tar.extractfile(member)) as im:
                        photos.append(np.asarray(im.convert("RGB")))
    return photos


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    """RGB565 camera frames: CIFAR test images enlarged to 160x120, and non-square photos."""
    if not JPEG.is_file():
        pytest.skip("../shared/datasets/cifar10-jpeg.tar.gz not present")
    enlarged = [
        np.asarray(Image.fromarray(img).resize((160, 120), Image.Resampling.BICUBIC))
        for img in _cifar_test_images()
    ]
    photos = _photos()
    assert all(p.shape[0] != p.shape[1] for p in photos)
    return [to_rgb565(img) for img in enlarged + photos]


def test_rgb565_decode_matches(lib):
    values = np.arange(65536, dtype=np.uint32)
    frame = np.stack([values >> 8, values & 0xFF], -1).astype(np.uint8).reshape(256, 256, 2)
    want = from_rgb565(frame)
    got = np.zeros(3, np.uint8)
    for v in (0, 0xFFFF, 0xF800, 0x07E0, 0x001F, 0x8410, 0x1234, 0xBEEF):
        lib.litelab_rgb565_pixel(ctypes.c_uint16(v), got.ctypes.data_as(ctypes.c_void_p))
        assert tuple(got) == tuple(want.reshape(-1, 3)[v]), hex(v)
    assert tuple(want.reshape(-1, 3)[0xFFFF]) == (255, 255, 255)


@pytest.mark.parametrize("crop", [True, False], ids=["center-square", "whole-frame"])
def test_pixels_match_litelab_predict(lib, frames, crop, tmp_path):
    decoded = [from_rgb565(f) for f in frames]
    want = python_preprocess(decoded, crop, tmp_path)
    got = np.stack([c_preprocess(lib, f, crop) for f in frames])
    diff = np.abs(got.astype(int) - want.astype(int))
    assert got.shape == want.shape == (len(frames), SIZE, SIZE, 3)
    assert diff.max() <= 1, f"{int(diff.max())} grey levels apart"
    assert (diff == 0).mean() >= 0.999  # measured: every pixel the same (Pillow 13, glibc libm)
    # the test tells filters apart: Pillow's BILINEAR (not litelab's LANCZOS) is far off
    if not crop:
        bilinear = Image.Resampling.BILINEAR
        other = np.stack(
            [np.asarray(Image.fromarray(d).resize((SIZE, SIZE), bilinear)) for d in decoded]
        )
        assert np.abs(other.astype(int) - want.astype(int)).max() > 1


def test_same_input_bytes_and_top_class_on_zoo_mcu(lib, frames, tmp_path):
    from litelab.export.litert import TFLiteModel

    model = TFLiteModel.from_file(ZOO_MCU)
    assert model.input["dtype"] == np.int8
    scale, zero = model.input["quantization"]
    decoded = [from_rgb565(f) for f in frames]
    want_pixels = python_preprocess(decoded, True, tmp_path)
    want_q = model.quantize_input(want_pixels, 1.0)  # litelab models take pixels / 255
    agree = 0
    for i, frame in enumerate(frames):
        pixels = c_preprocess(lib, frame, True)
        q = np.zeros(pixels.size, np.int8)
        rc = lib.litelab_test_quantize(
            pixels.ctypes.data, pixels.size, np.float32(1.0 / 255.0), scale, zero, LITELAB_INT8,
            q.ctypes.data,
        )  # fmt: skip
        assert rc == 0
        np.testing.assert_array_equal(q.reshape(want_q[i].shape), want_q[i])
        board = model.run_raw(q.reshape(want_q[i : i + 1].shape))
        python = model.run_raw(want_q[i : i + 1])
        agree += int(board.argmax() == python.argmax())
    assert agree == len(frames)


# ESP-IDF's headers that esp32-camera's own headers and frame_camera.cc include, reduced to
# what they use; esp_camera.h and sensor.h themselves come from the pinned esp32-camera sources.
_ESP_IDF_STUBS = {
    "esp_err.h": "#pragma once\n#include <stddef.h>\n#include <stdint.h>\ntypedef int esp_err_t;\n"
    "#define ESP_OK 0\n",
    "sdkconfig.h": "#pragma once\n",
    "jpeg_decoder.h": "#pragma once\ntypedef enum { JPEG_IMAGE_SCALE_0 } esp_jpeg_image_scale_t;\n",
    "driver/ledc.h": "#pragma once\ntypedef enum { LEDC_TIMER_0 } ledc_timer_t;\n"
    "typedef enum { LEDC_CHANNEL_0 } ledc_channel_t;\n",
    "driver/gpio.h": "#pragma once\n#include <stdint.h>\n"
    "typedef enum { GPIO_MODE_INPUT = 1 } gpio_mode_t;\n"
    "typedef enum { GPIO_PULLUP_DISABLE, GPIO_PULLUP_ENABLE } gpio_pullup_t;\n"
    "typedef struct { uint64_t pin_bit_mask; gpio_mode_t mode; gpio_pullup_t pull_up_en; "
    "int pull_down_en; int intr_type; } gpio_config_t;\n"
    'extern "C" int gpio_config(const gpio_config_t*);\n',
    "esp_heap_caps.h": "#pragma once\n#include <stddef.h>\n#define MALLOC_CAP_8BIT (1 << 2)\n"
    'extern "C" void* heap_caps_malloc(size_t size, unsigned caps);\n',
    "tensorflow/lite/micro/micro_log.h": "#pragma once\nvoid MicroPrintf(const char*, ...);\n",
}


@pytest.mark.skipif(
    CAMERA_SRC is None, reason="../shared/toolchains/tflm/esp32-camera-* not present"
)
@pytest.mark.skipif(shutil.which("g++") is None, reason="no g++")
def test_frame_camera_compiles_against_the_pinned_esp32_camera(tmp_path):
    from litelab.export import csource
    from litelab.export.boards import get_target

    with tarfile.open(CAMERA_SRC, "r:gz") as tar:
        headers = [m for m in tar if m.isfile() and "/include/" in m.name and m.name.endswith(".h")]
        tar.extractall(tmp_path / "camera", members=headers, filter="data")
    (root,) = (tmp_path / "camera").iterdir()
    for rel, text in _ESP_IDF_STUBS.items():
        (tmp_path / "stubs" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "stubs" / rel).write_text(text)
    files = csource.render_project(
        b"TFL3" * 8, classes=["a", "b"], ops=["CONV_2D"], arena_bytes=20_000,
        input_shape=[1, 32, 32, 3], input_scale=1.0, target=get_target("esp-eye"),
    )  # fmt: skip
    project = csource.write_project(tmp_path / "p", files)
    main = project / "main"
    assert "frame_camera.cc" in (main / "CMakeLists.txt").read_text()
    assert "espressif/esp32-camera" in (main / "idf_component.yml").read_text()
    subprocess.run(
        ["g++", "-std=c++17", "-Wall", "-Wextra", "-Werror", "-fsyntax-only", "-DESP_PLATFORM",
         f"-I{main}", f"-I{tmp_path / 'stubs'}", f"-I{root / 'driver' / 'include'}",
         f"-I{root / 'conversions' / 'include'}", str(main / "frame_camera.cc")],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
