"""`litelab serve` end to end: the real command on loopback, driven in headless Chromium.

Chromium is Debian's (`/usr/bin/chromium`, installed by `.ci/run`), driven by Playwright with
`executable_path` set: Playwright's own browser download is never used. Without Chromium the
tests skip, unless LITELAB_REQUIRE_BROWSER=1 (CI sets it), where they fail instead.
"""

from __future__ import annotations

import io
import json
import os
import re
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from litelab.jobs import predict_files

CHROMIUM = os.environ.get("LITELAB_CHROMIUM", "/usr/bin/chromium")
REQUIRED = os.environ.get("LITELAB_REQUIRE_BROWSER", "").strip() in ("1", "true", "yes")
# What the machine needs of Chromium: no sandbox as root, no GPU, and no background traffic
# to Google's hosts (this machine has no network); a fake camera for the webcam test.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
]


def _browser_missing() -> str | None:
    if not Path(CHROMIUM).is_file():
        return f"{CHROMIUM} not installed (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[test]')"
    return None


_missing = _browser_missing()
if _missing and REQUIRED:
    raise RuntimeError(f"LITELAB_REQUIRE_BROWSER is set but {_missing}")
pytestmark = pytest.mark.skipif(_missing is not None, reason=_missing or "")


@pytest.fixture(scope="module")
def server(live_server):
    return live_server


@pytest.fixture
def page(server, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.set_default_timeout(60_000)
        problems: list[str] = []
        requests: list[str] = []
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.on("console", lambda m: m.type == "error" and problems.append(m.text))
        page.on("request", lambda r: requests.append(r.url))
        page.problems, page.requests = problems, requests
        yield page
        context.close()
        browser.close()
    outside = [u for u in requests if not u.startswith((server, "data:", "blob:"))]
    assert outside == [], "the page fetched from outside this server"


def test_runs_list_run_page_and_upload_show_the_predicted_class(
    page, server, served_runs, tmp_path
) -> None:
    photo = tmp_path / "red.jpg"
    rng = np.random.default_rng(3)
    pixels = np.clip(rng.integers(-40, 40, (240, 320, 3)) + [210, 40, 40], 0, 255)
    Image.fromarray(pixels.astype(np.uint8)).save(photo, quality=90)

    page.goto(server)
    page.wait_for_selector("#runs-table")
    rows = page.locator("#runs-table tbody tr")
    assert rows.count() == 2
    assert rows.nth(0).get_attribute("data-run") == "b-lenet"  # newest first
    assert "esp-eye: fits" in page.inner_text("#runs-table tr[data-run='a-tiny']")
    page.click("#runs-table th[data-key='params']")  # sort by params, high to low
    order = [rows.nth(i).get_attribute("data-run") for i in range(2)]
    assert order == ["a-tiny", "b-lenet"]  # tiny 225,582 > lenet5 61,350

    page.click("a.run-link:text-is('a-tiny')")
    page.wait_for_selector("#run-title")
    assert page.inner_text("#run-title") == "a-tiny"
    page.wait_for_selector("#curves svg polyline", state="attached")  # a flat line has no height
    assert page.locator("#curves svg polyline").count() == 4  # accuracy, loss: train and val
    assert page.locator("#confusion-matrix td").count() == 4
    deploy_text = page.inner_text("#deploy")
    assert "fits" in deploy_text and "largest internal heap block" in deploy_text
    assert page.locator("#deploy table.tiers tr.current").inner_text().startswith("internal-heap")
    assert "estimated ESP32 latency at 240 MHz" in deploy_text
    assert page.locator("#export-table tr").count() >= 3
    export = json.loads((served_runs / "a-tiny/export/comparison.json").read_text())
    int8 = next(r for r in export["rows"] if r["format"] == "tflite-int8")
    int8_row = page.inner_text("#export-table tr:has-text('tflite-int8')")
    assert f"{int8['size_bytes']:,}" in int8_row and f"{int8['agreement']:.2f}%" in int8_row
    page.wait_for_function(
        "[...document.images].every(i => i.complete && i.naturalWidth > 0)", timeout=60_000
    )
    page.screenshot(path=str(tmp_path / "run-page.png"), full_page=True)

    page.click("#classify-this")
    page.wait_for_selector("#file-input")
    assert page.input_value("#model-select") == "a-tiny"
    page.select_option("#format-select", "tflite-int8")
    page.set_input_files("#file-input", str(photo))
    page.wait_for_selector("#predicted-class")
    shown = page.inner_text("#predicted-class")
    cli = predict_files(served_runs / "a-tiny/export/model_int8.tflite", [photo], top=1)
    assert shown == cli[0]["top"][0]["class"] == "red"
    assert "TFLite int8" in page.inner_text("#result")
    assert re.search(r"model \d+\.\d ms", page.inner_text("#latency"))
    size = page.eval_on_selector("#model-input", "i => [i.naturalWidth, i.naturalHeight]")
    assert size == [32, 32]
    shot = tmp_path / "classify.png"
    page.screenshot(path=str(shot), full_page=True)
    assert Image.open(shot).size[0] == 1280
    assert page.problems == []


def test_compare_two_runs_and_classify_a_webcam_frame(page, server, tmp_path) -> None:
    page.goto(server + "#/compare?id=a-tiny&id=b-lenet")
    page.wait_for_selector("#compare-table")
    text = page.inner_text("#compare-table")
    assert "tiny" in text and "lenet5" in text and "225,582" in text
    assert page.locator("#curves svg polyline").count() == 4  # two runs x (accuracy, loss)

    page.goto(server + "#/classify?run=b-lenet")
    page.wait_for_selector("#webcam-start")
    page.click("#webcam-start")  # Chromium's fake camera stands in for a real one
    page.wait_for_selector("#webcam-snap", state="visible")
    page.wait_for_function("document.querySelector('#webcam').videoWidth > 0")
    page.click("#webcam-snap")
    page.wait_for_selector("#predicted-class")
    assert page.inner_text("#predicted-class") in ("red", "blue")
    assert "webcam.png" in page.inner_text(".photo")
    page.screenshot(path=str(tmp_path / "webcam.png"), full_page=True)

    # A bad upload is one clear message on the page, and the page keeps working.
    bad = tmp_path / "notes.png"
    bad.write_bytes(b"not an image at all")
    page.set_input_files("#file-input", str(bad))
    page.wait_for_selector("#predict-error")
    assert "not a JPEG, PNG or WebP" in page.inner_text("#predict-error")
    page.problems[:] = [p for p in page.problems if "415" not in p]
    good = io.BytesIO()
    Image.new("RGB", (64, 64), (30, 40, 220)).save(good, format="PNG")
    (tmp_path / "blue.png").write_bytes(good.getvalue())
    page.set_input_files("#file-input", str(tmp_path / "blue.png"))
    page.wait_for_selector("#predicted-class")
    assert page.inner_text("#predicted-class") == "blue"
    assert page.problems == []
    with urllib.request.urlopen(server + "api/runs", timeout=30) as r:
        assert r.status == 200


def test_an_interrupted_run_shows_as_incomplete_in_the_runs_table(page, server, served_runs):
    import shutil

    from litelab.runs import Run

    killed = served_runs / "c-killed"
    killed.mkdir()
    try:
        shutil.copy(served_runs / "a-tiny" / "config.toml", killed / "config.toml")
        Run(killed).write_state("training")  # killed during training: no metrics yet
        page.goto(server)
        page.wait_for_selector("#runs-table tr[data-run='c-killed']")
        label = page.locator("#runs-table tr[data-run='c-killed'] .incomplete")
        assert label.inner_text() == "incomplete (training)"
        assert page.locator("#runs-table .incomplete").count() == 1  # finished runs: figures
        assert page.problems == []
    finally:
        shutil.rmtree(killed)
