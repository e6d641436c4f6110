"""The Explore tab in headless Chromium: search, a collection, a model card, runs, Open in panel.

The page is served by `python app.py` with no token (the built-in simulator). Every request the
browser makes to anything but loopback is aborted (READMEs hold https images).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from helpers import free_port, stop_process, wait_for_page

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Belt and braces beside the route guard: no name resolves except loopback.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "screenshots"


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("REPLICATE_")}
    env.update(
        GRADIO_SERVER_NAME="127.0.0.1",
        GRADIO_SERVER_PORT=str(port),
        GRADIO_TEMP_DIR=str(tmp_path_factory.mktemp("gradio")),
        GRADIO_ANALYTICS_ENABLED="False",
        PYTHONUNBUFFERED="1",
    )
    log = tmp_path_factory.mktemp("log") / "app.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "app.py"], cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        assert wait_for_page(url, proc, log.read_text).status_code == 200
        yield url
    finally:
        stop_process(proc, grace=20)


@pytest.fixture(scope="module")
def page(app_url: str) -> Iterator[object]:
    if not shutil.which(CHROMIUM):
        pytest.fail("Debian's chromium is missing: scripts/test.sh installs it")
    from playwright.sync_api import expect, sync_playwright

    outside: list[str] = []

    def only_loopback(route) -> None:  # type: ignore[no-untyped-def]
        host = urlsplit(route.request.url).hostname or ""
        if host in ("127.0.0.1", "localhost") or route.request.url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        tab = chromium.new_page(viewport={"width": 1366, "height": 1000})
        tab.route("**/*", only_loopback)
        tab.goto(app_url, wait_until="load")
        expect(tab.get_by_text("Simulator mode")).to_be_visible(timeout=30_000)
        tab.get_by_role("tab", name="🧭 Explore").click()
        SCREENSHOTS.mkdir(exist_ok=True)
        yield tab
        chromium.close()
    # The README's https image was never fetched: the page only ever asked loopback.
    assert all("127.0.0.1" not in url for url in outside)


def open_model(page, model: str) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    box = page.get_by_role("textbox", name="Model", exact=True).filter(visible=True)
    box.fill(model)
    page.get_by_role("button", name="Open", exact=True).click()
    expect(page.get_by_role("heading", name=model, level=3)).to_be_visible(timeout=30_000)


def test_search_finds_the_upscaler_and_its_card_runs_its_default_example(page) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page.get_by_role("textbox", name="Search Replicate's models").fill("upscale")
    page.get_by_role("button", name="Search", exact=True).click()
    open_button = page.get_by_role("button", name="Open nightmareai/real-esrgan")
    expect(open_button).to_be_visible(timeout=30_000)
    expect(page.get_by_text("Real-ESRGAN with optional face correction")).to_be_visible()
    page.screenshot(path=SCREENSHOTS / "explore-1-search.png", full_page=True)

    open_button.click()
    expect(page.get_by_role("heading", name="nightmareai/real-esrgan")).to_be_visible(
        timeout=30_000
    )
    expect(page.get_by_text("default example is filled in")).to_be_visible(timeout=30_000)
    # The generated form: required image first, then scale and face enhance from the schema.
    expect(page.get_by_label("Face Enhance")).to_be_visible(timeout=15_000)
    page.get_by_text("README", exact=True).click()
    expect(page.locator(".nl-readme h1")).to_have_text("Real-ESRGAN", timeout=15_000)
    # The README's https image is an <img> (blocked here); no README script survives.
    assert page.locator(".nl-readme script, .nl-readme iframe").count() == 0
    page.screenshot(path=SCREENSHOTS / "explore-2-card.png", full_page=True)

    # An example recorded for an older schema loads what still fits and says what did not.
    page.get_by_text("Example 4: [img]").click()
    expect(page.get_by_text("no longer fits").filter(visible=True).first).to_be_visible(
        timeout=15_000
    )
    page.get_by_text("Example 1: [image]").click()
    expect(page.get_by_text("Example 1 loaded.")).to_be_visible(timeout=15_000)

    page.get_by_role("button", name="Run", exact=True).click()
    image = page.locator("button.thumbnail-item img, [data-testid='gallery'] img").filter(
        visible=True
    )
    expect(image.first).to_be_visible(timeout=60_000)
    expect(page.get_by_text("Done with").filter(visible=True).first).to_be_visible(timeout=30_000)
    page.screenshot(path=SCREENSHOTS / "explore-3-run.png", full_page=True)


def test_a_collection_lists_its_models(page) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    picker = page.get_by_label("…or browse a collection")
    picker.click()
    page.get_by_role("option", name="Language models").click()
    expect(page.get_by_role("button", name="Open meta/meta-llama-3-70b-instruct")).to_be_visible(
        timeout=30_000
    )
    expect(page.get_by_text("Language models").filter(visible=True).first).to_be_visible()


def test_a_json_model_renders_its_output(page) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    open_model(page, "andreasjansson/clip-features")
    page.get_by_role("button", name="Run", exact=True).click()
    expect(page.get_by_text("Done with").filter(visible=True).first).to_be_visible(timeout=60_000)
    code = page.locator(".cm-content").filter(has_text="embedding")
    expect(code.first).to_be_visible(timeout=15_000)
    assert (
        page.get_by_role("button", name="Open in the", exact=False).filter(visible=True).count()
        == 0
    )  # no panel fits a JSON model


def test_open_in_panel_switches_the_panels_model(page) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    open_model(page, "black-forest-labs/flux-schnell")
    page.get_by_role("button", name="Open in the 🖼️ Image panel").click()
    expect(page.get_by_role("tab", name="🖼️ Image", selected=True)).to_be_visible(timeout=15_000)
    model = page.get_by_role("combobox", name="Model").filter(visible=True)
    expect(model).to_have_value("black-forest-labs/flux-schnell", timeout=15_000)
    page.screenshot(path=SCREENSHOTS / "explore-4-open-in-panel.png", full_page=True)
