"""Will it run on the microcontroller? TFLite Micro checks and the exact arena.

``check_tflm`` loads a .tflite model with TFLite Micro's own Python interpreter (the same
C++ kernels a board runs, in their reference versions), names any op TFLM lacks, measures
the smallest tensor arena that works (binary search, exact to the byte) and compares
TFLM's outputs on real images with LiteRT's. The boards and the verdict that sets the model
(flash) and the arena (RAM) against a target's budget are in :mod:`litelab.export.boards`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from litelab.errors import LitelabError
from litelab.export.boards import MB
from litelab.export.inspect import inspect_tflite
from litelab.export.litert import check_tflite_bytes
from litelab.files import capture_stderr


@dataclass
class TflmReport:
    """What TFLM made of a model: its ops, the exact arena, and agreement with LiteRT."""

    arena_bytes: int
    model_bytes: int
    ops: list[dict[str, Any]]  # {"op", "count", "supported"}
    input: dict[str, Any]  # dtype, shape, scale, zero_point
    output: dict[str, Any]
    quantization: str
    images_checked: int = 0
    top1_agreement: float | None = None  # fraction of images with the same top class
    max_abs_diff: float | None = None  # of the dequantized outputs
    mean_abs_diff: float | None = None
    tflm_scores: np.ndarray | None = field(default=None, repr=False)
    # with flip_tta: TFLM's scores on each image's mirror image (a second Invoke per image)
    tflm_flip_scores: np.ndarray | None = field(default=None, repr=False)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "arena_bytes": self.arena_bytes,
            "model_bytes": self.model_bytes,
            "ops": self.ops,
            "input": self.input,
            "output": self.output,
            "quantization": self.quantization,
            "images_checked": self.images_checked,
            "top1_agreement": self.top1_agreement,
            "max_abs_diff": self.max_abs_diff,
            "mean_abs_diff": self.mean_abs_diff,
            "notes": self.notes,
        }

    @property
    def tflm_tta_scores(self) -> np.ndarray | None:
        """Flip TTA's scores: the mean of each image's and its mirror's (None without)."""
        if self.tflm_scores is None or self.tflm_flip_scores is None:
            return None
        return (self.tflm_scores + self.tflm_flip_scores) / np.float32(2)


class _TflmFailure(Exception):
    def __init__(self, kind: str, log: str, detail: str = "") -> None:
        super().__init__(detail or kind)
        self.kind = kind  # "arena", "missing-op", "prepare", "other"
        self.log = log
        self.detail = detail


_MISSING_BUILTIN = re.compile(r"Didn't find op for builtin opcode '([A-Z0-9_]+)'")
_NO_REGISTRATION = re.compile(r"Failed to get registration from op code (\S+)")
_PREPARE = re.compile(r"Node (\S+) \(number (\d+)\) failed to (prepare|invoke)")
_ARENA = re.compile(r"Failed to (resize buffer|allocate)|missing: \d+")
_ARENA_TOTAL = re.compile(r"Arena allocation total (\d+) bytes")


def _classify(log: str) -> _TflmFailure:
    m = _MISSING_BUILTIN.search(log)
    if m:
        return _TflmFailure("missing-op", log, m.group(1))
    m = _NO_REGISTRATION.search(log)
    if m:
        return _TflmFailure("missing-op", log, m.group(1))
    m = _PREPARE.search(log)
    if m:
        return _TflmFailure("prepare", log, f"{m.group(1)}#{m.group(2)}")
    if _ARENA.search(log):
        return _TflmFailure("arena", log)
    return _TflmFailure("other", log)


def _runtime():
    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError:
        raise LitelabError(
            "TFLite Micro's Python interpreter is not installed (pip install tflite-micro)"
        ) from None
    return runtime


def _load(data: bytes, arena: int, invoke: bool = True):
    """A TFLM interpreter with ``arena`` bytes, after one invoke on zeros; else _TflmFailure."""
    runtime = _runtime()
    with capture_stderr() as log:
        try:
            interp = runtime.Interpreter.from_bytes(data, arena_size=arena)
            if invoke:
                d = interp.get_input_details(0)
                interp.set_input(np.zeros(tuple(d["shape"]), d["dtype"]), 0)
                interp.invoke()
        except (RuntimeError, ValueError) as exc:
            failed = exc
        else:
            failed = None
    text = log[0] if log else ""
    if failed is not None:
        raise _classify(text + "\n" + str(failed))
    return interp


def _allocation_total(interp) -> int | None:
    with capture_stderr() as log:
        interp.print_allocations()
    m = _ARENA_TOTAL.search(log[0] if log else "")
    return int(m.group(1)) if m else None


def _fits(data: bytes, arena: int) -> bool:
    try:
        _load(data, arena)
    except _TflmFailure as f:
        if f.kind == "arena":
            return False
        raise
    return True


def _measure_arena(data: bytes, start: int = 1 * MB, limit: int = 1024 * MB) -> int:
    """The smallest arena (bytes) with which TFLM allocates and invokes the model.

    Grows a working arena from ``start``, takes the allocator's own total as a hint and
    confirms it by binary search (``n`` works and ``n - 1`` does not). Raises _TflmFailure
    for anything that is not a too-small arena.
    """
    hi = start
    while True:
        try:
            interp = _load(data, hi)
            break
        except _TflmFailure as f:
            if f.kind != "arena":
                raise
            if hi >= limit:
                raise LitelabError(
                    f"TFLM could not allocate the model even with a {limit:,} B arena"
                ) from None
            hi *= 2
    lo = 0  # largest size known to fail
    hint = _allocation_total(interp)
    del interp
    if hint is not None and 0 < hint < hi and _fits(data, hint):
        hi = hint
        if hint > 1 and not _fits(data, hint - 1):
            return hint
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if _fits(data, mid):
            hi = mid
        else:
            lo = mid
    return hi


def measure_arena(data: bytes, where: str = "model") -> int:
    """The exact TFLM tensor arena of a model, in bytes (LitelabError if TFLM cannot run it)."""
    check_tflite_bytes(data, where)
    info = inspect_tflite(data, where)
    try:
        return _measure_arena(data)
    except _TflmFailure as f:
        raise _explain(f, data, info, where) from None


def _patched(data: bytes, missing: set[str]) -> bytes:
    """The model with the operator codes of ``missing`` ops turned into RESHAPE.

    Only used to let TFLM's op lookup go past one missing op and name the next one.
    """
    import flatbuffers
    from ai_edge_litert import schema_py_generated as s

    from litelab.export.inspect import op_name

    model = s.Model.GetRootAs(data, 0)
    names = [op_name(model.OperatorCodes(i)) for i in range(model.OperatorCodesLength())]
    obj = s.ModelT.InitFromObj(model)
    for code, name in zip(obj.operatorCodes, names, strict=True):
        if name in missing or (
            code.builtinCode == s.BuiltinOperator.CUSTOM and "CUSTOM" in missing
        ):
            code.builtinCode = s.BuiltinOperator.RESHAPE
            code.deprecatedBuiltinCode = s.BuiltinOperator.RESHAPE
            code.customCode = None
    builder = flatbuffers.Builder(len(data) + 1024)
    builder.Finish(obj.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def _node_label(info: dict[str, Any], op: str, index: int | None = None) -> str:
    """'CONV_2D (node 4, output tensor model/conv2d_3/...)' for an error message."""
    custom = {o["op"] for o in info["ops"] if o["custom"]}
    what = f"custom op {op!r}" if op in custom else op
    for node in info["nodes"]:
        if (index is not None and node["index"] == index) or (index is None and node["op"] == op):
            name = node["output"].split(";")[0]
            return f"{what} (node {node['index']}, output tensor {name!r})"
    return what


def _log_reason(log: str) -> str:
    """The most telling line TFLM printed before it gave up."""
    skip = ("Node ", "Failed to get registration", "TFLM failed", "AllocateTensors")
    lines = [ln.strip() for ln in log.splitlines() if ln.strip()]
    useful = [ln for ln in lines if not ln.startswith(skip)]
    return (useful[0] if useful else (lines[0] if lines else "no message"))[:200]


def _missing_ops(data: bytes, first: str, info: dict[str, Any]) -> list[str]:
    """Every op TFLM lacks, starting from the first one it reported."""
    custom = [o["op"] for o in info["ops"] if o["custom"]]
    missing = [first]
    for _ in range(len(info["ops"])):
        try:
            _load(_patched(data, set(missing)), 4 * MB, invoke=False)
        except _TflmFailure as f:
            if f.kind == "missing-op" and f.detail not in missing:
                missing.append(f.detail)
                continue
        except Exception:  # noqa: BLE001 - the probe is best effort
            pass
        break
    names: list[str] = []
    for op in missing:
        names.extend(custom if op == "CUSTOM" and custom else [op])
    return names


def _quant(details: dict[str, Any]) -> tuple[float | None, int | None]:
    q = details.get("quantization_parameters") or {}
    scales = np.asarray(q.get("scales", []))
    zeros = np.asarray(q.get("zero_points", []))
    if scales.size == 1:
        return float(scales[0]), int(zeros[0]) if zeros.size else 0
    return None, None


def _io(details: dict[str, Any]) -> dict[str, Any]:
    scale, zero = _quant(details)
    return {
        "dtype": np.dtype(details["dtype"]).name,
        "shape": [int(v) for v in details["shape"]],
        "scale": scale,
        "zero_point": zero,
    }


def quantize_images(images: np.ndarray, io: dict[str, Any], input_scale: float) -> np.ndarray:
    """uint8 pixels -> the input tensor's values, exactly as litelab's LiteRT wrapper does."""
    x = images.astype(np.float32) * np.float32(input_scale / 255.0)
    dtype = np.dtype(io["dtype"])
    if dtype in (np.int8, np.uint8, np.int16) and io["scale"]:
        info = np.iinfo(dtype)
        q = np.round(x / io["scale"]) + io["zero_point"]
        return np.clip(q, info.min, info.max).astype(dtype)
    return x.astype(dtype)


def _dequantize(raw: np.ndarray, io: dict[str, Any]) -> np.ndarray:
    if np.dtype(io["dtype"]).kind in "iu" and io["scale"]:
        return (raw.astype(np.float32) - io["zero_point"]) * np.float32(io["scale"])
    return raw.astype(np.float32)


# TFLM's int8 SOFTMAX needs input_scale * 2**26 > 1 (its fixed-point multiplier must exceed
# one); below that, its Prepare aborts the whole process instead of returning an error.
_SOFTMAX_MIN_INPUT_SCALE = 2.0**-26


def _check_softmax_inputs(data: bytes, where: str) -> None:
    """Refuse, in one line, an int8 SOFTMAX whose logits are (nearly) constant."""
    try:
        from ai_edge_litert.interpreter import Interpreter

        interp = Interpreter(model_content=data)
        ops = interp._get_ops_details()
        tensors = {t["index"]: t for t in interp.get_tensor_details()}
    except Exception:  # noqa: BLE001 - inspection already vetted the file; nothing to add
        return
    for op in ops:
        if op.get("op_name") != "SOFTMAX" or not len(op.get("inputs", [])):
            continue
        t = tensors.get(int(op["inputs"][0]))
        if t is None or t["dtype"] not in (np.int8, np.int16):
            continue
        scales = t["quantization_parameters"]["scales"]
        if len(scales) and float(scales[0]) <= _SOFTMAX_MIN_INPUT_SCALE:
            raise LitelabError(
                f"{where}: the SOFTMAX input's int8 scale {float(scales[0]):.3g} is below "
                f"what TFLite Micro accepts ({_SOFTMAX_MIN_INPUT_SCALE:.3g}): the logits are "
                "nearly constant over the representative images (an untrained model?)"
            )


def check_tflm(
    tflite_bytes: bytes,
    *,
    images: np.ndarray | None = None,
    input_scale: float = 1.0,
    litert_scores: np.ndarray | None = None,
    where: str = "model",
    flip_tta: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> TflmReport:
    """Load ``tflite_bytes`` with TFLite Micro, measure its arena, compare it with LiteRT.

    ``images`` (uint8, N x H x W x C) are fed to both runtimes, quantized with the input
    tensor's scale and zero point after scaling pixels by ``input_scale / 255``; give
    ``litert_scores`` (N x classes) to skip the LiteRT run. With ``flip_tta`` each image's
    mirror image (left-right) runs too, as the board program does with ``--flip-tta``:
    ``report.tflm_tta_scores`` is the mean of the two passes. ``progress(done, total)`` is
    called every 500 Invokes and at the end (TFLM's reference kernels take minutes for a
    whole test split). An op TFLM lacks, or a kernel
    that refuses the model (hybrid/float16 models), is a LitelabError naming the op.

    Expect the top class to agree but the scores to differ by a few output steps: TFLM runs
    reference kernels, LiteRT optimized ones (XNNPACK) that round int8 residual ADDs and
    convolutions differently, and a softmax output magnifies small logit differences.
    """
    check_tflite_bytes(tflite_bytes, where)
    info = inspect_tflite(tflite_bytes, where)  # structure check first: TFLM trusts its input
    if len(info["inputs"]) != 1 or len(info["outputs"]) != 1:
        raise LitelabError(f"{where} must have one input and one output for TFLM checks")
    _check_softmax_inputs(tflite_bytes, where)
    try:
        arena = _measure_arena(tflite_bytes)
    except _TflmFailure as f:
        raise _explain(f, tflite_bytes, info, where) from None
    interp = _load(tflite_bytes, arena)
    inp = _io(interp.get_input_details(0))
    out = _io(interp.get_output_details(0))
    report = TflmReport(
        arena_bytes=arena,
        model_bytes=len(tflite_bytes),
        ops=[{"op": o["op"], "count": o["count"], "supported": True} for o in info["ops"]],
        input=inp,
        output=out,
        quantization=info["quantization"],
    )
    kind = info["quantization"]
    if kind in ("float32", "float16", "mixed"):
        report.notes.append(
            f"this is a {kind} model: TFLM runs it with its float reference kernels, but on a "
            "microcontroller that is several times slower and bigger than int8 (ESP-NN and "
            "CMSIS-NN only speed up int8); convert it to full int8"
        )
    elif "float input/output" in kind:
        report.notes.append(
            "the model's input and output are float32 around an int8 body: TFLM runs it, "
            "but int8 input and output save RAM and two conversion ops"
        )
    if images is None or len(images) == 0:
        return report
    expected = tuple(inp["shape"][1:])
    if tuple(images.shape[1:]) != expected:
        raise LitelabError(
            f"{where} expects images of shape {expected}, got {tuple(images.shape[1:])}"
        )
    q = quantize_images(images, inp, input_scale)
    total = len(q) * (2 if flip_tta else 1)
    tick = None if progress is None else (lambda done: progress(done, total))
    scores = _invoke_all(interp, q, out, where, "test image", tick)
    if flip_tta:  # the board program's --flip-tta: the mirror image, W reversed, a second pass
        mirrored = quantize_images(images[:, :, ::-1], inp, input_scale)
        after = None if tick is None else (lambda done: tick(len(q) + done))
        report.tflm_flip_scores = _invoke_all(
            interp, mirrored, out, where, "mirrored test image", after
        )
    if litert_scores is None:
        from litelab.export.litert import TFLiteModel

        ref = TFLiteModel(tflite_bytes, where)
        litert_scores = np.stack(
            [ref.dequantize_output(ref.run_raw(q[i : i + 1]))[0] for i in range(len(q))]
        )
    litert_scores = np.asarray(litert_scores, np.float32).reshape(scores.shape)
    report.images_checked = len(images)
    report.top1_agreement = float(np.mean(scores.argmax(1) == litert_scores.argmax(1)))
    report.max_abs_diff = float(np.max(np.abs(scores - litert_scores)))
    report.mean_abs_diff = float(np.mean(np.abs(scores - litert_scores)))
    report.tflm_scores = scores
    return report


def _invoke_all(
    interp,
    q: np.ndarray,
    out: dict[str, Any],
    where: str,
    what: str,
    tick: Callable[[int], None] | None = None,
) -> np.ndarray:
    """TFLM's dequantized scores (N x classes) for quantized inputs ``q``, one Invoke each;
    ``tick(done)`` after every 500 and at the end, outside the stderr capture (TFLM's own
    messages are captured, for the error line)."""
    scores = np.empty((len(q), int(np.prod(out["shape"][1:]))), np.float32)
    for start in range(0, len(q), _TICK):
        with capture_stderr() as log:
            try:
                for i in range(start, min(start + _TICK, len(q))):
                    interp.set_input(q[i : i + 1], 0)
                    interp.invoke()
                    scores[i] = _dequantize(np.asarray(interp.get_output(0)), out).reshape(-1)
            except (RuntimeError, ValueError) as exc:
                failed: Exception | None = exc
            else:
                failed = None
        if failed is not None:
            reason = _log_reason((log[0] if log else "") + "\n" + str(failed))
            raise LitelabError(f"TFLite Micro failed to run {where} on {what} {i}: {reason}")
        if tick is not None:
            tick(min(start + _TICK, len(q)))
    return scores


_TICK = 500  # Invokes between progress calls


def _explain(f: _TflmFailure, data: bytes, info: dict[str, Any], where: str) -> LitelabError:
    """Turn a TFLM failure into one line that names the op and the layer."""
    if f.kind == "missing-op":
        missing = _missing_ops(data, f.detail, info)
        labels = [_node_label(info, op) for op in missing]
        return LitelabError(
            f"{where} uses {'an op' if len(missing) == 1 else 'ops'} TFLite Micro does not "
            f"have: {'; '.join(labels)}; rebuild the model without "
            f"{'it' if len(missing) == 1 else 'them'} (TFLM supports CONV_2D, "
            "DEPTHWISE_CONV_2D, FULLY_CONNECTED, pooling, ADD, MUL, RESHAPE, SOFTMAX and more)"
        )
    if f.kind == "prepare":
        op, _, number = f.detail.partition("#")
        label = _node_label(info, op, int(number) if number.isdigit() else None)
        hint = ""
        if info["quantization"] in ("dynamic range", "float16"):
            hint = f" ({info['quantization']} models do not run on TFLM: convert to full int8)"
        return LitelabError(
            f"TFLite Micro cannot run {where}: {label} was refused: {_log_reason(f.log)}{hint}"
        )
    return LitelabError(f"TFLite Micro cannot load {where}: {_log_reason(f.log)}")
