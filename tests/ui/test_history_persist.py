"""History kept by the app (ResultStore behind the run core's records), the shared view's
page-load step, and the meta tags and preview image of a share link — through the launched app
(gradio_client, plain HTTP) and the handlers themselves."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import gradio as gr
import httpx
import pytest
from conftest import TOKEN
from helpers import shared_parts
from launched import LaunchedApp

from neurolink_ui.config import Settings
from neurolink_ui.modalities.common import MappedInput
from neurolink_ui.pipeline import COLD_BOOT_SECONDS
from neurolink_ui.replicate.schema import ModelInfo
from neurolink_ui.results import NewResult, ResultStore, new_history_id, valid_history_id
from neurolink_ui.runs import RunRequest
from neurolink_ui.runs.core import run_record
from neurolink_ui.ui.history_log import HistoryLog, open_history
from neurolink_ui.ui.panels.history import entry_snippets
from neurolink_ui.ui.panels.shared import MALFORMED, SHARING_OFF, make_open_shared

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture(scope="module")
def launched(simulator_session, tmp_path_factory) -> Iterator[LaunchedApp]:  # type: ignore[no-untyped-def]
    data = tmp_path_factory.mktemp("data")
    settings = Settings(
        api_token=TOKEN, base_url=simulator_session.base_url, poll_cap=60, data_dir=data
    )
    app = LaunchedApp(settings, tmp_path_factory.mktemp("outputs"))
    yield app
    app.close()


def rows(store: ResultStore) -> list[tuple[str, str, str, int | None]]:
    with sqlite3.connect(store.root / "results.db") as db:
        return db.execute("SELECT kind, prompt, input, cold_boot FROM results").fetchall()


@pytest.mark.slow
def test_an_api_generation_is_kept_with_its_full_prompt(launched: LaunchedApp, simulator) -> None:  # type: ignore[no-untyped-def]
    long_prompt = "A lighthouse in a storm, " + "rain and spray " * 100  # > 1,000 characters
    assert len(long_prompt) > 1000
    simulator.config.cold_start = COLD_BOOT_SECONDS + 0.2  # the model boots before it runs
    client = launched.client()
    gallery, _status = client.predict(
        long_prompt, model="black-forest-labs/flux-schnell", api_name="/image"
    )
    client.close()
    assert len(gallery) == 1
    kept = [r for r in rows(launched.ctx.results) if r[1] == long_prompt]
    assert len(kept) == 1  # the whole prompt, not the History's shortened display
    assert json.loads(kept[0][2])["prompt"] == long_prompt.strip()  # as the model got it
    assert kept[0][3] == 1  # it took longer than COLD_BOOT_SECONDS to start: recorded as such
    files = list(launched.ctx.results.files_root.rglob("*.webp")) + list(
        launched.ctx.results.files_root.rglob("*.png")
    )
    assert files, "the output file itself was copied into the results folder"


def test_recording_keeps_the_full_input_and_its_snippet_reruns_it(tmp_path: Path) -> None:
    from neurolink_ui.pipeline import RunResult
    from neurolink_ui.replicate.types import Prediction
    from neurolink_ui.ui.retention import OutputStore

    long_prompt = "p" * 5000
    outputs = OutputStore(tmp_path / "outputs", 3600.0, 10**9, cache_dir=tmp_path / "cache")
    out = outputs.session_dir("a-session") / "out-0.png"
    out.write_bytes(PNG)
    result = RunResult(
        model="black-forest-labs/flux-schnell",
        prediction=Prediction(id="abc123", status="succeeded", version="hidden"),
        text="",
        files=[out],
        input={"prompt": long_prompt, "num_outputs": 1},
    )
    log = HistoryLog(store=ResultStore(tmp_path / "data", on_remove=outputs.forget))
    request = RunRequest("image", result.model, long_prompt, lambda info: MappedInput({}), "image")
    kept_id = log.add(run_record(request, ModelInfo(ref=result.model), result))
    [shown] = log.shown()
    assert shown.id == kept_id and kept_id and log.share(kept_id)
    assert shown.input["prompt"] == long_prompt
    python, curl = entry_snippets(shown)
    assert long_prompt in python and long_prompt in curl
    assert shown.prompt_file is not None and shown.prompt_file.read_text() == long_prompt
    assert shown.files[0].read_bytes() == PNG and not shown.files[0].is_relative_to(out.parent)
    # The copy Gradio's server keeps of a file it served: a folder named by the content's hash.
    from gradio.processing_utils import hash_file

    cached = tmp_path / "cache" / hash_file(out) / out.name
    cached.parent.mkdir(parents=True)
    cached.write_bytes(PNG)
    # Delete takes the files with it: the kept copy, the session's output, the server's copy.
    assert log.delete(shown.id) and not shown.files[0].exists()
    assert not out.exists() and not cached.exists()
    out.write_bytes(PNG)
    log.add(run_record(replace(request, prompt="again"), ModelInfo(ref=result.model), result))
    assert log.clear() == 1 and log.shown() == []


@pytest.mark.parametrize("stored", ["", None, "../../etc/passwd", "a" * 5000, {"x": 1}, 7, "short"])
def test_a_bad_browser_history_id_gets_a_new_one(stored: Any, tmp_path: Path) -> None:
    log = HistoryLog(store=ResultStore(tmp_path))
    history_id = open_history(stored, log)
    assert valid_history_id(history_id) and history_id != stored
    assert log.history_id == history_id


def test_a_good_browser_history_id_is_kept(tmp_path: Path) -> None:
    mine = new_history_id()
    log = HistoryLog(store=ResultStore(tmp_path))
    assert open_history(mine, log) == mine


def request(query: dict[str, str]) -> Any:
    return SimpleNamespace(query_params=query)


def test_the_shared_view_opens_a_result_or_says_why_not(tmp_path: Path) -> None:
    store = ResultStore(tmp_path, ttl=86400)
    me = new_history_id()
    kept = store.add(me, NewResult(kind="image", model="o/m", prompt="a cat on a mat"))
    share_id = store.share(me, kept.id)
    assert share_id is not None
    opened = make_open_shared(store, True, {"image"})

    nothing = opened(request({}))
    assert nothing == (gr.skip(),) * len(nothing)  # no link: the page as it is
    view = shared_parts(opened(request({"result": share_id})))
    assert "a cat on a mat" in view["text"] and "o/m" in view["text"]
    assert view["shown"] == share_id
    assert MALFORMED in opened(request({"result": "../../etc/passwd"}))[1]
    assert "No shared result has this id" in opened(request({"result": "A" * 32}))[1]
    assert (
        SHARING_OFF in make_open_shared(store, False, {"image"})(request({"result": share_id}))[1]
    )


def test_a_shared_explore_result_shows_its_files_by_what_they_are(tmp_path: Path) -> None:
    # Explore runs any model: the shared view goes by the files' bytes, not the model's panel.
    image, other = tmp_path / "out-0", tmp_path / "out-1.bin"
    image.write_bytes(PNG)  # no suffix at all: only the bytes say it is an image
    other.write_bytes(b"not media")
    store = ResultStore(tmp_path / "data", ttl=86400)
    me = new_history_id()
    kept = store.add(
        me, NewResult(kind="explore", model="nightmareai/real-esrgan", files=(image, other))
    )
    share_id = store.share(me, kept.id)
    assert share_id is not None
    view = shared_parts(make_open_shared(store, True, {"image"})(request({"result": share_id})))
    assert "explore" in view["text"].lower() and "nightmareai/real-esrgan" in view["text"]
    gallery = view["gallery"]
    assert isinstance(gallery, gr.Gallery) and gallery.visible
    shown = [Path(item["image"]["path"]).read_bytes() for item in gallery.value]
    assert shown == [PNG]
    # A JSON-only run (no media) shows no player.
    data_only = store.add(me, NewResult(kind="explore", model="o/json", files=(other,)))
    data_share = store.share(me, data_only.id)
    assert data_share is not None
    quiet = shared_parts(make_open_shared(store, True, {"image"})(request({"result": data_share})))
    media = [quiet["inputs"], quiet["input_audio"], quiet["gallery"], *quiet["videos"]]
    assert not any(part.visible for part in [*media, *quiet["audios"]])


@pytest.mark.slow
def test_a_shared_page_has_its_meta_tags_and_preview(launched: LaunchedApp) -> None:
    store = launched.ctx.results
    picture = launched.ctx.outputs_dir / "meta-test.png"
    picture.write_bytes(PNG)
    me = new_history_id()
    hostile = '"><script>alert(1)</script> a fox'
    kept = store.add(me, NewResult(kind="image", model="o/m", prompt=hostile, files=(picture,)))
    share_id = store.share(me, kept.id)
    page = httpx.get(f"{launched.url}?result={share_id}").text
    assert "<script>alert(1)</script>" not in page  # escaped
    assert "&lt;script&gt;alert(1)&lt;/script&gt; a fox" in page
    # No public URL configured: the preview's address is relative, og:url left out.
    assert f'<meta property="og:image" content="/shared-preview/{share_id}" />' in page
    assert 'property="og:url"' not in page
    preview = f"{launched.url.rstrip('/')}/shared-preview/{share_id}"
    assert page.count('property="og:image"') == 1  # Gradio's own card is replaced
    answer = httpx.get(preview)
    assert answer.status_code == 200 and answer.content == PNG
    assert answer.headers["content-type"] == "image/png"

    # Unshared results, unknown and malformed ids: no preview, the page as it always is.
    unshared = store.add(me, NewResult(kind="image", model="o/m", files=(picture,)))
    for bad in (unshared.id, "A" * 32, "..%2F..%2Fetc%2Fpasswd"):
        assert httpx.get(f"{launched.url}shared-preview/{bad}").status_code == 404
        page = httpx.get(f"{launched.url}?result={bad}")
        assert page.status_code == 200 and "/shared-preview/" not in page.text

    # A chat result's card has a title but no image.
    chat = store.add(me, NewResult(kind="chat", model="o/chat", prompt="hello there"))
    page = httpx.get(f"{launched.url}?result={store.share(me, chat.id)}").text
    assert "Chat by o/chat" in page and "/shared-preview/" not in page


def test_the_housekeeping_lifespan_sweeps_expired_results(tmp_path: Path) -> None:
    import asyncio
    import time

    from neurolink_ui.ui.retention import OutputStore, SessionReaper, housekeeping

    results = ResultStore(tmp_path / "data", ttl=2.0)
    me = new_history_id()
    picture = tmp_path / "out.png"
    picture.write_bytes(PNG)
    old = results.add(me, NewResult(kind="image", model="o/m", files=(picture,)), time.time() - 60)
    fresh = results.add(me, NewResult(kind="image", model="o/m"))
    lifespan = housekeeping(
        OutputStore(tmp_path / "outputs", 3600.0, 10**9), SessionReaper(3600.0), results
    )

    async def serve_a_while() -> None:
        async with lifespan(object()):
            for _ in range(50):
                await asyncio.sleep(0.1)
                if results.count(me) == 1:
                    return

    asyncio.run(serve_a_while())
    assert [r.id for r in results.list(me)] == [fresh.id]
    assert not old.files[0].parent.exists()


def test_sharing_off_serves_no_preview_and_no_meta(tmp_path: Path) -> None:
    from starlette.applications import Starlette
    from starlette.responses import HTMLResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    from neurolink_ui.ui.panels.shared import SharedPageMeta

    store = ResultStore(tmp_path)
    me = new_history_id()
    picture = tmp_path / "out.png"
    picture.write_bytes(PNG)
    share_id = store.share(me, store.add(me, NewResult("image", "o/m", files=(picture,))).id)

    def page(request: Any) -> HTMLResponse:
        return HTMLResponse("<html><head><title>app</title></head><body></body></html>")

    inner = Starlette(routes=[Route("/", page)])
    for sharing, expect_meta in ((True, True), (False, False)):
        client = TestClient(SharedPageMeta(inner, store, sharing))
        html = client.get(f"/?result={share_id}").text
        assert ("og:image" in html) is expect_meta
        preview = client.get(f"/shared-preview/{share_id}")
        assert (preview.status_code == 200) is expect_meta


@pytest.mark.slow
def test_request_hosts_never_reach_the_shared_pages_addresses(
    simulator_session, tmp_path: Path
) -> None:
    """Issue 20 item 7b: `Host` and `X-Forwarded-Host` are anyone's to send; og:url and
    og:image come from the configured public URL (NEUROLINK_PUBLIC_URL or SPACE_HOST) only."""
    env = {"SPACE_HOST": "me-neurolink.hf.space", "NEUROLINK_DATA_DIR": str(tmp_path / "d")}
    settings = replace(Settings.from_env(env), base_url=simulator_session.base_url, api_token=TOKEN)
    assert settings.public_url == "https://me-neurolink.hf.space"
    app = LaunchedApp(settings, tmp_path / "outputs")
    try:
        picture = app.ctx.outputs_dir / "p.png"
        picture.write_bytes(PNG)
        me = new_history_id()
        kept = app.ctx.results.add(me, NewResult(kind="image", model="o/m", files=(picture,)))
        share_id = app.ctx.results.share(me, kept.id)
        for headers in (
            {"Host": "evil.example"},
            {"X-Forwarded-Host": "evil.example", "X-Forwarded-Proto": "http"},
        ):
            page = httpx.get(f"{app.url}?result={share_id}", headers=headers).text
            tags = re.findall(r"<meta (?:property|name)=\"(?:og|twitter):[^>]*>", page)
            assert len(tags) >= 6 and not [tag for tag in tags if "evil.example" in tag], tags
            public = "https://me-neurolink.hf.space"
            assert f'<meta property="og:url" content="{public}/?result={share_id}" />' in page
            assert f'content="{public}/shared-preview/{share_id}"' in page
        assert httpx.get(f"{app.url}shared-preview/{share_id}").status_code == 200  # serving
    finally:
        app.close()


def test_a_card_click_sent_before_a_re_render_reaches_the_card_after_it(tmp_path: Path) -> None:
    """History re-renders (gr.render) when its tab opens and when a generation is recorded. A
    Share or Delete click the page sends with the event id it had before a re-render must still
    name that card's listener after it: an id the re-render dropped is a lost click."""
    from copy import copy

    from gradio.context import LocalContext

    from neurolink_ui.ui.history_log import history_state
    from neurolink_ui.ui.panels.history import build_history_panel

    def entry(prompt: str) -> NewResult:  # what the run core records, as HistoryLog.add takes
        return NewResult(kind="chat", model="o/m", prompt=prompt, input={"prompt": prompt})

    results = ResultStore(tmp_path / "results")
    with gr.Blocks() as demo:
        with gr.Tab("History"):
            history = history_state(store=results)
            build_history_panel(history)
    log = HistoryLog(store=results, history_id=new_history_id())
    log.add(entry("a kite"))
    (renderable,) = demo.default_config.renderables
    session = copy(demo.default_config)  # one session's blocks and events, as the server keeps
    LocalContext.blocks_config.set(session)

    def card_clicks() -> dict[str, int]:
        """The card's click listeners by button label: the ids the page sends."""
        found = {}
        for fn in session.fns.values():
            for target, event in fn.targets:
                button = session.blocks.get(target)
                if event == "click" and fn.rendered_in is renderable:
                    found[str(getattr(button, "value", ""))] = fn._id
        return found

    try:
        renderable.apply(log, True, None)
        before = card_clicks()
        assert set(before) == {"🔗 Share", "🗑️ Delete"}, before
        renderable.apply(log, True, None)  # the tab opened again: the same card, drawn again
        assert card_clicks() == before
        counted = log.count
        shared, count, shown = session.fns[before["🔗 Share"]].fn(
            log, SimpleNamespace(request=None)
        )
        assert "?result=" in shared.value
        # History (open: its card was clicked) renders again, with the link.
        assert count == log.count == counted + 1 and shown not in (0, None)  # a new ticket
        log.add(entry("a gull"))
        renderable.apply(log, True, None)  # a new generation: a new card above, the first one kept
        assert before["🔗 Share"] in session.fns and before["🗑️ Delete"] in session.fns
        count, shown = session.fns[before["🗑️ Delete"]].fn(log)
        assert count == log.count and len(log.shown()) == 1 and shown not in (0, None)
    finally:
        LocalContext.blocks_config.set(None)
