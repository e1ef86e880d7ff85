"""``--verify host``: the board's own program, compiled for and run on this PC.

The generated ``main.cc`` and ``model_data.cc`` are compiled unchanged with the host's g++
against TFLM's reference kernels (or, with ``kernels="esp_nn"``, against esp-tflite-micro's
ESP-NN kernel wrappers over ESP-NN's portable C functions). The one difference from the
board build is the frame source: ``harness/frames_file.cc`` reads the test images from a
file instead of a camera.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np

from litelab.errors import LitelabError
from litelab.firmware.build import (
    Library,
    Toolchain,
    build_library,
    link_program,
    registered_methods,
    require,
)
from litelab.firmware.program import (
    ProgramRun,
    frames_bytes,
    harness_path,
    parse_output,
    program_sources,
    write_sources,
)
from litelab.firmware.sources import ESP_NN_PARTS, HOST_PARTS, Tree

COMMON = (
    "-O2",
    "-fno-unwind-tables",
    "-fno-asynchronous-unwind-tables",
    "-ffunction-sections",
    "-fdata-sections",
    "-DTF_LITE_STATIC_MEMORY",
    "-DTF_LITE_DISABLE_X86_NEON",
)
CXX = ("-std=c++17", "-fno-rtti", "-fno-exceptions", "-fno-threadsafe-statics")


def host_toolchain(kernels: str = "reference") -> Toolchain:
    """g++/gcc for this PC; ``kernels`` "reference" or "esp_nn"."""
    cxx = require("g++", "g++")
    cc = require("gcc", "gcc")
    flags = [*COMMON, "-DTF_LITE_USE_CTIME"]
    if kernels == "esp_nn":
        # esp-tflite-micro's kernels call ESP-NN when ESP_NN is 1; esp_nn.h maps the plain
        # ESP32 (the ESP-EYE's chip) to ESP-NN's generic C functions (*_opt.c, *_ansi.c).
        flags += ["-DESP_NN=1", "-DCONFIG_NN_OPTIMIZED=1", "-DCONFIG_IDF_TARGET_ESP32=1"]
    return Toolchain(
        name="host" if kernels == "reference" else f"host-{kernels}",
        cc=cc,
        cxx=cxx,
        ar=require("ar", "binutils"),
        flags=tuple(flags),
        cxxflags=CXX,
        cflags=("-std=c11",),
        kernels=kernels,
    )


def build_host(
    tree: Tree,
    files: dict[str, str],
    work: Path,
    *,
    kernels: str = "reference",
    op_dump_arena: int | None = None,
    jobs: int | None = None,
    progress=None,
) -> tuple[Path, Library]:
    """Build the program for this PC in ``work``; returns the executable and the library.

    ``op_dump_arena``: the op-by-op diagnostic build (harness/op_dump.cc) with that arena.
    """
    tree.need(ESP_NN_PARTS if kernels == "esp_nn" else HOST_PARTS, f"a host build ({kernels})")
    toolchain = host_toolchain(kernels)
    main = write_sources(files, work)
    lib = build_library(
        tree,
        toolchain,
        registered_methods(files["main/main.cc"]),
        core_from=host_toolchain() if kernels != "reference" else None,
        jobs=jobs,
        progress=progress,
    )
    sources, flags = program_sources(main, [harness_path("frames_file.cc")], op_dump_arena)
    exe = link_program(lib, sources, work / f"litelab-{toolchain.name}", flags=flags, jobs=jobs)
    return exe, lib


def run_host(exe: Path, images: np.ndarray, *, timeout: float = 600) -> ProgramRun:
    """Run the host program on ``images`` (N x H x W x C uint8) and parse what it printed."""
    frames = exe.with_name(exe.name + ".frames")
    frames.write_bytes(frames_bytes(images))
    env = dict(os.environ, LITELAB_FRAMES=str(frames))
    try:
        done = subprocess.run(
            [str(exe)], capture_output=True, text=True, env=env, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        raise LitelabError(
            f"the host program ran over {timeout:.0f} s on {len(images)} images"
        ) from None
    text = done.stdout + done.stderr
    run = parse_output(text, len(images), f"the host program (exit status {done.returncode})")
    if done.returncode != 0:
        raise LitelabError(f"the host program exited with status {done.returncode}")
    return run
