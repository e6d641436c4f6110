"""The Advanced form's JSON is written in the page (forms.collect_script), so it must read the
controls exactly as the server's `collect_form` does: every case here runs the page's script in
Chromium and the Python function on the same values, and the two must agree."""

# ruff: noqa: F811  (tests take the imported `chromium` fixture as an argument)
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import simulator_inputs
from test_browser import browser as chromium  # noqa: F401  (its Chromium, as a fixture)
from test_browser import running_app

from neurolink_ui.modalities.forms import FormField
from neurolink_ui.ui.forms import collect_form, collect_script

pytestmark = [pytest.mark.browser]

FIELDS = (
    FormField("steps", "number", "Steps", default=4, integer=True),
    FormField("guidance", "slider", "Guidance", default=3.5, minimum=0, maximum=10),
    FormField("seed", "number", "Seed", default=None, integer=True),  # a text box: empty = model's
    FormField("strength", "number", "Strength", default=None),
    FormField("tags", "json", "Tags", default=[]),
    FormField(
        "output_format", "dropdown", "Output format", default="webp", choices=("webp", "png")
    ),
    FormField("safe", "checkbox", "Safe", default=None),
    FormField("upscale", "checkbox", "Upscale", default=True),
    FormField("mask", "file", "Mask"),
    FormField("negative", "text", "Negative", default=""),
)

UPLOAD = "/tmp/gradio/abc/mask.png"


def page_file(path: str | None) -> Any:
    """A File control's value as the page holds it (Gradio's FileData); the server gets the path."""
    return None if path is None else {"path": path, "url": f"http://x/file={path}", "size": 3}


# (the values the server's handler receives, in FIELDS' order); the page's differ only for files.
CASES: list[list[Any]] = [
    [4, 3.5, "", "", "[]", "webp", False, True, None, ""],  # untouched
    [5, 3.5000000001, " 42 ", "0.25", '["a", {"b": 1}]', "png", True, False, UPLOAD, "blurry"],
    [4, 3.5, "four", "1e3", "[oops", "webp", False, True, None, "  "],  # unreadable: kept as typed
    [4, 3.5, "0x10", "inf", "{}", "webp", True, True, None, "x"],  # hex and inf are not numbers
    [4, 3.5, "7.5", "-.5", "null", "webp", False, True, None, ""],  # 7.5 is no whole number
    [4.0, 0, "1E2", "+3", '"text"', "webp", False, True, None, ""],
]


def run_in_page(page: Any, script: str, values: list[Any]) -> dict[str, Any]:
    written = page.evaluate("([script, values]) => (0, eval)(script)(...values)", [script, values])
    assert isinstance(written, str)
    decoded: dict[str, Any] = json.loads(written)
    return decoded


def as_sent(values: dict[str, Any]) -> dict[str, Any]:
    """As the JSON the run reads: whole floats of whole-number fields are ints either way."""
    return json.loads(json.dumps(values, default=str))


def test_the_page_collects_the_form_as_the_server_does(chromium) -> None:  # type: ignore[no-untyped-def]
    page = chromium.new_page()
    try:
        for keep in ((), ("steps", "output_format", "safe")):
            script = collect_script(FIELDS, keep=keep)
            for case in CASES:
                in_page = [
                    page_file(v) if f.kind == "file" else v
                    for f, v in zip(FIELDS, case, strict=True)
                ]
                expected = as_sent(collect_form(FIELDS, case, keep=keep))
                assert run_in_page(page, script, in_page) == expected, (keep, case)
        # What a changed, untouched and kept field give, spelled out (not only "they agree").
        script = collect_script(FIELDS, keep=("steps",))
        written = run_in_page(
            page,
            script,
            [
                page_file(v) if f.kind == "file" else v
                for f, v in zip(FIELDS, CASES[1], strict=True)
            ],
        )
        assert written["seed"] == 42 and written["strength"] == 0.25
        assert written["tags"] == ["a", {"b": 1}] and written["mask"] == UPLOAD
        assert "guidance" not in written  # equal to its default, within rounding
        untouched = run_in_page(page, script, CASES[0])
        assert untouched == {"steps": 4, "safe": False}  # kept; a None-default box reads False
    finally:
        page.close()


def test_a_hostile_schema_reaches_the_script_as_data_never_as_code(chromium) -> None:  # type: ignore[no-untyped-def]
    """Field names and defaults come from any model's schema: quotes, a closing script tag and
    line separators must not change the script."""
    hostile = (
        FormField('a"); window.pwned = 1; ("', "text", "A", default="</script>\u2028\u2029'`${x}`"),
        FormField("b\\", "dropdown", "B", default='"\\', choices=('"\\', "z")),
    )
    page = chromium.new_page()
    try:
        script = collect_script(hostile, keep=('a"); window.pwned = 1; ("',))
        written = run_in_page(page, script, ["</script>\u2028\u2029'`${x}`", "z"])
        assert written == {'a"); window.pwned = 1; ("': "</script>\u2028\u2029'`${x}`", "b\\": "z"}
        assert page.evaluate("() => window.pwned") is None
    finally:
        page.close()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    with running_app(tmp_path_factory) as (url, log):
        yield url, log


def test_a_run_clicked_right_after_a_change_sends_the_new_value(served, chromium) -> None:  # type: ignore[no-untyped-def]
    """The run reads the Advanced JSON. When a change event wrote it over a server round trip,
    a click before the answer came back sent the previous value (seen on a busy machine). Here
    the change's queue-less round trips are cut off, as if none had come back before the click:
    the value must still reach the model, and the form must not have needed one."""
    from playwright.sync_api import expect

    url, log = served
    page = chromium.new_page(viewport={"width": 1366, "height": 1000})
    round_trips: list[str] = []

    def cut_off(route: Any) -> None:
        round_trips.append(route.request.post_data or "")
        route.abort()

    try:
        page.goto(url, wait_until="load")
        expect(page.get_by_text("Simulator mode")).to_be_visible(timeout=30_000)
        page.get_by_role("tab", name="🖼️ Image").click()
        panel = page.get_by_role("tabpanel").filter(visible=True)
        panel.get_by_role("textbox", name="Prompt", exact=True).fill("A kite over dunes")
        panel.get_by_text("Advanced — parameters from the model's schema").click()
        tolerance = panel.get_by_role("spinbutton", name="number input for Safety Tolerance")
        expect(tolerance).to_be_enabled(timeout=15_000)
        before = len(simulator_inputs(log))
        page.route("**/run/predict", cut_off)
        tolerance.fill("5")
        tolerance.press("Enter")
        page.unroute("**/run/predict")  # the run's own steps go through
        panel.get_by_role("button", name="Generate", exact=True).click()
        expect(panel.get_by_text("Done with").first).to_be_visible(timeout=45_000)
        sent = simulator_inputs(log)[before:]
        assert [s.get("safety_tolerance") for s in sent] == [5], sent
        assert round_trips == []  # the JSON was written in the page
    finally:
        page.close()
