"""Check the board program against the Python runtimes: what ``--verify host|qemu`` reports.

host: the program compiled for this PC (TFLM reference kernels) runs N test images. For each
image litelab computes the input tensor the program's ``FillInput`` should have made and
compares its FNV-1a with the one the program printed; it then feeds that tensor to TFLM's own
Python interpreter (the ``tflite-micro`` package: the same reference kernels) and to LiteRT,
and counts the images whose output bytes are identical (bit-exact) and whose top class is the
same. Where the sources have ESP-NN, the same program is also built with esp-tflite-micro's
ESP-NN kernels over ESP-NN's portable C code (what the ESP32 runs, without its assembly) and
compared with the reference build.

qemu: the program built with CMSIS-NN kernels runs on an emulated Cortex-M4 or -M55 and is
compared with the host build, image by image; it reports the ELF's flash and RAM, the
instructions per inference and an estimated latency.
"""

from __future__ import annotations

import re
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from litelab.errors import LitelabError
from litelab.export.csource import fnv1a32

MODES = ("none", "host", "qemu")
# MLPerf Tiny v0.5-v1.1, image classification (ResNet-8), STM32L4R5 (Cortex-M4F) at 120 MHz.
MLPERF_RESNET8_MS = {
    "clock_mhz": 120,
    "board": "STM32L4R5 (Cortex-M4F) at 120 MHz, MLPerf Tiny image classification (ResNet-8)",
    "results": [
        {"stack": "TFLM reference kernels", "round": "v0.5", "ms": 704},
        {"stack": "CMSIS-NN through microTVM", "round": "v1.0", "ms": 390},
        {"stack": "X-CUBE-AI", "round": "v1.1", "ms": 214},
    ],
}
# Clocks for the estimate: the QEMU board's own, and a typical part of each class.
EST_CLOCKS_MHZ = {"cortex-m4": (25, 120), "cortex-m55": (32, 400)}


def program_inputs(images: np.ndarray, io: dict[str, Any], input_scale: float) -> np.ndarray:
    """The input tensors main.cc's FillInput makes (``litelab_quantize`` in preprocess.h).

    The same float32 arithmetic as the C (``rgb[i] * kPixelToInput / scale``), rounded half to
    even like ``rintf`` (and like numpy's round in litelab's LiteRT evaluation), plus the zero
    point, clamped to the type's range.
    """
    k = np.float32(float(input_scale) / 255.0)
    x = images.astype(np.float32) * k
    dtype = np.dtype(io["dtype"])
    if dtype.kind not in "iu" or not io.get("scale"):
        return x.astype(dtype)
    q = np.rint(x / np.float32(io["scale"])).astype(np.int64) + int(io["zero_point"])
    info = np.iinfo(dtype)
    return np.clip(q, info.min, info.max).astype(dtype)


def _python_tflm(data: bytes, inputs: np.ndarray, arena: int) -> np.ndarray:
    """Output bytes of TFLM's Python interpreter (reference kernels) for each input."""
    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError:
        raise LitelabError(
            "TFLite Micro's Python interpreter is not installed (pip install tflite-micro)"
        ) from None
    interp = runtime.Interpreter.from_bytes(data, arena_size=max(arena * 2, 64 * 1024))
    out = []
    for i in range(len(inputs)):
        interp.set_input(inputs[i : i + 1], 0)
        interp.invoke()
        out.append(np.ascontiguousarray(interp.get_output(0)).view(np.uint8).reshape(-1))
    return np.stack(out)


def _litert_classes(model, *passes: np.ndarray) -> np.ndarray:
    """LiteRT's top class per image (``model`` a TFLiteModel), of the passes' summed scores
    (one pass, or flip TTA's two: the inputs and their mirror images')."""
    total = 0
    for inputs in passes:
        total = total + np.stack(
            [
                model.dequantize_output(model.run_raw(inputs[i : i + 1]))[0]
                for i in range(len(inputs))
            ]
        )
    return np.argmax(total, axis=1)


def _work_dir(work: Path | None) -> Path:
    return Path(tempfile.mkdtemp(prefix="litelab-fw-")) if work is None else work


def verify_host(
    data: bytes,
    files: dict[str, str],
    images: np.ndarray,
    *,
    io: dict[str, Any],
    input_scale: float,
    arena: int,
    tflm: str | Path | None = None,
    esp_nn: bool = True,
    work: Path | None = None,
    jobs: int | None = None,
    progress=None,
    flip_tta: bool = False,
) -> dict[str, Any]:
    """Build and run the program on this PC; compare it with TFLM (Python) and LiteRT.

    ``flip_tta``: the program was generated with ``--flip-tta``; each frame's mirror pass is
    checked the same way (input hash, output bytes), and the top class against the class of
    TFLM's two passes' summed scores.
    """
    from litelab.firmware.host import build_host, run_host
    from litelab.firmware.sources import ESP_NN_PARTS, HOST_PARTS, find_tree

    work = _work_dir(work)
    tree = find_tree(tflm, HOST_PARTS, quiet=progress is None)
    start = time.monotonic()
    exe, lib = build_host(tree, files, work / "host", jobs=jobs, progress=progress)
    built = time.monotonic() - start
    run = run_host(exe, images)
    if (run.mirror_outputs is not None) != flip_tta:
        raise LitelabError(
            "the host program " + ("has no" if flip_tta else "has a") + " flip-TTA mirror "
            "pass, but the check was told " + ("it has one" if flip_tta else "it has none")
        )
    passes = [(images, run.input_hashes, run.outputs)]
    if flip_tta:
        passes.append((images[:, :, ::-1], run.mirror_input_hashes, run.mirror_outputs))
    from litelab.export.litert import TFLiteModel

    litert_model = TFLiteModel(data, "model")
    out_dtype = np.dtype(litert_model.output["dtype"])
    same_input = np.ones(len(images), bool)
    exact = np.ones(len(images), bool)
    tflm_scores = 0
    inputs = []
    for pictures, hashes, outputs in passes:
        expected = program_inputs(pictures, io, input_scale)
        inputs.append(expected)
        same_input &= np.array([fnv1a32(expected[i].tobytes()) == h for i, h in enumerate(hashes)])
        ref = _python_tflm(data, expected, arena)
        exact &= np.all(ref == outputs, axis=1)
        # the scores main.cc's Score() sums: the output bytes dequantized as LiteRT does
        tflm_scores = tflm_scores + litert_model.dequantize_output(ref.view(out_dtype))
    exact &= same_input
    litert = _litert_classes(litert_model, *inputs)
    result: dict[str, Any] = {
        "mode": "host",
        "kernels": "TFLM reference",
        "images": int(len(images)),
        "flip_tta": flip_tta,
        "inputs_identical": int(same_input.sum()),
        "bit_exact_with_tflm_python": int(exact.sum()),
        "same_class_as_tflm_python": int(np.sum(np.argmax(tflm_scores, axis=1) == run.classes)),
        "same_class_as_litert": int(np.sum(litert == run.classes)),
        "arena_used_bytes": run.arena_used_bytes,
        "arena_bytes": run.arena_bytes,
        "classes": run.classes.tolist(),
        "build_seconds": round(built, 1),
        "library": {
            "files": lib.sources,
            "compiled_now": lib.compiled,
            "kernels": lib.kernel_files,
        },
        "tflm": {"origin": tree.origin, "tree": str(tree.tflm), "id": tree.ident},
        "differing_images": [int(i) for i in np.flatnonzero(~exact)][:20],
    }
    result["line"] = (
        f"host build (TFLM reference kernels) on {len(images)} test images"
        + (" with flip TTA (2 passes each)" if flip_tta else "")
        + f": {result['bit_exact_with_tflm_python']} bit-exact with TFLM's Python interpreter, "
        f"{result['same_class_as_tflm_python']} same class as it, "
        f"{result['same_class_as_litert']} same class as LiteRT; arena_used_bytes "
        f"{run.arena_used_bytes:,}"
    )
    if esp_nn:
        result["esp_nn"] = _esp_nn_host(
            tree, files, images, run, work, jobs, progress, ESP_NN_PARTS
        )
    result["_run"] = run
    return result


def _esp_nn_host(tree, files, images, ref_run, work, jobs, progress, parts) -> dict[str, Any]:
    """The ESP-NN build on this PC, against the reference build; a failure is reported."""
    from litelab.firmware.host import build_host, run_host

    if not all(p in tree.parts for p in parts):
        return {"built": False, "reason": "the TFLM tree has no esp-nn/ and esp-tflite-micro/"}
    try:
        exe, _ = build_host(
            tree, files, work / "host-esp-nn", kernels="esp_nn", jobs=jobs, progress=progress
        )
        run = run_host(exe, images)
    except LitelabError as exc:
        return {"built": False, "reason": str(exc)}
    exact = np.all(run.all_outputs == ref_run.all_outputs, axis=1)
    same = run.classes == ref_run.classes
    return {
        "built": True,
        "kernels": "esp-tflite-micro ESP-NN wrappers + ESP-NN portable C (ansi)",
        "images": int(len(images)),
        "bit_exact_with_reference": int(exact.sum()),
        "same_class_as_reference": int(same.sum()),
        "max_output_step_difference": int(
            np.max(
                np.abs(
                    run.all_outputs.view(np.int8).astype(int)
                    - ref_run.all_outputs.view(np.int8).astype(int)
                )
            )
        ),
        "arena_used_bytes": run.arena_used_bytes,
        "line": f"ESP-NN host build: {int(exact.sum())} of {len(images)} bit-exact with the "
        f"reference build, {int(same.sum())} same class",
    }


def verify_qemu(
    data: bytes,
    files: dict[str, str],
    images: np.ndarray,
    *,
    target: str,
    clock_hz: int | None = None,
    tflm: str | Path | None = None,
    work: Path | None = None,
    jobs: int | None = None,
    progress=None,
    **model: Any,
) -> dict[str, Any]:
    """Build for ``target`` (cortex-m4 / cortex-m55), run under QEMU, compare with the host.

    ``model``: ``io``, ``input_scale`` and ``arena``, as :func:`verify_host` takes them.
    """
    from litelab.firmware.qemu import MACHINES, build_qemu, instructions, memory, run_qemu
    from litelab.firmware.sources import ARM_PARTS, find_tree

    if target not in MACHINES:
        raise LitelabError(f"--verify qemu runs the targets {', '.join(MACHINES)}, not {target}")
    work = _work_dir(work)
    common = dict(tflm=tflm, work=work, jobs=jobs, progress=progress)
    host = verify_host(data, files, images, **model, esp_nn=False, **common)
    host_run = host.pop("_run")
    tree = find_tree(tflm, ARM_PARTS, quiet=progress is None)
    start = time.monotonic()
    elf, lib = build_qemu(tree, files, images, work / target, target, jobs=jobs, progress=progress)
    built = time.monotonic() - start
    start = time.monotonic()
    run = run_qemu(elf, len(images), target)
    ran = time.monotonic() - start
    same_class = run.classes == host_run.classes
    same_bytes = np.all(run.all_outputs == host_run.all_outputs, axis=1)
    insns = instructions(run)
    mem = memory(elf)
    machine = MACHINES[target]
    median = float(np.median(insns))
    clocks = sorted(
        {*(EST_CLOCKS_MHZ.get(target, ())), *(() if not clock_hz else (clock_hz // 1_000_000,))}
    )
    estimates = [{"clock_mhz": c, "ms": round(median / (c * 1e3), 1)} for c in clocks]
    result: dict[str, Any] = {
        "mode": "qemu",
        "target": target,
        "machine": machine.qemu,
        "description": machine.description,
        "kernels": "CMSIS-NN",
        "images": int(len(images)),
        "passes_per_frame": 1 if run.mirror_outputs is None else 2,  # 2: flip TTA
        "same_class_as_host": int(same_class.sum()),
        "same_bytes_as_host": int(same_bytes.sum()),
        "differing_images": [int(i) for i in np.flatnonzero(~same_bytes)][:20],
        "arena_used_bytes": run.arena_used_bytes,
        "stack_used_bytes": run.stack_used_bytes,
        "memory": mem,
        "instructions_per_inference": {
            "median": round(median),
            "min": round(float(insns.min())),
            "max": round(float(insns.max())),
            "resolution": round(1e9 / machine.systick_hz, 2),
        },
        "estimated_ms": estimates,
        "estimate_basis": "instructions / clock, one instruction per cycle (QEMU counts "
        "instructions, not cycles: an estimate, not a measurement)",
        "build_seconds": round(built, 1),
        "run_seconds": round(ran, 1),
        "library": {
            "files": lib.sources,
            "compiled_now": lib.compiled,
            "kernels": lib.kernel_files,
        },
        "host": host,
    }
    if target == "cortex-m4":
        result["mlperf_tiny_resnet8"] = MLPERF_RESNET8_MS
    if not same_bytes.all():  # where the emulated build first parts from the host build
        first = int(np.flatnonzero(~same_bytes)[0])
        result["per_op"] = {
            "image": first,
            **per_op_diff(
                tree,
                files,
                data,
                images[first],
                target=target,
                arena=model["arena"],
                work=work,
                jobs=jobs,
            ),
        }
    est = ", ".join(f"~{e['ms']:,} ms at {e['clock_mhz']} MHz" for e in estimates)
    result["line"] = (
        f"QEMU {machine.qemu} ({target}, CMSIS-NN) on {len(images)} test images: "
        f"{result['same_class_as_host']} same class as the host build, "
        f"{result['same_bytes_as_host']} identical output bytes; flash {mem['flash']:,} B, "
        f"RAM {mem['ram']:,} B (arena {mem['arena']:,}, stack {mem['stack']:,} reserved); "
        f"{median:,.0f} instructions per inference; estimated {est} (1 instruction per cycle)"
        + ("; flip TTA runs 2 inferences a frame" if run.mirror_outputs is not None else "")
    )
    return result


_OP_LINE = re.compile(
    r"op (\d+) (\d+): (\S+) output tensor (\d+), (\d+) bytes, fnv1a ([0-9a-f]{8})"
)


def dump_arena(data: bytes, arena: int) -> int:
    """An arena that keeps every tensor (preserve_all_tensors): all tensors' bytes + arena."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_content=data)
    total = sum(
        int(np.prod(t["shape"])) * np.dtype(t["dtype"]).itemsize
        for t in interp.get_tensor_details()
    )
    return -(-(total + 2 * arena + 65536) // 16) * 16


def _op_hashes(log: str) -> list[tuple[str, str]]:
    return [(m.group(3), m.group(6)) for m in _OP_LINE.finditer(log)]


def per_op_diff(
    tree,
    files: dict[str, str],
    data: bytes,
    image: np.ndarray,
    *,
    target: str,
    arena: int,
    work: Path,
    jobs: int | None = None,
) -> dict[str, Any]:
    """Run one image op by op on the host and under QEMU; name the first op that differs."""
    from litelab.firmware.host import build_host, run_host
    from litelab.firmware.qemu import build_qemu, run_qemu

    size = dump_arena(data, arena)
    images = image[None] if image.ndim == 3 else image[:1]
    exe, _ = build_host(tree, files, work / "per-op-host", op_dump_arena=size, jobs=jobs)
    elf, _ = build_qemu(
        tree, files, images, work / "per-op-qemu", target, op_dump_arena=size, jobs=jobs
    )
    host = _op_hashes(run_host(exe, images).log)
    emulated = _op_hashes(run_qemu(elf, 1, target).log)
    differ = [i for i, (a, b) in enumerate(zip(host, emulated, strict=False)) if a != b]
    first = differ[0] if differ else None
    return {
        "ops": len(host),
        "differing_ops": len(differ),
        "first_differing_op": None if first is None else {"index": first, "op": host[first][0]},
        "line": "no op differs"
        if first is None
        else f"first difference at op {first} ({host[first][0]}); "
        f"{len(differ)} of {len(host)} ops differ",
    }


def verify_deploy(
    mode: str,
    data: bytes,
    files: dict[str, str],
    images: np.ndarray,
    *,
    target: Any,
    tflm: str | Path | None = None,
    progress=None,
    **model: Any,
) -> dict[str, Any]:
    """What ``litelab deploy --verify MODE`` records (``deploy.json``'s ``firmware``).

    ``model``: the flatbuffer's facts the checks need (``io``, ``input_scale``, ``arena``).
    """
    if len(images) == 0:
        raise LitelabError("--verify needs test images: pass --data (and --images N >= 1)")
    with tempfile.TemporaryDirectory(prefix="litelab-fw-") as tmp:
        common = dict(model, tflm=tflm, work=Path(tmp), progress=progress)
        if mode == "host":
            result = verify_host(data, files, images, **common)
            result.pop("_run", None)
            return result
        if mode == "qemu":
            clock = getattr(target, "clock_hz", None)
            return verify_qemu(data, files, images, target=target.name, clock_hz=clock, **common)
    raise LitelabError(f"unknown --verify mode {mode!r}; choose one of {', '.join(MODES)}")


def check_mode(mode: str, target_name: str, images: int) -> None:
    """Refuse a bad --verify / --images / target combination before any work."""
    from litelab.errors import one_of
    from litelab.firmware.qemu import MACHINES

    one_of("--verify mode", mode, MODES)
    if mode != "none" and images < 1:
        raise LitelabError(f"--images must be 1 or more, got {images}")
    if mode == "qemu" and target_name not in MACHINES:
        raise LitelabError(
            f"--verify qemu emulates {' and '.join(MACHINES)}; pass --target one of them "
            f"(got {target_name})"
        )
    if mode == "qemu":
        from litelab.firmware.qemu import check_tools

        check_tools()
