"""Which shipped model to deploy when none is named: ``litelab deploy --target esp-eye``.

Every zoo entry's card holds its int8 flatbuffer size and exact TFLite Micro arena, so the
board's own verdict (:func:`litelab.export.boards.verdict`) says which entries fit without
running anything. Among those that fit, an entry made for the board (:data:`MADE_FOR`)
comes first, then arenas in internal RAM before PSRAM, then int8 accuracy through TFLite
Micro. For the ESP-EYE that is ``zoo:esp-eye`` (``benchmarks/fast_recipe.py --recipe
esp-eye-air``); a zoo without it falls back to the most accurate entry that fits. Where the
card measured flip TTA on the board (``benchmarks/flip_tta.py``) and it is more accurate, the
command suggested deploys with ``--flip-tta``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litelab.errors import LitelabError

# target name -> the zoo entry made for it (preferred whenever it is shipped and fits)
MADE_FOR = {"esp-eye": "esp-eye"}


@dataclass(frozen=True)
class Suggestion:
    """A zoo entry that fits the target, with the figures from its card and the verdict."""

    name: str
    accuracy: float | None
    int8_bytes: int
    arena_bytes: int
    verdict: dict[str, Any]
    accuracy_flip_tta: float | None = None  # the card's, with the board's --flip-tta


def fitting_models(target: Any) -> list[Suggestion]:
    """Every shipped model whose card's sizes fit ``target``, the best first."""
    from litelab import zoo
    from litelab.export.boards import verdict

    found = []
    for row in zoo.summary_rows():
        size, arena = row.get("int8_bytes"), row.get("arena_bytes")
        if not (isinstance(size, int) and isinstance(arena, int)):
            continue
        v = verdict(size, arena, target)
        if v["fits"]:
            found.append(
                Suggestion(
                    row["name"],
                    row.get("int8_tflm_accuracy"),
                    size,
                    arena,
                    v,
                    row.get("int8_tflm_accuracy_flip_tta"),
                )
            )

    def rank(s: Suggestion) -> tuple:
        made_for = MADE_FOR.get(target.name) == s.name
        internal = str(s.verdict.get("tier", "internal")).startswith("internal")
        return (made_for, internal, s.accuracy if s.accuracy is not None else -1.0)

    return sorted(found, key=rank, reverse=True)


def no_model_error(
    target_name: str | None, ram: str | int | None = None, flash: str | int | None = None
) -> LitelabError:
    """The one line ``deploy`` answers without a model: the best shipped model that fits
    the target, and the command that deploys it (or that none fits)."""
    from litelab.export.boards import get_target

    target = get_target(target_name, ram, flash)
    best = fitting_models(target)
    flags = "".join(
        f" --{flag} {value}"
        for flag, value in (("target", target_name), ("ram", ram), ("flash", flash))
        if value is not None
    )
    if not best:
        return LitelabError(
            f"no model given, and no shipped model fits {target.name}; pass a run folder, "
            "a .tflite file or a Keras model (see `litelab deploy --help`)"
        )
    s = best[0]
    acc = f"{100 * s.accuracy:.2f}% int8 through TFLite Micro, " if s.accuracy is not None else ""
    flip = s.accuracy_flip_tta is not None and (s.accuracy or 0.0) < s.accuracy_flip_tta
    if flip:
        acc += f"{100 * s.accuracy_flip_tta:.2f}% with --flip-tta at twice the inference time, "
    return LitelabError(
        f"no model given; the best shipped model that fits {target.name} is zoo:{s.name} "
        f"({acc}{s.int8_bytes:,} B flatbuffer, {s.arena_bytes:,} B arena): "
        f"litelab deploy zoo:{s.name}{flags}{' --flip-tta' if flip else ''}"
    )
