"""Issue 23 ("Second visit") in headless Chromium: where input problems, Chat's messages and
Stop's word land, Clear history and the token row; and the smaller things of its item 7.

One app for the module, launched in this process as app.py serves it with no token (the
built-in simulator, whose knobs the tests turn through `app.ctx.simulator`). Every page is a new
visitor (its own browser context). Tests wait on the page's states, never on time.
"""

# ruff: noqa: F811  (tests take the imported `browser` fixture as an argument)

from __future__ import annotations

import functools
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from launched import LaunchedApp
from PIL import Image
from test_browser import (
    SCREENSHOTS,
    browser,  # noqa: F401  (its Chromium, as a fixture)
)

from neurolink_ui.config import Settings

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
# Where the screenshots go (SECOND_VISIT_SHOTS=/tmp/shots-second-visit to look at them apart).
SHOTS = Path(os.environ.get("SECOND_VISIT_SHOTS") or SCREENSHOTS / "second-visit")

# A control of the shown panel under Gradio's progress overlay (an event writing it is under way).
BUSY = """() => [...document.querySelectorAll('[role=tabpanel] .wrap.full, [role=tabpanel] .wrap.minimal')]
    .some(w => w.offsetParent && !w.classList.contains('hide'))"""
# Records whether the overlay has shown since: an event so quick that it is over before a poll
# would have seen it still counts as under way once, then over.
WATCH = f"""() => {{
    window.__nlBusy = false;
    window.__nlWatch?.disconnect();
    window.__nlWatch = new MutationObserver(() => {{ if (({BUSY})()) window.__nlBusy = true; }});
    window.__nlWatch.observe(document.body, {{subtree: true, childList: true, attributes: true}});
}}"""
SEEN_AND_OVER = f"() => window.__nlBusy && !({BUSY})()"


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaunchedApp]:
    launched = LaunchedApp(Settings.from_env(), tmp_path_factory.mktemp("outputs"))
    assert launched.ctx.simulator is not None  # no token: the built-in simulator serves
    yield launched
    launched.close()


@pytest.fixture
def sim(app: LaunchedApp) -> Iterator[Any]:
    simulator = app.ctx.simulator
    simulator.reset()
    yield simulator
    simulator.reset()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("inputs")
    fake = folder / "fake.png"
    fake.write_text("this is a text file, not a picture\n")
    photo = folder / "photo.png"
    Image.new("RGB", (64, 48), (200, 80, 40)).save(photo)
    return {"fake": fake, "photo": photo}


class Visit:
    """One visitor's page (a browser context of its own), collecting page errors."""

    def __init__(self, browser, url: str, viewport: dict[str, int] = DESKTOP) -> None:  # type: ignore[no-untyped-def]
        from playwright.sync_api import expect

        self.errors: list[str] = []
        self.page = browser.new_page(viewport=viewport)
        self.page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))
        self.page.goto(url, wait_until="load")
        expect(self.page.get_by_role("tab", name="🕘 History")).to_be_visible(timeout=30_000)

    @property
    def panel(self):  # type: ignore[no-untyped-def]
        return self.page.locator("[role=tabpanel]").filter(visible=True).first

    def tab(self, name: str) -> None:
        from playwright.sync_api import expect

        tab = self.page.get_by_role("tab", name=name)
        tab.click()
        expect(tab).to_have_attribute("aria-selected", "true")

    def button(self, name: str):  # type: ignore[no-untyped-def]
        return self.page.get_by_role("button", name=name, exact=True).filter(visible=True).first

    def box(self, label: str):  # type: ignore[no-untyped-def]
        return self.page.get_by_role("textbox", name=label, exact=True).filter(visible=True).first

    def text(self, text: str | re.Pattern[str]):  # type: ignore[no-untyped-def]
        return self.page.get_by_text(text).filter(visible=True)

    def status(self, index: int = 0):  # type: ignore[no-untyped-def]
        """The shown panel's status (Explore's run status is its second)."""
        return self.panel.locator(".block.nl-status").filter(visible=True).nth(index)

    @property
    def toasts(self):  # type: ignore[no-untyped-def]
        return self.page.locator(".toast-body")

    @property
    def badges(self):  # type: ignore[no-untyped-def]
        """Gradio's red "Error" pill, drawn over every output of an event that raised."""
        return self.page.get_by_text("Error", exact=True).filter(visible=True)

    def upload(self, path: Path, index: int = 0) -> None:
        self.panel.locator("input[type=file]").nth(index).set_input_files(path)

    def watch(self) -> None:
        """Before a click: from now, note when an event of the panel is under way."""
        self.page.evaluate(WATCH)

    def settled_event(self) -> None:
        """After the click: until the event noted by `watch` has run and its update landed."""
        self.page.wait_for_function(SEEN_AND_OVER, timeout=30_000)

    def shot(self, name: str, full_page: bool = False) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=SHOTS / f"{name}.png", full_page=full_page)

    def scroll_y(self) -> float:
        return float(self.page.evaluate("scrollY"))

    def close(self) -> None:
        self.page.context.close()
        assert self.errors == [], self.errors


def _generate_image(visit: Visit, prompt: str = "a red fox in the snow") -> None:
    from playwright.sync_api import expect

    visit.tab("🖼️ Image")
    visit.box("Prompt").fill(prompt)
    visit.button("Generate").click()
    expect(visit.status()).to_contain_text("Done with", timeout=60_000)
    expect(visit.panel.locator("button.thumbnail-item img").first).to_be_visible()


def _refused(visit: Visit, run: str, says: str, gallery: Any | None = None) -> None:  # type: ignore[no-untyped-def]
    """Run pressed with a bad input: the problem is said once, in the panel's status, and
    nothing else changes (no toast, no Error pill, the earlier `gallery`; with one, the scroll
    position too: an Error pill over it made the page jump)."""
    from playwright.sync_api import expect

    button = visit.button(run)
    button.scroll_into_view_if_needed()
    y = visit.scroll_y()
    button.click()
    expect(visit.text(says)).to_have_count(1, timeout=30_000)
    statuses = visit.panel.locator(".block.nl-status").filter(visible=True)
    expect(statuses.filter(has_text=says)).to_have_count(1)
    expect(visit.toasts).to_have_count(0)
    expect(visit.badges).to_have_count(0)
    if gallery is not None:
        expect(gallery).to_be_visible()
        assert abs(visit.scroll_y() - y) < 8  # the page did not jump


# ---- item 1: every input problem in the panel's status, the earlier result kept -------------


def test_a_bad_seed_or_upload_on_image_is_said_in_the_status_and_the_images_stay(
    app: LaunchedApp, browser, files: dict[str, Path], capfd: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    visit = Visit(browser, app.url)
    _generate_image(visit)
    image = visit.panel.locator("button.thumbnail-item img").first
    seed = visit.page.get_by_label("Seed (-1 = random)").filter(visible=True).first

    seed.fill("123456789012345678901234567890")
    _refused(visit, "Generate", "The seed (-1 = random) is too large", image)
    visit.shot("item1-image-seed-30-digits")
    seed.fill("-5")
    _refused(visit, "Generate", "Seed (-1 = random) must be at least -1 (got -5).", image)
    visit.shot("item1-image-seed-minus-5")
    seed.fill("-1")
    visit.upload(files["fake"])
    _refused(visit, "Generate", "fake.png is not an image we can read", image)
    expect(visit.text("Done with")).to_have_count(0)  # no stale ✅ Done under the refusal
    visit.shot("item1-image-fake-png")
    visit.close()
    assert "Traceback" not in capfd.readouterr().err  # a refusal is one log line


def test_an_upload_that_is_not_an_image_is_said_in_each_panels_status(
    app: LaunchedApp, browser, files: dict[str, Path]
) -> None:  # type: ignore[no-untyped-def]
    visit = Visit(browser, app.url)
    for tab, run in (("🎬 Video", "Generate video"), ("🗣️ Avatar", "Animate")):
        visit.tab(tab)
        if tab == "🎬 Video":
            visit.box("Prompt").fill("a slow pan")
        visit.upload(files["fake"])
        _refused(visit, run, "fake.png is not an image we can read")
    visit.tab("💬 Chat")
    visit.page.get_by_text("🖼️ Attach an image").click()
    visit.upload(files["fake"])
    visit.box("Message").fill("What is in this picture?")
    _refused(visit, "Send", "fake.png is not an image we can read")
    visit.shot("item1-chat-fake-png")
    visit.close()


def test_compare_says_a_bad_seed_or_upload_once_and_keeps_its_cells(
    app: LaunchedApp, browser, files: dict[str, Path]
) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    visit = Visit(browser, app.url)
    visit.tab("🆚 Compare")
    visit.box("Prompt (the same for every model)").fill("a lighthouse at dusk")
    visit.button("Compare").click()
    cells = visit.page.locator("#nl-compare-0, #nl-compare-1, #nl-compare-2")
    expect(cells.filter(has_text="Done with")).to_have_count(3, timeout=60_000)
    images = cells.locator("button.thumbnail-item img")
    expect(images).to_have_count(3)
    seed = visit.page.get_by_label("Seed (-1 = random)").filter(visible=True).first
    seed.fill("-5")
    _refused(visit, "Compare", "Seed (-1 = random) must be at least -1 (got -5).")
    seed.fill("-1")
    visit.upload(files["fake"])
    _refused(visit, "Compare", "fake.png is not an image we can read")
    # Nothing of the finished compare was touched, and no cell ran again.
    expect(cells.filter(has_text="Done with")).to_have_count(3)
    expect(images).to_have_count(3)
    visit.shot("item1-compare-refused-cells-kept", full_page=True)
    visit.close()


def test_explore_says_a_form_value_the_model_cannot_take_in_its_status(
    app: LaunchedApp, browser
) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    visit = Visit(browser, app.url)
    visit.tab("🧭 Explore")
    visit.box("Model").fill("openai/gpt-5-mini")
    visit.button("Open").click()
    expect(visit.page.get_by_role("heading", name="openai/gpt-5-mini", level=3)).to_be_visible(
        timeout=30_000
    )
    visit.button("Run").click()  # its default example
    expect(visit.status(1)).to_contain_text("Done with", timeout=60_000)
    answer = (  # the Text output (its label holds a Copy button too)
        visit.panel.locator("label").filter(has=visit.page.get_by_text("Text", exact=True))
    ).locator("textarea")
    said = answer.input_value()
    assert said
    messages = visit.page.get_by_role("textbox", name=re.compile(r"^Messages"))
    messages.filter(visible=True).first.fill("[not json")  # a keystroke's change: no toast
    sent = visit.panel.locator(".cm-content").filter(has_text='"messages"').first
    expect(sent).to_contain_text("[not json")  # the JSON shows what would be sent
    expect(visit.toasts).to_have_count(0)
    _refused(visit, "Run", "messages must be a list")
    expect(answer).to_have_value(said)  # the earlier answer stays
    visit.shot("item1-explore-bad-json-field")
    visit.close()


# ---- item 3: Chat's messages by the message box; the box empties; a reload keeps the chat ---


def _below(upper, lower) -> float:  # type: ignore[no-untyped-def]
    """How far `lower`'s top is below `upper`'s bottom, in px."""
    top, bottom = upper.bounding_box(), lower.bounding_box()
    assert top and bottom
    return bottom["y"] - (top["y"] + top["height"])


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_chat_says_what_is_wrong_by_the_message_box(app: LaunchedApp, browser, viewport) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    visit = Visit(browser, app.url, viewport)
    device = "desktop" if viewport is DESKTOP else "phone"
    visit.button("Send").click()  # nothing typed
    problem = visit.text("❌ Type a message first.")
    expect(problem).to_have_count(1, timeout=15_000)
    message = visit.box("Message")
    # Just under the message box (and its Send/Stop row), above Retry and Clear.
    send_row = visit.button("Stop")
    assert 0 <= _below(message, problem) < 120
    assert 0 <= _below(send_row, problem) < 120
    assert _below(problem, visit.button("↻ Retry")) > 0
    if viewport is DESKTOP:
        box = problem.bounding_box()
        assert box and box["y"] + box["height"] <= DESKTOP["height"]  # on the first screen
    expect(visit.toasts).to_have_count(0)
    visit.shot(f"item3-chat-empty-message-{device}")
    visit.close()


def test_chat_empties_the_box_on_send_and_says_answering_and_stopped_there(
    app: LaunchedApp, browser, sim
) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    visit = Visit(browser, app.url)
    sim.config.token_interval = 0.05  # an answer that streams for a while
    message = visit.box("Message")
    message.fill("Tell me everything about tides")
    visit.button("Send").click()
    status = visit.status()
    # While the answer streams, the box is empty and "Answering" shows by it, on screen.
    visit.page.wait_for_function(
        "([box, said]) => box.value === '' && said.innerText.includes('Answering')",
        arg=[message.element_handle(), status.element_handle()],
        timeout=30_000,
    )
    expect(
        visit.page.locator(".user").filter(has_text="Tell me everything about tides")
    ).to_have_count(1)
    box = status.bounding_box()
    assert box and box["y"] + box["height"] <= DESKTOP["height"]
    assert 0 <= _below(message, status) < 120
    visit.shot("item3-chat-answering-box-empty")
    visit.button("Stop").click()
    expect(status).to_contain_text("Stopped", timeout=15_000)
    assert 0 <= _below(message, status) < 120
    visit.shot("item3-chat-stopped-by-the-box")
    visit.close()


def test_chat_shows_the_conversation_again_after_a_reload(app: LaunchedApp, browser) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    visit = Visit(browser, app.url)
    page = visit.page
    for index, question in enumerate(("What makes a good espresso?", "And a good grinder?"), 1):
        visit.box("Message").fill(question)
        visit.button("Send").click()
        expect(page.get_by_text("⏱")).to_have_count(index, timeout=30_000)
    answers = page.locator(".bot").filter(visible=True).all_inner_texts()
    page.reload(wait_until="load")
    expect(page.get_by_role("tab", name="🕘 History")).to_be_visible(timeout=30_000)
    users = page.locator(".user").filter(visible=True)
    expect(users).to_have_text(
        ["What makes a good espresso?", "And a good grinder?"], timeout=30_000
    )
    expect(page.locator(".bot").filter(visible=True)).to_have_text(answers)
    visit.shot("item3-chat-after-reload")
    # The conversation goes on from there; Clear ends it, for the next reload too.
    visit.box("Message").fill("Thanks!")
    visit.button("Send").click()
    expect(page.get_by_text("⏱")).to_have_count(3, timeout=30_000)
    visit.button("🗑 Clear").click()
    expect(users).to_have_count(0)
    page.reload(wait_until="load")
    expect(page.get_by_role("tab", name="🕘 History")).to_be_visible(timeout=30_000)
    visit.tab("🕘 History")  # the page's loads have run: History lists the three turns
    expect(visit.text("3 generations in this browser's History.")).to_be_visible(timeout=30_000)
    visit.tab("💬 Chat")
    expect(users).to_have_count(0)
    visit.close()


# ---- item 6: Stop when nothing runs, Clear history, the token row ---------------------------


def _stop_changes_nothing(visit: Visit, status, stop) -> None:  # type: ignore[no-untyped-def]
    """Stop pressed after the run ended: its status, with its prediction id and seed, stays."""
    from playwright.sync_api import expect

    before = status.inner_text()
    assert "Prediction" in before
    visit.watch()
    stop.click()
    visit.settled_event()
    expect(status).to_have_text(before)
    expect(visit.text("had not started a prediction")).to_have_count(0)


def test_stop_after_a_run_has_finished_keeps_its_status(app: LaunchedApp, browser) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    visit = Visit(browser, app.url)
    visit.box("Message").fill("What makes a good espresso?")
    visit.button("Send").click()
    expect(visit.status()).to_contain_text("Done with", timeout=30_000)
    _stop_changes_nothing(visit, visit.status(), visit.button("Stop"))

    _generate_image(visit)
    expect(visit.status()).to_contain_text("seed")
    _stop_changes_nothing(visit, visit.status(), visit.button("Stop"))
    visit.shot("item6-image-stop-after-done")

    visit.tab("🆚 Compare")
    visit.box("Prompt (the same for every model)").fill("a lighthouse at dusk")
    visit.button("Compare").click()
    cell = visit.page.locator("#nl-compare-0")
    cell_status = cell.locator(".block.nl-status")
    expect(cell_status).to_contain_text("Done with", timeout=60_000)
    _stop_changes_nothing(visit, cell_status, cell.get_by_role("button", name="Stop"))
    visit.shot("item6-compare-cell-stop-after-done", full_page=True)
    visit.close()


def test_clear_history_asks_first(app: LaunchedApp, browser) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    visit = Visit(browser, app.url)
    visit.box("Message").fill("What makes a good espresso?")
    visit.button("Send").click()
    expect(visit.status()).to_contain_text("Done with", timeout=30_000)
    visit.tab("🕘 History")
    expect(visit.text("1 generation in this browser's History.")).to_be_visible(timeout=30_000)
    visit.button("Clear history").click()
    expect(visit.text("Delete all 1 generation from this browser's History?")).to_be_visible()
    visit.shot("item6-clear-history-asks")
    visit.button("Cancel").click()
    expect(visit.text("Delete all 1 generation")).to_have_count(0)
    expect(visit.text("1 generation in this browser's History.")).to_be_visible()
    visit.button("Clear history").click()
    visit.button("Yes, delete them").click()
    expect(visit.text("Nothing yet")).to_be_visible(timeout=15_000)
    visit.close()


def test_history_is_drawn_when_open_not_after_every_run_elsewhere(
    app: LaunchedApp, browser, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """Each drawing of History builds all its cards (server CPU per card, and the page's work):
    a run that ends while another tab is open does not redraw it; opening it does, and so does a
    Delete while it is open. Leaving it draws a placeholder, so cards made stale by later runs
    are never shown, or clicked, while it opens again."""
    from playwright.sync_api import expect

    render = next(
        fn.renderable
        for fn in app.demo.fns.values()
        if fn.renderable is not None and fn.renderable.fn.__name__ == "render_history"
    )
    drawn: list[bool] = []  # True: the cards; False: the placeholder
    draw = render.fn

    @functools.wraps(draw)  # its signature: Gradio hands it the request by its annotation
    def counted(log: Any, is_open: Any, *args: Any, **kwargs: Any) -> Any:
        drawn.append(bool(is_open))
        return draw(log, is_open, *args, **kwargs)

    monkeypatch.setattr(render, "fn", counted)
    visit = Visit(browser, app.url)
    deletes = visit.page.get_by_role("button", name="🗑️ Delete").filter(visible=True)
    # The page's count of generations (hidden): its step follows the run's end, so a tab opened
    # before it lands is open when it does (and is redrawn, rightly).
    counted_runs = visit.page.get_by_label("Generations", exact=True)
    for count, message in enumerate(("Name a colour", "Name a fruit"), 1):
        visit.box("Message").fill(message)
        visit.button("Send").click()
        expect(visit.status()).to_contain_text("Done with", timeout=30_000)
        expect(counted_runs).to_have_value(str(count), timeout=15_000)
    visit.tab("🕘 History")
    expect(visit.text("2 generations in this browser's History.")).to_be_visible(timeout=30_000)
    assert drawn == [True]  # two runs with History closed drew nothing; opening it drew once
    visit.tab("💬 Chat")
    visit.box("Message").fill("Name a river")
    visit.button("Send").click()
    expect(visit.status()).to_contain_text("Done with", timeout=30_000)
    expect(counted_runs).to_have_value("3", timeout=15_000)
    visit.tab("🕘 History")
    expect(visit.text("3 generations in this browser's History.")).to_be_visible(timeout=30_000)
    assert drawn == [True, False, True]  # left: the placeholder; the run: nothing; opened: cards
    expect(deletes).to_have_count(3)
    deletes.first.click()
    expect(visit.text("2 generations in this browser's History.")).to_be_visible(timeout=30_000)
    expect(deletes).to_have_count(2)
    assert drawn == [True, False, True, True]  # open: a Delete redraws it
    visit.close()


def test_a_pasted_token_is_checked_for_shape_first_and_answered_in_the_token_row(
    app: LaunchedApp, browser, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    asked: list[str] = []
    account = app.ctx.client.get_account

    async def counted(*args: Any, **kwargs: Any) -> Any:
        asked.append("account")
        return await account(*args, **kwargs)

    monkeypatch.setattr(app.ctx.client, "get_account", counted)
    visit = Visit(browser, app.url)
    visit.page.get_by_role("button", name="🔑 Your Replicate token").click()
    field = visit.page.get_by_label("Replicate API token")
    row = visit.page.locator(".nl-token")
    for pasted, says in (
        ("abc", "That is not a Replicate API token: they start with r8_"),
        ("r8_abc123", "they are 40 characters"),
    ):
        field.fill(pasted)
        visit.button("Use token").click()
        expect(row.get_by_text(says)).to_be_visible(timeout=15_000)
        expect(visit.toasts).to_have_count(0)
    visit.shot("item6-token-shape")
    assert asked == []  # nothing went to the network
    visit.close()


def test_a_page_load_answered_late_never_wipes_the_token_rows_answer(
    app: LaunchedApp, browser, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """On a busy server the page load's restore of a remembered token can be answered after the
    person has already pasted one: with nothing remembered it changes nothing (it used to write
    the signed-out state over the row's answer, and over a session just signed in)."""
    import asyncio
    import threading

    from playwright.sync_api import expect

    (load,) = [
        fn
        for fn in app.demo.fns.values()
        if getattr(fn.fn, "__qualname__", "") == "make_session_handlers.<locals>.restore"
        and fn.targets[0][1] == "load"
    ]
    release, answered = threading.Event(), threading.Event()
    sessions: list[str] = []  # the page's session (the load's request says which)
    restore = load.fn

    @functools.wraps(restore)
    async def late(*args: Any, **kwargs: Any) -> Any:
        request = kwargs.get("request") or next(
            (a for a in args if hasattr(a, "session_hash")), None
        )
        sessions.append(str(getattr(request, "session_hash", "")))
        await asyncio.to_thread(release.wait, 30)  # held until the person has had their answer
        try:
            return await restore(*args, **kwargs)
        finally:
            answered.set()

    monkeypatch.setattr(load, "fn", late)
    visit = Visit(browser, app.url)
    visit.page.get_by_role("button", name="🔑 Your Replicate token").click()
    visit.page.get_by_label("Replicate API token").fill("abc")
    visit.button("Use token").click()
    said = visit.page.locator(".nl-token").get_by_text("That is not a Replicate API token")
    expect(said).to_be_visible(timeout=15_000)
    release.set()
    assert answered.wait(15)
    # The load's answer has left the server (this page's session's outbox is empty: earlier
    # pages' sessions may hold messages no one reads any more) and the page has drawn two frames
    # since: what it wrote, it has written.
    (session,) = sessions
    outbox = app.demo._queue.pending_messages_per_session.get(session)
    deadline = time.monotonic() + 30
    while outbox is not None and not outbox.empty():
        assert time.monotonic() < deadline, "the load's answer never left the server"
        time.sleep(0.02)
    visit.page.evaluate(
        "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))"
    )
    expect(said).to_be_visible(timeout=1)
    visit.close()


# ---- item 7: smaller things ------------------------------------------------------------------

# Every text the shown panel's first status has held since (a status shown for a moment counts).
RECORD_STATUS = """(status) => {
    window.__nlSaid = [];
    window.__nlSays?.disconnect();
    const note = () => window.__nlSaid.push(status.innerText);
    window.__nlSays = new MutationObserver(note);
    window.__nlSays.observe(status, {subtree: true, childList: true, characterData: true});
}"""


def test_one_cold_boot_wording_from_the_one_rule(app: LaunchedApp, browser, sim) -> None:  # type: ignore[no-untyped-def]
    """A start of a fraction of a second is no cold boot while it runs nor once it is done (as
    Compare says it: warm); a start past the rule's 2 s is a cold boot, said as it happens."""
    from playwright.sync_api import expect

    visit = Visit(browser, app.url)
    visit.tab("🖼️ Image")
    status = visit.status()
    status.evaluate(RECORD_STATUS)
    visit.box("Prompt").fill("a red fox in the snow")
    visit.button("Generate").click()
    expect(status).to_contain_text("Done with", timeout=60_000)
    said = visit.page.evaluate("window.__nlSaid")
    assert not [text for text in said if "Cold boot" in text], said
    assert [text for text in said if "Starting" in text or "Running" in text], said  # progress
    expect(status).to_contain_text("🔥 warm (")

    sim.config.cold_start = 300  # booting until the test has seen it (end_cold_starts)
    visit.button("Generate").click()
    expect(status).to_contain_text("Cold boot", timeout=30_000)
    visit.shot("item7-cold-boot-past-the-rule")
    assert sim.end_cold_starts() == 1
    expect(status).to_contain_text("🧊 cold boot (", timeout=30_000)
    visit.shot("item7-done-after-a-cold-boot")
    visit.close()


def test_open_in_the_image_panel_keeps_the_prompt_typed_in_explore(
    app: LaunchedApp, browser
) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    visit = Visit(browser, app.url)
    visit.tab("🧭 Explore")
    visit.box("Model").fill("black-forest-labs/flux-schnell")
    visit.button("Open").click()
    heading = visit.page.get_by_role("heading", name="black-forest-labs/flux-schnell", level=3)
    expect(heading).to_be_visible(timeout=30_000)
    prompt = visit.page.get_by_role("textbox", name=re.compile(r"^Prompt")).filter(visible=True)
    prompt.first.fill("a paper boat on a pond at dawn")
    sent = visit.panel.locator(".cm-content").filter(has_text="paper boat").first
    expect(sent).to_be_visible()  # the form's change reached the input JSON
    visit.button("Open in the 🖼️ Image panel").click()
    expect(visit.page.get_by_role("tab", name="🖼️ Image")).to_have_attribute("aria-selected", "true")
    expect(visit.box("Prompt")).to_have_value("a paper boat on a pond at dawn")
    expect(visit.page.get_by_label("Model").filter(visible=True).first).to_have_value(
        "black-forest-labs/flux-schnell"
    )
    visit.shot("item7-open-in-image-keeps-prompt")
    visit.close()


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_the_seed_box_shows_what_was_typed_and_refuses_a_fraction(
    app: LaunchedApp, browser, viewport
) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    visit = Visit(browser, app.url, viewport)
    device = "desktop" if viewport is DESKTOP else "phone"
    visit.tab("🖼️ Image")
    seed = visit.page.get_by_label("Seed (-1 = random)").filter(visible=True).first
    seed.fill("123456789012345678901234567890")
    seed.press("Tab")
    expect(seed).to_have_value("123456789012345678901234567890")
    width, shown = seed.evaluate("e => [e.scrollWidth, e.clientWidth]")
    assert width <= shown, "the box cuts the number"
    seed.scroll_into_view_if_needed()
    visit.shot(f"item7-seed-30-digits-whole-{device}")
    if viewport is DESKTOP:
        visit.box("Prompt").fill("a red fox in the snow")
        seed.fill("12.7")
        _refused(visit, "Generate", "Seed (-1 = random) must be a whole number (got 12.7).")
    visit.close()


def test_an_input_image_the_model_cannot_take_is_a_warning_not_a_plain_done(
    app: LaunchedApp, browser, files: dict[str, Path]
) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    visit = Visit(browser, app.url)
    visit.tab("🖼️ Image")
    picker = visit.page.get_by_label("Model").filter(visible=True).first
    picker.fill("black-forest-labs/flux-schnell")  # text-to-image only
    picker.press("Enter")
    visit.box("Prompt").fill("a red fox in the snow")
    visit.upload(files["photo"])
    expect(visit.panel.locator("img").first).to_be_visible(timeout=15_000)
    visit.button("Generate").click()
    status = visit.status()
    expect(status).to_contain_text("Done with", timeout=60_000)
    expect(status).to_contain_text("with a warning")
    expect(status).to_contain_text("your input image was NOT sent")
    expect(status).not_to_contain_text("✅")
    visit.shot("item7-image-not-sent-warning")
    visit.close()
