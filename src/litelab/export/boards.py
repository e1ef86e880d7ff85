"""The boards litelab deploys to: their memory, and the fit verdict with its tiers.

Sizes: a KB here is 1,024 bytes and a MB 1,048,576, as in the chip datasheets (the ESP32's
"520 KB SRAM" is 532,480 bytes). Every number litelab prints is in plain bytes.

A bare-metal Cortex-M board has one RAM for the tensor arena (a static array) and one flash
for the model. The ESP32 does not: its internal RAM is split into regions, only part of it can
be static, the heap is fragmented after ESP-IDF boots, and the ESP-EYE adds slower external
PSRAM. :data:`litelab.export.esp32.ESP_EYE_MEMORY` holds those figures, each with its source,
and :func:`verdict` puts an arena in one of four tiers (:data:`TIERS`), with the ESP32's
estimated milliseconds per inference (:func:`litelab.export.esp32.esp32_latency`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from litelab.errors import LitelabError, one_of
from litelab.export.esp32 import ESP_EYE_MEMORY, KB, MB, EspMemory, esp32_latency

# The verdict's tiers, best first.
TIERS = ("internal-heap", "internal-static", "psram", "does-not-fit")


# --- the targets --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    """A board's memory budget. ``reserved_*`` is what the system itself needs.

    The verdict compares the model with ``flash_bytes - reserved_flash_bytes`` (it is a
    constant array in flash) and the tensor arena with ``ram_bytes - reserved_ram_bytes``,
    unless ``memory`` holds the board's real regions (the ESP-EYE). ``qemu_machine``,
    ``flash_origin`` and ``ram_origin`` say where an emulated build links its code and data.
    """

    name: str
    description: str
    ram_bytes: int
    flash_bytes: int
    reserved_ram_bytes: int = 0
    reserved_flash_bytes: int = 0
    platform: str = "generic"  # "esp-idf": the generated program is an ESP-IDF project
    cpu: str | None = None
    clock_hz: int | None = None
    qemu_machine: str | None = None
    flash_origin: int | None = None
    ram_origin: int | None = None
    memory: EspMemory | None = None
    ram_from_map: bool = True  # False once --ram replaced the map's RAM figures
    flash_from_map: bool = True  # False once --flash replaced the app partition

    @property
    def ram_available(self) -> int:
        """RAM for the arena in the best case: the largest heap block on a memory-mapped board."""
        if self.memory is not None and self.ram_from_map:
            return self.memory.largest_heap_block.bytes
        return self.ram_bytes - self.reserved_ram_bytes

    @property
    def flash_available(self) -> int:
        if self.memory is not None and self.flash_from_map:
            return self.memory.flash_budget
        return self.flash_bytes - self.reserved_flash_bytes


# One row per board: its figures, each explained in the description and the comments above.
# mps2-an386 (QEMU hw/arm/mps2.c): Cortex-M4 at SYSCLK 25 MHz; ZBT SSRAM1, 4 MB at 0x00000000
# (code: the image is loaded there, it plays the flash) and ZBT SSRAM 2&3, 4 MB at 0x20000000
# (data). mps3-an547 (QEMU hw/arm/mps2-tz.c an547_raminfo, armsse.c): Cortex-M55 (SSE-300) at
# SYSCLK 32 MHz, reset vector table at 0x00000000 (init-svtor); the 8 MB QSPI flash at
# 0x28000000 (QEMU models it as ROM the image is loaded into) holds code and model, the 4 MB
# SRAM at 0x21000000 the data, as litelab's QEMU linker script (firmware/harness/arm/
# mps3_an547.ld) places them; QEMU also models 512 KB ITCM at 0x0, 512 KB DTCM at 0x20000000
# and 2 MB SRAM at 0x01000000, which the profile does not use.
# name: (platform, cpu, clock in Hz, QEMU machine)
_BOARDS = {
    "esp-eye": ("esp-idf", "xtensa-lx6", 240_000_000, None),
    "cortex-m-small": ("generic", None, None, None),
    "cortex-m4": ("generic", "cortex-m4", 25_000_000, "mps2-an386"),
    "cortex-m55": ("generic", "cortex-m55", 32_000_000, "mps3-an547"),
}
# name: (RAM, flash, RAM reserved, flash reserved, flash origin, RAM origin); the ESP-EYE's
# budgets come from its memory map instead (ESP_EYE_MEMORY)
_BUDGETS = {
    "esp-eye": (520 * KB, 4 * MB, 0, 0, None, None),
    "cortex-m-small": (256 * KB, 1 * MB, 16 * KB, 128 * KB, None, None),
    "cortex-m4": (4 * MB, 4 * MB, 16 * KB, 128 * KB, 0x00000000, 0x20000000),
    "cortex-m55": (4 * MB, 8 * MB, 16 * KB, 128 * KB, 0x28000000, 0x21000000),
}
_DESCRIPTIONS = {
    "esp-eye": "Espressif ESP-EYE: ESP32 (2 x Xtensa LX6, 240 MHz), 520 KB SRAM (320 KB DRAM, "
    "at most 160 KB of it static, ~110 KB largest heap block after boot), 8 MB PSRAM (4 MB "
    "mapped), 4 MB flash with a 3.9 MB app partition",
    "cortex-m-small": "a small Arm Cortex-M board (e.g. STM32F4/nRF52 class): 256 KB RAM, 1 MB "
    "flash. 16 KB of RAM is counted for the stack and runtime, 128 KB of flash for the TFLM "
    "runtime and application code",
    "cortex-m4": "Arm Cortex-M4 as QEMU's mps2-an386 models it (MPS2 board, AN386 FPGA image, "
    "25 MHz): 4 MB code memory at 0x00000000 used as flash, 4 MB data RAM at 0x20000000. 16 KB "
    "of RAM is counted for the stack and runtime, 128 KB of flash for the TFLM runtime and code",
    "cortex-m55": "Arm Cortex-M55 as QEMU's mps3-an547 models it (MPS3 board, AN547 FPGA image, "
    "Corstone-300, 32 MHz): 8 MB QSPI flash at 0x28000000 for code and model, 4 MB SRAM at "
    "0x21000000 for data. 16 KB of RAM is counted for the stack and runtime, 128 KB of flash "
    "for the TFLM runtime and code",
}
_MEMORY = {"esp-eye": ESP_EYE_MEMORY}


_BOARD_FIELDS = ("platform", "cpu", "clock_hz", "qemu_machine")
_BUDGET_FIELDS = (
    "ram_bytes", "flash_bytes", "reserved_ram_bytes", "reserved_flash_bytes", "flash_origin",
    "ram_origin",
)  # fmt: skip


def _target(name: str) -> Target:
    fields = dict(zip(_BOARD_FIELDS, _BOARDS[name], strict=True))
    fields.update(zip(_BUDGET_FIELDS, _BUDGETS[name], strict=True))
    return Target(name, _DESCRIPTIONS[name], memory=_MEMORY.get(name), **fields)


TARGETS: dict[str, Target] = {name: _target(name) for name in _BOARDS}


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
    name nor budget the target is ``esp-eye``. Given budgets are taken as fully available
    and replace the board's memory map for that memory.
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
    custom = replace(
        base,
        ram_bytes=ram_t[0],
        flash_bytes=flash_t[0],
        reserved_ram_bytes=ram_t[1],
        reserved_flash_bytes=flash_t[1],
        ram_from_map=base.ram_from_map and ram_b is None,
        flash_from_map=base.flash_from_map and flash_b is None,
    )
    return replace(
        custom,
        description=f"{base.description}; custom budget: {custom.ram_available:,} B RAM, "
        f"{custom.flash_available:,} B flash available",
    )


def _tier(arena: int, target: Target) -> tuple[str, int, str, str]:
    """(tier, bytes of the region the arena is judged against, its name, a note)."""
    mem = target.memory
    if mem is None or not target.ram_from_map:
        ram = target.ram_available
        return ("internal-static" if arena <= ram else "does-not-fit"), ram, "RAM", ""
    heap, static = mem.largest_heap_block.bytes, mem.static_budget
    if arena <= heap:
        note = "as one heap block, the way the generated program allocates it"
        return "internal-heap", heap, "largest internal heap block", note
    if arena <= static:
        note = (
            f"larger than the {heap:,} B largest heap block after boot, so only as a static "
            "array (.bss); the generated program's heap allocation would fall back to PSRAM"
        )
        return "internal-static", static, "static DRAM", note
    note = f"larger than internal RAM holds ({heap:,} B heap block, {static:,} B static)"
    if arena <= mem.psram_budget:
        return "psram", mem.psram_budget, "mapped PSRAM", note + ": in PSRAM, slower"
    return "does-not-fit", mem.psram_budget, "mapped PSRAM", note


_TIER_WORDS = {
    "internal-heap": "fits internal RAM",
    "internal-static": "fits internal RAM statically",
    "psram": "fits only in PSRAM (slower)",
    "does-not-fit": "does not fit",
}


def verdict(
    model_bytes: int,
    arena_bytes: int,
    target: Target,
    *,
    arena_allocated: int | None = None,
    macs: int | None = None,
    op_types: list[str] | None = None,
) -> dict[str, Any]:
    """Does the model fit, and where? A dict with the numbers, ``tier`` and ``line``.

    The model lives in flash; the arena the program allocates (``arena_allocated``, by default
    the measured ``arena_bytes``) lands in one of :data:`TIERS`: internal RAM as a heap block
    or statically, PSRAM (slower), or nowhere. A model that is too big is a verdict ("does
    not fit"), never an error. ``ram_available``/``ram_margin`` refer to the region the arena
    is judged against. ESP-IDF targets get :func:`esp32_latency` as ``latency``.
    """
    allocated = arena_bytes if arena_allocated is None else arena_allocated
    flash = target.flash_available
    flash_margin = flash - model_bytes
    fits_flash = flash_margin >= 0
    ram_tier, ram, ram_name, note = _tier(allocated, target)
    ram_margin = ram - allocated
    fits_ram = ram_tier != "does-not-fit"
    fits = fits_flash and fits_ram
    tier = ram_tier if fits else "does-not-fit"
    flash_name = "app partition" if target.memory and target.flash_from_map else "flash"

    def part(what: str, used: int, budget: int, margin: int, mem: str) -> str:
        pct = 100.0 * used / budget if budget > 0 else float("inf")
        if margin >= 0:
            return f"{what} {used:,} B of {budget:,} B {mem} ({pct:.1f}%, {margin:,} B free)"
        return f"{what} {used:,} B exceeds {budget:,} B {mem} by {-margin:,} B"

    arena_what = "arena" if allocated == arena_bytes else "arena (allocated)"
    line = (
        f"{target.name}: {_TIER_WORDS[tier]}: "
        + part("model", model_bytes, flash, flash_margin, flash_name)
        + "; "
        + part(arena_what, allocated, ram, ram_margin, ram_name)
        + (f", {note}" if note else "")
    )
    result: dict[str, Any] = {
        "target": target.name,
        "fits": fits,
        "verdict": "fits" if fits else "does not fit",
        "tier": tier,
        "model_bytes": model_bytes,
        "flash_available": flash,
        "flash_margin": flash_margin,
        "fits_flash": fits_flash,
        "arena_bytes": arena_bytes,
        "arena_allocated": allocated,
        "ram_available": ram,
        "ram_margin": ram_margin,
        "fits_ram": fits_ram,
        "line": line,
    }
    if target.memory is not None:
        result["tiers"] = _tier_table(allocated, target)
        result["memory"] = [
            {"what": what, "bytes": size, "source": source}
            for what, size, source in target.memory.rows()
        ]
    if target.platform == "esp-idf":
        result["latency"] = esp32_latency(macs, op_types)
    return result


def _tier_table(arena: int, target: Target) -> list[dict[str, Any]]:
    """Each RAM tier of a memory-mapped board with its budget and whether the arena fits it."""
    mem = target.memory
    assert mem is not None
    if not target.ram_from_map:
        return []
    budgets = {
        "internal-heap": (mem.largest_heap_block.bytes, "largest internal heap block after boot"),
        "internal-static": (mem.static_budget, "static DRAM (.data/.bss) left for the arena"),
        "psram": (mem.psram_budget, "mapped PSRAM left for the arena (slower)"),
    }
    return [
        {"tier": t, "budget": b, "what": what, "fits": arena <= b}
        for t, (b, what) in budgets.items()
    ]


def verdict_markdown(v: dict[str, Any]) -> str:
    """A verdict's tiers, memory figures (with their sources) and latency estimate, as Markdown.

    Empty for a board with one RAM and one flash: its verdict line says it all.
    """
    parts: list[str] = []
    if v.get("tiers"):
        rows = [
            f"| `{t['tier']}` | {t['what']} | {t['budget']:,} B | {'yes' if t['fits'] else 'no'} |"
            for t in v["tiers"]
        ]
        parts += [
            f"Where the {v['arena_allocated']:,}-byte arena the program allocates can live "
            f"(tier: `{v['tier']}`):",
            "",
            "| tier | memory | bytes | fits |",
            "| --- | --- | ---: | --- |",
            *rows,
            "",
        ]
    if v.get("memory"):
        parts += ["| memory figure | bytes | source |", "| --- | ---: | --- |"]
        parts += [f"| {m['what']} | {m['bytes']:,} | {m['source']} |" for m in v["memory"]]
        parts.append("")
    if v.get("latency"):
        parts += ["Latency, an estimate: " + v["latency"]["line"] + ".", ""]
    return "\n".join(parts).rstrip()
