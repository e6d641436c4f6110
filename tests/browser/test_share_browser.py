"""History that lasts and share links, in headless Chromium against `python app.py`.

One visitor generates two images, reloads, the app restarts on the same data folder, the History
is still there; a share link opened in a fresh browser shows that one result and nothing else;
Remix fills the Image panel; Delete and Clear remove the files from disk; bad links get a page.
"""

from __future__ import annotations

import contextlib
import re
import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import start_app_process
from helpers import free_port, stop_process, wait_for_page
from test_browser import SCREENSHOTS, browser, settled  # noqa: F401  (a fixture: used by name)

from neurolink_ui.config import BUILTIN_SIMULATOR_TOKEN

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SHARED_PROMPT = "A lighthouse on a cliff at dawn, watercolor"
PRIVATE_PROMPT = "A private sketch of my neighbour's cat"


@contextlib.contextmanager
def app(data: Path, port: int, log: Path, **env: str) -> Iterator[str]:
    process, url = start_app_process(
        {"NEUROLINK_DATA_DIR": str(data), "GRADIO_SERVER_PORT": str(port), **env}, log
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        assert wait_for_page(url, process, log.read_text).status_code == 200
        yield url
    finally:
        stop_process(process, grace=20)


def generate(page, prompt: str) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page.get_by_role("tab", name="🖼️ Image").click()
    box = page.get_by_role("textbox", name="Prompt", exact=True).filter(visible=True).first
    box.fill(prompt)
    page.get_by_role("button", name="Generate", exact=True).filter(visible=True).click()
    expect(page.get_by_text("Done with").filter(visible=True).first).to_be_visible(timeout=60_000)


def open_history(page):  # type: ignore[no-untyped-def]
    page.get_by_role("tab", name="🕘 History").click()
    return page.locator(".nl-card:not(.nl-card .nl-card)")


def kept_folders(data: Path) -> set[str]:
    return {p.name for p in (data / "results" / "files").iterdir()}


@pytest.mark.timeout(600)  # two app processes start, three browser contexts; a shared machine
def test_history_lasts_and_a_share_link_shows_one_result(  # type: ignore[no-untyped-def]
    tmp_path: Path,
    browser,  # noqa: F811  (the fixture from test_browser)
) -> None:
    from playwright.sync_api import expect

    SCREENSHOTS.mkdir(exist_ok=True)
    data, port = tmp_path / "data", free_port()
    visitor = browser.new_context(viewport={"width": 1366, "height": 1000})
    page = visitor.new_page()
    with app(data, port, tmp_path / "first.log") as url:
        page.goto(url, wait_until="load")
        generate(page, SHARED_PROMPT)
        generate(page, PRIVATE_PROMPT)
        cards = open_history(page)
        expect(cards).to_have_count(2, timeout=20_000)
        expect(cards.first).to_contain_text(PRIVATE_PROMPT)  # newest first

        page.reload(wait_until="load")  # a reload: the same browser, a new session
        cards = open_history(page)
        expect(cards).to_have_count(2, timeout=20_000)
    assert len(kept_folders(data)) == 2

    # The app restarts on the same data folder (and address): the History is still there.
    with app(data, port, tmp_path / "second.log") as url:
        page.reload(wait_until="load")
        cards = open_history(page)
        expect(cards).to_have_count(2, timeout=30_000)
        shared_card = cards.filter(has_text=SHARED_PROMPT)
        expect(shared_card.locator("img").first).to_be_visible(timeout=20_000)
        page.screenshot(path=SCREENSHOTS / "20-history-kept.png", full_page=True)
        page.set_viewport_size({"width": 390, "height": 844})
        page.wait_for_function("() => document.documentElement.clientWidth <= 390")
        settled(page)
        page.screenshot(path=SCREENSHOTS / "20-history-kept-phone.png", full_page=True)
        page.set_viewport_size({"width": 1366, "height": 1000})

        shared_card.get_by_role("button", name="🔗 Share").click()
        link_box = shared_card.get_by_role("textbox")
        expect(link_box).to_have_value(
            re.compile(r"^http://127\.0\.0\.1:\d+/\?result=[\w-]{32,}$"),
            timeout=15_000,
        )
        link = link_box.input_value()

        # A fresh browser (no History id, no session) opens the link.
        for name, viewport in (("desktop", (1366, 1000)), ("phone", (390, 844))):
            stranger = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
            view = stranger.new_page()
            view.goto(link, wait_until="load")
            expect(view.get_by_text("Shared image result")).to_be_visible(timeout=30_000)
            expect(view.get_by_text(SHARED_PROMPT).first).to_be_visible()
            expect(
                view.locator("[data-testid='gallery'] img, .thumbnail-item img").first
            ).to_be_visible(timeout=20_000)
            html = view.content()
            assert PRIVATE_PROMPT not in html  # nothing else of the owner's History
            where = html.find(str(data))
            assert where < 0, html[max(0, where - 300) : where + 200]  # no server paths
            assert BUILTIN_SIMULATOR_TOKEN not in html  # nor the token
            view.screenshot(path=SCREENSHOTS / f"21-shared-{name}.png", full_page=True)
            if name == "desktop":
                view.get_by_role("button", name="Remix", exact=False).click()
                expect(view.get_by_role("tab", name="🖼️ Image", selected=True)).to_be_visible(
                    timeout=15_000
                )
                prompt = view.get_by_role("textbox", name="Prompt", exact=True).filter(visible=True)
                expect(prompt.first).to_have_value(SHARED_PROMPT, timeout=15_000)
                view.screenshot(path=SCREENSHOTS / "22-remixed.png", full_page=True)
            stranger.close()

        # The link's page carries the result's card: a title and an absolute preview image.
        page_html = httpx.get(link).text
        assert "og:image" in page_html and "/shared-preview/" in page_html
        preview = link.split("?")[0] + "shared-preview/" + link.split("result=")[1]
        answer = httpx.get(preview)
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("image/")

        # Delete: the entry and its files go; the link now says so.
        before = kept_folders(data)
        shared_card.get_by_role("button", name="🗑️ Delete").click()
        expect(cards).to_have_count(1, timeout=15_000)
        assert len(kept_folders(data)) == 1 and kept_folders(data) < before
        gone = browser.new_context().new_page()
        gone.goto(link, wait_until="load")
        expect(gone.get_by_text("No shared result has this id")).to_be_visible(timeout=30_000)

        # Clear history: everything of this browser goes, files too.
        page.get_by_role("button", name="Clear history").click()
        page.get_by_role("button", name="Yes, delete them").click()  # it asks first
        expect(page.get_by_text("Nothing yet")).to_be_visible(timeout=15_000)
        assert kept_folders(data) == set()

        # A malformed and an unknown id each get a clear page, not an error.
        for bad, says in (
            ("../../etc/passwd", "not valid"),
            ("%3Cscript%3Ealert(1)%3C/script%3E", "not valid"),
            (secrets.token_urlsafe(24), "No shared result has this id"),
        ):
            gone.goto(f"{url}?result={bad}", wait_until="load")
            expect(gone.get_by_text(says, exact=False)).to_be_visible(timeout=30_000)
            expect(gone.locator(".toast-body")).to_have_count(0)
        gone.screenshot(path=SCREENSHOTS / "23-shared-unknown.png", full_page=True)
    visitor.close()
