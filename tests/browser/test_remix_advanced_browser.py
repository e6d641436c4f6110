"""Remix carries the Advanced values: an image made with a non-default output format and
quality, shared, opened in a fresh browser, remixed and run again sends the same input; the
next model switch gives back the defaults."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from helpers import free_port
from test_browser import SCREENSHOTS, answered, browser  # noqa: F401  (a fixture: used by name)
from test_share_browser import app, generate, open_history

from neurolink_ui.config import BUILTIN_SIMULATOR_TOKEN, default_model

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PROMPT = "A paper boat on a puddle, macro photograph"


def simulator_inputs(log: Path) -> list[dict[str, Any]]:
    """Every prediction's input the app's built-in simulator received, oldest first."""
    port = re.search(r"built-in Replicate simulator on port (\d+)", log.read_text())
    assert port, log.read_text()[-2000:]
    sim = f"http://127.0.0.1:{port.group(1)}"
    auth = {"Authorization": f"Bearer {BUILTIN_SIMULATOR_TOKEN}"}
    listed = httpx.get(f"{sim}/v1/predictions", headers=auth).json()["results"]
    ids = [p["id"] for p in reversed(listed)]
    return [httpx.get(f"{sim}/v1/predictions/{i}", headers=auth).json()["input"] for i in ids]


def set_advanced(page) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page.get_by_text("Advanced — parameters from the model's schema").filter(
        visible=True
    ).first.click()
    fmt = page.get_by_label("Output format").filter(visible=True).first
    expect(fmt).to_be_editable(timeout=20_000)
    fmt.click()
    with answered(page, '"png"'):
        page.get_by_role("option", name="png", exact=True).click()
    quality = page.get_by_role("spinbutton", name="number input for Output quality").filter(
        visible=True
    )
    with answered(page, '"png"', "57"):  # the Advanced JSON holds both before Generate
        quality.first.fill("57")
        quality.first.press("Enter")


@pytest.mark.timeout(400)
def test_remix_runs_the_shared_input_again(  # type: ignore[no-untyped-def]
    tmp_path: Path,
    browser,  # noqa: F811  (the fixture from test_browser)
) -> None:
    from playwright.sync_api import expect

    SCREENSHOTS.mkdir(exist_ok=True)
    log = tmp_path / "app.log"
    with app(tmp_path / "data", free_port(), log) as url:
        shared_model = default_model("image")
        owner = browser.new_context(viewport={"width": 1366, "height": 1000})
        page = owner.new_page()
        page.goto(url, wait_until="load")
        page.get_by_role("tab", name="🖼️ Image").click()
        set_advanced(page)
        generate(page, PROMPT)
        (shared,) = simulator_inputs(log)
        assert shared["output_format"] == "png" and shared["output_quality"] == 57, shared
        card = open_history(page).first
        expect(card).to_contain_text(PROMPT, timeout=20_000)
        card.get_by_role("button", name="🔗 Share").click()
        link_box = card.get_by_role("textbox")
        expect(link_box).to_have_value(re.compile(r"\?result="), timeout=15_000)
        link = link_box.input_value()
        owner.close()

        stranger = browser.new_context(viewport={"width": 1366, "height": 1000})
        view = stranger.new_page()
        view.goto(link, wait_until="load")
        expect(view.get_by_text("Shared image result")).to_be_visible(timeout=30_000)
        view.get_by_role("button", name="Remix", exact=False).click()
        expect(view.get_by_role("tab", name="🖼️ Image", selected=True)).to_be_visible(timeout=15_000)
        prompt = view.get_by_role("textbox", name="Prompt", exact=True).filter(visible=True)
        expect(prompt.first).to_have_value(PROMPT, timeout=15_000)
        view.get_by_text("Advanced — parameters from the model's schema").filter(
            visible=True
        ).first.click()
        quality = view.get_by_role("spinbutton", name="number input for Output quality")
        expect(quality.filter(visible=True).first).to_have_value("57", timeout=20_000)
        expect(view.get_by_label("Output format").filter(visible=True).first).to_have_value("png")
        view.screenshot(path=SCREENSHOTS / "24-remixed-advanced.png", full_page=True)
        view.get_by_role("button", name="Generate", exact=True).filter(visible=True).click()
        expect(view.get_by_text("Done with").filter(visible=True).first).to_be_visible(
            timeout=60_000
        )
        first, remixed = simulator_inputs(log)
        assert first == shared
        if shared.get("seed") is None:  # a random seed differs; everything else is the same
            remixed.pop("seed", None)
        assert remixed == shared

        # The preset was for one Remix: another model and back gives the model's defaults.
        panel = view.get_by_role("tabpanel").filter(visible=True)
        model = panel.get_by_role("combobox", name="Model", exact=True)
        model.fill("black-forest-labs/flux-schnell")
        model.press("Enter")
        steps = view.get_by_label("Num Inference Steps").filter(visible=True)
        expect(steps.first).to_be_visible(timeout=20_000)  # flux-schnell's own form has come
        model.fill(shared_model)
        model.press("Enter")
        expect(steps).to_have_count(0, timeout=20_000)
        expect(quality.filter(visible=True).first).to_have_value("80", timeout=20_000)
        expect(view.get_by_label("Output format").filter(visible=True).first).to_have_value("webp")
        stranger.close()
