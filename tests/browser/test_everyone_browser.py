"""Issue 23 in headless Chromium, the rest: a page everyone can use (axe-core finds nothing
critical or serious; every panel runs and stops from the keyboard, focus visible), whole
pictures in Compare, Explore and the shared view, Explore's file fields (upload or URL).

One app for the module (no token: the built-in simulator), one Chromium (test_browser's);
every page is a new visitor. axe-core comes with `axe-playwright-python` (no download at run
time). Tests wait on the page's states, never on time.
"""

# ruff: noqa: F811  (tests take the imported `browser` fixture as an argument)

from __future__ import annotations

import json
import re
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from launched import LaunchedApp
from PIL import Image
from test_browser import browser  # noqa: F401  (its Chromium, as a fixture)
from test_second_visit import SHOTS, Visit

from neurolink_ui.config import Settings
from neurolink_ui.results import NewResult, new_history_id

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# What axe checks: WCAG 2.1 A and AA.
AXE_OPTIONS = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}
TABS = ("💬 Chat", "🖼️ Image", "🎬 Video", "🗣️ Avatar", "🎵 Music", "🆚 Compare", "🧭 Explore")


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
    simulator.end_cold_starts()
    simulator.reset()


@pytest.fixture(scope="module")
def pictures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("pictures")
    made = {}
    for name, size, colour in (
        ("wide", (640, 360), (30, 90, 200)),
        ("tall", (300, 600), (200, 60, 40)),
        ("square", (512, 512), (40, 160, 80)),
        ("photo", (64, 48), (200, 80, 40)),
    ):
        made[name] = folder / f"{name}.png"
        Image.new("RGB", size, colour).save(made[name])
    made["speech"] = folder / "speech.wav"  # half a second of silence
    with wave.open(str(made["speech"]), "wb") as speech:
        speech.setnchannels(1)
        speech.setsampwidth(2)
        speech.setframerate(16_000)
        speech.writeframes(b"\0\0" * 8_000)
    return made


# ---- item 8: axe-core, the keyboard, focus ---------------------------------------------------


def _axe(
    visit: Visit, where: str, report: dict[str, dict[str, int]], whole: bool = False
) -> list[str]:
    """axe-core's violations in the shown panel (`whole`: the whole page, header included),
    counted by impact into `report[where]`; the critical and serious ones as lines to show.
    (A panel alone: axe's walk over every panel already visited is what takes the time.)"""
    from axe_playwright_python.sync_playwright import Axe

    context = None
    if not whole:
        visit.page.evaluate("document.querySelector('[data-axe]')?.removeAttribute('data-axe')")
        visit.panel.evaluate("p => p.setAttribute('data-axe', '')")
        context = "[data-axe]"
    found = Axe().run(visit.page, context=context, options=AXE_OPTIONS).response["violations"]
    counts = {"critical": 0, "serious": 0, "moderate": 0, "minor": 0}
    bad = []
    for violation in found:
        counts[violation["impact"]] = counts.get(violation["impact"], 0) + len(violation["nodes"])
        if violation["impact"] in ("critical", "serious"):
            for node in violation["nodes"][:5]:
                bad.append(f"{where}: {violation['id']}: {node['html'][:160]}")
    report[where] = counts
    return bad


# A tab is drawn when first opened (ui/on_demand.py): its run button is there, and the page's
# script has marked what it marks once a frame after a change (the status's live region, the
# empty outputs' role). What axe should judge is the tab as it stands after that.
DRAWN = """(panel) => !!panel.querySelector('button.primary')
    && !document.querySelector('div.empty[aria-label]:not([role]), .block.nl-status:not([role])')"""


def drawn(visit: Visit) -> None:
    handle = visit.panel.element_handle()
    visit.page.wait_for_function(DRAWN, arg=handle, polling="raf", timeout=30_000)


def _shared_link(app: LaunchedApp, files: list[Path], labels: tuple[str, ...], prompt: str) -> str:
    history = new_history_id()
    kept = app.ctx.results.add(
        history,
        NewResult(
            kind="compare" if labels else "image",
            model="black-forest-labs/flux-schnell",
            prompt=prompt,
            input={"prompt": prompt},
            files=tuple(files),
            file_labels=labels,
            simulated=True,
        ),
    )
    share = app.ctx.results.share(history, kept.id)
    assert share
    return f"{app.url}?result={share}"


def test_axe_finds_nothing_critical_or_serious_on_any_tab_after_a_run_or_shared(
    app: LaunchedApp, browser, pictures: dict[str, Path]
) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    report: dict[str, dict[str, int]] = {}
    bad: list[str] = []
    visit = Visit(browser, app.url)
    for tab in (*TABS, "🕘 History"):
        visit.tab(tab)
        expect(visit.panel).to_be_visible()
        if tab in TABS:
            drawn(visit)
        bad += _axe(visit, tab, report, whole=tab == TABS[0])
    visit.tab("🖼️ Image")
    prompt = "a red fox asleep in fresh snow"
    visit.box("Prompt").fill(prompt)
    visit.button("Generate").click()
    status = visit.status()
    expect(status).to_contain_text("Done with", timeout=60_000)
    # The picture says what it shows; the status is a live region, announced as it changes.
    expect(visit.panel.locator("button.thumbnail-item img").first).to_have_attribute("alt", prompt)
    expect(status).to_have_attribute("role", "status")
    bad += _axe(visit, "🖼️ Image, after a run", report)
    visit.tab("💬 Chat")
    visit.box("Message").fill("Hello there")
    visit.button("Send").click()
    expect(visit.status()).to_contain_text("Done with", timeout=60_000)
    bad += _axe(visit, "💬 Chat, after a run", report)
    visit.close()

    link = _shared_link(app, [pictures["wide"]], (), "a harbour at dawn")
    shared = Visit(browser, link)
    expect(shared.page.get_by_text("Shared image result")).to_be_visible(timeout=30_000)
    expect(shared.page.locator(".nl-gallery img").first).to_have_attribute(
        "alt", "a harbour at dawn"
    )
    bad += _axe(shared, "🔗 Shared result", report, whole=True)
    shared.close()
    SHOTS.mkdir(parents=True, exist_ok=True)
    (SHOTS / "axe-report.json").write_text(json.dumps(report, indent=1, ensure_ascii=False))
    print("axe violations (nodes) by impact:", json.dumps(report, ensure_ascii=False))
    assert bad == [], "\n".join(bad)


FOCUS_SHOWN = """(e) => { const s = getComputedStyle(e);
    return s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2; }"""


def _tab_to(visit: Visit, button, limit: int = 60) -> None:  # type: ignore[no-untyped-def]
    """Tab (forwards) until `button` has the focus, which it shows."""
    for _ in range(limit):
        if button.evaluate("e => e === document.activeElement"):
            assert button.evaluate(FOCUS_SHOWN), "the focus is not visible"
            return
        visit.page.keyboard.press("Tab")
    raise AssertionError("the keyboard never reached the button")


# Each panel: (tab, the box typed in, what is typed, its run button, files it needs).
KEYBOARD_RUNS = (
    ("💬 Chat", "Message", "Tell me about tides", "Send", ()),
    ("🖼️ Image", "Prompt", "a red fox", "Generate", ()),
    ("🎬 Video", "Prompt", "a slow pan over hills", "Generate video", ("photo",)),
    ("🗣️ Avatar", None, None, "Animate", ("photo", "speech")),
    ("🎵 Music", "Prompt", "a calm piano piece", "Compose", ()),
    ("🆚 Compare", "Prompt (the same for every model)", "a lighthouse", "Compare", ()),
)


@pytest.mark.parametrize(
    "panels",
    [KEYBOARD_RUNS[:3], KEYBOARD_RUNS[3:]],
    ids=["chat-image-video", "avatar-music-compare"],
)
def test_each_panel_runs_and_stops_from_the_keyboard_with_focus_shown(
    app: LaunchedApp, browser, sim, pictures: dict[str, Path], panels: tuple[Any, ...]
) -> None:  # type: ignore[no-untyped-def]
    """From the panel's first field, Tab reaches its run button (its focus shown), Enter runs
    it; Tab on reaches Stop, Enter stops it. (Files are given as a file chooser would.)"""
    from playwright.sync_api import expect

    sim.config.cold_start = 300  # each run held in "starting" until Stop ends it
    visit = Visit(browser, app.url)
    for tab, field, text, run, files in panels:
        visit.tab(tab)
        for index, name in enumerate(files):
            visit.upload(pictures[name], index)
        start = visit.box(field) if field else visit.panel.locator("button").first
        start.focus()
        if text:
            visit.page.keyboard.type(text)
        _tab_to(visit, visit.button(run))
        visit.page.keyboard.press("Enter")
        said = visit.panel.locator(".nl-status").filter(has_text="Cold boot").first
        expect(said).to_be_visible(timeout=30_000)
        _tab_to(visit, visit.button("Stop"))
        visit.page.keyboard.press("Enter")
        stopped = visit.panel.locator(".nl-status").filter(has_text="Stopped").first
        expect(stopped).to_be_visible(timeout=30_000)
    visit.close()


# ---- item 5: whole pictures ------------------------------------------------------------------

# Each shown picture in `root`'s galleries: inside its gallery's block, at its own aspect ratio,
# no larger than its pixels, and not under a caption.
PICTURES = """(root) => [...root.querySelectorAll('.grid-wrap img')].filter(i => i.offsetParent)
    .map(img => {
        const box = img.getBoundingClientRect();
        const wrap = img.closest('.block').getBoundingClientRect();  // the box that clips
        const label = img.closest('.thumbnail-item').querySelector('.caption-label');
        const cap = label && label.offsetParent ? label.getBoundingClientRect() : null;
        return {
            natural: [img.naturalWidth, img.naturalHeight],
            shown: [Math.round(box.width), Math.round(box.height)],
            inside: box.top >= wrap.top - 1 && box.bottom <= wrap.bottom + 1
                && box.left >= wrap.left - 1 && box.right <= wrap.right + 1,
            aspect: Math.abs(box.width / box.height - img.naturalWidth / img.naturalHeight) < 0.03,
            not_upscaled: box.width <= img.naturalWidth + 1,
            caption_clear: !cap || cap.top >= box.bottom - 1 || cap.bottom <= box.top + 1,
        };
    })"""


def _whole(root, count: int) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    root.page.wait_for_function(
        f"(root) => ({PICTURES})(root).filter(p => p.natural[0]).length >= {count}",
        arg=root.element_handle(),
        timeout=15_000,
    )
    shown = root.evaluate(PICTURES)
    for picture in shown:
        assert picture["inside"] and picture["aspect"], picture
        assert picture["not_upscaled"] and picture["caption_clear"], picture
    return shown


def test_compare_explore_and_a_shared_comparison_show_pictures_whole(
    app: LaunchedApp, browser, pictures: dict[str, Path]
) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    visit = Visit(browser, app.url)
    visit.tab("🆚 Compare")
    visit.box("Prompt (the same for every model)").fill("a lighthouse at dusk")
    visit.button("Compare").click()
    cells = visit.page.locator("#nl-compare-0, #nl-compare-1, #nl-compare-2")
    expect(cells.filter(has_text="Done with")).to_have_count(3, timeout=60_000)
    _whole(visit.panel, 3)
    visit.shot("item5-compare-whole", full_page=True)

    visit.tab("🧭 Explore")
    visit.box("Model").fill("nightmareai/real-esrgan")
    visit.button("Open").click()
    heading = visit.page.get_by_role("heading", name="nightmareai/real-esrgan", level=3)
    expect(heading).to_be_visible(timeout=30_000)
    visit.button("Run").click()
    expect(visit.panel.get_by_text("Done with")).to_be_visible(timeout=60_000)
    [small] = _whole(visit.panel, 1)
    assert small["shown"][0] <= small["natural"][0]  # a 96×64 output is not blown up
    visit.shot("item5-explore-small-output-whole", full_page=True)
    visit.close()

    files = [pictures["wide"], pictures["tall"], pictures["square"]]
    labels = ("Model A: one/wide", "Model B: two/tall", "Model C: three/square")
    shared = Visit(browser, _shared_link(app, files, labels, "three shapes"))
    expect(shared.page.get_by_role("heading", name="🔗 Shared comparison")).to_be_visible(
        timeout=30_000
    )
    _whole(shared.panel, 3)
    for label in labels:  # each caption shown, below its picture
        expect(shared.panel.locator(".caption-label").filter(has_text=label)).to_be_visible()
    shared.shot("item5-shared-comparison-whole", full_page=True)
    shared.close()


# ---- item 4: Explore's file fields take an upload or a URL -----------------------------------


def test_explore_file_fields_take_an_upload_or_a_url_whatever_the_example(
    app: LaunchedApp, browser, pictures: dict[str, Path]
) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    visit = Visit(browser, app.url)
    visit.tab("🧭 Explore")
    visit.box("Model").fill("nightmareai/real-esrgan")
    visit.button("Open").click()
    heading = visit.page.get_by_role("heading", name="nightmareai/real-esrgan", level=3)
    expect(heading).to_be_visible(timeout=30_000)
    url = visit.page.get_by_label("…or Image as a URL").filter(visible=True).first
    sent = visit.panel.locator(".cm-content").filter(has_text='"image"').first
    # Examples 1 and 2 give the file as a data: URL; 3 names another field (`img`).
    for example in (None, "Example 3", "Example 2", "Example 1"):
        if example:
            visit.watch()
            visit.page.get_by_role("button", name=re.compile(f"^{example}")).click()
            visit.settled_event()
        if example in ("Example 1", "Example 2"):
            expect(url).to_have_value(re.compile(r"^data:"), timeout=15_000)
        # The URL is open to edit, and an upload is offered beside it.
        expect(url).to_be_editable()
        expect(visit.panel.locator("input[type=file]")).to_have_count(1)
    visit.shot("item4-explore-file-field-upload-or-url")
    # A URL typed replaces the example's…
    url.fill("https://example.invalid/cat.png")
    expect(sent).to_contain_text("https://example.invalid/cat.png")
    # …and an upload wins over the URL; the run takes it.
    visit.panel.locator("input[type=file]").set_input_files(pictures["photo"])
    expect(sent).not_to_contain_text("example.invalid", timeout=15_000)
    expect(sent).to_contain_text("photo.png")
    visit.button("Run").click()
    expect(visit.panel.get_by_text("Done with")).to_be_visible(timeout=60_000)
    visit.shot("item4-explore-uploaded-and-ran")
    visit.close()


# ---- item 2: a phone -------------------------------------------------------------------------

PHONE_RUNS = (
    ("💬 Chat", "Send"),
    ("🖼️ Image", "Generate"),
    ("🎬 Video", "Generate video"),
    ("🗣️ Avatar", "Animate"),
    ("🎵 Music", "Compose"),
    ("🆚 Compare", "Compare"),
    ("🧭 Explore", "Run"),
)


def test_on_a_phone_run_buttons_are_on_the_first_screen_and_the_result_comes_into_view(
    app: LaunchedApp, browser, pictures: dict[str, Path]
) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    context = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True,
        has_touch=True,
    )  # fmt: skip
    page = context.new_page()
    page.goto(app.url, wait_until="load")
    expect(page.get_by_role("tab", name="🕘 History")).to_be_visible(timeout=30_000)
    header = page.locator("[role=tabpanel]").filter(visible=True).first.bounding_box()
    assert header and header["y"] < 400  # a compact header (455 px of an 844 px screen before)
    for tab, run in PHONE_RUNS:
        page.get_by_role("tab", name=tab).tap()
        if tab == "🧭 Explore":  # a model whose input JSON holds a long data: URL
            model = page.get_by_role("textbox", name="Model", exact=True).filter(visible=True)
            model.fill("nightmareai/real-esrgan")
            page.get_by_role("button", name="Open", exact=True).filter(visible=True).tap()
            heading = page.get_by_role("heading", name="nightmareai/real-esrgan", level=3)
            expect(heading).to_be_visible(timeout=30_000)
        button = page.get_by_role("button", name=run, exact=True).filter(visible=True).first
        expect(button).to_be_in_viewport()  # on the first screen, nothing scrolled
        assert page.evaluate("document.documentElement.scrollWidth <= innerWidth")  # no wider
        page.screenshot(path=SHOTS / f"item2-phone-{run.replace(' ', '-')}-first-screen.png")
    page.get_by_role("tab", name="🖼️ Image").tap()
    page.get_by_role("textbox", name="Prompt", exact=True).filter(visible=True).fill("a red fox")
    page.get_by_role("button", name="Generate", exact=True).filter(visible=True).tap()
    status = page.locator("[role=tabpanel] .block.nl-status").filter(visible=True).first
    expect(status).to_be_in_viewport(timeout=30_000)  # the status as soon as it changes
    expect(status).to_contain_text("Done with", timeout=60_000)
    picture = page.locator("[role=tabpanel] .nl-gallery img").filter(visible=True).first
    expect(picture).to_be_in_viewport()  # then the output
    page.screenshot(path=SHOTS / "item2-phone-image-after-tap.png")
    # A shared link on a phone starts at its result, not under the header (item 7).
    page.goto(_shared_link(app, [pictures["wide"]], (), "a harbour at dawn"), wait_until="load")
    shared = page.locator("[role=tabpanel] .nl-gallery img").filter(visible=True).first
    expect(shared).to_be_in_viewport(timeout=30_000)
    heading = page.get_by_text("Shared image result").filter(visible=True)
    expect(heading).to_be_in_viewport()
    # The page starts at the result: its heading high on the screen, its picture whole on it.
    page.wait_for_function(
        """([h, img]) => h.getBoundingClientRect().top < 300
            && img.getBoundingClientRect().bottom <= innerHeight""",
        arg=[heading.element_handle(), shared.element_handle()],
        timeout=15_000,
    )
    page.screenshot(path=SHOTS / "item7-phone-shared-result-first.png")
    context.close()


# ---- item 7: the rest of the smaller things --------------------------------------------------


def test_explore_says_what_its_search_covers_and_runs_only_an_open_model_and_auto_is_honest(
    app: LaunchedApp, browser, pictures: dict[str, Path]
) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    from neurolink_ui.catalog import load_catalog

    visit = Visit(browser, app.url)
    visit.tab("🖼️ Image")  # no input image: "Auto" does not claim to follow one
    ratio = visit.page.get_by_label("Aspect ratio").filter(visible=True).first
    expect(ratio).not_to_have_value("Auto (as input image)")
    expect(ratio).to_have_value(re.compile(r"^Auto \(the model's"))
    visit.tab("🎬 Video")  # defaults the default model honours: its own 81 frames and shape
    length = visit.page.get_by_label("number input for Length (seconds)").filter(visible=True)
    expect(length).to_have_value("5")
    shape = visit.page.get_by_label("Aspect ratio").filter(visible=True).first
    expect(shape).to_have_value(re.compile(r"^Auto \(the model's"))
    visit.tab("🗣️ Avatar")  # a picture dropped on Narration: one short sentence
    visit.upload(pictures["photo"], 1)
    said = visit.page.get_by_test_id("toast-text")
    expect(said).to_have_text(
        "photo.png is not an audio file: this box takes audio (mp3, wav, m4a…).", timeout=15_000
    )
    visit.shot("item7-narration-png-short-message")
    visit.tab("🧭 Explore")
    run = visit.button("Run")
    expect(run).to_be_disabled()  # nothing to run before a model is open
    visit.box("Search Replicate's models").fill("whisper")
    visit.button("Search").click()
    covers = f"the search covers the simulator's catalogue of {len(load_catalog())} models"
    expect(visit.text(re.compile(re.escape(covers)))).to_be_visible(timeout=30_000)
    visit.shot("item7-explore-search-says-simulator-catalogue")
    visit.box("Model").fill("replicate/hello-world")
    visit.button("Open").click()
    expect(run).to_be_enabled(timeout=30_000)
    visit.close()
