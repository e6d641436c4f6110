"""Compare in headless Chromium against `python app.py` on the loopback simulator: three image
models with one failing cell, and two streaming chat models (blind) with Stop on one cell."""

# ruff: noqa: F811  (tests take the imported `chromium` fixture as an argument)

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from conftest import TOKEN, start_app_process
from helpers import stop_process, wait_for_page
from test_browser import SCREENSHOTS
from test_browser import browser as chromium  # noqa: F401  (its Chromium, as a fixture)
from test_browser_layout import goto_tab

from neurolink_ui.catalog import suggested_models
from neurolink_ui.simulator.config import Fault

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def app_url(simulator_session, tmp_path_factory) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """`python app.py` on a token whose runs go to the test session's loopback simulator."""
    tmp = tmp_path_factory.mktemp("compare-app")
    env = {
        "REPLICATE_API_TOKEN": TOKEN,
        "REPLICATE_BASE_URL": simulator_session.base_url,
        # The owner's own playground: no visitor limits (0 = off).
        "NEUROLINK_VISITOR_RUNS_PER_DAY": "0",
        "NEUROLINK_VISITOR_RUNS_PER_MINUTE": "0",
        "NEUROLINK_VISITOR_CONCURRENT": "0",
        "GRADIO_TEMP_DIR": str(tmp / "gradio"),
    }
    log = tmp / "app.log"
    process, url = start_app_process(env, log)
    try:
        wait_for_page(url, process, log.read_text, timeout=240)
        yield url
    finally:
        stop_process(process, grace=20)


def _open_compare(chromium, url: str, viewport: dict[str, int]):  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page = chromium.new_page(viewport=viewport)
    page.goto(url, wait_until="load")
    expect(page.get_by_role("tab", name="💬 Chat")).to_be_visible(timeout=30_000)
    goto_tab(page, "🆚 Compare")  # on a phone, through "More tabs"
    expect(page.get_by_role("button", name="Compare", exact=True)).to_be_visible(timeout=30_000)
    return page


def _refuse_creates(simulator, model: str) -> None:  # type: ignore[no-untyped-def]
    """The API refuses `model`'s creates (422, over HTTP), as it refuses a flagged prompt."""
    simulator.config.faults = [
        Fault(
            method="POST",
            path=f"/v1/models/{model}/predictions",
            status=422,
            detail="The prompt was flagged as sensitive (E005).",
            count=100,
        )
    ]


def _cell(page, index: int):  # type: ignore[no-untyped-def]
    return page.locator(f"#nl-compare-{index}")


def _run_image_compare(page) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page.get_by_role("textbox", name="Prompt (the same for every model)").fill(
        "A red panda reading a map in a lantern-lit library"
    )
    page.get_by_role("button", name="Compare", exact=True).click()
    for index in (0, 2):
        cell = _cell(page, index)
        expect(cell.get_by_text("Done with")).to_be_visible(timeout=60_000)
        expect(cell.locator("img").first).to_be_visible(timeout=30_000)
    failing = _cell(page, 1)
    expect(failing.get_by_text("flagged as sensitive (E005)")).to_be_visible(timeout=30_000)


def test_three_image_models_with_one_failing_cell(app_url: str, chromium, simulator) -> None:  # type: ignore[no-untyped-def]
    """The second model's create is refused over HTTP: its cell says why, the others show
    their images, times and warm start; Pick marks one; History has the two results."""
    from playwright.sync_api import expect

    failing = suggested_models("image")[1]
    _refuse_creates(simulator, failing)
    page = _open_compare(chromium, app_url, DESKTOP)
    _run_image_compare(page)
    for index, model in enumerate(suggested_models("image")[:3]):  # the Image suggestions, in order
        expect(_cell(page, index).get_by_role("heading", name=model)).to_be_visible()
    for index in (0, 2):
        cell = _cell(page, index)
        # The times, and the run's estimated cost beside the predict time (or "cost unknown").
        times = re.compile(r"predict [0-9.]+ s · (≈ \$[0-9.]+|cost unknown) · total [0-9.]+ s")
        expect(cell.get_by_text(times)).to_be_visible()
        expect(cell.get_by_text("warm (")).to_be_visible()
    expect(_cell(page, 3)).to_be_hidden()  # three models: three cells
    _cell(page, 2).get_by_role("button", name="⭐ Pick").click()
    expect(_cell(page, 2).get_by_text("your pick")).to_be_visible(timeout=10_000)
    expect(page.get_by_text("Your pick:")).to_be_visible()
    page.screenshot(path=SCREENSHOTS / "compare-desktop.png", full_page=True)

    # Retry on the failed cell once the API accepts it: only that cell runs again.
    simulator.config.faults = []
    creates = len([r for r in simulator.requests if r.method == "POST"])
    _cell(page, 1).get_by_role("button", name="↻ Retry").click()
    expect(_cell(page, 1).get_by_text("Done with")).to_be_visible(timeout=60_000)
    assert len([r for r in simulator.requests if r.method == "POST"]) == creates + 1

    goto_tab(page, "🕘 History")
    expect(page.get_by_text("3 generations in this browser's History.")).to_be_visible(
        timeout=15_000
    )
    page.close()

    phone = _open_compare(chromium, app_url, PHONE)
    _refuse_creates(simulator, failing)
    _run_image_compare(phone)
    # Nothing wider than the phone: the cells stack.
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], width
    for index in (0, 2):  # lazy images below the fold load once scrolled to
        picture = _cell(phone, index).locator("img").first
        picture.scroll_into_view_if_needed()
        phone.wait_for_function(
            "el => el.complete && el.naturalWidth > 0", arg=picture.element_handle(), timeout=15_000
        )
    phone.screenshot(path=SCREENSHOTS / "compare-phone.png", full_page=True)
    phone.close()
