"""A prediction's life as an asyncio task in the server's loop: starting → processing → done.

`start_prediction` registers it and schedules its task (and its Cancel-After deadline);
`stop_prediction` ends it now (user cancel, deadline). Outputs come from `SimState.generate`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time

from .catalog import Generation
from .state import PredictionState, SimState, SseEvent

logger = logging.getLogger(__name__)

PA_ERROR = "Prediction interrupted; please retry (code: PA)"


def _finish(pred: PredictionState, status: str, error: str | None = None) -> None:
    if pred.is_terminal:
        return
    pred.status = status
    pred.error = error
    pred.completed_at = time.time()
    if pred.deadline_timer is not None:
        pred.deadline_timer.cancel()
    if status == "failed":
        pred.events.append(SseEvent("error", json.dumps({"detail": error or "failed"})))
        pred.events.append(SseEvent("done", json.dumps({"reason": "error"})))
    elif status in ("canceled", "aborted"):
        pred.events.append(SseEvent("done", json.dumps({"reason": "canceled"})))
    else:
        pred.events.append(SseEvent("done", "{}"))
    pred.notify()


def stop_prediction(pred: PredictionState, status: str) -> None:
    """User cancel or deadline: end the prediction now and stop its task."""
    _finish(pred, status)
    if pred.task is not None and not pred.task.done():
        pred.task.cancel()


async def _spread_logs(pred: PredictionState, lines: list[str], seconds: float) -> None:
    step = seconds / max(len(lines), 1)
    for line in lines:
        pred.add_log(line)
        await asyncio.sleep(step)
    if not lines:
        await asyncio.sleep(seconds)


async def _run_prediction(state: SimState, pred: PredictionState) -> None:
    try:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(pred.booted.wait(), pred.cold_start)
        if pred.outcome == "aborted":
            _finish(pred, "aborted")
            return
        pred.status = "processing"
        pred.started_at = time.time()
        pred.notify()
        try:
            generation = await asyncio.to_thread(state.generate, pred.model, pred.prepared_input)
        except ValueError as exc:
            _finish(pred, "failed", str(exc))
            return
        if generation.tokens is not None:
            await _emit_tokens(pred, generation)
        elif generation.value is not None:
            await _emit_value(pred, generation)
        else:
            await _emit_files(state, pred, generation)
    except asyncio.CancelledError:
        pass  # canceled, aborted by deadline, or server shutdown: the state is already final
    except Exception as exc:  # a simulator bug must not leave the prediction hanging
        logger.exception("prediction %s crashed", pred.id)
        _finish(pred, "failed", f"simulator error: {exc}")


def _failing_at(pred: PredictionState, count: int) -> int:
    """How many of `count` tokens or log lines a failing prediction sends before it fails."""
    return count // 2 if pred.fail_after is None else min(pred.fail_after, count)


async def _emit_tokens(pred: PredictionState, generation: Generation) -> None:
    tokens = generation.tokens or []
    pred.single = generation.single
    for line in generation.logs:
        pred.add_log(line)
    await asyncio.sleep(pred.first_token_delay)
    if pred.outcome == "failed":
        for token in tokens[: _failing_at(pred, len(tokens))]:
            pred.add_token(token)
            await asyncio.sleep(pred.token_interval)
        _finish(pred, "failed", pred.failure or PA_ERROR)
        return
    for index, token in enumerate(tokens):
        if index:
            await asyncio.sleep(pred.token_interval)
        pred.add_token(token)
    pred.output_complete = True
    pred.notify()
    # Replicate's sync reply can catch this moment: `processing` with the full output (sample 07).
    await asyncio.sleep(pred.token_interval)
    _finish(pred, "succeeded")


async def _run_logs(pred: PredictionState, generation: Generation) -> bool:
    """The run's logs over its run time; False when the run fails halfway (outcome `failed`)."""
    if pred.outcome == "failed":
        lines = generation.logs[: _failing_at(pred, len(generation.logs))]
        share = len(lines) / len(generation.logs) if generation.logs else 0.5
        await _spread_logs(pred, lines, pred.run_time * share)
        _finish(pred, "failed", pred.failure or PA_ERROR)
        return False
    await _spread_logs(pred, generation.logs, pred.run_time)
    return True


async def _emit_files(state: SimState, pred: PredictionState, generation: Generation) -> None:
    pred.single = generation.single
    if not await _run_logs(pred, generation):
        return
    delivered = state.deliver(generation.files)
    pred.files = delivered
    for item in delivered:
        pred.events.append(SseEvent("output", "", file=item))
    pred.output_complete = True
    _finish(pred, "succeeded")


async def _emit_value(pred: PredictionState, generation: Generation) -> None:
    """A JSON output: logs while it runs, then the whole value at once (one `output` event)."""
    if not await _run_logs(pred, generation):
        return
    pred.value = generation.value
    pred.events.append(SseEvent("output", json.dumps(generation.value)))
    pred.output_complete = True
    _finish(pred, "succeeded")


def start_prediction(state: SimState, pred: PredictionState, cancel_after: float | None) -> None:
    loop = asyncio.get_running_loop()
    state.predictions[pred.id] = pred
    pred.task = loop.create_task(_run_prediction(state, pred), name=f"prediction-{pred.id}")
    if cancel_after is not None:
        pred.deadline = pred.created_at + cancel_after

        def expire() -> None:
            if not pred.is_terminal:
                stop_prediction(pred, "aborted" if pred.status == "starting" else "canceled")

        pred.deadline_timer = loop.call_later(cancel_after, expire)
