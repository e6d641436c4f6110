"""A visitor on a public Space running on its owner's token, in headless Chromium: the meter counts
down, and the run past the daily limit is refused with the limit, the reset and the ways on."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest
from conftest import OTHER_TOKEN, TOKEN, start_app_process
from helpers import wait_for_page
from test_browser import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS, settled

pytestmark = pytest.mark.browser


@pytest.fixture
def guarded_url(simulator, tmp_path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """`python app.py` on the owner's token (the loopback simulator), one run a day per visitor."""
    env = {
        "REPLICATE_API_TOKEN": TOKEN,
        "REPLICATE_BASE_URL": simulator.base_url,
        "NEUROLINK_VISITOR_RUNS_PER_DAY": "1",
        "NEUROLINK_DATA_DIR": str(tmp_path / "data"),
        "SPACE_ID": "owner/neurolink-demo",  # the refusal links to duplicating it
        "GRADIO_TEMP_DIR": str(tmp_path / "gradio"),
    }
    log = tmp_path / "app.log"
    process, url = start_app_process(env, log)
    try:
        wait_for_page(url, process, log.read_text, timeout=240)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.mark.timeout(600)
def test_meter_and_refusal_on_the_owners_token(guarded_url: str, simulator) -> None:  # type: ignore[no-untyped-def]
    if not shutil.which(CHROMIUM):
        pytest.fail("Debian's chromium is missing: scripts/test.sh installs it")
    from playwright.sync_api import expect, sync_playwright

    SCREENSHOTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1366, "height": 1000})
        page.goto(guarded_url, wait_until="load")
        meter = page.locator("#nl-meter")
        expect(meter).to_contain_text(
            "1 of 1 runs left today on this Space's token", timeout=30_000
        )
        expect(page.get_by_role("button", name="🧪 Use the simulator")).to_be_visible()

        page.get_by_role("tab", name="🖼️ Image").click()
        prompt = page.get_by_role("textbox", name="Prompt", exact=True).filter(visible=True).first
        prompt.fill("A lighthouse at dusk")
        generate = page.get_by_role("button", name="Generate", exact=True).filter(visible=True)
        generate.click()
        expect(page.get_by_text("Done with").filter(visible=True).first).to_be_visible(
            timeout=45_000
        )
        expect(meter).to_contain_text("0 of 1 runs left today", timeout=15_000)
        page.screenshot(path=SCREENSHOTS / "08-quota-meter.png", full_page=False)

        creates_before = len([r for r in simulator.requests if r.method == "POST"])
        prompt.fill("One more, please")
        generate.click()
        toast = page.get_by_text("You have used your 1 run for today")
        expect(toast.first).to_be_visible(timeout=20_000)
        expect(page.get_by_text("Limit reached (runs per day)").first).to_be_visible()
        expect(page.get_by_text("huggingface.co/spaces/owner/neurolink-demo").first).to_be_visible()
        settled(page)  # the toast has faded in: the screenshot shows it whole
        page.screenshot(path=SCREENSHOTS / "09-quota-refusal.png", full_page=False)
        assert len([r for r in simulator.requests if r.method == "POST"]) == creates_before

        # The way on that needs nothing: the simulator, unlimited.
        page.locator("[data-testid='toast-close']").or_(
            page.get_by_role("button", name="Close")
        ).first.click()
        page.get_by_role("button", name="🧪 Use the simulator").click()
        expect(meter).to_contain_text("Unlimited: the simulator", timeout=15_000)
        # Their own token: the meter follows the session's token.
        page.get_by_role("button", name="🔑 Your Replicate token").click()
        page.get_by_label("Replicate API token").fill(OTHER_TOKEN)
        page.get_by_role("button", name="Use token").click()
        expect(meter).to_contain_text("Unlimited: your own token", timeout=15_000)
        browser.close()
