"""The generated board program as litelab builds it: its files on disk, and what it prints.

``write_sources`` puts the project files (``render_project``'s dict) in a build folder;
``parse_output`` reads the lines that the non-ESP ``main()`` prints: the arena it used, the
tick rate, and per frame the top class, the ticks of one ``Invoke()``, the FNV-1a of the
input tensor and the output tensor's bytes in hex; with flip TTA also, per frame, the same
three for the mirror image's pass (a ``frame N mirror:`` line).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from importlib.resources import files as package_files
from pathlib import Path
from typing import Any

import numpy as np

from litelab.errors import LitelabError

HARNESS = package_files("litelab.firmware") / "harness"
_ARENA = re.compile(r"tensor arena: (\d+) bytes used of (\d+)")
_TPS = re.compile(r"ticks per second: (\d+)")
_STACK = re.compile(r"stack used: (\d+) bytes")
_FRAME = re.compile(
    r"frame (\d+): top class: .* \((\d+)\), score \S+, ticks (\d+), input ([0-9a-f]{8}), "
    r"output ([0-9a-f]*)"
)
_MIRROR = re.compile(r"frame (\d+) mirror: ticks (\d+), input ([0-9a-f]{8}), output ([0-9a-f]*)")


def harness_path(*parts: str) -> Path:
    return Path(str(HARNESS.joinpath(*parts)))


def write_sources(files: dict[str, str], folder: Path) -> Path:
    """The project's ``main/`` files under ``folder``; returns the main/ folder."""
    main = folder / "main"
    main.mkdir(parents=True, exist_ok=True)
    for rel, text in files.items():
        if rel.startswith("main/") and rel.endswith((".cc", ".h", ".c")):
            (folder / rel).write_text(text, encoding="utf-8")
    for need in ("main.cc", "model_data.cc", "frame_source.h"):
        if not (main / need).is_file():
            raise LitelabError(f"the generated project has no main/{need}")
    return main


def program_sources(
    main: Path, harness: list[Path], op_dump_arena: int | None = None
) -> tuple[list[Path], list[str]]:
    """The files and flags of one program: the generated ``main.cc`` and ``model_data.cc``,
    the target's ``harness`` files and, with ``op_dump_arena``, the op-by-op diagnostic
    (harness/op_dump.cc, every tensor kept in an arena of that size)."""
    sources = [main / "main.cc", main / "model_data.cc", *harness]
    flags = [f"-I{main}"]
    if op_dump_arena:
        sources.append(harness_path("op_dump.cc"))
        flags += [
            f"-I{harness_path('op_dump.h').parent}",
            f"-DLITELAB_OP_DUMP_ARENA={op_dump_arena}",
        ]
    return sources, flags


def frames_bytes(images: np.ndarray) -> bytes:
    """N x H x W x C uint8 frames as the frame sources read them (raw RGB888, in order)."""
    x = np.ascontiguousarray(images, dtype=np.uint8)
    if x.ndim != 4:
        raise LitelabError(f"test images must be N x H x W x C, got shape {x.shape}")
    return x.tobytes()


def frames_c_source(images: np.ndarray) -> str:
    """frames_data.cc: the frames as one const array, for a program without a file system."""
    data = frames_bytes(images)
    rows = [", ".join(str(b) for b in data[i : i + 24]) for i in range(0, len(data), 24)]
    body = ",\n  ".join(rows)
    return (
        "// The test images litelab's QEMU check classifies, raw RGB888 in order.\n"
        "#include <cstdint>\n"
        f"extern const uint8_t kLitelabFrames[] = {{\n  {body}\n}};\n"
        f"extern const int kLitelabFrameCount = {len(images)};\n"
    )


@dataclass
class ProgramRun:
    """What one run of the program printed, parsed."""

    classes: np.ndarray  # (N,) top class per frame (of both passes' mean, with flip TTA)
    outputs: np.ndarray  # (N, output bytes) uint8: the output tensor, byte for byte
    input_hashes: list[int]
    ticks: np.ndarray  # (N,) ticks of Invoke() per frame
    ticks_per_second: int
    arena_used_bytes: int
    arena_bytes: int
    stack_used_bytes: int | None = None  # printed by the QEMU start-up code
    log: str = field(repr=False, default="")
    # flip TTA's second pass, on each frame's mirror image (None: the program has no flip TTA)
    mirror_outputs: np.ndarray | None = None
    mirror_input_hashes: list[int] | None = None
    mirror_ticks: np.ndarray | None = None

    @property
    def all_outputs(self) -> np.ndarray:
        """(N, bytes) of every pass, the mirror pass' bytes after the plain pass'."""
        if self.mirror_outputs is None:
            return self.outputs
        return np.concatenate([self.outputs, self.mirror_outputs], axis=1)


def parse_output(text: str, expected_frames: int, where: str) -> ProgramRun:
    """Parse the program's lines; a crash or a missing frame is a one-line error."""
    arena = _ARENA.search(text)
    frames = [m for m in _FRAME.finditer(text)]
    if arena is None or len(frames) != expected_frames:
        tail = [ln for ln in text.strip().splitlines() if ln.strip()][-1:] or ["no output"]
        raise LitelabError(
            f"{where} printed {len(frames)} of {expected_frames} frames "
            f"({'arena line missing; ' if arena is None else ''}last line: {tail[0][:200]})"
        )
    tps = _TPS.search(text)
    stack = _STACK.search(text)
    outputs = np.array([np.frombuffer(bytes.fromhex(m.group(5)), np.uint8) for m in frames])
    mirrors = list(_MIRROR.finditer(text))
    mirror: dict[str, Any] = {}
    if mirrors:
        if [int(m.group(1)) for m in mirrors] != [int(m.group(1)) for m in frames]:
            raise LitelabError(
                f"{where} printed mirror passes for {len(mirrors)} of {expected_frames} frames"
            )
        mirror = {
            "mirror_outputs": np.array(
                [np.frombuffer(bytes.fromhex(m.group(4)), np.uint8) for m in mirrors]
            ),
            "mirror_input_hashes": [int(m.group(3), 16) for m in mirrors],
            "mirror_ticks": np.array([int(m.group(2)) for m in mirrors], dtype=np.int64),
        }
    return ProgramRun(
        classes=np.array([int(m.group(2)) for m in frames]),
        outputs=outputs,
        input_hashes=[int(m.group(4), 16) for m in frames],
        ticks=np.array([int(m.group(3)) for m in frames], dtype=np.int64),
        ticks_per_second=int(tps.group(1)) if tps else 0,
        arena_used_bytes=int(arena.group(1)),
        arena_bytes=int(arena.group(2)),
        stack_used_bytes=int(stack.group(1)) if stack else None,
        log=text,
        **mirror,
    )
