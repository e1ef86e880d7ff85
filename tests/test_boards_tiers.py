"""The ESP-EYE verdict from the ESP32's memory map: each tier, the latency estimate, profiles."""

from __future__ import annotations

import re

import pytest

from litelab.export import csource
from litelab.export.boards import TARGETS, TIERS, get_target, verdict, verdict_markdown
from litelab.export.esp32 import ESP_EYE_MEMORY, KB, PERSON_DETECTION_ESP32, esp32_latency

EYE = get_target("esp-eye")
MODEL = 98_496  # a made-up model size (the MLPerf ResNet-8's)


def test_the_esp32_figures_and_their_sources():
    m = ESP_EYE_MEMORY
    assert (m.sram.bytes, m.dram.bytes, m.static_limit.bytes) == (520 * KB, 320 * KB, 160 * KB)
    assert m.largest_heap_block.bytes == 110 * KB
    assert (m.psram.bytes, m.psram_mapped.bytes, m.flash.bytes) == (8 << 20, 4 << 20, 4 << 20)
    # the app partition is the one the generated project's partitions.csv declares
    table = csource.render_template("esp_idf/partitions.csv")
    (size,) = re.findall(
        r"^factory,\s*app,\s*factory,\s*0x[0-9a-fA-F]+,\s*(0x[0-9a-fA-F]+)", table, re.M
    )
    assert m.app_partition.bytes == int(size, 16) == 4_128_768
    assert EYE.flash_available == m.app_partition.bytes - m.program_flash.bytes
    for what, size, source in m.rows():
        assert size > 0 and source, what
    assert m.largest_heap_block.bytes < m.static_budget < m.static_limit.bytes < m.dram.bytes


@pytest.mark.parametrize(
    ("arena", "tier", "words"),
    [
        (60_000, "internal-heap", "fits internal RAM:"),  # one heap block after boot
        (120_000, "internal-static", "fits internal RAM statically"),  # > 110 KB, < 128 KB
        (216_576, "psram", "fits only in PSRAM (slower)"),  # mobilenetv2 0.35's 211 KB
        (5_000_000, "does-not-fit", "does not fit"),  # more than the 4 MB the ESP32 maps
    ],
)
def test_each_tier_with_a_made_up_arena(arena, tier, words):
    v = verdict(MODEL, arena, EYE)
    assert v["tier"] == tier and v["fits"] is (tier != "does-not-fit")
    assert v["line"].startswith(f"esp-eye: {words}")
    assert v["fits_flash"] and v["model_bytes"] == MODEL
    assert v["ram_margin"] == v["ram_available"] - arena
    assert (v["ram_margin"] >= 0) is v["fits_ram"]
    fits = {t["tier"]: t["fits"] for t in v["tiers"]}
    assert list(fits) == list(TIERS[:3])
    assert fits["internal-heap"] is (arena <= 110 * KB)
    assert fits["psram"] is (arena <= 4 * 1024 * KB - 128 * KB)
    text = verdict_markdown(v)
    assert f"tier: `{tier}`" in text and "ESP-IDF Memory Types guide" in text
    assert "partitions.csv" in text and "Latency, an estimate" not in text  # no MACs given


def test_tier_edges_are_inclusive():
    heap = ESP_EYE_MEMORY.largest_heap_block.bytes
    assert verdict(MODEL, heap, EYE)["tier"] == "internal-heap"
    assert verdict(MODEL, heap + 1, EYE)["tier"] == "internal-static"
    static = ESP_EYE_MEMORY.static_budget
    assert verdict(MODEL, static, EYE)["tier"] == "internal-static"
    assert verdict(MODEL, static + 1, EYE)["tier"] == "psram"
    psram = ESP_EYE_MEMORY.psram_budget
    assert verdict(MODEL, psram, EYE)["tier"] == "psram"
    assert verdict(MODEL, psram + 1, EYE)["tier"] == "does-not-fit"


def test_the_allocated_arena_decides_not_the_measured_one():
    heap = ESP_EYE_MEMORY.largest_heap_block.bytes
    v = verdict(MODEL, heap - 100, EYE, arena_allocated=heap + 100)  # the margin tips it over
    assert v["tier"] == "internal-static" and v["arena_bytes"] == heap - 100
    assert v["arena_allocated"] == heap + 100 and "arena (allocated)" in v["line"]


def test_a_model_too_big_for_the_app_partition_does_not_fit_whatever_the_arena():
    v = verdict(EYE.flash_available + 1, 10_000, EYE)
    assert v["tier"] == "does-not-fit" and not v["fits"] and not v["fits_flash"]
    assert v["fits_ram"] and "exceeds 3,670,016 B app partition by 1 B" in v["line"]


def test_a_given_budget_replaces_the_memory_map():
    tight = get_target("esp-eye", ram="16K")
    v = verdict(MODEL, 55_984, tight)
    assert v["tier"] == "does-not-fit" and "exceeds 16,384 B RAM by 39,600 B" in v["line"]
    assert v["tiers"] == [] and v["flash_available"] == EYE.flash_available  # flash: still mapped
    roomy = get_target("esp-eye", flash="1M")
    v = verdict(MODEL, 60_000, roomy)
    assert v["tier"] == "internal-heap" and v["flash_available"] == 1 << 20


def test_boards_with_one_ram_have_two_tiers():
    small = get_target("cortex-m-small")
    assert verdict(MODEL, 55_984, small)["tier"] == "internal-static"
    assert verdict(MODEL, small.ram_available + 1, small)["tier"] == "does-not-fit"
    v = verdict(MODEL, 55_984, small)
    assert "tiers" not in v and "latency" not in v and verdict_markdown(v) == ""


def test_esp32_latency_is_an_estimate_scaled_by_macs():
    basis = PERSON_DETECTION_ESP32
    same = esp32_latency(basis.macs, list(basis.op_types))
    assert same["estimate"] is True and same["clock_mhz"] == 240
    assert (same["ms_reference_kernels"], same["ms_esp_nn"]) == (4084.0, 380.0)
    assert same["ops_not_in_basis"] == []
    resnet8 = esp32_latency(12_501_632, ["CONV_2D", "ADD", "AVERAGE_POOL_2D", "FULLY_CONNECTED"])
    assert resnet8["ms_esp_nn"] == pytest.approx(380 * 12_501_632 / 7_157_888, abs=0.1)
    assert resnet8["ms_reference_kernels"] == pytest.approx(4084 * 12_501_632 / 7_157_888, abs=0.1)
    assert resnet8["ops_not_in_basis"] == ["ADD", "FULLY_CONNECTED"]
    assert "an estimate" in resnet8["line"] and "4,084 / 380 ms" in resnet8["line"]
    assert esp32_latency(None) is None and esp32_latency(0) is None
    v = verdict(MODEL, 55_984, EYE, macs=12_501_632, op_types=["CONV_2D"])
    assert v["latency"]["ms_esp_nn"] == resnet8["ms_esp_nn"]
    assert "Latency, an estimate: estimated ESP32 latency at 240 MHz" in verdict_markdown(v)


def test_the_qemu_profiles():
    m4, m55 = TARGETS["cortex-m4"], TARGETS["cortex-m55"]
    assert (m4.qemu_machine, m4.cpu, m4.clock_hz) == ("mps2-an386", "cortex-m4", 25_000_000)
    assert (m4.flash_bytes, m4.ram_bytes) == (4 << 20, 4 << 20)
    assert (m4.flash_origin, m4.ram_origin) == (0x00000000, 0x20000000)
    assert (m55.qemu_machine, m55.cpu, m55.clock_hz) == ("mps3-an547", "cortex-m55", 32_000_000)
    assert (m55.flash_bytes, m55.ram_bytes) == (8 << 20, 4 << 20)
    assert (m55.flash_origin, m55.ram_origin) == (0x28000000, 0x21000000)
    for t in (m4, m55):
        assert t.platform == "generic" and t.memory is None
        assert 0 < t.ram_available < t.ram_bytes and 0 < t.flash_available < t.flash_bytes
    assert get_target("cortex-m55", ram="64K").ram_available == 64 * KB
