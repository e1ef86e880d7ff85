"""``--verify qemu``: the board program on an emulated Cortex-M4 or Cortex-M55.

The generated ``main.cc`` and ``model_data.cc`` are compiled with ``arm-none-eabi-gcc``
against TFLM with CMSIS-NN's kernels, linked with litelab's minimal start-up and linker
script for QEMU's ``mps2-an386`` (Cortex-M4) or ``mps3-an547`` (Cortex-M55, Corstone-300),
the test images linked in (``harness/frames_embedded.cc``), and run under
``qemu-system-arm -icount shift=0``. The program prints over the CMSDK UART0 and exits
through semihosting.

Instruction counts: with ``-icount shift=0`` QEMU's virtual clock advances exactly 1 ns per
executed guest instruction, and it clocks SysTick at the board's CPU clock. TFLM's
``GetCurrentTimeTicks()`` (``harness/arm/platform.cc``) reads SysTick, so the ticks of one
``Invoke()`` times 1e9 / clock are the instructions it executed (to 40 instructions on the
M4, 31.25 on the M55). QEMU emulates neither the DWT cycle counter nor the PMU, and Debian's
QEMU ships no TCG plugins (``libinsn.so``). Milliseconds at a real clock are an estimate
from those instructions assuming one instruction per cycle: real cores stall on memory and
branches (more cycles) and dual-issue on the M55 (fewer), so it is a scale, not a measure.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
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
    frames_c_source,
    harness_path,
    parse_output,
    program_sources,
    write_sources,
)
from litelab.firmware.sources import ARM_PARTS, Tree

ARM_PACKAGES = "gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib"
QEMU_PACKAGE = "qemu-system-arm"


@dataclass(frozen=True)
class Machine:
    """A QEMU board litelab runs firmware on."""

    target: str  # litelab's target name
    qemu: str  # -M
    cpu_flags: tuple[str, ...]
    uart_base: int
    systick_hz: int  # the clock QEMU gives the core (and SysTick)
    linker_script: str
    description: str


MACHINES = {
    "cortex-m4": Machine(
        "cortex-m4",
        "mps2-an386",
        ("-mcpu=cortex-m4", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard"),
        0x40004000,
        25_000_000,
        "mps2_an386.ld",
        "QEMU mps2-an386: Cortex-M4F, code in the 4 MB SSRAM1 at 0x0, data in 4 MB at 0x20000000",
    ),
    "cortex-m55": Machine(
        "cortex-m55",
        "mps3-an547",
        ("-mcpu=cortex-m55", "-mfloat-abi=hard"),
        0x59303000,
        32_000_000,
        "mps3_an547.ld",
        "QEMU mps3-an547 (Corstone-300): Cortex-M55 with MVE (Helium), code and constants in "
        "the 8 MB QSPI at 0x28000000, data in the 4 MB SRAM at 0x21000000",
    ),
}
# Which CMSIS-NN source folders each TFLM kernel file needs (NNSupportFunctions always).
_CMSIS_FOLDERS = {
    "conv.cc": ("ConvolutionFunctions",),
    "depthwise_conv.cc": ("ConvolutionFunctions",),
    "transpose_conv.cc": ("ConvolutionFunctions",),
    "fully_connected.cc": ("FullyConnectedFunctions",),
    "batch_matmul.cc": ("FullyConnectedFunctions",),
    "pooling.cc": ("PoolingFunctions",),
    "softmax.cc": ("SoftmaxFunctions",),
    "add.cc": ("BasicMathFunctions",),
    "mul.cc": ("BasicMathFunctions",),
    "maximum_minimum.cc": ("BasicMathFunctions",),
    "pad.cc": ("PadFunctions",),
    "transpose.cc": ("TransposeFunctions",),
    "svdf.cc": ("SVDFunctions",),
    "unidirectional_sequence_lstm.cc": ("LSTMFunctions",),
}


def arm_toolchain(machine: Machine) -> Toolchain:
    """arm-none-eabi-gcc for ``machine``, CMSIS-NN kernels (a one-line error if missing)."""
    cc = require("arm-none-eabi-gcc", ARM_PACKAGES)
    cxx = require("arm-none-eabi-g++", ARM_PACKAGES)
    ar = require("arm-none-eabi-ar", ARM_PACKAGES)
    flags = (
        *machine.cpu_flags,
        "-mthumb",
        "-O2",
        "-fno-unwind-tables",
        "-fno-asynchronous-unwind-tables",
        "-ffunction-sections",
        "-fdata-sections",
        "-fomit-frame-pointer",
        "-DTF_LITE_STATIC_MEMORY",
        "-DTF_LITE_MCU_DEBUG_LOG",
        "-DCMSIS_NN",
        "-DARM_NN_ENABLE_F16=0",
        "-DARM_NN_ENABLE_F32=0",
        f"-DLITELAB_UART_BASE=0x{machine.uart_base:08x}",
        f"-DLITELAB_TIMER_HZ={machine.systick_hz}",
    )
    arm = harness_path("arm")
    return Toolchain(
        name=machine.target,
        cc=cc,
        cxx=cxx,
        ar=ar,
        flags=flags,
        cxxflags=("-std=c++17", "-fno-rtti", "-fno-exceptions", "-fno-threadsafe-statics"),
        cflags=("-std=c11",),
        ldflags=(
            f"-T{arm / machine.linker_script}",
            f"-L{arm}",
            "-Wl,--gc-sections",
            "--specs=nano.specs",
            "--specs=nosys.specs",
            "-Wl,--no-warn-rwx-segments",
        ),
        kernels="cmsis_nn",
        platform_hooks=False,
    )


def check_tools() -> str:
    """qemu-system-arm's path; a one-line error naming the apt package of what is missing."""
    require("arm-none-eabi-gcc", ARM_PACKAGES)
    return require("qemu-system-arm", QEMU_PACKAGE)


def build_qemu(
    tree: Tree,
    files: dict[str, str],
    images: np.ndarray,
    work: Path,
    target: str = "cortex-m4",
    *,
    op_dump_arena: int | None = None,
    jobs: int | None = None,
    progress=None,
) -> tuple[Path, Library]:
    """Build the ELF for ``target`` with ``images`` linked in; returns it and the library
    (``op_dump_arena``: see :func:`litelab.firmware.program.program_sources`)."""
    check_tools()
    machine = MACHINES[target]
    tree.need(ARM_PARTS, f"a {target} build")
    toolchain = arm_toolchain(machine)
    main = write_sources(files, work)
    methods = registered_methods(files["main/main.cc"])
    from litelab.firmware.build import kernel_sources

    folders = {"NNSupportFunctions", "ActivationFunctions"}
    for k in kernel_sources(tree, methods, "cmsis_nn"):
        if k.parent.name == "cmsis_nn":
            folders.update(_CMSIS_FOLDERS.get(k.name, ()))
    lib = build_library(
        tree,
        toolchain,
        methods,
        jobs=jobs,
        progress=progress,
        extra_sources=[],
        cmsis_folders=sorted(folders),
    )
    (work / "frames_data.cc").write_text(frames_c_source(images), encoding="utf-8")
    harness = [
        harness_path("frames_embedded.cc"),
        work / "frames_data.cc",
        harness_path("arm", "platform.cc"),
        harness_path("arm", "startup.c"),
    ]
    sources, flags = program_sources(main, harness, op_dump_arena)
    elf = link_program(lib, sources, work / f"litelab-{target}.elf", flags=flags, jobs=jobs)
    return elf, lib


def run_qemu(
    elf: Path, frames: int, target: str = "cortex-m4", *, timeout: float = 600
) -> ProgramRun:
    """Run ``elf`` under qemu-system-arm with instruction counting; parse its UART lines."""
    qemu = check_tools()
    machine = MACHINES[target]
    cmd = [
        qemu,
        "-M",
        machine.qemu,
        "-nographic",
        "-monitor",
        "none",
        "-serial",
        "stdio",
        "-semihosting",
        "-icount",
        "shift=0",
        "-kernel",
        str(elf),
    ]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise LitelabError(
            f"QEMU ({machine.qemu}) ran over {timeout:.0f} s on {frames} images"
        ) from None
    text = done.stdout + done.stderr
    where = f"the {target} program under QEMU {machine.qemu} (exit status {done.returncode})"
    run = parse_output(text, frames, where)
    if done.returncode != 0:
        raise LitelabError(f"{where} failed: {text.strip().splitlines()[-1][:200]}")
    return run


def instructions(run: ProgramRun) -> np.ndarray:
    """Instructions per Invoke(): SysTick ticks x 1e9 / its clock (1 ns each, -icount 0)."""
    if run.ticks_per_second <= 0:
        raise LitelabError("the QEMU program reported no tick rate")
    return run.ticks * (1_000_000_000 / run.ticks_per_second)


_SIZE_LINE = re.compile(r"^(\.\S+)\s+(\d+)\s+(\d+)", re.M)


def memory(elf: Path) -> dict[str, int]:
    """Flash and RAM of the linked ELF, from ``arm-none-eabi-size -A`` and ``nm``.

    flash = .vectors + .text + .rodata + .ARM.exidx + .data (its load image), without the
    test images litelab links in; RAM = .data + .bss (which holds the tensor arena) + stack.
    """
    size = require("arm-none-eabi-size", ARM_PACKAGES)
    out = subprocess.run([size, "-A", str(elf)], capture_output=True, text=True, check=True).stdout
    sections = {m.group(1): int(m.group(2)) for m in _SIZE_LINE.finditer(out)}
    symbols = _symbol_sizes(elf, ("kLitelabFrames", "tensor_arena_buffer"))
    frames = symbols.get("kLitelabFrames", 0)
    code = sections.get(".text", 0) + sections.get(".vectors", 0) + sections.get(".ARM.exidx", 0)
    rodata = sections.get(".rodata", 0) - frames
    data = sections.get(".data", 0)
    bss = sections.get(".bss", 0)
    stack = sections.get(".stack", 0)
    arena = symbols.get("tensor_arena_buffer", 0)
    return {
        "text": code,
        "rodata": rodata,
        "data": data,
        "bss": bss,
        "arena": arena,
        "stack": stack,
        "test_images": frames,
        "flash": code + rodata + data,
        "ram": data + bss + stack,
    }


def _symbol_sizes(elf: Path, names: tuple[str, ...]) -> dict[str, int]:
    nm = require("arm-none-eabi-nm", ARM_PACKAGES)
    out = subprocess.run([nm, "-S", "-C", str(elf)], capture_output=True, text=True, check=True)
    found: dict[str, int] = {}
    for line in out.stdout.splitlines():
        parts = line.split(maxsplit=3)
        if len(parts) == 4:
            name = parts[3].split("::")[-1]
            if name in names:
                found[name] = int(parts[1], 16)
    return found
