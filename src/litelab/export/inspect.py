"""What is inside a model: inputs, outputs, ops, weights and multiply-accumulates.

``inspect_tflite`` reads the flatbuffer itself (with the schema module that ships with
``ai-edge-litert``), so it works on models no interpreter can run (custom or missing ops).
``inspect_keras`` does the same for a Keras model. MACs are counted the same way on both
sides (one multiply-accumulate per weight use, biases and activations not counted), so a
Keras model and its TFLite conversion report the same number.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any

from litelab.errors import LitelabError
from litelab.export.litert import check_tflite_bytes

MAC_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "TRANSPOSE_CONV", "BATCH_MATMUL")


class _Bad(ValueError):
    """A structural problem found while parsing (turned into a LitelabError naming the file)."""


def _schema():
    from ai_edge_litert import schema_py_generated

    return schema_py_generated


def _enum_names(cls) -> dict[int, str]:
    return {v: k for k, v in vars(cls).items() if not k.startswith("_") and isinstance(v, int)}


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def op_name(opcode) -> str:
    """``CONV_2D`` for a builtin operator code; the custom code for a custom op."""
    s = _schema()
    code = max(opcode.BuiltinCode(), opcode.DeprecatedBuiltinCode())
    if code == s.BuiltinOperator.CUSTOM:
        return _text(opcode.CustomCode()) or "CUSTOM"
    return _enum_names(s.BuiltinOperator).get(code, f"BUILTIN_{code}")


def _tensor_info(tensor, dtype_names: dict[int, str]) -> dict[str, Any]:
    q = tensor.Quantization()
    scales = q.ScaleAsNumpy().tolist() if q is not None and q.ScaleLength() else []
    zeros = q.ZeroPointAsNumpy().tolist() if q is not None and q.ZeroPointLength() else []
    info: dict[str, Any] = {
        "name": _text(tensor.Name()),
        "shape": tensor.ShapeAsNumpy().tolist() if tensor.ShapeLength() else [],
        "dtype": dtype_names.get(tensor.Type(), str(tensor.Type())).lower(),
        "scale": None,
        "zero_point": None,
    }
    if len(scales) == 1:
        info["scale"] = float(scales[0])
        info["zero_point"] = int(zeros[0]) if zeros else 0
    elif len(scales) > 1:
        info["scale"] = [float(v) for v in scales]
        info["zero_point"] = [int(v) for v in zeros]
    return info


def _prod(values) -> int:
    return int(math.prod(int(v) for v in values))


def _node_macs(op: str, ins: list[list[int] | None], outs: list[list[int] | None], opts) -> int:
    """MACs of one operator from its tensor shapes (0 for ops without multiply-accumulates)."""
    out = outs[0] if outs else None
    if out is None:
        return 0
    if op == "CONV_2D" and len(ins) > 1 and ins[1]:  # weights (Cout, kh, kw, Cin / groups)
        return _prod(out) * _prod(ins[1][1:])
    if op == "DEPTHWISE_CONV_2D" and len(ins) > 1 and ins[1]:  # weights (1, kh, kw, Cout)
        return _prod(out) * _prod(ins[1][1:3])
    if op == "FULLY_CONNECTED" and len(ins) > 1 and ins[1]:  # weights (units, in)
        return _prod(out) * int(ins[1][-1])
    if op == "TRANSPOSE_CONV" and len(ins) > 2 and ins[1] and ins[2]:  # (shape, w, input)
        return _prod(ins[2]) * _prod(ins[1][:3])
    if op == "BATCH_MATMUL" and ins and ins[0]:
        a = ins[0]
        adj_x = bool(opts is not None and opts.AdjX())
        k = a[-2] if adj_x and len(a) > 1 else a[-1]
        return _prod(out) * int(k)
    return 0


def inspect_tflite(source: str | Path | bytes, where: str | None = None) -> dict[str, Any]:
    """Inputs, outputs, ops, tensor count, weight bytes, size and MACs of a .tflite model.

    ``source`` is a path or the model's bytes (``where`` names them in errors). A corrupt
    or truncated file is a :class:`LitelabError` that names it.
    """
    if isinstance(source, bytes | bytearray):
        data, where, path = bytes(source), where or "model", None
    else:
        path = Path(source)
        where = str(path)
        if not path.is_file():
            raise LitelabError(f"TFLite model not found: {path}")
        data = path.read_bytes()
    check_tflite_bytes(data, where)
    try:
        info = _parse(data)
    except _Bad as exc:
        raise LitelabError(f"{where} is not a valid TFLite model ({exc})") from None
    except Exception:  # noqa: BLE001 - a bad offset surfaces as many exception types
        raise LitelabError(
            f"{where} is not a valid TFLite model (corrupt or truncated: its offsets point "
            f"outside its {len(data):,} bytes)"
        ) from None
    _verify_structure(data, where)
    info["path"] = str(path) if path is not None else None
    return info


def _verify_structure(data: bytes, where: str) -> None:
    """Run LiteRT's flatbuffer verifier, which catches what a lazy parse does not touch."""
    try:
        from ai_edge_litert.interpreter import Interpreter

        Interpreter(model_content=data)
    except ValueError as exc:
        text = str(exc).strip()
        if "not a valid Flatbuffer" in text or "out of range" in text:
            line = text.splitlines()[0][:200]
            raise LitelabError(f"{where} is not a valid TFLite model (corrupt: {line})") from None
    except Exception:  # noqa: BLE001 - unresolved ops etc.: the file itself is fine
        pass


def _parse(data: bytes) -> dict[str, Any]:
    s = _schema()
    dtype_names = _enum_names(s.TensorType)
    model = s.Model.GetRootAs(data, 0)
    if model.SubgraphsLength() < 1:
        raise _Bad("it has no subgraph")
    opcodes = [op_name(model.OperatorCodes(i)) for i in range(model.OperatorCodesLength())]
    buffer_sizes = []
    for i in range(model.BuffersLength()):
        buf = model.Buffers(i)
        size = buf.DataLength()
        if size == 0 and buf.Offset() > 1:  # large models keep buffers after the flatbuffer
            size = int(buf.Size())
            if buf.Offset() + size > len(data):
                raise _Bad(f"buffer {i} lies past the end of the file")
        buffer_sizes.append(size)

    graph = model.Subgraphs(0)
    tensors = [graph.Tensors(i) for i in range(graph.TensorsLength())]
    shapes = [t.ShapeAsNumpy().tolist() if t.ShapeLength() else [] for t in tensors]
    const_buffers: set[int] = set()
    dtypes: Counter[str] = Counter()
    for t in tensors:
        dtypes[dtype_names.get(t.Type(), str(t.Type())).lower()] += 1
        b = t.Buffer()
        if 0 < b < len(buffer_sizes) and buffer_sizes[b] > 0:
            const_buffers.add(b)
        elif b >= len(buffer_sizes):
            raise _Bad(f"tensor {_text(t.Name())!r} points at a missing buffer")

    def shape_of(i: int) -> list[int] | None:
        return shapes[i] if 0 <= i < len(shapes) else None

    nodes = []
    counts: Counter[str] = Counter()
    macs_by_op: Counter[str] = Counter()
    for i in range(graph.OperatorsLength()):
        op = graph.Operators(i)
        name = opcodes[op.OpcodeIndex()]
        ins = [int(v) for v in op.InputsAsNumpy()] if op.InputsLength() else []
        outs = [int(v) for v in op.OutputsAsNumpy()] if op.OutputsLength() else []
        opts = None
        if (
            name == "BATCH_MATMUL"
            and op.BuiltinOptionsType() == s.BuiltinOptions.BatchMatMulOptions
        ):
            opts = s.BatchMatMulOptions()
            table = op.BuiltinOptions()
            opts.Init(table.Bytes, table.Pos)
        macs = _node_macs(name, [shape_of(v) for v in ins], [shape_of(v) for v in outs], opts)
        counts[name] += 1
        macs_by_op[name] += macs
        out_name = _text(tensors[outs[0]].Name()) if outs and 0 <= outs[0] < len(tensors) else ""
        nodes.append(
            {
                "index": i,
                "op": name,
                "output": out_name,
                "output_shape": shape_of(outs[0]) if outs else None,
                "macs": macs,
            }
        )

    custom = {
        op_name(oc)
        for oc in (model.OperatorCodes(i) for i in range(model.OperatorCodesLength()))
        if max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode()) == s.BuiltinOperator.CUSTOM
    }
    ops = [
        {"op": k, "count": v, "macs": macs_by_op[k], "custom": k in custom}
        for k, v in counts.items()
    ]
    inputs = [_tensor_info(tensors[int(i)], dtype_names) for i in graph.InputsAsNumpy()]
    outputs = [_tensor_info(tensors[int(i)], dtype_names) for i in graph.OutputsAsNumpy()]
    return {
        "format": "tflite",
        "size_bytes": len(data),
        "description": _text(model.Description()),
        "schema_version": int(model.Version()),
        "subgraphs": int(model.SubgraphsLength()),
        "inputs": inputs,
        "outputs": outputs,
        "quantization": _quantization_kind(nodes, tensors, graph, dtype_names, inputs, outputs),
        "ops": ops,
        "operators": len(nodes),
        "tensors": len(tensors),
        "tensor_dtypes": dict(dtypes),
        "weight_bytes": sum(buffer_sizes[b] for b in const_buffers),
        "macs": sum(n["macs"] for n in nodes),
        "nodes": nodes,
    }


def _quantization_kind(nodes, tensors, graph, dtype_names, inputs, outputs) -> str:
    """float32, float16, dynamic range, or int8 (with int8 or float I/O), from the MAC ops."""
    act: set[str] = set()
    weight: set[str] = set()
    for node in nodes:
        if node["op"] not in MAC_OPS:
            continue
        op = graph.Operators(node["index"])
        ins = op.InputsAsNumpy()
        act.add(dtype_names.get(tensors[int(ins[0])].Type(), "?").lower())
        if len(ins) > 1 and ins[1] >= 0:
            weight.add(dtype_names.get(tensors[int(ins[1])].Type(), "?").lower())
    io = {t["dtype"] for t in inputs + outputs}
    if not act:  # no MAC ops: go by the inputs and outputs
        return "int8" if io <= {"int8", "uint8"} else "float32" if io <= {"float32"} else "mixed"
    if act <= {"int8"} or act <= {"int16"}:
        kind = "int8" if act <= {"int8"} else "int16x8"
        return kind if io <= {"int8", "uint8", "int16"} else f"{kind} (float input/output)"
    if "float32" in act and weight & {"int8", "uint8"}:
        return "dynamic range"
    if any(n["op"] == "DEQUANTIZE" for n in nodes) and "float16" in {
        dtype_names.get(t.Type(), "").lower() for t in tensors
    }:
        return "float16"
    if act <= {"float32"}:
        return "float32"
    return "mixed"


# --- Keras -------------------------------------------------------------------------------


def _layer_macs(layer) -> int | None:
    """MACs of one Keras layer for a batch of one; None for a layer it cannot see into."""
    import keras

    def shape(kind: str) -> tuple[int, ...] | None:
        try:
            value = getattr(layer, kind)
        except (AttributeError, ValueError):
            return None
        if isinstance(value, list | tuple):
            value = value[0]
        dims = tuple(value.shape[1:])
        return None if any(d is None for d in dims) else tuple(int(d) for d in dims)

    L = keras.layers
    if isinstance(layer, L.SeparableConv1D | L.SeparableConv2D):
        out, inp = shape("output"), shape("input")
        if out is None or inp is None:
            return None
        spatial = _prod(out[:-1])
        depth = inp[-1] * layer.depth_multiplier
        return spatial * depth * _prod(layer.kernel_size) + spatial * depth * out[-1]
    if isinstance(layer, L.DepthwiseConv1D | L.DepthwiseConv2D):
        out = shape("output")
        return None if out is None else _prod(out) * _prod(layer.kernel_size)
    if isinstance(layer, L.Conv1DTranspose | L.Conv2DTranspose | L.Conv3DTranspose):
        inp = shape("input")
        return None if inp is None else _prod(inp) * _prod(layer.kernel_size) * layer.filters
    if isinstance(layer, L.Conv1D | L.Conv2D | L.Conv3D):
        out, inp = shape("output"), shape("input")
        if out is None or inp is None:
            return None
        return _prod(out) * _prod(layer.kernel_size) * (inp[-1] // layer.groups)
    if isinstance(layer, L.Dense):
        out, inp = shape("output"), shape("input")
        if out is None or inp is None:
            return None
        return _prod(out) * inp[-1]
    return 0


def _walk(model, prefix: str = ""):
    for layer in model.layers:
        if hasattr(layer, "layers") and layer.layers:  # nested model: count its layers
            yield from _walk(layer, f"{prefix}{layer.name}/")
        else:
            yield f"{prefix}{layer.name}", layer


def inspect_keras(model) -> dict[str, Any]:
    """Summary text, parameter counts and MACs (total and per layer) of a Keras model."""
    from litelab.runs import model_summary

    layers = []
    unknown = []
    for name, layer in _walk(model):
        macs = _layer_macs(layer)
        if macs is None or type(layer).__name__ == "TFSMLayer":
            unknown.append(name)
            macs = 0
        out = None
        try:
            out = [d for d in layer.output.shape]
        except (AttributeError, ValueError):
            pass
        layers.append(
            {
                "name": name,
                "type": type(layer).__name__,
                "output_shape": out,
                "params": int(layer.count_params()) if layer.built else 0,
                "macs": int(macs),
            }
        )
    total_macs = sum(entry["macs"] for entry in layers)
    trainable = sum(_prod(w.shape) for w in model.trainable_weights)
    total = int(model.count_params())
    inputs = [{"name": t.name, "shape": list(t.shape), "dtype": str(t.dtype)} for t in model.inputs]
    outputs = [
        {"name": t.name, "shape": list(t.shape), "dtype": str(t.dtype)} for t in model.outputs
    ]
    return {
        "format": "keras",
        "name": model.name,
        "inputs": inputs,
        "outputs": outputs,
        "params": {"total": total, "trainable": trainable, "non_trainable": total - trainable},
        # None when nothing could be counted (a SavedModel is one opaque TFSMLayer)
        "macs": None if unknown and not any(e["macs"] for e in layers) else total_macs,
        "layers": layers,
        "macs_unknown_layers": unknown,
        "summary": model_summary(model),
    }


# --- text --------------------------------------------------------------------------------


def human(n: float, unit: str = "") -> str:
    """12,480,000 -> '12.48 M'."""
    for factor, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= factor:
            return f"{n / factor:.2f} {suffix}{unit}"
    return f"{n:g} {unit}".rstrip()


def _quant_text(t: dict[str, Any]) -> str:
    if t.get("scale") is None:
        return ""
    if isinstance(t["scale"], list):
        return f"  per-channel ({len(t['scale'])} scales)"
    return f"  scale {t['scale']:.6g} zero point {t['zero_point']}"


def _short(name: str, width: int = 44) -> str:
    name = name.split(";")[0]
    return name if len(name) <= width else "..." + name[-(width - 3) :]


def format_inspection(info: dict[str, Any]) -> str:
    """The inspection as readable text (what the raw interpreter details say, in words)."""
    lines: list[str] = []
    if info["format"] == "keras":
        lines.append(info["summary"].rstrip())
        p = info["params"]
        lines.append("")
        lines.append(
            f"params: {p['total']:,} ({p['trainable']:,} trainable, "
            f"{p['non_trainable']:,} non-trainable)"
        )
        if info["macs"] is None:
            lines.append("MACs per inference: unknown (inspect its .tflite conversion instead)")
        else:
            lines.append(f"MACs per inference: {info['macs']:,} ({human(info['macs'])})")
        for entry in info["layers"]:
            if entry["macs"]:
                lines.append(f"  {entry['name']:<28} {entry['type']:<18} {entry['macs']:>14,}")
        if info["macs_unknown_layers"]:
            lines.append("  not counted (opaque layers): " + ", ".join(info["macs_unknown_layers"]))
        return "\n".join(lines) + "\n"

    where = info.get("path") or "model"
    lines.append(
        f"{where}: TFLite, {info['size_bytes']:,} bytes, {info['quantization']}, "
        f"schema v{info['schema_version']}"
    )
    for kind in ("inputs", "outputs"):
        for t in info[kind]:
            lines.append(
                f"  {kind[:-1]:<6} {t['dtype']:<8} {str(t['shape']):<16} "
                f"{_short(t['name'], 32)}{_quant_text(t)}"
            )
    lines.append(
        f"operators: {info['operators']} ({len(info['ops'])} distinct)  tensors: "
        f"{info['tensors']}  weights: {info['weight_bytes']:,} bytes"
    )
    lines.append(f"MACs per inference: {info['macs']:,} ({human(info['macs'])})")
    lines.append(f"  {'op':<24} {'count':>5} {'MACs':>14}")
    for op in info["ops"]:
        macs = f"{op['macs']:,}" if op["macs"] else "-"
        lines.append(f"  {op['op']:<24} {op['count']:>5} {macs:>14}")
    lines.append("")
    lines.append(f"  {'#':>3} {'op':<20} {'output shape':<18} {'MACs':>12}  output tensor")
    for n in info["nodes"]:
        macs = f"{n['macs']:,}" if n["macs"] else "-"
        shape = str(n["output_shape"]) if n["output_shape"] is not None else "?"
        lines.append(
            f"  {n['index']:>3} {n['op']:<20} {shape:<18} {macs:>12}  {_short(n['output'])}"
        )
    return "\n".join(lines) + "\n"
