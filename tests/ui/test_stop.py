"""Stop on a panel, with the handlers called as plain async generators against the simulator.

The page writes an event's last update again when the event completes, so after Stop the run's
own last update must be the one that says it stopped; the Stop button's handler writes the status
only for a run that does not end by itself.
"""

from __future__ import annotations

import asyncio
from typing import Any

import gradio as gr

from neurolink_ui.replicate.types import ModelRef
from neurolink_ui.ui.app import LiveRuns
from neurolink_ui.ui.context import AppContext
from neurolink_ui.ui.live import make_stop_handler
from neurolink_ui.ui.panels.chat import make_chat_handler
from neurolink_ui.ui.panels.image import make_image_handler

STOPPED = "⏹ **Stopped — canceled at Replicate.**"


async def _collect(updates: Any, into: list[tuple[Any, ...]]) -> None:
    async for update in updates:
        into.append(update)


def _answers(updates: list[tuple[Any, ...]]) -> list[str]:
    """The answer as each chat update showed it (progress updates leave the dialog)."""
    return [str(u[0][-1]["content"]) for u in updates if isinstance(u[0], list)]


async def _until(condition: Any, within: float = 20) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_a_stopped_media_run_ends_with_its_own_stopped_status(
    ctx: AppContext, simulator
) -> None:  # type: ignore[no-untyped-def]
    simulator.config.run_time = 30  # only a cancel ends it
    live = LiveRuns()
    updates: list[tuple[Any, ...]] = []
    run = asyncio.create_task(
        _collect(make_image_handler(ctx)("a slow red panda", live=live), updates)
    )
    await _until(lambda: "image" in live.running and len(updates) >= 2)
    prediction_id = live.running["image"]
    await _until(lambda: simulator.predictions[prediction_id].status == "processing")

    said = await make_stop_handler(ctx, "image")(None, live)

    assert said == gr.skip()  # the run said it: a status here would be overwritten
    assert run.done()  # it ended within the wait, by itself
    gallery, status = updates[-1]
    assert gallery == gr.skip()  # the outputs stay as they were
    assert status.startswith(STOPPED)
    assert simulator.predictions[prediction_id].status == "canceled"
    assert live.active == set() and live.running == {}  # the next run starts clean


async def test_a_stopped_chat_keeps_what_streamed_and_ends_with_the_stopped_status(
    ctx: AppContext, simulator
) -> None:  # type: ignore[no-untyped-def]
    simulator.config.token_interval = 0.01
    before = set(simulator.predictions)
    live = LiveRuns()
    updates: list[tuple[Any, ...]] = []
    chat = make_chat_handler(ctx)
    advanced = '{"min_tokens": 4000}'
    run = asyncio.create_task(
        _collect(
            chat(
                "Tell me everything about tides",
                [],
                model="meta/meta-llama-3-70b-instruct",
                max_tokens=4096,
                advanced=advanced,
                live=live,
            ),
            updates,
        )
    )
    await _until(lambda: len(_answers(updates)[-1:][0] if _answers(updates) else "") > 100)
    said = await make_stop_handler(ctx, "chat")(None, live)
    assert said == gr.skip()
    assert run.done()
    dialog, message_box, status = updates[-1]
    assert status.startswith(STOPPED)
    assert message_box == gr.skip()  # the box stays as Send left it (emptied: it was sent)
    assert dialog[0] == {"role": "user", "content": "Tell me everything about tides"}
    *_, shown, answer = _answers(updates)
    assert len(answer) >= len(shown) > 100 and answer.startswith(shown)  # what streamed is kept
    (prediction,) = [p for i, p in simulator.predictions.items() if i not in before]
    assert prediction.status == "canceled"
    assert len(prediction.tokens or []) < 4000


async def test_stop_says_itself_what_happened_when_the_run_does_not_end(
    ctx: AppContext, simulator
) -> None:  # type: ignore[no-untyped-def]
    """A run that does not end within the wait (here: none follows the prediction) is ended by
    `cancels=`, which sends nothing more: the Stop handler's status is the last word."""
    simulator.config.run_time = 30
    backend = ctx.backend(None)
    prediction = await backend.client.create_prediction(
        ModelRef.parse("black-forest-labs/flux-schnell"), {"prompt": "x"}, token=backend.token
    )
    live = LiveRuns()
    live.start("image")
    live.track("image", prediction.id)

    said = await make_stop_handler(ctx, "image", report_wait=0.3)(None, live)

    assert said.startswith(STOPPED) and prediction.id in said
    assert simulator.predictions[prediction.id].status == "canceled"


async def test_stop_before_any_prediction_says_so(ctx: AppContext) -> None:
    live = LiveRuns()
    live.start("video")
    said = await make_stop_handler(ctx, "video")(None, live)
    assert "had not started a prediction" in said
    assert "video" in live.stopping  # the run shows no more progress


async def test_stop_when_nothing_runs_does_nothing(ctx: AppContext) -> None:
    """A Stop after the run ended (or before any) leaves the status as the run left it, its
    prediction id and seed included, and marks nothing stopping."""
    live = LiveRuns()
    live.start("image")
    live.track("image", "p-finished")
    live.finish("image")  # the run ended
    said = await make_stop_handler(ctx, "image")(None, live)
    assert said == gr.skip()
    assert live.stopping == set() and live.canceled == set()
    assert await make_stop_handler(ctx, "chat")(None, None) == gr.skip()
