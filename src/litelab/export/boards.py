"""The boards litelab deploys to: their memory budgets, and the fits / does-not-fit verdict.

Sizes: a KB here is 1,024 bytes and a MB 1,048,576, as in the chip datasheets (the ESP32's
"520 KB SRAM" is 532,480 bytes). Every number litelab prints is in plain bytes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from litelab.errors import LitelabError, one_of

KB = 1024
MB = 1024 * 1024


@dataclass(frozen=True)
class Target:
    """A board's memory budget. ``reserved_*`` is what the system itself needs.

    The verdict compares the model with ``flash_bytes - reserved_flash_bytes`` (it is a
    constant array in flash) and the tensor arena with ``ram_bytes - reserved_ram_bytes``.
    """

    name: str
    description: str
    ram_bytes: int
    flash_bytes: int
    reserved_ram_bytes: int = 0
    reserved_flash_bytes: int = 0
    platform: str = "generic"  # "esp-idf": the generated program is an ESP-IDF project

    @property
    def ram_available(self) -> int:
        return self.ram_bytes - self.reserved_ram_bytes

    @property
    def flash_available(self) -> int:
        return self.flash_bytes - self.reserved_flash_bytes


TARGETS: dict[str, Target] = {
    "esp-eye": Target(
        name="esp-eye",
        description=(
            "Espressif ESP-EYE: ESP32 (2 x Xtensa LX6, 240 MHz), 520 KB SRAM, 4 MB flash, "
            "8 MB PSRAM. Of the SRAM, 200 KB is counted as taken by ESP-IDF (instruction "
            "RAM and cache, the system's data, stacks and heap overhead); of the flash, 512 KB "
            "by the bootloader, partition table, NVS and the firmware around the model"
        ),
        ram_bytes=520 * KB,
        flash_bytes=4 * MB,
        reserved_ram_bytes=200 * KB,
        reserved_flash_bytes=512 * KB,
        platform="esp-idf",
    ),
    "cortex-m-small": Target(
        name="cortex-m-small",
        description=(
            "a small Arm Cortex-M board (e.g. STM32F4/nRF52 class): 256 KB RAM, 1 MB flash. "
            "16 KB of RAM is counted for the stack and runtime, 128 KB of flash for the "
            "TFLM runtime and application code"
        ),
        ram_bytes=256 * KB,
        flash_bytes=1 * MB,
        reserved_ram_bytes=16 * KB,
        reserved_flash_bytes=128 * KB,
    ),
}


def parse_bytes(text: str | int) -> int:
    """'16384', '16K', '16KB', '16KiB', '1M', '4MB' -> bytes (K = 1024, M = 1024**2)."""
    if isinstance(text, int):
        value = text
    else:
        m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([kKmM]?)(?:i?[bB])?\s*", str(text))
        if not m:
            raise LitelabError(f"expected a size in bytes like 16384, 256K or 1M, got {text!r}")
        factor = {"": 1, "k": KB, "m": MB}[m.group(2).lower()]
        value = int(float(m.group(1)) * factor)
    if value < 1:
        raise LitelabError(f"a memory budget must be at least 1 byte, got {text!r}")
    return value


def get_target(
    name: str | None, ram: str | int | None = None, flash: str | int | None = None
) -> Target:
    """A named target, with ``ram``/``flash`` overriding its budget, or a custom one.

    Without a name, both ``ram`` and ``flash`` are needed (a custom board); with neither
    name nor budget the target is ``esp-eye``. Given budgets are taken as fully available.
    """
    ram_b = parse_bytes(ram) if ram is not None else None
    flash_b = parse_bytes(flash) if flash is not None else None
    if name is None:
        if ram_b is None and flash_b is None:
            return TARGETS["esp-eye"]
        if ram_b is None or flash_b is None:
            raise LitelabError("a custom target needs both --ram and --flash (or a --target)")
        return Target(
            "custom", f"custom budget: {ram_b:,} B RAM, {flash_b:,} B flash", ram_b, flash_b
        )
    one_of("target", name, TARGETS)
    base = TARGETS[name]
    if ram_b is None and flash_b is None:
        return base
    ram_t = (ram_b, 0) if ram_b is not None else (base.ram_bytes, base.reserved_ram_bytes)
    flash_t = (flash_b, 0) if flash_b is not None else (base.flash_bytes, base.reserved_flash_bytes)
    return Target(
        name=base.name,
        description=f"{base.description}; custom budget: {ram_t[0] - ram_t[1]:,} B RAM, "
        f"{flash_t[0] - flash_t[1]:,} B flash available",
        ram_bytes=ram_t[0],
        flash_bytes=flash_t[0],
        reserved_ram_bytes=ram_t[1],
        reserved_flash_bytes=flash_t[1],
        platform=base.platform,
    )


def verdict(model_bytes: int, arena_bytes: int, target: Target) -> dict[str, Any]:
    """Does the model fit? A dict with the numbers and ``line``, the one-line verdict.

    The model lives in flash, the tensor arena in RAM; both must fit with margin >= 0.
    A model that is too big is a verdict ("does not fit"), never an error.
    """
    flash = target.flash_available
    ram = target.ram_available
    flash_margin = flash - model_bytes
    ram_margin = ram - arena_bytes
    fits_flash = flash_margin >= 0
    fits_ram = ram_margin >= 0
    fits = fits_flash and fits_ram
    word = "fits" if fits else "does not fit"

    def part(what: str, used: int, budget: int, margin: int, mem: str) -> str:
        pct = 100.0 * used / budget if budget > 0 else float("inf")
        if margin >= 0:
            return f"{what} {used:,} B of {budget:,} B {mem} ({pct:.1f}%, {margin:,} B free)"
        return f"{what} {used:,} B exceeds {budget:,} B {mem} by {-margin:,} B"

    line = (
        f"{target.name}: {word}: "
        + part("model", model_bytes, flash, flash_margin, "flash")
        + "; "
        + part("arena", arena_bytes, ram, ram_margin, "RAM")
    )
    return {
        "target": target.name,
        "fits": fits,
        "verdict": word,
        "model_bytes": model_bytes,
        "flash_available": flash,
        "flash_margin": flash_margin,
        "fits_flash": fits_flash,
        "arena_bytes": arena_bytes,
        "ram_available": ram,
        "ram_margin": ram_margin,
        "fits_ram": fits_ram,
        "line": line,
    }
