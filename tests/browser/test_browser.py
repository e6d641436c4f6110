"""A person's visit in headless Chromium: open the page, chat, generate an image, take screenshots."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import app_zygote
import pytest
from helpers import REPO, free_port, stop_process, wait_for_page

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
]
SCREENSHOTS = REPO / "screenshots"

# Nothing on the page moves: no finite animation or transition runs (a tab's or a toast's fade, a
# re-laid-out gallery; a spinner's endless one does not count), fonts are in, and every picture
# in view is decoded (or failed; a lazy one out of view never loads). Players are not waited
# for: a <video> may never load its metadata in headless Chromium.
SETTLED = """() => {
    const inView = el => { const r = el.getBoundingClientRect();
        return el.offsetParent && r.width && r.bottom > 0 && r.top < innerHeight; };
    return document.readyState === 'complete' && document.fonts.status === 'loaded'
        && document.getAnimations().every(a => a.playState !== 'running'
            || a.effect?.getComputedTiming().iterations === Infinity)
        && [...document.images].every(i => !inView(i) || i.complete); }"""


def settled(page, timeout: float = 15_000) -> None:  # type: ignore[no-untyped-def]
    """Until the page is still (SETTLED): what a screenshot or a layout measure should see."""
    page.wait_for_function(SETTLED, polling="raf", timeout=timeout)


@contextlib.contextmanager
def running_app(
    tmp_path_factory: pytest.TempPathFactory, **env_extra: str
) -> Iterator[tuple[str, Path]]:
    """`python app.py` exactly as a newcomer runs it: no token, so the built-in simulator serves.
    Yields its URL and the file its output goes to."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("REPLICATE_")}
    env.update(
        GRADIO_SERVER_NAME="127.0.0.1",
        GRADIO_SERVER_PORT=str(port),
        GRADIO_TEMP_DIR=str(tmp_path_factory.mktemp("gradio")),
        GRADIO_ANALYTICS_ENABLED="False",
        PYTHONUNBUFFERED="1",
        **env_extra,
    )
    log = tmp_path_factory.mktemp("log") / "app.log"
    proc = app_zygote.start(["app.py"], env, REPO, log)  # forked warm: see app_zygote
    url = f"http://127.0.0.1:{port}/"
    try:
        assert wait_for_page(url, proc, log.read_text).status_code == 200
        yield url, log
    finally:
        stop_process(proc, grace=20)


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_app(tmp_path_factory) as (url, _log):
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not shutil.which(CHROMIUM):
        pytest.fail("Debian's chromium is missing: scripts/test.sh installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def test_newcomer_chats_and_generates_an_image(app_url: str, browser) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    SCREENSHOTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1366, "height": 1000})
    page.goto(app_url, wait_until="load")
    expect(page.get_by_text("Simulator mode")).to_be_visible(timeout=30_000)
    page.screenshot(path=SCREENSHOTS / "01-home.png", full_page=True)

    page.get_by_label("Message").fill("What makes a good espresso?")
    page.get_by_role("button", name="Send", exact=True).click()
    answer = page.locator(".bot").filter(has_text="espresso").last
    expect(answer).to_be_visible(timeout=30_000)
    expect(page.get_by_text("⏱")).to_be_visible(timeout=30_000)
    page.screenshot(path=SCREENSHOTS / "02-chat.png", full_page=True)

    page.get_by_role("tab", name="🖼️ Image").click()
    page.get_by_role("textbox", name="Prompt", exact=True).filter(visible=True).first.fill(
        "A red panda reading a map in a lantern-lit library"
    )
    page.get_by_text("Advanced — parameters from the model's schema").filter(visible=True).click()
    # The form is generated from flux-1.1-pro's schema: its own fields, defaults and ranges.
    tolerance = page.get_by_role("spinbutton", name="number input for Safety Tolerance")
    expect(tolerance).to_be_enabled(timeout=15_000)
    # Generate right after the change: the page writes the Advanced JSON itself, at the change
    # (a server round trip there once let a quick click send the previous value).
    tolerance.fill("5")
    tolerance.press("Enter")
    page.screenshot(path=SCREENSHOTS / "03a-image-advanced.png", full_page=True)
    page.get_by_role("button", name="Generate", exact=True).filter(visible=True).click()
    image = page.locator("[data-testid='gallery'] img, .gallery img, button.thumbnail-item img")
    expect(image.first).to_be_visible(timeout=45_000)
    expect(page.get_by_text("Done with").filter(visible=True).first).to_be_visible(timeout=30_000)
    page.screenshot(path=SCREENSHOTS / "03-image.png", full_page=True)

    for tab, name, button in (
        ("🎬 Video", "05-video", "Generate video"),
        ("🗣️ Avatar", "06-avatar", "Animate"),
        ("🎵 Music", "07-music", "Compose"),
    ):
        page.get_by_role("tab", name=tab).click()
        expect(page.get_by_role("tab", name=tab, selected=True)).to_be_visible()
        shown = page.get_by_role("tabpanel").filter(visible=True)
        expect(shown.get_by_role("button", name=button, exact=True)).to_be_visible()
        settled(page)
        page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)

    page.get_by_role("tab", name="🕘 History").click()
    newest = page.locator(".nl-card:not(.nl-card .nl-card)").first  # History's cards
    newest.get_by_text("Details, downloads and code").click(timeout=15_000)
    # The Advanced value reached the model: the History records what was sent.
    expect(newest.locator("pre code").first).to_contain_text('"safety_tolerance": 5')
    page.screenshot(path=SCREENSHOTS / "04-history.png", full_page=True)
    page.close()


def test_video_panel_plays_webm_alpha_and_shows_animated_webp(app_url: str, browser) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    SCREENSHOTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1366, "height": 1000})
    page.goto(app_url, wait_until="load")
    expect(page.get_by_text("Simulator mode")).to_be_visible(timeout=30_000)
    page.get_by_role("tab", name="🎬 Video").click()
    panel = page.get_by_role("tabpanel").filter(visible=True)
    panel.get_by_role("textbox", name="Prompt", exact=True).fill("a glowing jellyfish")
    model = panel.get_by_role("combobox", name="Model", exact=True)
    model.fill("atonamy/wan-alpha")
    model.press("Enter")
    panel.get_by_role("button", name="Generate video", exact=True).click()
    # VP9-with-alpha WebM in the <video>: Chromium decodes it (a frame size means it played).
    video = panel.locator("video").first
    expect(video).to_be_visible(timeout=60_000)
    page.wait_for_function(
        "el => el.readyState >= 2 && el.videoWidth > 0", arg=video.element_handle(), timeout=30_000
    )
    assert video.evaluate("el => el.currentSrc").endswith(".webm")
    page.screenshot(path=SCREENSHOTS / "08-video-webm-alpha.png", full_page=True)

    # The same model asked for animated WebP (Advanced → Output format): shown as an image.
    panel.get_by_text("Advanced — parameters from the model's schema").click()
    output_format = panel.get_by_role("combobox", name="Output format")
    expect(output_format).to_be_visible(timeout=15_000)
    output_format.click()
    page.get_by_role("option", name="webp", exact=True).click()  # and Generate at once
    panel.get_by_role("button", name="Generate video", exact=True).click()
    animated = panel.locator("img[src*='.webp']").first
    expect(animated).to_be_visible(timeout=60_000)
    page.wait_for_function(
        "el => el.complete && el.naturalWidth > 0", arg=animated.element_handle(), timeout=30_000
    )
    expect(panel.locator("video")).to_have_count(0)
    page.screenshot(path=SCREENSHOTS / "09-video-animated-webp.png", full_page=True)
    page.close()
