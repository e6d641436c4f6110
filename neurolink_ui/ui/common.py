"""What the panels share to run: errors shown in a panel's status, a media panel's run loop
(MediaPanel.run) and run button's wiring, and the History entry of a result."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import AsyncGenerator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from ..limits import check_text
from ..modalities.common import InputProblem, MappedInput
from ..pipeline import OutputKind, RunResult, run_model
from ..replicate.errors import DownloadError, PredictionCanceledError, ReplicateError
from ..replicate.schema import InputSchema, ModelInfo
from ..replicate.types import ModelRef, Prediction, Progress, TextDelta
from ..snippets import file_field_names
from .adapters import (
    ProgressThrottle,
    UpdatePacer,
    plain_text,
    progress_markdown,
    result_markdown,
    stopped_markdown,
    streaming_markdown,
)
from .context import AppContext
from .events import EVENT_CONCURRENCY, Update
from .history import HistoryHandles, HistoryLog, refresh_after
from .live import LiveRuns, live_run, stopping, track, wire_stop
from .quota import check_run

HISTORY_TEXT_CHARS = 1000

log = logging.getLogger("neurolink_ui.ui")


def refuse(message: str, title: str = "Invalid input") -> gr.Error:
    """The toast for a visitor's bad input, logged as one warning line (never a traceback)."""
    log.warning("refused: %s", " ".join(message.split())[:300])
    return gr.Error(message, title=title, print_exception=False)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn the core's actionable errors into `gr.Error`s; the app keeps serving."""
    try:
        yield
    except (ReplicateError, InputProblem) as exc:
        raise refuse(str(exc), title=getattr(exc, "title", "Invalid input")) from None


@dataclass
class Stopped:
    """Set when the prediction ended canceled (the Stop button's cancel got there first)."""

    prediction: Prediction | None = None


@contextmanager
def stopped_at_replicate() -> Iterator[Stopped]:
    """A canceled prediction is a Stop, not an error: the caller keeps what it has shown."""
    stopped = Stopped()
    try:
        yield stopped
    except PredictionCanceledError as exc:
        stopped.prediction = exc.prediction or Prediction(id="", status="canceled")


def error_markdown(message: str) -> str:
    return f"❌ {message}"


def from_page(request: gr.Request | None) -> bool:
    """The event comes from the page (Gradio's frontend marks its calls `x-gradio-user: app`;
    gradio_client sends `api`)."""
    return request is not None and request.headers.get("x-gradio-user") == "app"


def reports_errors(
    failed: Callable[[str], Update],
) -> Callable[
    [Callable[..., AsyncGenerator[Update, None]]], Callable[..., AsyncGenerator[Update, None]]
]:
    """A panel handler's errors shown once, in its status, with the outputs left as they were.

    `failed(markdown)` is the update that says so. On the page the event then ends normally: a
    raised error would add a toast and a red "Error" badge over every output (and hide the
    previous result). API callers get the error raised, as before.
    """

    def decorate(
        handler: Callable[..., AsyncGenerator[Update, None]],
    ) -> Callable[..., AsyncGenerator[Update, None]]:
        @functools.wraps(handler)
        async def reporting(*args: Any, **kwargs: Any) -> AsyncGenerator[Update, None]:
            try:
                async for update in handler(*args, **kwargs):
                    yield update
            except gr.Error as exc:
                yield failed(error_markdown(exc.message))
                request = next(
                    (a for a in (*args, *kwargs.values()) if isinstance(a, gr.Request)), None
                )
                if exc.duration is None:  # meant to stay on screen (a quota refusal): a toast
                    raise
                if not from_page(request):
                    raise gr.Error(
                        plain_text(exc.message),
                        title=exc.title,
                        print_exception=exc.print_exception,
                    ) from None

        return reporting

    return decorate


def media_failed(outputs: int = 1) -> Callable[[str], PanelUpdate]:
    """The update of a media panel (with `outputs` output components) whose run failed."""

    def failed(markdown: str) -> PanelUpdate:
        return *(gr.skip(),) * outputs, markdown

    return failed


PanelUpdate = tuple[Any, ...]  # (the panel's output(s), status Markdown)
PanelHandler = Callable[..., AsyncGenerator[PanelUpdate, None]]
"""A media panel's event function: Gradio passes the inputs, the updates stream out."""


def wire_media_run(
    ctx: AppContext,
    panel: str,
    handler: PanelHandler,
    run: gr.Button,
    stop: gr.Button,
    inputs: list[Any],
    outputs: list[Any],
    status: gr.Markdown,
    session: gr.State,
    history: HistoryHandles,
    live: gr.State,
) -> Any:
    """A media panel's run button: `handler` gets the panel's `inputs` then the session's states
    (token, History log, live runs) and streams to `outputs` and `status`, under API name `panel`
    in its own concurrency group; History refreshes after it, and Stop ends it. Returns the event,
    for steps of the panel's own after it."""
    event = run.click(
        handler,
        [*inputs, session, history.log, live],
        [*outputs, status],
        api_name=panel,
        concurrency_limit=EVENT_CONCURRENCY,
        concurrency_id=panel,
    )
    refresh_after(event, history)
    wire_stop(ctx, panel, stop, [event], session, live, status)
    return event


def first_file(result: RunResult) -> tuple[Any, ...]:
    return (str(result.files[0]),)


@dataclass(frozen=True)
class MediaPanel:
    """How one media panel runs a generation: its name, output kind, and how it shows a result
    (`present` gives one value per output component, `outputs` of them)."""

    ctx: AppContext
    panel: str
    kind: OutputKind
    present: Callable[[RunResult], tuple[Any, ...]] = first_file
    outputs: int = 1
    # For a model that streams text: the outputs showing the text so far (paced updates).
    stream: Callable[[str], tuple[Any, ...]] | None = None

    async def run(
        self,
        prompt: str,
        model_text: str,
        build: Callable[[InputSchema], MappedInput],
        session_token: str | None,
        generations: HistoryLog | None,
        request: gr.Request | None,
        profile: gr.OAuthProfile | None = None,
        live: LiveRuns | None = None,
    ) -> AsyncGenerator[PanelUpdate, None]:
        """Map, run and download one generation, yielding the panel's updates as it goes.

        Progress only touches the status; the result goes to the output via `present` and into
        History. `build` maps the person's values onto the model's schema (and refuses bad ones).
        A run canceled at Replicate (Stop) ends with a status that says so.
        """
        with live_run(live, self.panel):
            started = time.monotonic()
            throttle = ProgressThrottle()
            pacer = UpdatePacer()
            streamed: list[str] = []
            unchanged = (gr.skip(),) * self.outputs
            session_hash = request.session_hash if request else None
            store = self.ctx.outputs
            with user_errors(), stopped_at_replicate() as stopped:
                check_text(prompt, "prompt", self.ctx.settings.max_prompt_chars)
                budget = download_budget(self.ctx, session_hash)
                # Parsed once per run; everything below takes the ModelRef.
                ref = ModelRef.parse(model_text)
                backend = self.ctx.backend(session_token)
                quota = await check_run(self.ctx, self.panel, ref, backend, request, profile)
                info = await backend.client.get_model(ref, token=backend.token)
                mapped = quota.clamp(build(info.input_schema), info.input_schema)
                yield *unchanged, "📤 Sending to Replicate…"
                try:
                    async for event in quota.guard(run_model)(
                        backend.client,
                        ref,
                        mapped.input,
                        token=backend.token,
                        kind=self.kind,
                        dest_dir=store.session_dir(session_hash),
                        notes=mapped.notes,
                        started=started,
                        max_bytes=budget,
                        made_from=mapped.made_from,
                    ):
                        if isinstance(event, TextDelta) and self.stream is not None:
                            streamed.append(event.text)
                            if pacer.ready(time.monotonic()) and not stopping(live, self.panel):
                                text = "".join(streamed)
                                elapsed = time.monotonic() - started
                                yield *self.stream(text), streaming_markdown(elapsed, len(text))
                        elif isinstance(event, Progress):
                            track(live, self.panel, event)
                            if streamed:  # answering: the text updates say how far it is
                                continue
                            if throttle.should_show(event) and not stopping(live, self.panel):
                                status = progress_markdown(event, backend.on_replicate)
                                yield *unchanged, status
                        elif isinstance(event, RunResult):
                            close_run(
                                self.ctx, event, self.panel, prompt, info, ref, budget,
                                session_hash, generations,
                            )  # fmt: skip
                            status = result_markdown(event, backend.on_replicate)
                            yield *self.present(event), status
                except DownloadError as exc:
                    if budget is None or "limit" not in str(exc):
                        raise
                    raise store.refused_download(budget, exc.url) from None
            if stopped.prediction is not None:  # canceled: say so, keep the outputs
                yield *unchanged, stopped_markdown(stopped.prediction, backend.on_replicate)


def download_budget(ctx: AppContext, session_hash: str | None) -> int | None:
    """Refuses a run when the session's outputs are full; else the bytes its downloads may
    take: the session's room when below the client's cap (None: the cap applies)."""
    ctx.outputs.refuse_when_full(session_hash)
    room = ctx.outputs.room(session_hash)
    return room if room < ctx.settings.max_output_bytes else None


def close_run(
    ctx: AppContext,
    result: RunResult,
    kind: str,
    prompt: str,
    info: ModelInfo,
    ref: ModelRef,
    budget: int | None,
    session_hash: str | None,
    generations: HistoryLog | None,
) -> None:
    """What every finished run does before it is shown (panels and Compare cells): its closing
    notes (the version a community model ran, the session's room) and its History entry."""
    if not info.is_official and info.version_id and not ref.version:
        result.notes.append(f"Ran version {info.version_id[:12]}…")
    if budget is not None:
        result.notes.append(ctx.outputs.room_note(budget))
    entry = history_entry(
        kind, prompt, result, ctx.outputs.session_dir(session_hash), schema=info.input_schema
    )
    add_history(generations, entry)


def _shortened(value: Any) -> Any:
    """Long texts in the recorded parameters cut to HISTORY_TEXT_CHARS (the full prompt is a
    download): the History repeats them in Markdown, Python and curl at every render."""
    if isinstance(value, str) and len(value) > HISTORY_TEXT_CHARS:
        return value[:HISTORY_TEXT_CHARS] + f"… [{len(value):,} characters in all]"
    if isinstance(value, dict):
        return {k: _shortened(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shortened(v) for v in value]
    return value


def history_entry(
    kind: str,
    prompt: str,
    result: RunResult,
    folder: Path | None = None,
    schema: InputSchema | None = None,
) -> dict:
    """One generation as the History tab keeps it; small, since Gradio re-processes the session's
    History at every update of every panel (the code snippets are made when it is shown).
    A prompt longer than HISTORY_TEXT_CHARS is shown cut, its full text saved in `folder`."""
    version = result.prediction.version
    prompt_file = None
    if folder is not None and len(prompt) > HISTORY_TEXT_CHARS:
        path = folder / f"prompt-{result.prediction.id[:16] or 'run'}.txt"
        path.write_text(prompt, encoding="utf-8")
        prompt_file = str(path)
    return {
        "kind": kind,
        "prompt": _shortened(prompt),
        "prompt_file": prompt_file,
        "model": result.model,
        "version": version,
        "params": _shortened(result.input),
        # The snippets' placeholders, from the schema.
        "file_fields": file_field_names(schema) if schema is not None else (),
        "predict_time": result.predict_time,
        "wall_time": round(result.wall_time, 3),
        "cold_boot": result.cold_boot,
        "files": [str(p) for p in result.files],
        "input_files": {
            name: [str(p) for p in paths] for name, paths in result.input_files.items()
        },
        "text": result.text,
        "prediction_id": result.prediction.id,
        "notes": list(result.notes),
        "created": time.strftime("%H:%M:%S"),
        "created_at": time.time(),
        # Kept in full by the ResultStore (the keys above are shortened for display).
        "full_prompt": prompt,
        "input": result.input,
    }


def add_history(history: HistoryLog | None, entry: dict) -> str | None:
    """Record `entry` in the session's log (History re-renders when the event has ended); the log
    keeps it in the app's ResultStore. Returns the kept result's id (what `HistoryLog.share`
    takes), or None when it was not kept."""
    if history is None:
        return None
    history.add(entry)
    return history.last_kept
