"""The shipped zoo: trained models inside the package, usable as ``zoo:<name>``.

Each entry is a folder next to this file holding ``model.keras`` (float weights),
``model_int8.tflite`` (the full-integer model a board runs), ``labels.txt`` and
``card.json``: its figures (test accuracy, int8 accuracy through TFLite Micro, sizes,
arena, MACs) and the exact command, seed, machine and versions that trained it.

``zoo:<name>`` works wherever litelab takes a model: ``predict``, ``evaluate``,
``inspect`` and ``export`` get the Keras model; ``deploy`` gets the int8 flatbuffer.
Entries are written by :func:`litelab.zoo.publish.publish` (``benchmarks/`` drives it).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from litelab import runs
from litelab.errors import LitelabError

PREFIX = "zoo:"
CARD = "card.json"
KERAS_FILE = runs.KERAS_FILE
INT8_FILE = "model_int8.tflite"
LABELS = runs.LABELS_FILE


def zoo_dir() -> Path:
    """Where entries live: the package folder, or ``$LITELAB_ZOO_DIR`` (tests use it)."""
    override = os.environ.get("LITELAB_ZOO_DIR")
    return Path(override) if override else Path(__file__).resolve().parent


@dataclass(frozen=True)
class ZooEntry:
    """One shipped model: its folder and its card."""

    name: str
    folder: Path
    card: dict[str, Any]

    @property
    def keras_path(self) -> Path:
        return self.folder / KERAS_FILE

    @property
    def int8_path(self) -> Path:
        return self.folder / INT8_FILE


def entries() -> list[ZooEntry]:
    """Every entry with a readable card, by name."""
    out = []
    root = zoo_dir()
    if not root.is_dir():
        return out
    for folder in sorted(p for p in root.iterdir() if (p / CARD).is_file()):
        try:
            card = json.loads((folder / CARD).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise LitelabError(f"zoo card {folder / CARD} is unreadable: {exc}") from None
        out.append(ZooEntry(folder.name, folder, card))
    return out


def get_entry(name: str) -> ZooEntry:
    """The entry called ``name``; an unknown name is one line listing the shipped ones."""
    found = {e.name: e for e in entries()}
    if name not in found:
        names = ", ".join(found) or "none are installed"
        raise LitelabError(f"no zoo model {name!r}; shipped: {names} (see `litelab zoo`)")
    return found[name]


def is_zoo_ref(ref: str | Path) -> bool:
    return isinstance(ref, str) and ref.startswith(PREFIX)


def resolve(ref: str | Path, kind: str = "keras") -> str | Path:
    """``zoo:<name>`` -> the entry's ``model.keras`` (kind "keras") or int8 flatbuffer
    (kind "int8"); anything else comes back unchanged."""
    if not is_zoo_ref(ref):
        return ref
    entry = get_entry(str(ref)[len(PREFIX) :])
    path = entry.int8_path if kind == "int8" else entry.keras_path
    if not path.is_file():
        raise LitelabError(f"zoo model {entry.name!r} is missing {path.name}; reinstall litelab")
    return path


def summary_rows() -> list[dict[str, Any]]:
    """One flat row per entry: what `litelab zoo` prints."""
    rows = []
    for e in entries():
        c = e.card
        m, s = c.get("metrics", {}), c.get("sizes", {})
        rows.append(
            {
                "name": e.name,
                "goal": c.get("goal", ""),
                "model": c.get("model", ""),
                "test_accuracy": m.get("test_accuracy"),
                "int8_tflm_accuracy": m.get("int8_tflm_accuracy"),
                "int8_tflm_accuracy_flip_tta": m.get("int8_tflm_accuracy_flip_tta"),
                "params": s.get("params"),
                "macs": s.get("macs"),
                "int8_bytes": s.get("int8_bytes"),
                "arena_bytes": s.get("arena_bytes"),
                "train_seconds": c.get("training", {}).get("train_seconds"),
            }
        )
    return rows
