"""Guarded demo mode in the launched app, driven through gradio_client against the simulator:
every limit of the table, who is counted, own tokens and the simulator unlimited, the meter, and
the counts shared by two app processes through one Redis."""

from __future__ import annotations

import contextlib
import dataclasses
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from conftest import (
    OTHER_TOKEN,
    TOKEN,
    start_app_process,
    token_id,
)
from gradio_client import Client
from gradio_client.exceptions import AppError
from helpers import free_port, until, wait_for_page

from neurolink_ui.config import BUILTIN_SIMULATOR_TOKEN, Settings
from neurolink_ui.deadlines import deadline_seconds, known_run_time
from neurolink_ui.quota.guard import QuotaGuard
from neurolink_ui.quota.settings import OwnerCaps, QuotaSettings
from neurolink_ui.ui.app import build_app, launch_options
from neurolink_ui.ui.context import AppContext

IMAGE = {"model": "black-forest-labs/flux-schnell", "api_name": "/image"}
MAX_SECONDS = 45


def _creates(sim) -> list:  # type: ignore[no-untyped-def]
    return [r for r in sim.requests if r.method == "POST" and r.path.endswith("/predictions")]


def _base_quota(state_db: Path) -> QuotaSettings:
    """Every limit off; each test turns on the ones it is about."""
    defaults = Settings.from_env({"REPLICATE_API_TOKEN": TOKEN}).quota
    return QuotaSettings(
        enabled=True,
        allowed=defaults.allowed,  # the panels' suggestions
        max_seconds=MAX_SECONDS,
        caps=OwnerCaps(),
        state_db=state_db,
    )


@pytest.fixture(scope="module")
def app(simulator_session, tmp_path_factory) -> Iterator[tuple[str, AppContext]]:  # type: ignore[no-untyped-def]
    base = Settings(api_token=TOKEN, base_url=simulator_session.base_url, poll_cap=60)
    settings = dataclasses.replace(
        base, quota=_base_quota(tmp_path_factory.mktemp("state") / "state.db")
    )
    ctx = AppContext.create(settings, outputs_dir=tmp_path_factory.mktemp("outputs"))
    demo = build_app(ctx=ctx)
    _, url, _ = demo.launch(
        prevent_thread_lock=True,
        quiet=True,
        server_name="127.0.0.1",
        server_port=free_port(),
        **launch_options(ctx),
    )
    yield url, ctx
    demo.close()


@pytest.fixture
def limits(app, simulator, tmp_path: Path) -> Callable[..., QuotaSettings]:  # type: ignore[no-untyped-def]
    """Install fresh counts (a new SQLite file) and the given limits in the running app."""
    _, ctx = app
    base = _base_quota(tmp_path / "state.db")

    def install(**changes: object) -> QuotaSettings:
        assert ctx.quota is not None
        ctx.quota.close()
        quota = dataclasses.replace(base, state_db=tmp_path / f"{len(changes)}-state.db", **changes)
        ctx.quota = QuotaGuard.open(quota)
        return quota

    install()
    return install


@pytest.fixture
def client(app) -> Iterator[Client]:  # type: ignore[no-untyped-def]
    c = Client(app[0], verbose=False, analytics_enabled=False)
    yield c
    c.close()


def _client(url: str, **headers: str) -> Client:
    # Generous timeouts: fifty calls at once on a busy shared machine are slow to answer.
    return Client(
        url,
        verbose=False,
        analytics_enabled=False,
        headers=headers or None,
        httpx_kwargs={"timeout": 120},
    )


def _refusal(call: Callable[[], object]) -> str:
    with pytest.raises(AppError) as info:
        call()
    return str(info.value)


# ---- the table, through gradio_client ---------------------------------------------------------


@pytest.mark.slow  # launches the app (module fixture)
def test_runs_per_day_then_a_clear_refusal_before_any_request(
    app, limits, client, simulator
) -> None:  # type: ignore[no-untyped-def]
    limits(runs_per_day=2)
    for i in range(2):
        client.predict(f"run {i}", **IMAGE)
    simulator.requests.clear()
    message = _refusal(lambda: client.predict("one too many", **IMAGE))
    assert "used your 2 runs for today" in message
    assert "midnight UTC" in message  # when it resets
    assert "own Replicate token" in message and "Use the simulator" in message  # ways on
    assert simulator.requests == []  # refused before any request to Replicate


@pytest.mark.slow  # launches the app (module fixture)
def test_runs_per_minute(app, limits, client, simulator) -> None:  # type: ignore[no-untyped-def]
    limits(runs_per_minute=2)
    client.predict("hi", api_name="/chat")
    client.predict("a", **IMAGE)
    message = _refusal(lambda: client.predict("b", **IMAGE))
    assert "2 runs a minute" in message and "possible in" in message
    assert len(_creates(simulator)) == 2


def _wait_processing(sim, before: set[str]) -> None:  # type: ignore[no-untyped-def]
    """Until a prediction created after `before` runs (a held create is logged only when done)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if any(p.status == "processing" for i, p in sim.predictions.items() if i not in before):
            return
        time.sleep(0.05)
    pytest.fail("the prediction never started")


@pytest.mark.slow  # launches the app (module fixture)
def test_concurrent_runs_and_the_slot_is_freed_when_a_run_ends(
    app, limits, client, simulator
) -> None:  # type: ignore[no-untyped-def]
    quota = limits(concurrent=1)
    simulator.config.run_time = 4
    before = set(simulator.predictions)
    first = client.submit("slow one", **IMAGE)
    _wait_processing(simulator, before)
    message = _refusal(lambda: client.predict("second at once", **IMAGE))
    assert "already have 1 run going" in message
    first.result(timeout=60)
    simulator.config.run_time = 0.05
    gallery, *_ = client.predict("after the first ended", **IMAGE)
    assert gallery
    # A stopped run frees its slot too.
    simulator.config.run_time = 30
    before = set(simulator.predictions)
    stopped = client.submit("to be stopped", **IMAGE)
    _wait_processing(simulator, before)
    stopped.cancel()
    simulator.config.run_time = 0.05

    def running() -> int:  # the runs holding a slot, as the store counts them
        with contextlib.closing(sqlite3.connect(quota.state_db)) as db:
            return int(db.execute("SELECT count(*) FROM runs WHERE running = 1").fetchone()[0])

    until(lambda: running() == 0, 30, "the stopped run kept its slot")
    gallery, *_ = client.predict("after the stop", **IMAGE)  # one try: the slot is free
    assert gallery


@pytest.mark.slow  # launches the app (module fixture)
def test_daily_runs_of_all_visitors_together(app, limits, simulator) -> None:  # type: ignore[no-untyped-def]
    limits(daily_runs=2, proxy_hops=1)
    url = app[0]
    visitors = [_client(url, **{"X-Forwarded-For": f"198.51.100.{i}"}) for i in (1, 2, 3)]
    try:
        visitors[0].predict("first visitor", **IMAGE)
        visitors[1].predict("second visitor", **IMAGE)
        message = _refusal(lambda: visitors[2].predict("third visitor", **IMAGE))
        assert "made its 2 runs for all visitors today" in message
    finally:
        for c in visitors:
            c.close()
    assert len(_creates(simulator)) == 2


@pytest.mark.slow  # launches the app (module fixture)
def test_model_outside_the_allow_list_is_refused_naming_the_allowed(
    app, limits, client, simulator
) -> None:  # type: ignore[no-untyped-def]
    limits()
    message = _refusal(
        lambda: client.predict("x", model="ideogram-ai/ideogram-v3", api_name="/image")
    )
    assert "ideogram-ai/ideogram-v3 cannot run on this Space's token" in message
    assert "black-forest-labs/flux-schnell" in message  # the allowed ones are named
    message = _refusal(
        lambda: client.predict("hi", model="black-forest-labs/flux-schnell", api_name="/chat")
    )
    assert "Chat panel" in message and "meta/meta-llama-3-70b-instruct" in message
    assert simulator.requests == []
    limits(allowed=None)  # NEUROLINK_ALLOWED_MODELS=* : any model
    gallery, *_ = client.predict("x", model="ideogram-ai/ideogram-v3", api_name="/image")
    assert gallery


@pytest.mark.slow  # launches the app (module fixture)
def test_owner_runs_carry_cancel_after_and_own_tokens_do_not(
    app, limits, client, simulator
) -> None:  # type: ignore[no-untyped-def]
    limits()
    client.predict("owner pays", **IMAGE)
    (create,) = _creates(simulator)
    assert create.token_id == token_id(TOKEN)
    assert {k.lower(): v for k, v in create.headers.items()}["cancel-after"] == f"{MAX_SECONDS}s"
    simulator.requests.clear()
    client.predict(OTHER_TOKEN, False, api_name="/sign_in")
    client.predict("visitor pays", **IMAGE)
    (own,) = _creates(simulator)
    assert own.token_id == token_id(OTHER_TOKEN)
    # A visitor's own token: the model's own deadline (its panel's usual run; tests/runs/
    # test_deadlines.py), not the owner's limit.
    flux = deadline_seconds(known_run_time(IMAGE["model"], "image"), official=True, default=60)
    assert {k.lower(): v for k, v in own.headers.items()}["cancel-after"] == f"{flux:g}s"


@pytest.mark.slow  # launches the app (module fixture)
def test_cost_parameters_are_capped_with_a_note(app, limits, client, simulator) -> None:  # type: ignore[no-untyped-def]
    limits(caps=OwnerCaps(images=2, tokens=64, music_seconds=4))
    gallery, status, *_ = client.predict("three please", num_outputs=3, **IMAGE)
    assert len(gallery) == 2
    assert "num_outputs 3 → 2" in status
    _, _, status, *_ = client.predict("hello", max_tokens=512, api_name="/chat")
    chat_input = max(simulator.predictions.values(), key=lambda p: p.created_at).input
    assert chat_input.get("max_tokens", chat_input.get("max_new_tokens")) == 64
    assert "→ 64" in status
    _, status, *_ = client.predict("jazz", duration=12, api_name="/music")
    music_input = max(simulator.predictions.values(), key=lambda p: p.created_at).input
    assert music_input["duration"] == 4 and "duration 12 → 4" in status


# ---- who is limited ----------------------------------------------------------------------------


@pytest.mark.slow  # launches the app (module fixture)
def test_own_token_is_unlimited(app, limits, client, simulator) -> None:  # type: ignore[no-untyped-def]
    limits(runs_per_day=1, runs_per_minute=1, concurrent=1, daily_runs=1)
    client.predict(OTHER_TOKEN, False, api_name="/sign_in")
    for i in range(4):
        client.predict(f"mine {i}", **IMAGE)
    client.predict("any model", model="ideogram-ai/ideogram-v3", api_name="/image")
    assert len(_creates(simulator)) == 5
    assert {r.token_id for r in _creates(simulator)} == {token_id(OTHER_TOKEN)}


@pytest.fixture
async def own_ctx(simulator, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Limits for handlers called directly, on this test's event loop."""
    made: list[AppContext] = []

    def create(**changes: object) -> AppContext:
        quota = dataclasses.replace(_base_quota(tmp_path / "state.db"), **changes)
        settings = Settings(api_token=TOKEN, base_url=simulator.base_url, quota=quota)
        made.append(AppContext.create(settings, outputs_dir=tmp_path / "out"))
        return made[-1]

    yield create
    for ctx in made:
        await ctx.aclose()


async def test_simulator_is_never_limited(own_ctx, simulator) -> None:  # type: ignore[no-untyped-def]
    from neurolink_ui.ui.panels.image import make_image_handler

    ctx = own_ctx(runs_per_day=1, daily_runs=1, concurrent=1, runs_per_minute=1)
    handler = make_image_handler(ctx)
    for i in range(3):
        updates = [u async for u in handler(f"sim {i}", "ideogram-ai/ideogram-v3", session_token=BUILTIN_SIMULATOR_TOKEN)]  # fmt: skip
        assert updates[-1][0]
    assert _creates(simulator) == []  # the owner's simulator-backed Replicate saw nothing


@pytest.mark.slow  # launches the app (module fixture)
def test_spoofed_forwarded_for_does_not_reset_the_quota(app, limits, simulator) -> None:  # type: ignore[no-untyped-def]
    limits(runs_per_day=1)  # NEUROLINK_PROXY_HOPS=0: the socket peer counts
    url = app[0]
    plain = _client(url)
    spoofing = _client(url, **{"X-Forwarded-For": "203.0.113.77"})
    try:
        plain.predict("mine", **IMAGE)
        assert "used your 1 run" in _refusal(lambda: spoofing.predict("again", **IMAGE))
    finally:
        plain.close()
        spoofing.close()
    limits(runs_per_day=1, proxy_hops=1)  # behind one proxy: its appended entry counts
    first = _client(url, **{"X-Forwarded-For": "198.51.100.20"})
    prefixed = _client(url, **{"X-Forwarded-For": "203.0.113.1, 198.51.100.20"})
    try:
        first.predict("mine", **IMAGE)
        assert "used your 1 run" in _refusal(lambda: prefixed.predict("again", **IMAGE))
    finally:
        first.close()
        prefixed.close()


async def test_signed_in_hugging_face_user_has_the_user_quota(own_ctx, simulator) -> None:  # type: ignore[no-untyped-def]
    import gradio as gr

    from neurolink_ui.ui.panels.chat import make_chat_handler
    from neurolink_ui.ui.quota import meter_markdown, visitor_of

    ctx = own_ctx(runs_per_day=1, user_runs_per_day=3)
    profile = gr.OAuthProfile(
        {"name": "Ada", "preferred_username": "ada", "profile": "", "picture": ""}
    )
    assert visitor_of(ctx, None, profile).key == "hf:ada"
    chat = make_chat_handler(ctx)
    for i in range(3):
        [u async for u in chat(f"hello {i}", [], profile=profile)]
    assert "0 of 3" in await meter_markdown(ctx, None, None, profile)
    with pytest.raises(gr.Error, match="used your 3 runs"):
        [u async for u in chat("fourth", [], profile=profile)]
    # Signed out, the same handler counts the (empty) session against the visitor quota of 1.
    [u async for u in chat("anonymous", [])]
    with pytest.raises(gr.Error, match="used your 1 run"):
        [u async for u in chat("anonymous again", [])]


# ---- atomic under concurrency ------------------------------------------------------------------


def _fifty_at_once(urls: list[str]) -> tuple[int, list[str]]:
    """50 simultaneous /image calls from one visitor, spread over `urls`; (successes, refusals)."""
    clients = [_client(url) for url in urls]
    try:
        jobs = [clients[i % len(clients)].submit(f"burst {i}", **IMAGE) for i in range(50)]
        ok, refusals = 0, []
        for job in jobs:
            try:
                job.result(timeout=120)
                ok += 1
            except AppError as exc:
                refusals.append(str(exc))
        return ok, refusals
    finally:
        for c in clients:
            c.close()


@pytest.mark.slow  # launches the app (module fixture)
def test_fifty_simultaneous_calls_with_a_daily_limit_of_ten(app, limits, simulator) -> None:  # type: ignore[no-untyped-def]
    limits(runs_per_day=10)
    simulator.config.run_time = 1
    ok, refusals = _fifty_at_once([app[0]])
    assert ok == 10 and len(refusals) == 40
    assert all("used your 10 runs for today" in r for r in refusals)
    assert len(_creates(simulator)) == 10


def _owner_env(sim, extra: dict[str, str]) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {"REPLICATE_API_TOKEN": TOKEN, "REPLICATE_BASE_URL": sim.base_url, **extra}


@pytest.mark.slow  # starts `python app.py`
@pytest.mark.timeout(600)  # two app processes start; slow on a shared machine
def test_two_app_processes_share_one_redis(simulator, redis_url: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    simulator.config.run_time = 1
    env = {
        "NEUROLINK_REDIS_URL": redis_url,
        "NEUROLINK_VISITOR_RUNS_PER_DAY": "10",
        "NEUROLINK_VISITOR_RUNS_PER_MINUTE": "0",
        "NEUROLINK_VISITOR_CONCURRENT": "0",
        "NEUROLINK_DATA_DIR": str(tmp_path / "data"),
    }
    apps = [
        start_app_process(_owner_env(simulator, env), tmp_path / f"app{i}.log") for i in range(2)
    ]
    try:
        for i, (process, url) in enumerate(apps):
            log = tmp_path / f"app{i}.log"
            wait_for_page(url, process, log.read_text, timeout=240)
        ok, refusals = _fifty_at_once([url for _, url in apps])
        assert ok == 10 and len(refusals) == 40
        assert len(_creates(simulator)) == 10
        assert not (tmp_path / "data" / "state.db").exists()  # Redis, not SQLite, held the counts
    finally:
        for process, _ in apps:
            process.terminate()
            process.wait(timeout=20)


@pytest.mark.slow  # starts `python app.py`
@pytest.mark.timeout(600)
def test_bad_settings_stop_the_start_with_a_clear_error(simulator, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    started: list[tuple[subprocess.Popen[bytes], Path, str]] = []
    for extra, needle in (
        ({"NEUROLINK_VISITOR_RUNS_PER_DAY": "abc"}, "NEUROLINK_VISITOR_RUNS_PER_DAY must be a whole number"),
        ({"NEUROLINK_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"}, "NEUROLINK_REDIS_URL: cannot reach Redis"),
    ):  # fmt: skip
        log = tmp_path / f"bad-{len(started)}.log"
        started.append((start_app_process(_owner_env(simulator, extra), log)[0], log, needle))
    for process, log, needle in started:  # started together: each spends its time importing
        assert process.wait(timeout=120) != 0
        assert f"error: {needle}" in log.read_text()


async def test_meter_counts_down(own_ctx) -> None:  # type: ignore[no-untyped-def]
    from neurolink_ui.ui.panels.image import make_image_handler
    from neurolink_ui.ui.quota import meter_markdown

    ctx = own_ctx(runs_per_day=5)

    class Peer:  # the loopback visitor, as gradio_client's requests arrive
        client = type("C", (), {"host": "127.0.0.1"})()
        headers = None
        session_hash = "x"

    assert "5 of 5" in await meter_markdown(ctx, None, Peer(), None)  # type: ignore[arg-type]
    image = make_image_handler(ctx)
    [u async for u in image("one", IMAGE["model"], request=Peer())]  # type: ignore[arg-type]
    text = await meter_markdown(ctx, None, Peer(), None)  # type: ignore[arg-type]
    assert "4 of 5** runs left today on this Space's token" in text
    assert "your own token" in await meter_markdown(ctx, OTHER_TOKEN, Peer(), None)  # type: ignore[arg-type]
    assert "simulator" in await meter_markdown(ctx, BUILTIN_SIMULATOR_TOKEN, Peer(), None)  # type: ignore[arg-type]


async def test_sign_in_button_only_when_the_space_enables_oauth(own_ctx, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import gradio as gr

    def login_buttons(ctx: AppContext) -> int:
        demo = build_app(ctx=ctx)
        return sum(isinstance(block, gr.LoginButton) for block in demo.blocks.values())

    assert login_buttons(own_ctx()) == 0  # OAuth off: no button, no session middleware
    import gradio.oauth

    # As on a Space with `hf_oauth: true` (Gradio read these at import); the provider URL is a
    # closed loopback port, so nothing could leave the machine even if it were fetched.
    monkeypatch.setenv("SYSTEM", "spaces")
    monkeypatch.setenv("SPACE_ID", "owner/demo")
    for name, value in {
        "OAUTH_CLIENT_ID": "abc",
        "OAUTH_CLIENT_SECRET": "secret",
        "OAUTH_SCOPES": "openid profile",
        "OPENID_PROVIDER_URL": "http://127.0.0.1:9",
    }.items():
        monkeypatch.setattr(gradio.oauth, name, value)
    with_oauth = own_ctx(oauth=True, space_id="owner/demo")
    assert login_buttons(with_oauth) == 1
    settings = Settings.from_env(
        {"REPLICATE_API_TOKEN": TOKEN, "SPACE_ID": "owner/demo", "OAUTH_CLIENT_ID": "abc"}
    )
    assert settings.quota.oauth and settings.quota.duplicate_url == (
        "https://huggingface.co/spaces/owner/demo?duplicate=true"
    )
    assert not Settings.from_env({"REPLICATE_API_TOKEN": TOKEN, "SPACE_ID": "o/d"}).quota.oauth


@pytest.mark.slow  # launches the app (module fixture)
def test_hidden_endpoints_are_limited_too(app, limits, client, simulator) -> None:  # type: ignore[no-untyped-def]
    """The private Enter-to-send chat event, called over raw HTTP as a scraper would."""
    import json
    import uuid

    import httpx

    url = app[0]
    limits(runs_per_day=1)
    client.predict("the one run", api_name="/chat")
    demo_config = httpx.get(f"{url}config", timeout=30).json()
    private = [
        i
        for i, dep in enumerate(demo_config["dependencies"])
        if dep.get("api_name") == "chat_1"  # message.submit: the chat handler, not in the API
    ]
    assert private, "the hidden chat event is gone"
    session = uuid.uuid4().hex
    inputs = ["hidden", [], "You are helpful.", "meta/meta-llama-3-70b-instruct", 64, 0.5, "{}"]
    # The rest (an image, the session's states) left empty, however many the event takes.
    data = inputs + [None] * (len(demo_config["dependencies"][private[0]]["inputs"]) - len(inputs))
    creates = len(_creates(simulator))
    with httpx.Client(base_url=url, timeout=60) as http:
        joined = http.post(
            "gradio_api/queue/join",
            json={"data": data, "fn_index": private[0], "session_hash": session},
        )
        assert joined.status_code == 200, joined.text
        completed = None
        with http.stream("GET", "gradio_api/queue/data", params={"session_hash": session}) as sse:
            for line in sse.iter_lines():
                if line.startswith("data:"):
                    message = json.loads(line[5:])
                    if message.get("msg") == "process_completed":
                        completed = message
                        break
    assert completed is not None and completed["success"] is False
    assert "used your 1 run for today" in json.dumps(completed)
    assert len(_creates(simulator)) == creates  # nothing reached Replicate


def test_explore_runs_are_limited_like_every_panel(app, limits, client, simulator) -> None:  # type: ignore[no-untyped-def]
    run = {"api_name": "/run_model"}
    limits(runs_per_day=1)
    client.predict("black-forest-labs/flux-schnell", '{"prompt": "one"}', **run)
    simulator.requests.clear()
    message = _refusal(
        lambda: client.predict("black-forest-labs/flux-schnell", '{"prompt": "two"}', **run)
    )
    assert "used your 1 run for today" in message
    limits()  # Explore's allow-list: what the panels may run
    message = _refusal(lambda: client.predict("nightmareai/real-esrgan", "{}", **run))
    assert "cannot run on this Space's token from the Explore panel" in message
    assert simulator.requests == []  # both refused before any request to Replicate


# ---- issue 20 item 5: every cost driver, every entry point ----------------------------------


def _last_input(simulator) -> dict:  # type: ignore[no-untyped-def,type-arg]
    return max(simulator.predictions.values(), key=lambda p: p.created_at).input


@pytest.mark.slow  # launches the app (module fixture)
def test_every_cost_driver_is_capped_on_every_entry_point(app, limits, client, simulator) -> None:  # type: ignore[no-untyped-def]
    from neurolink_ui.quota.settings import AllowList

    limits(caps=OwnerCaps(images=4, music_seconds=30, tokens=4096), allowed=AllowList.parse("*"))
    run = {"api_name": "/run_model"}
    # A count field outside the usual names, and a resolution choice, through Explore.
    *_, status = client.predict(
        "bytedance/seedream-4",
        '{"prompt": "a fox", "max_images": 15, "size": "4K", '
        '"sequential_image_generation": "auto"}',
        **run,
    )
    sent = _last_input(simulator)
    assert sent["max_images"] == 4 and sent["size"] == "2K", sent
    assert "max_images 15 → 4" in str(status) and "size 4K → 2K" in str(status)
    # Explore gets the seconds caps: its default 190 s is not sent.
    client.predict("stability-ai/stable-audio-2.5", '{"prompt": "jazz"}', **run)
    assert _last_input(simulator)["duration"] == 30
    # A token field with no default gets a ceiling, even with "Max tokens" 0.
    for model in ("openai/gpt-5", "openai/gpt-5-mini"):
        client.predict("hello", model=model, max_tokens=0, api_name="/chat")
        assert _last_input(simulator)["max_completion_tokens"] == 4096
    # The app keeps serving.
    gallery, status, *_ = client.predict("still serving", **IMAGE)
    assert gallery and "Done" in status


@pytest.mark.slow  # launches the app (module fixture)
def test_input_characters_are_capped_on_the_owners_token(app, limits, client, simulator) -> None:  # type: ignore[no-untyped-def]
    from neurolink_ui.quota.settings import AllowList

    limits(caps=OwnerCaps(input_chars=20_000), allowed=AllowList.parse("*"))
    simulator.requests.clear()
    message = _refusal(
        lambda: client.predict("x" * 150_000, model="anthropic/claude-4-sonnet", api_name="/chat")
    )
    assert "150,0" in message and "20,000" in message
    assert _creates(simulator) == []
    client.predict("short is fine", model="anthropic/claude-4-sonnet", api_name="/chat")
    assert len(_creates(simulator)) == 1


@pytest.mark.slow  # launches the app (module fixture)
def test_a_quota_refusal_is_one_warning_line_not_a_traceback(  # type: ignore[no-untyped-def]
    app, limits, client, simulator, capfd, caplog
) -> None:
    limits(runs_per_day=1)
    client.predict("the one run", **IMAGE)
    capfd.readouterr()
    with caplog.at_level("WARNING"):
        for call in (
            lambda: client.predict("one too many", **IMAGE),
            lambda: client.predict("and a chat", api_name="/chat"),
        ):
            assert "used your 1 run for today" in _refusal(call)
    _, err = capfd.readouterr()
    assert "Traceback" not in err, err[-2000:]
    refusals = [r for r in caplog.records if "used your 1 run" in r.getMessage()]
    assert len(refusals) == 2 and all(r.levelname == "WARNING" and not r.exc_info for r in refusals)
