"""Remix brings back the input's files: an image edited with an input image, and an avatar made
from a portrait and a narration, shared, opened in a fresh browser, show those files, and Remix
puts them back into the panel, where running it again sends the same pictures and sound."""

from __future__ import annotations

import base64
import io
import re
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import free_port, simulator_inputs
from PIL import Image, ImageStat
from test_browser import SCREENSHOTS, browser  # noqa: F401  (a fixture: used by name)
from test_share_browser import app, open_history

pytestmark = [pytest.mark.browser, pytest.mark.slow]

EDIT_MODEL = "black-forest-labs/flux-kontext-pro"
EDIT_PROMPT = "Make the square autumn orange"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """One app for the module (its URL and log): each test's visitors are browser contexts of
    their own, so each has its own History, and reads the simulator's newest inputs."""
    folder = tmp_path_factory.mktemp("remix-app")
    log = folder / "app.log"
    with app(folder / "data", free_port(), log) as url:
        yield url, log


def start_picture(path: Path) -> Path:
    picture = Image.new("RGB", (96, 64), "white")
    for x in range(30, 66):
        for y in range(16, 48):
            picture.putpixel((x, y), (20, 120, 200))
    picture.save(path)
    return path


def narration(path: Path) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(16000)
        out.writeframes(b"".join((i % 64 * 300).to_bytes(2, "little") for i in range(16000)))
    return path


def data_bytes(value: Any) -> bytes:
    """A file input as the simulator received it (small files go inline as a data: URL)."""
    assert isinstance(value, str) and value.startswith("data:"), str(value)[:80]
    return base64.b64decode(value.split(",", 1)[1])


def pixels(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as picture:
        return picture.convert("RGB").tobytes()


def first_frame(data: bytes) -> tuple[int, int, list[int]]:
    """A video's first frame: its size and mean colour, to a unit (decoding may round)."""
    import av

    with av.open(io.BytesIO(data)) as container:
        frame = next(container.decode(video=0)).to_image().convert("RGB")
    means = [round(mean) for mean in ImageStat.Stat(frame).mean]
    return frame.width, frame.height, means


def frames(data: bytes) -> bytes:
    with wave.open(io.BytesIO(data)) as sound:
        return sound.readframes(sound.getnframes())


def share_newest(page) -> str:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    card = open_history(page).first
    card.get_by_role("button", name="🔗 Share").click()
    link_box = card.get_by_role("textbox")
    expect(link_box).to_have_value(re.compile(r"\?result="), timeout=15_000)
    return str(link_box.input_value())


def pick_model(page, name: str) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    panel = page.get_by_role("tabpanel").filter(visible=True)
    model = panel.get_by_role("combobox", name="Model", exact=True)
    model.fill(name)
    model.press("Enter")
    expect(model).to_have_value(name)  # the run sends the model the picker holds


def run_and_wait(page, button: str) -> None:  # type: ignore[no-untyped-def]
    from playwright.sync_api import expect

    page.get_by_role("button", name=button, exact=True).filter(visible=True).click()
    expect(page.get_by_text("Done with").filter(visible=True).first).to_be_visible(timeout=90_000)


def open_and_remix(browser, link: str, title: str, tab: str, shot: str):  # type: ignore[no-untyped-def]  # noqa: F811
    """A fresh browser opens the link, sees the input's files, and remixes it."""
    from playwright.sync_api import expect

    stranger = browser.new_context(viewport={"width": 1366, "height": 1000})
    view = stranger.new_page()
    view.goto(link, wait_until="load")
    expect(view.get_by_text(title)).to_be_visible(timeout=30_000)
    inputs = view.locator(".block", has=view.get_by_text("Input files", exact=True))
    expect(inputs.locator("img").first).to_be_visible(timeout=20_000)
    view.wait_for_function(  # decoded, not only placed: the picture really is served
        "el => el.complete && el.naturalWidth > 0",
        arg=inputs.locator("img").first.element_handle(),
        timeout=20_000,
    )
    view.screenshot(path=SCREENSHOTS / f"{shot}-shared.png", full_page=True)
    view.get_by_role("button", name="Remix", exact=False).click()
    expect(view.get_by_role("tab", name=tab, selected=True)).to_be_visible(timeout=15_000)
    return stranger, view


@pytest.mark.timeout(500)
def test_remix_restores_the_input_image_and_the_avatar_files(  # type: ignore[no-untyped-def]
    tmp_path: Path,
    served: tuple[str, Path],
    browser,  # noqa: F811  (the fixture from test_browser)
) -> None:
    from playwright.sync_api import expect

    SCREENSHOTS.mkdir(exist_ok=True)
    start = start_picture(tmp_path / "start.png")
    voice = narration(tmp_path / "voice.wav")
    url, log = served
    owner = browser.new_context(viewport={"width": 1366, "height": 1000})
    page = owner.new_page()
    page.goto(url, wait_until="load")

    # Image-to-image: the input image goes with the shared result.
    page.get_by_role("tab", name="🖼️ Image").click()
    pick_model(page, EDIT_MODEL)
    page.get_by_role("textbox", name="Prompt", exact=True).filter(visible=True).first.fill(
        EDIT_PROMPT
    )
    image_block = page.locator(".block", has=page.get_by_text("Input image (optional"))
    image_block.locator("input[type=file]").set_input_files(str(start))
    expect(image_block.locator("img").first).to_be_visible(timeout=15_000)
    run_and_wait(page, "Generate")
    edited = simulator_inputs(log)[-1]
    image_field = next(k for k, v in edited.items() if str(v).startswith("data:image"))
    link = share_newest(page)

    # Avatar: the portrait and the narration go with it.
    page.get_by_role("tab", name="🗣️ Avatar").click()
    portrait_block = page.locator(".block", has=page.get_by_text("Portrait", exact=True))
    portrait_block.locator("input[type=file]").set_input_files(str(start))
    audio_block = page.locator(".block", has=page.get_by_text("Narration", exact=True))
    audio_block.locator("input[type=file]").set_input_files(str(voice))
    expect(portrait_block.locator("img").first).to_be_visible(timeout=15_000)
    expect(  # the narration uploaded too: its player is there
        audio_block.locator("audio, .waveform-container, [data-testid='waveform-Narration']")
    ).not_to_have_count(0, timeout=15_000)
    run_and_wait(page, "Animate")
    animated = simulator_inputs(log)[-1]
    avatar_link = share_newest(page)
    owner.close()

    stranger, view = open_and_remix(
        browser, link, "Shared image result", "🖼️ Image", "25-input-image"
    )
    prompt = view.get_by_role("textbox", name="Prompt", exact=True).filter(visible=True)
    expect(prompt.first).to_have_value(EDIT_PROMPT, timeout=15_000)
    remixed_block = view.locator(".block", has=view.get_by_text("Input image (optional"))
    expect(remixed_block.locator("img").first).to_be_visible(timeout=15_000)
    panel = view.get_by_role("tabpanel").filter(visible=True)
    expect(panel.get_by_role("combobox", name="Model", exact=True)).to_have_value(EDIT_MODEL)
    view.screenshot(path=SCREENSHOTS / "25-input-image-remixed.png", full_page=True)
    run_and_wait(view, "Generate")
    again = simulator_inputs(log)[-1]
    assert pixels(data_bytes(again[image_field])) == pixels(data_bytes(edited[image_field]))
    assert pixels(data_bytes(again[image_field])) == pixels(start.read_bytes())
    stranger.close()

    stranger, view = open_and_remix(
        browser, avatar_link, "Shared avatar result", "🗣️ Avatar", "26-avatar"
    )
    portrait = view.locator(".block", has=view.get_by_text("Portrait", exact=True))
    expect(portrait.locator("img").first).to_be_visible(timeout=15_000)
    sound = view.locator(".block", has=view.get_by_text("Narration", exact=True))
    expect(
        sound.locator("audio, .waveform-container, [data-testid='waveform-Narration']").first
    ).to_be_attached(timeout=15_000)
    view.screenshot(path=SCREENSHOTS / "26-avatar-remixed.png", full_page=True)
    run_and_wait(view, "Animate")
    again = simulator_inputs(log)[-1]
    audio_field = next(k for k, v in animated.items() if str(v).startswith("data:audio"))
    assert frames(data_bytes(again[audio_field])) == frames(voice.read_bytes())
    # This model lip-syncs a video: the portrait went as a still video made from it, and the
    # remixed run's is made from the same portrait again.
    face_field = next(k for k, v in animated.items() if str(v).startswith("data:video"))
    assert first_frame(data_bytes(again[face_field])) == first_frame(
        data_bytes(animated[face_field])
    )
    stranger.close()


@pytest.mark.timeout(400)
def test_remix_restores_the_last_frame(  # type: ignore[no-untyped-def]
    tmp_path: Path,
    served: tuple[str, Path],
    browser,  # noqa: F811  (the fixture from test_browser)
) -> None:
    """Kling's `end_image` is the Video panel's Last frame: kept with the result, put back by
    Remix, and sent again with the start frame."""
    from playwright.sync_api import expect

    start = start_picture(tmp_path / "start.png")
    end = tmp_path / "end.png"
    Image.new("RGB", (96, 64), (220, 90, 30)).save(end)
    last_label = "Last frame (optional)"
    url, log = served
    owner = browser.new_context(viewport={"width": 1366, "height": 1000})
    page = owner.new_page()
    page.goto(url, wait_until="load")
    page.get_by_role("tab", name="🎬 Video").click()
    pick_model(page, "kwaivgi/kling-v2.1")
    page.get_by_role("textbox", name="Prompt", exact=True).filter(visible=True).first.fill(
        "The square turns into a sunset"
    )
    frame = page.locator(".block", has=page.get_by_text("Start frame", exact=True))
    frame.locator("input[type=file]").set_input_files(str(start))
    ending = page.locator(".block", has=page.get_by_text(last_label, exact=True))
    ending.locator("input[type=file]").set_input_files(str(end))
    expect(ending.locator("img").first).to_be_visible(timeout=15_000)
    run_and_wait(page, "Generate video")
    sent = simulator_inputs(log)[-1]
    assert pixels(data_bytes(sent["end_image"])) == pixels(end.read_bytes()), sent.keys()
    link = share_newest(page)
    owner.close()

    stranger, view = open_and_remix(
        browser, link, "Shared video result", "🎬 Video", "27-last-frame"
    )
    for label in ("Start frame", last_label):
        block = view.locator(".block", has=view.get_by_text(label, exact=True))
        expect(block.locator("img").first).to_be_visible(timeout=15_000)
    view.screenshot(path=SCREENSHOTS / "27-last-frame-remixed.png", full_page=True)
    run_and_wait(view, "Generate video")
    again = simulator_inputs(log)[-1]
    for name, original in (("start_image", start), ("end_image", end)):
        assert pixels(data_bytes(again[name])) == pixels(original.read_bytes()), name
    assert again.get("prompt") == sent.get("prompt")
    stranger.close()


@pytest.mark.timeout(400)
def test_remix_restores_an_advanced_file_field(  # type: ignore[no-untyped-def]
    tmp_path: Path,
    served: tuple[str, Path],
    browser,  # noqa: F811  (the fixture from test_browser)
) -> None:
    """Playground's `mask` is not one of the Image panel's own inputs but an Advanced file field:
    kept with the result, staged as an upload by Remix, and sent again with the input image."""
    from playwright.sync_api import expect

    start = start_picture(tmp_path / "start.png")
    mask = tmp_path / "mask.png"
    Image.new("RGB", (96, 64), (255, 255, 255)).save(mask)
    input_label = "Input image (optional, image-to-image)"
    url, log = served
    owner = browser.new_context(viewport={"width": 1366, "height": 1000})
    page = owner.new_page()
    page.goto(url, wait_until="load")
    page.get_by_role("tab", name="🖼️ Image").click()
    pick_model(page, "playgroundai/playground-v2.5-1024px-aesthetic")
    page.get_by_role("textbox", name="Prompt", exact=True).filter(visible=True).first.fill(
        "The square turns into a sunset"
    )
    picture = page.locator(".block", has=page.get_by_text(input_label, exact=True))
    picture.locator("input[type=file]").set_input_files(str(start))
    page.get_by_text("Advanced — parameters from the model's schema").filter(
        visible=True
    ).first.click()
    mask_block = page.locator(".block", has=page.get_by_text("Mask", exact=True))
    expect(mask_block.first).to_be_visible(timeout=20_000)
    mask_block.locator("input[type=file]").set_input_files(str(mask))
    mask_row = mask_block.get_by_role("row", name=re.compile(r"mask\.png"))
    expect(mask_row).to_be_visible(timeout=15_000)  # uploaded (its change writes the JSON)
    run_and_wait(page, "Generate")
    sent = simulator_inputs(log)[-1]
    assert pixels(data_bytes(sent["mask"])) == pixels(mask.read_bytes()), sent.keys()
    link = share_newest(page)
    owner.close()

    stranger, view = open_and_remix(
        browser, link, "Shared image result", "🖼️ Image", "27-advanced-file"
    )
    remixed = view.locator(".block", has=view.get_by_text(input_label, exact=True))
    expect(remixed.locator("img").first).to_be_visible(timeout=15_000)
    view.get_by_text("Advanced — parameters from the model's schema").filter(
        visible=True
    ).first.click()
    remixed_mask = view.locator(".block", has=view.get_by_text("Mask", exact=True))
    row = remixed_mask.get_by_role("row", name=re.compile(r"mask\.png"))
    expect(row).to_be_visible(timeout=20_000)
    view.screenshot(path=SCREENSHOTS / "27-advanced-file-remixed.png", full_page=True)
    run_and_wait(view, "Generate")
    again = simulator_inputs(log)[-1]
    for name, original in (("image", start), ("mask", mask)):
        assert pixels(data_bytes(again[name])) == pixels(original.read_bytes()), name
    assert again.get("prompt") == sent.get("prompt")
    stranger.close()
