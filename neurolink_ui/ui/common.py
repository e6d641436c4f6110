"""What the panels share to run: errors shown in a panel's status, the caller of a run (who asks,
from Gradio's request), a media panel's renderer of the run core's events (MediaPanel.run) and
its run button's wiring."""

from __future__ import annotations

import functools
import logging
from collections.abc import AsyncGenerator, Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr

from ..limits import check_text
from ..modalities.common import InputProblem, MappedInput, open_image
from ..modalities.spec import Modality, ModalityValues
from ..pipeline import RunResult
from ..replicate.errors import ReplicateError
from ..replicate.outputs import RunOutput
from ..replicate.schema import ModelInfo
from ..runs import (
    Caller,
    LiveRuns,
    RunFailed,
    RunFinished,
    RunProgress,
    RunRequest,
    RunStarted,
    RunStopped,
    RunText,
    live_run,
    run,
)
from .adapters import (
    plain_text,
    progress_markdown,
    result_markdown,
    stopped_markdown,
    streaming_markdown,
)
from .context import AppContext
from .events import EVENT_CONCURRENCY, Update
from .history_log import HistoryHandles, HistoryLog, refresh_after
from .lazy import endpoint
from .live import wire_stop
from .own_tokens import TOKEN_LOST
from .quota import visitor_of

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


def error_markdown(message: str) -> str:
    return f"❌ {message}"


@dataclass(frozen=True)
class Refused:
    """A value a component refused as it read it (a Number out of its range, an upload that is
    not an image: components.py), handed to the event's function in place of the value.

    Raised while Gradio reads the inputs, the refusal would reach the page before the handler
    runs: a toast, a red "Error" badge over every output (the earlier result hidden) and a
    traceback in the log. Handed over, it is refused by the handler (`check_refused`) like any
    other input problem: said once, in the panel's status, the outputs kept."""

    message: str
    title: str = "Invalid input"


def check_refused(values: Iterable[Any]) -> None:
    """An InputProblem for the first of `values` a component refused (see `Refused`)."""
    for value in values:
        if isinstance(value, Refused):
            raise InputProblem(value.message, title=value.title)


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
                with user_errors():  # a value a component refused: before anything runs
                    check_refused((*args, *kwargs.values()))
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
        concurrency_limit=EVENT_CONCURRENCY,
        **endpoint(panel),
        concurrency_id=panel,
    )
    refresh_after(event, history)
    wire_stop(ctx, panel, stop, [event], session, live, status)
    return event


def first_file(result: RunResult, info: ModelInfo) -> tuple[Any, ...]:
    return (str(result.files[0]),)


def caller_of(
    ctx: AppContext,
    session_token: str | None,
    generations: HistoryLog | None,
    live: LiveRuns | None,
    request: gr.Request | None,
    profile: gr.OAuthProfile | None,
) -> Caller:
    """Who runs it, as the run core needs to know: token, session, identity, History, Stop."""
    visitor = visitor_of(ctx, request, profile) if ctx.quota is not None else None
    session_hash = request.session_hash if request is not None else None
    lost = TOKEN_LOST if ctx.own_tokens.lost(session_hash, session_token) else None
    costs = generations.costs if generations is not None else None
    return Caller(
        session_token, session_hash, visitor, generations, live, token_lost=lost, costs=costs
    )


def failure_error(failed: RunFailed) -> gr.Error:
    """A failed run as the error a handler raises: a quota refusal stays on screen (a toast a
    person must read), every other failure is a one-line warning in the log."""
    if failed.stays:
        log.warning("refused: %s", " ".join(failed.message.split())[:300])
        return gr.Error(failed.message, title=failed.title, duration=None, print_exception=False)
    return refuse(failed.message, title=failed.title)


@dataclass(frozen=True)
class MediaPanel:
    """How one media panel shows a run of the core: its name, output kind, and how it shows a
    result (`present` gives one value per output component, `outputs` of them)."""

    ctx: AppContext
    panel: str
    kind: RunOutput
    present: Callable[[RunResult, ModelInfo], tuple[Any, ...]] = first_file
    outputs: int = 1
    # For a model that streams text: the outputs showing the text so far (paced updates).
    stream: Callable[[str], tuple[Any, ...]] | None = None

    async def run(
        self,
        prompt: str,
        model_text: str,
        build: Callable[[ModelInfo], MappedInput],
        caller: Caller,
        precheck: Callable[[], None] | None = None,
        output: Callable[[ModelInfo], RunOutput] | None = None,
    ) -> AsyncGenerator[PanelUpdate, None]:
        """Render one run of the core as the panel's updates.

        Progress only touches the status; the result goes to the output via `present`. `build`
        maps the person's values onto the model's schema (and refuses bad ones); it and
        `precheck` run in a worker thread. A failure raises the gr.Error `reports_errors` shows
        in the status; a Stop ends with a status that says so, the outputs kept.
        """
        with live_run(caller.live, self.panel):
            unchanged = (gr.skip(),) * self.outputs
            with user_errors():
                check_text(prompt, "prompt", self.ctx.settings.max_prompt_chars)
            request = RunRequest(
                self.panel, model_text, prompt, build, output or self.kind, precheck=precheck
            )
            async for event in run(self.ctx, request, caller):
                if isinstance(event, RunStarted):
                    yield *unchanged, "📤 Sending to Replicate…"
                elif isinstance(event, RunText):
                    if event.show and self.stream is not None:
                        status = streaming_markdown(event.elapsed, len(event.text))
                        yield *self.stream(event.text), status
                elif isinstance(event, RunProgress):
                    if event.show:
                        yield *unchanged, progress_markdown(event.progress, event.on_replicate)
                elif isinstance(event, RunFinished):
                    status = result_markdown(
                        event.result,
                        event.on_replicate,
                        event.cost,
                        event.simulated,
                        event.session_cost,
                    )
                    yield *self.present(event.result, event.info), status
                elif isinstance(event, RunStopped):
                    yield *unchanged, stopped_markdown(event.prediction, event.on_replicate)
                elif isinstance(event, RunFailed):
                    raise failure_error(event)


def mapper(modality: Modality, values: ModalityValues) -> Callable[[ModelInfo], MappedInput]:
    """The run core's `build` for a modality's values: its registered mapping onto a schema."""

    def build(info: ModelInfo) -> MappedInput:
        return modality.map_input(info, values)

    return build


def image_check(picture: Path | None, role: str) -> Callable[[], None] | None:
    """A broken upload refused before anything is paid for (run by the core, off the loop)."""
    if picture is None:
        return None

    def check() -> None:
        open_image(picture, role)

    return check
