"""The ESP32's memory map (for the ESP-EYE) and its latency estimate, each figure with its source.

:mod:`litelab.export.boards` judges an arena against these regions; a KB is 1,024 bytes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

KB = 1024
MB = 1024 * 1024


@dataclass(frozen=True)
class Figure:
    """One memory figure of a board and where it comes from (shown in the README too)."""

    bytes: int
    source: str


# --- the ESP32 / ESP-EYE memory map ------------------------------------------------------------
# Sources:
# [DS]  ESP32 Series Datasheet, "520 KB SRAM".
# [MT]  ESP-IDF Programming Guide, API Guides > Memory Types (ESP32), DRAM: "the maximum
#       statically allocated DRAM usage is 160 KB. The remaining 160 KB (for a total of 320 KB
#       of DRAM) can only be allocated at runtime as heap."
#       https://docs.espressif.com/projects/esp-idf/en/stable/esp32/api-guides/memory-types.html
# [HB]  The largest contiguous internal heap block left after ESP-IDF boots is about 110 KB:
#       the DRAM heap is split into several regions around the ROM's and the system's data
#       ([MT]; heap_caps_get_largest_free_block() reports it on the board), and TinyMaix's
#       ESP32 port measured about 110 KB usable for a model's buffers.
# [ER]  ESP-IDF Programming Guide, API Guides > Support for External RAM (ESP32): at most
#       4 MB of external RAM is mapped into the data address space (0x3F800000-0x3FBFFFFF);
#       the rest is reachable only by bank switching (the himem API), not as a tensor arena.
# [EYE] ESP-EYE Getting Started Guide (espressif/esp-who): ESP32 with 4 MB flash and 8 MB PSRAM.
# [PT]  templates/esp_idf/partitions.csv, written with the project: the factory app partition
#       is 0x3F0000 bytes at 0x10000; the bootloader, partition table, NVS and PHY data sit
#       below 0x10000. The app image (program + model) must fit the app partition.
# [AL]  litelab's allowance, an estimate and not a measurement: flash for the program around
#       the model (ESP-IDF, FreeRTOS, TFLM with ESP-NN, esp32-camera), DRAM that ESP-IDF's and
#       the program's own .data/.bss take from the static limit, and PSRAM for the camera's
#       frame buffers (frame_camera.cc keeps two QQVGA RGB565 frames of 38,400 B there).


@dataclass(frozen=True)
class EspMemory:
    """The RAM and flash regions of an ESP32 board, each a :class:`Figure`."""

    sram: Figure
    dram: Figure
    static_limit: Figure
    largest_heap_block: Figure
    psram: Figure
    psram_mapped: Figure
    flash: Figure
    app_partition: Figure
    program_flash: Figure
    static_allowance: Figure
    psram_allowance: Figure

    @property
    def static_budget(self) -> int:
        """Bytes of the static limit left for a static tensor arena."""
        return self.static_limit.bytes - self.static_allowance.bytes

    @property
    def psram_budget(self) -> int:
        return self.psram_mapped.bytes - self.psram_allowance.bytes

    @property
    def flash_budget(self) -> int:
        """Bytes of the app partition left for the model."""
        return self.app_partition.bytes - self.program_flash.bytes

    def rows(self) -> list[tuple[str, int, str]]:
        """(what, bytes, source) for each figure, for reports and the README."""
        names = {
            "sram": "SRAM on the chip",
            "dram": "of it DRAM (data RAM)",
            "static_limit": "most DRAM usable for static data (.data/.bss)",
            "largest_heap_block": "largest contiguous internal heap block after boot",
            "psram": "PSRAM on the board",
            "psram_mapped": "PSRAM the ESP32 maps (usable for an arena)",
            "flash": "flash",
            "app_partition": "app partition (program + model)",
            "program_flash": "allowance: program around the model in flash",
            "static_allowance": "allowance: other static data in DRAM",
            "psram_allowance": "allowance: camera frame buffers in PSRAM",
        }
        return [
            (label, getattr(self, k).bytes, getattr(self, k).source) for k, label in names.items()
        ]


ESP_EYE_MEMORY = EspMemory(
    sram=Figure(520 * KB, "ESP32 datasheet"),
    dram=Figure(320 * KB, "ESP-IDF Memory Types guide"),
    static_limit=Figure(160 * KB, "ESP-IDF Memory Types guide"),
    largest_heap_block=Figure(
        110 * KB, "ESP-IDF Memory Types guide (fragmented heap); TinyMaix's ESP32 port, ~110 KB"
    ),
    psram=Figure(8 * MB, "ESP-EYE Getting Started Guide"),
    psram_mapped=Figure(4 * MB, "ESP-IDF External RAM guide: the ESP32 maps at most 4 MB"),
    flash=Figure(4 * MB, "ESP-EYE Getting Started Guide"),
    app_partition=Figure(0x3F0000, "partitions.csv: factory app partition 0x3F0000"),
    program_flash=Figure(448 * KB, "litelab allowance (estimate)"),
    static_allowance=Figure(32 * KB, "litelab allowance (estimate)"),
    psram_allowance=Figure(128 * KB, "litelab allowance (estimate)"),
)


# --- the ESP32 latency estimate -----------------------------------------------------------------
@dataclass(frozen=True)
class LatencyBasis:
    """A published timing that an estimate scales from (by MACs)."""

    model: str
    macs: int
    ops: int
    op_types: tuple[str, ...]
    ms_reference: float
    ms_optimized: float
    optimized: str
    clock_mhz: int
    source: str


# Espressif publishes the TFLM person_detection example (MobileNet v1 0.25, 96x96 grayscale,
# int8) on the ESP32 at 240 MHz: 4,084 ms per invoke() with TFLM's reference kernels and 380 ms
# with ESP-NN, internal memory (esp-tflite-micro README, "Performance Comparison", commit
# 99f49e14; the same table is in esp-nn's README). Its MACs and ops were counted by litelab's
# own counter (litelab.export.inspect) on that example's model bytes,
# esp-tflite-micro/examples/person_detection/main/person_detect_model_data.cc (300,568 B):
# 7,157,888 MACs in 31 operators.
PERSON_DETECTION_ESP32 = LatencyBasis(
    model="person_detection (MobileNet v1 0.25, 96x96x1, int8)",
    macs=7_157_888,
    ops=31,
    op_types=("AVERAGE_POOL_2D", "CONV_2D", "DEPTHWISE_CONV_2D", "RESHAPE", "SOFTMAX"),
    ms_reference=4084.0,
    ms_optimized=380.0,
    optimized="ESP-NN",
    clock_mhz=240,
    source="Espressif, esp-tflite-micro README (ESP32 at 240 MHz, internal memory)",
)


def esp32_latency(
    macs: int | None,
    op_types: list[str] | None = None,
    basis: LatencyBasis = PERSON_DETECTION_ESP32,
) -> dict[str, Any] | None:
    """An *estimate* of the ESP32's ms per inference: the basis' timings times MACs / its MACs.

    ``op_types`` (the model's distinct ops) name the ops the basis does not have: their cost
    per MAC may differ, which the result says. None without a MAC count.
    """
    if not isinstance(macs, int) or macs <= 0:
        return None
    ratio = macs / basis.macs
    other = sorted(set(op_types or ()) - set(basis.op_types))
    ref, opt = basis.ms_reference * ratio, basis.ms_optimized * ratio
    line = (
        f"estimated ESP32 latency at {basis.clock_mhz} MHz: ~{ref:,.0f} ms with TFLM's reference "
        f"kernels, ~{opt:,.0f} ms with {basis.optimized} (an estimate: {basis.model} runs "
        f"{basis.ms_reference:,.0f} / {basis.ms_optimized:,.0f} ms for {basis.macs:,} MACs, "
        f"scaled by this model's {macs:,} MACs)"
    )
    if other:
        line += f"; ops person_detection lacks: {', '.join(other)}"
    return {
        "estimate": True,
        "clock_mhz": basis.clock_mhz,
        "ms_reference_kernels": round(ref, 1),
        "ms_esp_nn": round(opt, 1),
        "macs": macs,
        "mac_ratio": round(ratio, 4),
        "ops_not_in_basis": other,
        "basis": {
            "model": basis.model,
            "macs": basis.macs,
            "ops": basis.ops,
            "ms_reference_kernels": basis.ms_reference,
            "ms_esp_nn": basis.ms_optimized,
            "source": basis.source,
        },
        "line": line,
    }
