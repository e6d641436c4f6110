"""Issue 20 (items 1, 2 and 6) as visitors play it against the launched app: one visitor's renders
no longer stall another's, a lost session never moves a visitor onto the owner's token, and the
owner's token, the sessions and the disk are metered per visitor. Driven through raw HTTP to
Gradio's queue (which takes private events by fn_index) and gradio_client; the app keeps serving
after each."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import OTHER_TOKEN, TOKEN, token_id
from gradio_client.exceptions import AppError
from helpers import open_history_tab, until_async
from launched import LaunchedApp

from neurolink_ui.config import Settings
from neurolink_ui.ui.fairness import FairShare
from neurolink_ui.ui.history_log import HistoryLog

FAST_IMAGE = "black-forest-labs/flux-schnell"

# Launches the whole app; floods its queue, so it runs alone (scripts/test.sh, after the rest).
pytestmark = [pytest.mark.slow, pytest.mark.alone]


@pytest.fixture(scope="module")
def app(simulator_session: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaunchedApp]:
    settings = Settings(api_token=TOKEN, base_url=simulator_session.base_url, poll_cap=60)
    running = LaunchedApp(settings, tmp_path_factory.mktemp("fair"))
    yield running
    running.close()


@pytest.fixture
def share(app: LaunchedApp) -> Iterator[Callable[..., FairShare]]:
    """Set the app's fair-share bounds for one test (fresh counts); the defaults come back."""
    fair = app.ctx.fair
    before = fair.share

    def install(**changes: Any) -> FairShare:
        fair.share = dataclasses.replace(FairShare(), **changes)
        for window in (fair.new_sessions, fair.lookups, fair.sign_ins, fair.uploads):
            window._hits.clear()
            window._totals.clear()
        fair.upload_bytes._hits.clear()
        fair.upload_bytes._totals.clear()
        app.ctx.catalogue._answers.clear()
        return fair.share

    install()
    yield install
    install()
    fair.share = before


def still_serves(app: LaunchedApp) -> None:
    with closing(app.client()) as c:
        gallery, status, *_ = c.predict("still serving", model=FAST_IMAGE, api_name="/image")
    assert gallery and "Done" in status


# ---- raw queue --------------------------------------------------------------------------------


def fn_index(app: LaunchedApp, render: str, module: str) -> int:
    """The fn_index of the `gr.render` named `render` defined in `module`."""
    for index, fn in app.demo.fns.items():
        drawn = fn.renderable
        if drawn is not None and drawn.fn.__name__ == render and drawn.fn.__module__ == module:
            return int(index)
    raise AssertionError(f"no render {render} in {module}")


class QueueVisitor:
    """One session speaking Gradio's queue protocol: join events, read their completions."""

    def __init__(self, http: httpx.AsyncClient, url: str, session: str | None = None) -> None:
        self.http = http
        self.url = url
        self.session = session or uuid.uuid4().hex
        self.completed: set[str] = set()
        self.errors: dict[str, str] = {}  # event id → the error it ended with
        self._reader: asyncio.Task[None] | None = None
        self._listening = False

    async def join(self, fn: int, data: list[Any]) -> httpx.Response:
        body = {"data": data, "fn_index": fn, "session_hash": self.session, "trigger_id": None}
        return await self.http.post(f"{self.url}gradio_api/queue/join", json=body)

    async def joined(self, fn: int, data: list[Any]) -> str:
        answer = await self.join(fn, data)
        assert answer.status_code == 200, answer.text
        if self._listening and self._reader is None:
            # As Gradio's own clients do: the stream opens once the session has joined. Gradio
            # answers a stream of a session it has no messages for with a 404 (in the stream),
            # so a stream opened before the join could miss every completion.
            self._reader = asyncio.create_task(self._read())
        return str(answer.json()["event_id"])

    def listen(self) -> None:
        """Read this session's completions, from its first join on."""
        self._listening = True

    async def _read(self) -> None:
        url = f"{self.url}gradio_api/queue/data"
        async with self.http.stream("GET", url, params={"session_hash": self.session}) as stream:
            async for line in stream.aiter_lines():
                if line.startswith("data:"):
                    message = json.loads(line[5:])
                    if message.get("msg") == "process_completed":
                        event_id = str(message.get("event_id"))
                        self.completed.add(event_id)
                        if not message.get("success"):
                            self.errors[event_id] = str(message["output"].get("error"))

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
                await self._reader


@contextlib.asynccontextmanager
async def http_client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=httpx.Timeout(60, read=None)) as http:
        yield http


# ---- 1. renders take turns per session, and a session's share of the queue is bounded ---------


@pytest.fixture
def held_history(monkeypatch: pytest.MonkeyPatch) -> Iterator[threading.Event]:
    """Every History render blocks until the event is set (a render of 50 entries, slowed
    down for as long as the test needs)."""
    release = threading.Event()
    shown = HistoryLog.shown

    def slow(self: HistoryLog) -> Any:
        release.wait(timeout=90)
        return shown(self)

    monkeypatch.setattr(HistoryLog, "shown", slow)
    yield release
    release.set()


async def test_a_fresh_visitors_render_completes_while_another_visitors_renders_are_queued(
    app: LaunchedApp, share: Callable[..., FairShare], held_history: threading.Event
) -> None:
    share(events_per_session=12)
    form = fn_index(app, "render_form", "neurolink_ui.ui.forms")
    async with http_client() as http:
        flooder = QueueVisitor(http, app.url)
        # History open (its drawings draw the cards, held here), as a page has it.
        history = await asyncio.to_thread(open_history_tab, app.url, flooder.session)
        flooder.listen()
        flood = [await flooder.joined(history, [None, None]) for _ in range(12)]
        # Past its share, the flooder is told so, clearly (its event ends at once, unrun).
        refused = await flooder.joined(history, [None, None])
        await until_async(lambda: refused in flooder.errors, 30, "the refusal")
        assert "already has 12 requests waiting or running" in flooder.errors[refused]

        fresh = QueueVisitor(http, app.url)
        fresh.listen()
        drawn = await fresh.joined(form, [None, FAST_IMAGE])
        await until_async(lambda: drawn in fresh.completed, 60, "the fresh visitor's form render")
        # …while the flood is still queued behind its own first, held render.
        assert not set(flood) & flooder.completed
        assert drawn not in fresh.errors
        held_history.set()
        await until_async(lambda: set(flood) <= flooder.completed, 60, "the flood drains")
        await flooder.close()
        await fresh.close()
    still_serves(app)


async def test_one_address_has_a_bounded_share_of_the_queue(
    app: LaunchedApp, share: Callable[..., FairShare], held_history: threading.Event
) -> None:
    share(events_per_session=40, events_per_address=6)
    async with http_client() as http:
        visitors = [QueueVisitor(http, app.url) for _ in range(3)]
        for visitor in visitors:
            # History open (its drawings draw the cards, held here), as a page has it.
            history = await asyncio.to_thread(open_history_tab, app.url, visitor.session)
            visitor.listen()
            for _ in range(2):
                await visitor.joined(history, [None, None])
        another = QueueVisitor(http, app.url)
        another.listen()
        refused = await another.joined(history, [None, None])
        await until_async(lambda: refused in another.errors, 30, "the refusal")
        assert "Your address already has 6 requests" in another.errors[refused]
        held_history.set()
        await until_async(
            lambda: all(len(v.completed) == 2 for v in visitors), 60, "the renders drain"
        )
        assert not any(v.errors for v in visitors)
        for visitor in [*visitors, another]:
            await visitor.close()
    still_serves(app)


# ---- 2. a lost session never moves a visitor onto the owner's token ---------------------------


def _creates(sim: Any) -> list[Any]:
    return [r for r in sim.requests if r.method == "POST" and r.path.endswith("/predictions")]


async def test_a_visitor_whose_session_was_evicted_is_never_moved_onto_the_owners_token(
    app: LaunchedApp, share: Callable[..., FairShare], simulator: Any
) -> None:
    share(new_sessions_per_minute=1000)
    holder = app.demo.state_holder
    capacity = holder.capacity
    holder.capacity = 10
    try:
        visitor = app.client()
        visitor.predict(OTHER_TOKEN, False, api_name="/sign_in")
        visitor.predict("mine", model=FAST_IMAGE, api_name="/image")
        assert [r.token_id for r in _creates(simulator)] == [token_id(OTHER_TOKEN)]
        # A flood of throwaway sessions pushes the visitor's session out of memory.
        meter = fn_index(app, "render_form", "neurolink_ui.ui.forms")
        async with http_client() as http:
            for _ in range(15):
                await QueueVisitor(http, app.url).joined(meter, [None, FAST_IMAGE])
        await until_async(lambda: visitor.session_hash not in holder.session_data, 30, "evicted")
        simulator.requests.clear()
        with pytest.raises(AppError) as refused:
            visitor.predict("after the flood", model=FAST_IMAGE, api_name="/image")
        assert "Paste your token again" in str(refused.value)
        assert _creates(simulator) == []  # nothing ran, on anyone's token
        # Signing in again runs on the visitor's own token, as before.
        visitor.predict(OTHER_TOKEN, False, api_name="/sign_in")
        visitor.predict("signed in again", model=FAST_IMAGE, api_name="/image")
        assert [r.token_id for r in _creates(simulator)] == [token_id(OTHER_TOKEN)]
        visitor.close()
    finally:
        holder.capacity = capacity
    still_serves(app)


async def test_sessions_are_bounded_in_number_and_new_ones_per_address(
    app: LaunchedApp, share: Callable[..., FairShare]
) -> None:
    share(new_sessions_per_minute=20, max_sessions=10)
    holder = app.demo.state_holder
    capacity = holder.capacity
    holder.capacity = 10
    # A quick event with no render (Compare's Stop of a cell that runs nothing): the sessions'
    # bounds are what is tested, not the renders' speed on a loaded machine.
    (stop,) = [i for i, fn in app.demo.fns.items() if fn.api_name == "compare_stop"]
    try:
        async with http_client() as http:
            visitors = [QueueVisitor(http, app.url) for _ in range(25)]
            for visitor in visitors:
                visitor.listen()
                await visitor.joined(int(stop), [0, None, None])
            await until_async(lambda: all(v.completed for v in visitors), 240, "all answered")
            refused = [v for v in visitors if v.errors]
            assert visitors[20:] == refused
            (message,) = refused[-1].errors.values()
            assert "Too many new sessions from your address (20 a minute)" in message
            assert len(holder.session_data) <= 10
            for visitor in visitors:
                await visitor.close()
    finally:
        holder.capacity = capacity
        share()
    still_serves(app)


# ---- 6. the owner's token and the disk are metered per visitor --------------------------------


def test_catalogue_lookups_are_limited_per_visitor_and_answered_from_a_shared_cache(
    app: LaunchedApp, share: Callable[..., FairShare], simulator: Any
) -> None:
    share(lookups_per_minute=5)
    searches = lambda: [r for r in simulator.requests if r.path.startswith("/v1/search")]  # noqa: E731
    with closing(app.client()) as first, closing(app.client()) as second:
        first.predict("flux", api_name="/search")
        second.predict("flux", api_name="/search")  # another visitor: the same answer, kept
        for _ in range(3):
            first.predict("flux", api_name="/search")
        assert len(searches()) == 1
        with pytest.raises(AppError, match="Too many model look-ups") as refused:
            first.predict("flux", api_name="/search")
        assert "5 a minute" in str(refused.value)
    still_serves(app)


def test_sign_in_is_limited_per_visitor(
    app: LaunchedApp, share: Callable[..., FairShare], simulator: Any
) -> None:
    share(sign_ins_per_hour=3)
    accounts = lambda: [r for r in simulator.requests if r.path == "/v1/account"]  # noqa: E731
    with closing(app.client()) as c:
        for _ in range(3):
            with contextlib.suppress(AppError):
                c.predict("r8_not-a-real-token-000000000", False, api_name="/sign_in")
        with pytest.raises(AppError, match="Too many sign-in attempts") as refused:
            c.predict(OTHER_TOKEN, False, api_name="/sign_in")
        assert "3 an hour" in str(refused.value)
    assert len(accounts()) == 3
    still_serves(app)


def test_uploads_are_bounded_per_address_and_in_total(
    app: LaunchedApp, share: Callable[..., FairShare], tmp_path: Path
) -> None:
    share(uploads_per_minute=3, upload_mb_per_hour=5, upload_total_mb_per_hour=1000)
    big = tmp_path / "big.bin"
    big.write_bytes(b"\0" * (2 * 1024 * 1024))
    url = f"{app.url}gradio_api/upload"

    def upload() -> httpx.Response:
        with big.open("rb") as f:
            return httpx.post(url, files={"files": ("big.bin", f)}, timeout=60)

    first, second = upload(), upload()
    assert first.status_code == second.status_code == 200
    third = upload()  # 6 MB in the hour would pass 5
    assert third.status_code == 413
    assert "5 MB an hour" in third.json()["detail"]
    share(uploads_per_minute=2, upload_mb_per_hour=1000, upload_total_mb_per_hour=1000)
    assert [upload().status_code for _ in range(3)] == [200, 200, 429]
    assert "2 uploads a minute" in upload().json()["detail"]
    share(uploads_per_minute=100, upload_mb_per_hour=1000, upload_total_mb_per_hour=3)
    assert upload().status_code == 200
    refused = upload()
    assert refused.status_code == 413 and "from everyone" in refused.json()["detail"]
    share()
    assert upload().status_code == 200
    still_serves(app)
