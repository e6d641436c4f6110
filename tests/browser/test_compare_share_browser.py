"""Sharing a comparison in headless Chromium against `python app.py` on the loopback simulator:
Share once a cell is done, open the link in a new page (the Shared comparison with the cells'
images), and Remix back into the Compare tab after the visitor switched it to another modality."""

# ruff: noqa: F811  (tests take the imported `chromium` fixture as an argument)

from __future__ import annotations

import pytest
from conftest import TOKEN
from test_browser import SCREENSHOTS
from test_browser import browser as chromium  # noqa: F401  (its Chromium, as a fixture)
from test_browser_layout import goto_tab
from test_compare_browser import DESKTOP, _cell, _open_compare
from test_compare_browser import app_url as compare_app  # noqa: F401  (the app, as a fixture)

from neurolink_ui.catalog import suggested_models

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PROMPT = "A lighthouse keeper's cat watching the sea at dawn"


def test_share_a_comparison_and_remix_it(compare_app: str, chromium) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page = _open_compare(chromium, compare_app, DESKTOP)
    share = page.get_by_role("button", name="🔗 Share this comparison")
    expect(share).to_be_disabled()  # nothing finished yet
    page.get_by_role("textbox", name="Prompt (the same for every model)").fill(PROMPT)
    page.get_by_role("button", name="Compare", exact=True).click()
    for index in range(3):
        expect(_cell(page, index).get_by_text("Done with")).to_be_visible(timeout=60_000)
    expect(share).to_be_enabled(timeout=10_000)
    share.click()
    # The link box (read-only, a Copy button) has the label as text, not as its name.
    expect(page.get_by_text("Share link: anyone with it sees this comparison")).to_be_visible(
        timeout=10_000
    )
    find_link = (
        "() => [...document.querySelectorAll('textarea, input')]"
        ".map(e => e.value).find(v => v.includes('?result='))"
    )
    page.wait_for_function(find_link, timeout=10_000)
    link = page.evaluate(find_link)
    assert link.startswith("http://127.0.0.1") and "?result=" in link, link
    page.close()

    shared = chromium.new_page(viewport=DESKTOP)
    shared.goto(link, wait_until="load")
    expect(shared.get_by_role("heading", name="🔗 Shared comparison")).to_be_visible(timeout=30_000)
    for model in suggested_models("image")[:3]:
        expect(shared.get_by_text(model).first).to_be_visible()
    gallery_images = shared.locator(".nl-gallery img")
    expect(gallery_images).to_have_count(3, timeout=15_000)
    assert TOKEN not in shared.content()
    shared.screenshot(path=SCREENSHOTS / "compare-shared.png", full_page=True)

    # The visitor had switched Compare to Music; Remix brings back Image, the models, the prompt.
    goto_tab(shared, "🆚 Compare")
    shared.get_by_role("radio", name="Music").check()
    expect(shared.get_by_role("slider", name="Tempo (BPM)")).to_be_visible(timeout=10_000)
    goto_tab(shared, "🔗 Shared result")
    shared.get_by_role("button", name="🎛️ Remix: load these inputs into the panel").click()
    expect(shared.get_by_role("radio", name="Image")).to_be_checked(timeout=10_000)
    prompt = shared.get_by_role("textbox", name="Prompt (the same for every model)")
    expect(prompt).to_have_value(PROMPT)
    expect(shared.get_by_role("slider", name="Tempo (BPM)")).to_be_hidden()
    for model in suggested_models("image")[:3]:
        expect(shared.get_by_text(model, exact=True).first).to_be_visible()
    shared.screenshot(path=SCREENSHOTS / "compare-remixed.png", full_page=True)
    shared.close()
