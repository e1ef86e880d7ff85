"""C sources for a microcontroller: the model as a C array, the labels, a board program.

``render_project`` turns a .tflite model into the files of a small firmware project (an
ESP-IDF project using Espressif's ``esp-tflite-micro`` component for ESP32 targets; plain
TFLM sources for the others); ``write_project`` puts them on disk without ever touching a
file litelab did not write. The generated ``host/check_model.cc`` prints the array's length
and FNV-1a checksum, so anyone can confirm with a host compiler that the C array holds
exactly the .tflite bytes.
"""

from __future__ import annotations

import hashlib
import json
import re
from importlib.resources import files as package_files
from pathlib import Path
from string import Template
from typing import Any

from litelab.errors import LitelabError, one_of
from litelab.files import atomic_path, write_text

MANIFEST = "litelab-deploy.json"
ARRAY_NAME = "g_model_data"
# The texts of the generated files: C++, CMake, sdkconfig and README templates.
TEMPLATES = package_files("litelab.export") / "templates"
PLATFORMS = ("generic", "esp-idf")
# The ESP-IDF project files beside main.cc, copied from templates/esp_idf/ as they are.
ESP_IDF_FILES = (
    "CMakeLists.txt",
    "main/CMakeLists.txt",
    "main/idf_component.yml",
    "main/Kconfig.projbuild",
    "main/camera_pins.h",
    "main/frame_camera.cc",
    "partitions.csv",
    "sdkconfig.defaults",
)

# The pixel steps (C, for every platform): main.cc quantizes with preprocess.h, a camera
# source decodes, crops and resizes with preprocess.c.
PIXEL_STEP_FILES = ("preprocess.h", "preprocess.c")

# TFLM's MicroMutableOpResolver method for each builtin op whose name does not follow
# the plain CamelCase rule (CONV_2D -> AddConv2D, ...).
_RESOLVER_SPECIAL = {
    "ADD_N": "AddAddN",
    "BATCH_MATMUL": "AddBatchMatMul",
    "BATCH_TO_SPACE_ND": "AddBatchToSpaceNd",
    "CUMSUM": "AddCumSum",
    "GATHER_ND": "AddGatherNd",
    "L2_NORMALIZATION": "AddL2Normalization",
    "L2_POOL_2D": "AddL2Pool2D",
    "PADV2": "AddPadV2",
    "SELECT_V2": "AddSelectV2",
    "SPACE_TO_BATCH_ND": "AddSpaceToBatchNd",
    "SPLIT_V": "AddSplitV",
    "SVDF": "AddSvdf",
    "UNIDIRECTIONAL_SEQUENCE_LSTM": "AddUnidirectionalSequenceLSTM",
    "DETECTION_POSTPROCESS": "AddDetectionPostprocess",
}
# Custom ops TFLM itself implements (registered by name).
_RESOLVER_CUSTOM = {
    "TFLite_Detection_PostProcess": "AddDetectionPostprocess",
    "CIRCULAR_BUFFER": "AddCircularBuffer",
    "ethos-u": "AddEthosU",
}


def resolver_method(op: str) -> str | None:
    """``CONV_2D`` -> ``AddConv2D``; None for a custom op TFLM does not provide."""
    if op in _RESOLVER_CUSTOM:
        return _RESOLVER_CUSTOM[op]
    if op in _RESOLVER_SPECIAL:
        return _RESOLVER_SPECIAL[op]
    if not re.fullmatch(r"[A-Z][A-Z0-9_]*", op):
        return None
    parts = []
    for token in op.split("_"):
        if re.fullmatch(r"[0-9]+D", token):  # 2D, 3D
            parts.append(token)
        else:
            parts.append(token[:1] + token[1:].lower())
    return "Add" + "".join(parts)


def arena_margin(measured: int) -> int:
    """Bytes added to the measured arena: 10% (at least 2 KB), total rounded up to 16.

    Why: TFLM aligns the arena start to 16 bytes (up to 15 bytes lost), and the optimized
    kernels a board uses (ESP-NN, CMSIS-NN) may ask for scratch buffers that the reference
    kernels litelab measured with do not.
    """
    total = measured + max(2048, measured // 10)
    return -(-total // 16) * 16 - measured


def fnv1a32(data: bytes) -> int:
    """32-bit FNV-1a, the checksum the host harness prints."""
    h = 0x811C9DC5
    for b in data:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return h


def c_string(text: str) -> str:
    """A C string literal for any text (UTF-8, octal escapes for everything unusual)."""
    out = []
    for b in text.encode("utf-8"):
        c = chr(b)
        if c in '"\\':
            out.append("\\" + c)
        elif 0x20 <= b < 0x7F and c != "?":  # '?' escaped: no trigraphs
            out.append(c)
        else:
            out.append(f"\\{b:03o}")
    return '"' + "".join(out) + '"'


def c_array(data: bytes, name: str = ARRAY_NAME, per_line: int = 12) -> str:
    """The body of model_data.cc: ``alignas(16) const unsigned char name[] = {...};``."""
    rows = []
    for i in range(0, len(data), per_line):
        rows.append("  " + ", ".join(f"0x{b:02x}" for b in data[i : i + per_line]) + ",")
    body = "\n".join(rows)
    return (
        f"alignas(16) const unsigned char {name}[] = {{\n{body}\n}};\n"
        f"const unsigned int {name}_len = {len(data)};\n"
    )


def parse_c_array(text: str, name: str = ARRAY_NAME) -> bytes:
    """The bytes of ``name[] = {...}`` in C source text (the inverse of :func:`c_array`)."""
    m = re.search(rf"\b{re.escape(name)}\s*\[\s*\]\s*=\s*\{{([^}}]*)\}}", text)
    if not m:
        raise LitelabError(f"no array {name}[] in the C source")
    tokens = [t.strip() for t in m.group(1).split(",") if t.strip()]
    try:
        return bytes(int(t, 0) for t in tokens)
    except ValueError as exc:
        raise LitelabError(f"bad byte in {name}[]: {exc}") from None


def render_template(template: str, /, **values: object) -> str:
    """The text of ``templates/<template>``; a ``.in`` file has its ``${key}`` fields filled.

    Other files are copied as they are (an ESP-IDF CMakeLists.txt holds ``$ENV{IDF_PATH}``).
    """
    text = TEMPLATES.joinpath(template).read_text(encoding="utf-8")
    if not template.endswith(".in"):
        return text
    try:
        return Template(text).substitute(values)
    except KeyError as exc:
        raise LitelabError(f"template {template} needs a value for ${{{exc.args[0]}}}") from None
    except ValueError as exc:
        raise LitelabError(f"template {template} is malformed: {exc}") from None


def model_data_files(data: bytes, source: str = "model.tflite") -> dict[str, str]:
    """model_data.h and model_data.cc for ``data``."""
    facts = {"source": source, "size": f"{len(data):,}", "name": ARRAY_NAME}
    return {
        "model_data.h": render_template("common/model_data.h.in", **facts),
        "model_data.cc": render_template(
            "common/model_data.cc.in",
            **facts,
            fnv1a=f"{fnv1a32(data):08x}",
            array=c_array(data).removesuffix("\n"),
        ),
    }


def labels_header(classes: list[str]) -> str:
    """labels.h: the class names in output order, and their count."""
    names = ",\n".join(f"    {c_string(c)}" for c in classes)
    return render_template("common/labels.h.in", count=len(classes), names=names)


def render_project(
    data: bytes,
    *,
    classes: list[str],
    ops: list[str],
    arena_bytes: int,
    input_shape: list[int],
    input_scale: float,
    target: Any,
    facts: dict[str, Any] | None = None,
    source: str = "model.tflite",
    flip_tta: bool = False,
) -> dict[str, str]:
    """The project's files as {relative path: text}.

    With ``flip_tta`` the program classifies each frame and its mirror image and averages
    the two outputs (``kFlipTta`` in main.cc).

    ``ops`` are the distinct op names the model uses (each gets one resolver registration),
    ``arena_bytes`` the measured arena; ``facts`` (quantization, macs, verdict line,
    agreement...) go into the comments and the README.
    """
    facts = dict(facts or {})
    one_of("target platform", target.platform, PLATFORMS)
    if len(input_shape) != 4:
        raise LitelabError(
            f"the board program needs an image input (N, H, W, C), not {input_shape}"
        )
    _, height, width, channels = (int(v) for v in input_shape)
    registrations = []
    for op in ops:
        method = resolver_method(op)
        if method is None:
            registrations.append(
                f"  // TODO: custom op '{op}' has no TFLM implementation: register yours with\n"
                f'  // resolver.AddCustom("{op}", Register_YOUR_OP());'
            )
        else:
            registrations.append(f"  if (resolver.{method}() != kTfLiteOk) return false;")
    margin = arena_margin(arena_bytes)
    main_cc = render_template(
        "common/main.cc.in",
        target=target.name,
        model_name=source,
        model_bytes=f"{len(data):,}",
        quantization=facts.get("quantization", "?"),
        macs=f"{facts['macs']:,}" if isinstance(facts.get("macs"), int) else "?",
        arena=arena_bytes,
        margin=margin,
        arena_total=arena_bytes + margin,
        height=height,
        width=width,
        channels=channels,
        input_scale=f"{input_scale:g}",
        pixel_to_input=repr(float(input_scale) / 255.0),
        op_count=max(1, len(ops)),
        flip_tta="true" if flip_tta else "false",
        registrations="\n".join(registrations),
    )
    files = {f"main/{k}": v for k, v in model_data_files(data, source).items()}
    files["main/labels.h"] = labels_header(classes)
    files["main/main.cc"] = main_cc
    files["main/frame_source.h"] = render_template(
        "common/frame_source.h.in", height=height, width=width, channels=channels
    )
    files["main/frame_test_pattern.cc"] = render_template("common/frame_test_pattern.cc")
    for rel in PIXEL_STEP_FILES:  # camera frame -> model input: decode, crop, resize, quantize
        files[f"main/{rel}"] = render_template(f"common/{rel}")
    files["host/check_model.cc"] = render_template("common/check_model.cc")
    if target.platform == "esp-idf":
        for rel in ESP_IDF_FILES:
            files[rel] = render_template(f"esp_idf/{rel}")
    files["README.md"] = _readme(data, target, ops, arena_bytes, margin, facts, source)
    return files


def _readme(
    data: bytes,
    target: Any,
    ops: list[str],
    arena: int,
    margin: int,
    facts: dict[str, Any],
    source: str,
) -> str:
    rows = [
        (
            "model",
            f"{len(data):,} bytes ({facts.get('quantization', '?')}), FNV-1a `{fnv1a32(data):08x}`",
        ),
        (
            "tensor arena",
            f"{arena:,} bytes measured with TFLite Micro; the program "
            f"allocates {arena + margin:,} (+{margin:,} margin)",
        ),
        (f"ops ({len(ops)})", ", ".join(ops)),
    ]
    if facts.get("input_line"):
        rows.append(("input", facts["input_line"]))
    if isinstance(facts.get("macs"), int):
        rows.append(("MACs per inference", f"{facts['macs']:,}"))
    if facts.get("agreement_line"):
        rows.append(("TFLM vs LiteRT", facts["agreement_line"]))
    if facts.get("flip_tta_line"):
        rows.append(("flip TTA (`kFlipTta` in main.cc)", facts["flip_tta_line"]))
    summary = ["| | |", "| --- | --- |"] + [f"| {key} | {value} |" for key, value in rows]
    if facts.get("verdict_line"):
        summary = ["**Verdict:** " + facts["verdict_line"], ""] + summary
    if facts.get("verdict_details"):  # the board's memory tiers, figures and sources
        summary += ["", facts["verdict_details"]]
    build = "esp_idf" if target.platform == "esp-idf" else "generic"
    return render_template(
        "common/README.md.in",
        source=source,
        target=target.name,
        description=target.description,
        summary="\n".join(summary),
        build=render_template(f"{build}/README-build.md"),
        length=len(data),
        fnv1a=f"{fnv1a32(data):08x}",
    )


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def write_project(out_dir: str | Path, files: dict[str, str]) -> Path:
    """Write ``files`` under ``out_dir``; never overwrite or delete a file litelab did not write.

    A new (or empty) folder is built beside it and renamed into place in one step. An
    existing folder is updated only if it holds litelab's manifest, file by file (each
    atomically), and only if none of litelab's files was edited since; anything else in it
    (an ESP-IDF build/ folder, sdkconfig) is left alone.
    """
    out = Path(out_dir)
    manifest = {"generator": "litelab deploy", "files": {p: _sha256(t) for p, t in files.items()}}
    if out.exists() and not out.is_dir():
        raise LitelabError(f"{out} exists and is not a folder; choose another --out")
    if not out.exists() or not any(out.iterdir()):
        if out.exists():
            out.rmdir()
        with atomic_path(out, suffix="") as tmp:
            tmp.mkdir()
            for rel, text in files.items():
                path = tmp / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text, encoding="utf-8")
            (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        return out
    old_path = out / MANIFEST
    if not old_path.is_file():
        raise LitelabError(
            f"{out} already holds files litelab did not write; choose another --out or empty it"
        )
    try:
        recorded = json.loads(old_path.read_text(encoding="utf-8"))
        old = recorded["files"]
        pending = {k: list(v) for k, v in recorded.get("pending", {}).items()}
    except (ValueError, KeyError, TypeError, AttributeError):
        raise LitelabError(f"{old_path} is damaged; choose another --out") from None
    known = {rel: {old.get(rel), *pending.get(rel, [])} for rel in {*old, *pending}}
    for rel, digests in known.items():
        path = out / rel
        if path.is_file() and _sha256(path.read_text(encoding="utf-8", errors="replace")) not in (
            digests
        ):
            raise LitelabError(
                f"{path} was edited since litelab wrote it; move your changes away or "
                "choose another --out"
            )
    for rel in files:
        if (out / rel).exists() and rel not in known:
            raise LitelabError(f"{out / rel} was not written by litelab; choose another --out")
    # The new digests are recorded as pending first: a deploy killed while it replaces the
    # files one by one leaves each old or new, and the next deploy knows both as litelab's.
    for rel, digest in manifest["files"].items():
        pending[rel] = sorted({*pending.get(rel, []), digest})
    write_text(old_path, json.dumps({**recorded, "pending": pending}, indent=2) + "\n")
    for rel, text in files.items():
        write_text(out / rel, text)
    for rel in old:
        stale = out / rel
        if rel not in files and stale.is_file():
            stale.unlink()
            if stale.parent != out and not any(stale.parent.iterdir()):
                stale.parent.rmdir()
    write_text(old_path, json.dumps(manifest, indent=2) + "\n")
    return out
