"""The run core, through every entry point that renders it: the behaviours that used to differ
between the copies of the run (a community model's "Ran version" note, Stop before the
prediction has an id, an over-size output named as such) hold on each of them.

Each entry point is driven the way its page or API event drives it, as a plain async generator
against the loopback simulator.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from helpers import until_async

from neurolink_ui.comparison import cell_key, parse_plan
from neurolink_ui.runs import Caller, LiveRuns, live_run
from neurolink_ui.ui.context import AppContext
from neurolink_ui.ui.history_log import HistoryLog
from neurolink_ui.ui.live import make_stop_handler
from neurolink_ui.ui.panels.chat import make_chat_handler
from neurolink_ui.ui.panels.compare_cells import cell_status, run_cell
from neurolink_ui.ui.panels.explore import ExploreHandlers
from neurolink_ui.ui.panels.image import make_image_handler

CHAT_MODEL = "meta/meta-llama-3-8b-instruct"
IMAGE_MODEL = "black-forest-labs/flux-schnell"
LIMITS = {"text_limit": 4000, "chat_limit": 4000}


def _statuses(updates: list[Any]) -> list[str]:
    """The status texts of a panel's updates (the last value of each)."""
    return [u[-1] for u in updates if isinstance(u[-1], str)]


# Each entry point as (its Stop key, a function starting one run with the given LiveRuns and
# History log), so every test runs over all of them.
Starter = Callable[[AppContext, str, LiveRuns, HistoryLog], AsyncIterator[Any]]


async def _image(
    ctx: AppContext, model: str, live: LiveRuns, log: HistoryLog
) -> AsyncIterator[Any]:
    async for update in make_image_handler(ctx)(
        "a lighthouse", model, "1:1", generations=log, live=live
    ):
        yield update


async def _chat(ctx: AppContext, model: str, live: LiveRuns, log: HistoryLog) -> AsyncIterator[Any]:
    async for update in make_chat_handler(ctx)(
        "Explain tides", [], model=model, generations=log, live=live
    ):
        yield update


async def _explore(
    ctx: AppContext, model: str, live: LiveRuns, log: HistoryLog
) -> AsyncIterator[Any]:
    prompt = '{"prompt": "a lighthouse"}' if "flux" in model else '{"prompt": "Explain tides"}'
    async for update in ExploreHandlers(ctx).run(model, prompt, generations=log, live=live):
        yield update


async def _cell(ctx: AppContext, model: str, live: LiveRuns, log: HistoryLog) -> AsyncIterator[Any]:
    modality = "image" if "flux" in model or "playground" in model else "chat"
    other = "bytedance/seedream-4" if modality == "image" else "openai/gpt-5-mini"
    plan = parse_plan(modality, [model, other], {"prompt": "a lighthouse"}, None, None, **LIMITS)
    with live_run(live, cell_key(0)):  # as the cell's page event marks it
        async for view in run_cell(ctx, plan, 0, Caller(results=log, live=live)):
            yield (cell_status(view, hidden=False),)


ENTRY_POINTS: dict[str, tuple[str, Starter]] = {
    "image panel": ("image", _image),
    "chat": ("chat", _chat),
    "compare cell": (cell_key(0), _cell),
    "explore": ("explore", _explore),
}


@pytest.mark.parametrize("entry", ["image panel", "chat", "compare cell", "explore"])
async def test_a_community_model_says_which_version_ran(
    ctx: AppContext, simulator, entry: str
) -> None:  # type: ignore[no-untyped-def]
    """Every entry point closes a community model's run with the version it ran on (Chat used
    to skip it)."""
    model = CHAT_MODEL if entry == "chat" else IMAGE_MODEL
    simulator.config.model_overrides = {model: {"official": False}}
    info = await ctx.client.get_model(model, token=ctx.backend(None).token)
    assert not info.is_official and info.version_id
    _, start = ENTRY_POINTS[entry]
    log = HistoryLog()
    updates = [u async for u in start(ctx, model, LiveRuns(), log)]
    last = _statuses(updates)[-1]
    assert "Done" in last and f"Ran version {info.version_id[:12]}" in last
    assert log.count == 1 and any("Ran version" in note for note in log.entries[0].notes)


@pytest.mark.parametrize("entry", ["image panel", "chat", "compare cell", "explore"])
async def test_stop_before_the_prediction_has_an_id_cancels_it_when_it_arrives(
    ctx: AppContext, simulator, entry: str
) -> None:  # type: ignore[no-untyped-def]
    """Stop pressed while the create is still on its way: the run cancels the prediction the
    moment its id arrives, on every entry point, and ends saying it stopped."""
    key, start = ENTRY_POINTS[entry]
    model = CHAT_MODEL if entry == "chat" else IMAGE_MODEL
    simulator.config.create_delay = 1.0  # the id arrives a second after the prediction exists
    simulator.config.run_time = 30  # long enough that only the cancel can end it
    simulator.config.token_interval = 0.2
    live, log = LiveRuns(), HistoryLog()
    before = set(simulator.predictions)
    updates: list[Any] = []

    async def consume() -> None:
        async for update in start(ctx, model, live, log):
            updates.append(update)

    task = asyncio.create_task(consume())
    try:
        await until_async(
            lambda: key in live.active and bool(set(simulator.predictions) - before),
            10,
            "the create reaching the simulator",
        )
        assert key not in live.running  # …and its id has not come back yet
        said = await make_stop_handler(ctx, key, report_wait=0.0)(None, live)
        assert "had not started a prediction" in said
        async with asyncio.timeout(15):
            await task
    finally:
        task.cancel()
    (created,) = [p for pid, p in simulator.predictions.items() if pid not in before]
    assert created.status == "canceled"
    assert any("Stopped" in status for status in _statuses(updates)[-1:])
    assert log.count == 0  # nothing finished, nothing recorded


@pytest.mark.parametrize("entry", ["image panel", "compare cell"])
async def test_an_over_size_image_says_so_not_the_sessions_room(
    ctx: AppContext, simulator, entry: str
) -> None:  # type: ignore[no-untyped-def]
    """An image past the per-kind size cap is named as such; it used to be reported as "this
    session has … left" because both messages contain "limit"."""
    cap = ctx.client.size_caps["image"]
    ctx.outputs.session_cap_bytes = 100 * 2**20  # a Space's cap: the session's room applies
    assert cap < ctx.outputs.room(None) < ctx.settings.max_output_bytes
    simulator.config.output_padding = cap + 1024
    _, start = ENTRY_POINTS[entry]
    updates: list[Any] = []
    try:
        async for update in start(ctx, IMAGE_MODEL, LiveRuns(), HistoryLog()):
            updates.append(update)
    except Exception as exc:  # the panel raises its failure for API callers
        updates.append((str(exc),))
    said = " ".join(str(u[-1]) for u in updates[-2:])
    assert f"{cap // 2**20} MiB limit for image outputs" in said
    assert "this session has" not in said.lower() and "left of its" not in said


@pytest.mark.parametrize("models", [2, 4])
async def test_streaming_cells_share_the_pages_rate_of_text_updates(
    ctx: AppContext, simulator, models: int
) -> None:  # type: ignore[no-untyped-def]
    """A Compare cell among N streaming answers shows its text at 10/N updates a second, so the
    page re-renders no more often than it does for one answer (Chat's rate)."""
    simulator.config.token_interval = 0.02  # 50 tokens a second for ~1 s: more than is shown
    chat_models = [
        "meta/meta-llama-3-8b-instruct", "meta/meta-llama-3-70b-instruct",
        "openai/gpt-5-mini", "anthropic/claude-4-sonnet",
    ]  # fmt: skip
    plan = parse_plan(
        "chat", chat_models[:models], {"prompt": "Explain tides", "max_tokens": 600},
        None, None, **LIMITS,
    )  # fmt: skip
    request_interval = models / 10  # the page's ten text updates a second, shared
    shown: list[float] = []
    loop = asyncio.get_running_loop()
    async for view in run_cell(ctx, plan, 0, Caller()):
        if view.state == "running" and view.text:
            shown.append(loop.time())
    assert len(shown) >= 2
    gaps = [b - a for a, b in itertools.pairwise(shown)]
    # The pacer's interval is the floor between two shown updates (the loop's clock, with slack
    # for scheduling): 0.2 s for one of two answers, 0.4 s for one of four.
    assert min(gaps) >= request_interval - 0.05, (models, gaps)
