"""The Compare API: `/compare` runs 2–4 models on one input as one event merging every cell's
stream (asyncio tasks), and `/compare_stop` stops one cell. Each cell is `compare.run_cell()`, the
same run as a cell on the page; the result is each cell (`comparison.CellView`) as JSON.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Callable, Sequence
from typing import Any

import gradio as gr

from ...comparison import API_STATUS, MAX_CELLS, CellView, ComparePlan, cell_key, parse_plan
from ...modalities.common import InputProblem
from ...replicate.errors import ReplicateError
from ...runs.pacing import UpdatePacer
from ..adapters import plain_text
from ..common import caller_of, check_refused, refuse
from ..components import ImageInput
from ..context import AppContext
from ..history_log import HistoryHandles, HistoryLog, refresh_after
from ..live import LiveRuns, live_run, make_stop_handler
from ..on_demand import api_only
from .compare_cells import run_cell


def api_cell(view: CellView) -> dict[str, Any]:
    """One cell as the `/compare` API returns it (files by name: the File output holds them)."""
    return {
        "cell": view.index,
        "model": view.model,
        "status": API_STATUS[view.state],
        "error": plain_text(view.error) if view.error else None,
        "text": view.text,
        "files": [path.name for path in view.files],
        "predict_time": view.predict_time,
        "total_time": view.total_time,
        "starting_time": view.starting_time,
        "cold_boot": view.cold_boot,
        # The estimated cost in US dollars (None: unknown, `cost_basis` says why).
        "cost_usd": view.cost.usd if view.cost is not None else None,
        "cost_basis": view.cost.basis if view.cost is not None else None,
        "notes": list(view.notes),
        "prediction_id": view.prediction_id or None,
    }


def api_result(plan: ComparePlan, views: Sequence[CellView]) -> dict[str, Any]:
    return {"modality": plan.modality, "cells": [api_cell(view) for view in views]}


def make_stop_api(ctx: AppContext) -> Callable[..., Any]:
    """`/compare_stop`: Stop for an API caller's cell (the page's Stop buttons do the same)."""

    async def compare_stop(
        cell: float, session_token: str | None = None, live: LiveRuns | None = None
    ) -> str:
        """Stop cell `cell` (0–3) of this session's running compare; the others keep running."""
        if not isinstance(cell, int | float) or not 0 <= cell < MAX_CELLS:
            raise refuse(f"Cell must be a number from 0 to {MAX_CELLS - 1}.")
        if live is None or not live.is_running(cell_key(int(cell))):
            return f"Nothing to stop: cell {int(cell)} is not running."
        said = await make_stop_handler(ctx, cell_key(int(cell)))(session_token, live)
        # Nothing to say when the cell ended by itself: its status in `/compare` says how.
        return plain_text(said) if isinstance(said, str) else "Stopped: see the cell's status."

    return compare_stop


def make_compare_api(ctx: AppContext) -> Callable[..., AsyncGenerator[tuple[Any, Any], None]]:
    async def compare(
        modality: str,
        models: list[str] | str | None,
        input_json: str = "{}",
        image: str | None = None,
        audio: str | None = None,
        session_token: str | None = None,
        generations: HistoryLog | None = None,
        live: LiveRuns | None = None,
        request: gr.Request | None = None,
        profile: gr.OAuthProfile | None = None,
    ) -> AsyncGenerator[tuple[Any, Any], None]:
        """Run 2–4 `models` of `modality` on one input at the same time. `input_json` holds the
        modality's controls (e.g. {"prompt": …}); `image` / `audio` the optional uploads. Yields
        every cell's state as it changes; the last update has every output (files by name, in
        the File output) and each cell's status, error and times."""
        try:
            check_refused((image, audio))  # an upload the image input could not read
            plan = parse_plan(
                modality,
                models,
                input_json,
                image,
                audio,
                text_limit=ctx.settings.max_prompt_chars,
                chat_limit=ctx.settings.max_chat_chars,
            )
        except (InputProblem, ReplicateError) as exc:
            raise refuse(plain_text(str(exc))) from None
        caller = caller_of(ctx, session_token, generations, live, request, profile)
        views = [CellView(index, model) for index, model in enumerate(plan.models)]
        changed: asyncio.Queue[int | None] = asyncio.Queue()

        async def drive(index: int) -> None:
            try:
                with live_run(live, cell_key(index)):
                    async for view in run_cell(ctx, plan, index, caller):
                        views[index] = view
                        changed.put_nowait(index)
            finally:
                changed.put_nowait(None)

        tasks = [asyncio.create_task(drive(index)) for index in range(len(views))]
        pacer = UpdatePacer()
        try:
            running = len(tasks)
            while running:
                if await changed.get() is None:
                    running -= 1
                elif pacer.ready(time.monotonic()):
                    yield api_result(plan, views), gr.skip()
            files = [str(path) for view in views for path in view.files]
            yield api_result(plan, views), files
        finally:  # the caller went away: every cell's prediction is canceled by its client
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    return compare


def build_compare_api(
    ctx: AppContext, session: gr.State, history: HistoryHandles, live: gr.State
) -> None:
    """`/compare` and `/compare_stop` for API callers: inputs of their own, never shown (each
    hidden itself, so the page loads no code for its kind: on_demand._Twins), and left out of
    the page's own config (`on_demand.api_only`)."""
    state = [session, history.log, live]
    hidden: dict[str, Any] = {"visible": False}
    with api_only():
        api_modality = gr.Textbox(label="modality", **hidden)
        api_models = gr.Dropdown(
            choices=[], multiselect=True, allow_custom_value=True, label="models", **hidden
        )
        api_input = gr.Textbox(value="{}", label="input_json", **hidden)
        api_image = ImageInput(type="filepath", label="image", **hidden)
        api_audio = gr.Audio(type="filepath", label="audio", **hidden)
        api_cell_index = gr.Number(value=0, precision=0, label="cell", **hidden)
        api_result_json = gr.JSON(label="result", **hidden)
        api_files = gr.File(file_count="multiple", label="files", **hidden)
        api_stopped = gr.Markdown(**hidden)
        api_run = gr.Button("compare", **hidden)
        api_stop = gr.Button("compare_stop", **hidden)
    api_event = api_run.click(
        make_compare_api(ctx),
        [api_modality, api_models, api_input, api_image, api_audio, *state],
        [api_result_json, api_files],
        api_name="compare",
        concurrency_limit=None,
        concurrency_id="compare",
    )
    refresh_after(api_event, history)
    api_stop.click(
        make_stop_api(ctx),
        [api_cell_index, session, live],
        [api_stopped],
        api_name="compare_stop",
        concurrency_limit=None,
        concurrency_id="compare_stop",
    )
