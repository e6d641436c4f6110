"""What every panel shares: the model picker, the schema-driven Advanced form, errors, the run loop."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import time
from collections.abc import AsyncGenerator, Callable, Iterable, Iterator
from contextlib import aclosing, contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import gradio as gr

from ..config import Settings
from ..examples import MAX_EXAMPLES, Panel, panel_examples
from ..limits import check_number, check_text, check_values, parse_json_object
from ..modalities.common import InputProblem, MappedInput
from ..modalities.forms import FormField, collect_advanced, form_fields
from ..pipeline import OutputKind, RunResult, run_model
from ..replicate.errors import DownloadError, PredictionCanceledError, ReplicateError
from ..replicate.schema import InputSchema
from ..replicate.types import ModelRef, Prediction, Progress, TextDelta
from ..snippets import file_field_names
from .adapters import (
    ProgressThrottle,
    UpdatePacer,
    cancel_failed_markdown,
    plain_text,
    progress_markdown,
    result_markdown,
    stopped_markdown,
    streaming_markdown,
)
from .context import AppContext
from .history import HistoryHandles, HistoryLog, refresh_after
from .quota import check_run

# Events talk to Replicate and wait: many may run at once (Gradio's default is one per event).
EVENT_CONCURRENCY: int | None = None
HISTORY_TEXT_CHARS = 1000
DEFAULT_TEXT_LIMIT = Settings.max_prompt_chars

log = logging.getLogger("neurolink_ui.ui")


def refuse(message: str, title: str = "Invalid input") -> gr.Error:
    """The toast for a visitor's bad input, logged as one warning line (never a traceback)."""
    log.warning("refused: %s", " ".join(message.split())[:300])
    return gr.Error(message, title=title, print_exception=False)


# Gradio's renders of one session add events to a dict other renders iterate without a copy
# (`set_event_trigger`, `Renderable.apply`): two at once raised `RuntimeError: dictionary changed
# size during iteration` at page load, when every panel's Advanced form renders. Renders are short
# (no I/O), so they take turns.
RENDER_ONE_AT_A_TIME: dict[str, Any] = {"concurrency_limit": 1, "concurrency_id": "render"}

Update = TypeVar("Update", bound=tuple)


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


# How long Stop waits, once its cancel reached Replicate, for the run to end and say so itself.
STOP_REPORT_WAIT = 3.0


@dataclass
class LiveRuns:
    """The run each panel of this session has in progress: what its Stop button cancels.

    One object per session (a `gr.State`), shared by reference like the History log.
    """

    running: dict[str, str] = field(default_factory=dict)  # panel → prediction id
    stopping: set[str] = field(default_factory=set)  # panels whose Stop was clicked
    active: set[str] = field(default_factory=set)  # panels whose run has not ended

    def start(self, panel: str) -> None:
        self.finish(panel)
        self.active.add(panel)

    def track(self, panel: str, prediction_id: str) -> None:
        if prediction_id:
            self.running[panel] = prediction_id

    def finish(self, panel: str) -> None:
        self.running.pop(panel, None)
        self.stopping.discard(panel)
        self.active.discard(panel)

    async def ended(self, panel: str, within: float) -> bool:
        """Whether the panel's run ends within `within` seconds."""
        deadline = time.monotonic() + within
        while panel in self.active:
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.05)
        return True


@contextmanager
def live_run(live: LiveRuns | None, panel: str) -> Iterator[None]:
    """Marks the panel's run in progress while the block runs (a handler's whole run, so its
    last update is out before Stop reads it as ended)."""
    if live is None:
        yield
        return
    live.start(panel)
    try:
        yield
    finally:
        live.finish(panel)


def runs_live(
    panel: str,
) -> Callable[
    [Callable[..., AsyncGenerator[Update, None]]], Callable[..., AsyncGenerator[Update, None]]
]:
    """A panel handler whose run is marked in progress (`live_run`) in the session's LiveRuns,
    the argument of that type."""

    def decorate(
        handler: Callable[..., AsyncGenerator[Update, None]],
    ) -> Callable[..., AsyncGenerator[Update, None]]:
        @functools.wraps(handler)
        async def running(*args: Any, **kwargs: Any) -> AsyncGenerator[Update, None]:
            live = next((a for a in (*args, *kwargs.values()) if isinstance(a, LiveRuns)), None)
            updates = handler(*args, **kwargs)
            with live_run(live, panel):
                async with aclosing(updates):
                    async for update in updates:
                        yield update

        return running

    return decorate


def track(live: LiveRuns | None, panel: str, event: Progress) -> None:
    if live is not None:
        live.track(panel, event.prediction_id)


def stopping(live: LiveRuns | None, panel: str) -> bool:
    """Stop was clicked: the run shows no more progress, only how it ended."""
    return live is not None and panel in live.stopping


def wire_stop(
    ctx: AppContext,
    panel: str,
    stop: gr.Button,
    events: list[Any],
    session: gr.State,
    live: gr.State,
    status: gr.Markdown,
) -> None:
    """Stop cancels the panel's prediction at Replicate and ends its `events`; the status says
    how the run ended (see `make_stop_handler`)."""
    stop.click(
        make_stop_handler(ctx, panel),
        [session, live],
        [status],
        cancels=events,
        api_visibility="private",
        concurrency_limit=EVENT_CONCURRENCY,  # a Stop never queues behind another visitor's
        concurrency_id="stop",
    )


def make_stop_handler(ctx: AppContext, panel: str) -> Callable[..., Any]:
    """The Stop button's own handler: it cancels the run's prediction at Replicate, then lets the
    run say how it ended.

    The page writes an event's last update again when the event completes (Gradio repeats a
    generator's final values), so a status written here is overwritten by the run's last one
    whenever the run ends by itself. So the run ends with its own "Stopped" status (or its
    result, when the prediction finished first), and this handler writes the status only when
    the run does not end within STOP_REPORT_WAIT: no prediction yet, the cancel failed, or
    Replicate is slow to end it. Then `cancels=` ends the event, which sends nothing more.
    """

    async def stop(session_token: str | None, live: LiveRuns | None) -> Any:
        # Not popped: a second click cancels again (idempotent) instead of "nothing running".
        prediction_id = live.running.get(panel) if live else None
        if live is not None:
            live.stopping.add(panel)
        backend = ctx.backend(session_token)
        if not prediction_id:
            return stopped_markdown(None)
        prediction: Prediction | None = None
        try:
            prediction = await backend.client.cancel_prediction(prediction_id, token=backend.token)
        except ReplicateError as exc:
            return cancel_failed_markdown(prediction_id, str(exc), backend.on_replicate)
        if live is not None and await live.ended(panel, STOP_REPORT_WAIT):
            return gr.skip()  # the run's last update says it
        return stopped_markdown(prediction, backend.on_replicate)

    return stop


def model_picker(label: str, default: str, choices: list[str]) -> gr.Dropdown:
    ordered = list(dict.fromkeys([default, *choices]))
    return gr.Dropdown(
        choices=ordered,
        value=default,
        label=label,
        allow_custom_value=True,
        info="Pick one, or type any owner/name or owner/name:version",
        scale=3,
    )


def parse_advanced(
    raw: str | dict | None,
    upload_root: Path | None = None,
    *,
    text_limit: int = DEFAULT_TEXT_LIMIT,
) -> dict[str, Any]:
    """The Advanced form's values; file paths only from Gradio's own upload cache. Size, depth,
    numbers and texts are checked before use (a visitor may send any JSON)."""
    if not raw:
        return {}
    with user_errors():
        if isinstance(raw, dict):
            values = raw
        elif isinstance(raw, str):
            values = parse_json_object(raw)
        else:
            raise InputProblem("Advanced parameters must be a JSON object of names to values.")
        check_values(values, text_limit)
    cleaned: dict[str, Any] = {}
    for name, value in values.items():
        if isinstance(value, dict) and "path" in value:  # a Gradio FileData
            value = value["path"]
        if isinstance(value, str) and value.startswith("/"):
            path = Path(value).resolve()
            root = (upload_root or Path(gr.utils.get_upload_folder())).resolve()
            if not path.is_relative_to(root) or not path.is_file():
                raise refuse(f"'{name}': upload the file; server paths are not accepted.")
            value = path
        cleaned[name] = value
    return cleaned


def check_numbers(**values: Any) -> None:
    """Each named number finite and of bounded size, before anything converts it."""
    with user_errors():
        for name, value in values.items():
            check_number(value, name.replace("_", " "))


FormComponent = gr.Dropdown | gr.Slider | gr.Number | gr.Checkbox | gr.File | gr.Textbox


_DEFAULT: Any = object()


def form_component(spec: FormField, value: Any = _DEFAULT) -> FormComponent:
    """The control for one form field, holding `value` (else the model's default)."""
    if value is not _DEFAULT:
        if spec.kind == "json" and not isinstance(value, str):
            value = json.dumps(value)
        spec = replace(spec, default=value)
    # No `key`: a re-render is a new model's form, which starts from that model's defaults.
    common: dict[str, Any] = {"label": spec.label, "info": spec.info or None, "interactive": True}
    if spec.kind == "dropdown":
        return gr.Dropdown(choices=list(spec.choices or ()), value=spec.default, **common)
    if spec.kind == "slider" and spec.minimum is not None and spec.maximum is not None:
        return gr.Slider(
            minimum=spec.minimum, maximum=spec.maximum, step=spec.step, value=spec.default, **common
        )
    if spec.kind in ("number", "slider") and spec.default is None:
        # gr.Number shows 0 when empty; a box left blank sends nothing and the model decides.
        # `collect_advanced` reads the number (and refuses text that is not one).
        return gr.Textbox(value="", placeholder="Empty: the model decides", **common)
    if spec.kind in ("number", "slider"):  # a slider without both bounds is a number box
        return gr.Number(value=spec.default, precision=0 if spec.integer else None, **common)
    if spec.kind == "checkbox":
        return gr.Checkbox(value=bool(spec.default), **common)
    if spec.kind == "file":
        return gr.File(label=spec.label, interactive=True)
    lines = 3 if spec.multiline else 1
    return gr.Textbox(value=spec.default or "", lines=lines, **common)


FilledFields = Callable[[InputSchema], Iterable[str]]


@dataclass(frozen=True)
class ModelForm:
    """The Advanced form of one model (as picked): its fields, or a note saying why none."""

    model: str
    fields: tuple[FormField, ...] = ()  # hashable: Gradio hashes a State's value after events
    note: str = "This model has no further parameters."


def advanced_form(
    ctx: AppContext,
    model: gr.Dropdown,
    session: gr.State,
    filled: FilledFields,
) -> gr.Textbox:
    """An Advanced accordion generated from the selected model's input schema, without the
    fields the panel's own controls fill (`filled`, the modality's own answer for that schema).

    Its values live in a hidden JSON textbox, which is what the panel's event (and API callers)
    read; changing the model rebuilds the form with that model's defaults, ranges and descriptions.
    """
    with gr.Accordion("Advanced — parameters from the model's schema", open=False):
        advanced = gr.Textbox(
            value="{}",
            label="Advanced parameters (JSON)",
            visible=False,
        )

        form = gr.State(None)  # the last loaded model's ModelForm

        # Drawn when the model changes and when its form has loaded. The page reuses a render's
        # controls by position (its children are keyed by index), so a new model's controls
        # drawn straight over the old ones got their stale values ("webp" in a slider: a console
        # warning). Defined before the form's load, this render runs first on a model change and
        # draws a note where the old controls were; the new controls follow once loaded.
        @gr.render(inputs=[form, model], **RENDER_ONE_AT_A_TIME)
        def render_form(loaded: ModelForm | None, model_text: str) -> None:
            if loaded is None or loaded.model != model_text:
                gr.Markdown("Reading the model's schema…")
                return
            if not loaded.fields:
                gr.Markdown(loaded.note)
                return
            fields = loaded.fields
            components = [form_component(spec) for spec in fields]

            def collect(*values: Any) -> str:
                return json.dumps(collect_advanced(fields, list(values)), default=str)

            for component in components:
                component.change(
                    collect, components, advanced, api_visibility="private", queue=False
                )

        async def load_form(model_text: str, token: str | None) -> tuple[ModelForm, str]:
            # A new model's form starts from its own defaults; old values don't apply.
            try:
                backend = ctx.backend(token)
                info = await backend.client.get_model(
                    ModelRef.parse(model_text), token=backend.token
                )
            except ReplicateError as exc:
                return ModelForm(model_text, note=f"⚠️ {exc}"), "{}"
            fields = form_fields(info.input_schema, exclude=filled(info.input_schema))
            return ModelForm(model_text, tuple(fields)), "{}"

        # On page load and whenever the model or the token changes (render can't await); one
        # load at a time and the last always runs, so forms land in the order of the picks.
        gr.on(
            None,
            load_form,
            [model, session],
            [form, advanced],
            api_visibility="private",
            show_progress="hidden",
            trigger_mode="always_last",
        )

    return advanced


def example_prompts(
    ctx: AppContext,
    panel: Panel,
    model: gr.Dropdown,
    session: gr.State,
    target: gr.Textbox,
    label: str = "Examples: click one to fill the prompt",
) -> gr.Dataset:
    """Clickable example prompts that fill `target`: the selected model's own example (its
    `default_example`) first, then the panel's curated ones."""
    first = panel_examples(panel)
    examples = gr.Dataset(
        components=[target],
        samples=[[prompt] for prompt in first],
        label=label,
        type="index",
        samples_per_page=MAX_EXAMPLES,
    )
    # The server keeps a Dataset's build-time samples; this session's list is kept beside it.
    shown = gr.State(first)

    async def for_model(model_text: str, token: str | None) -> tuple[gr.Dataset, list[str]]:
        try:
            ref = str(ModelRef.parse(model_text))
            backend = ctx.backend(token)
            info = await backend.client.get_model(ref, token=backend.token)
        except ReplicateError:
            info = None  # the Advanced form says what is wrong with the model
        prompts = panel_examples(panel, info)
        return gr.Dataset(samples=[[prompt] for prompt in prompts]), prompts

    def pick(index: int | None, prompts: list[str]) -> Any:
        if index is None or not 0 <= index < len(prompts):
            return gr.skip()
        return prompts[index]

    gr.on(
        None,
        for_model,
        [model, session],
        [examples, shown],
        api_visibility="private",
        show_progress="hidden",
        trigger_mode="always_last",
    )
    examples.click(pick, [examples, shown], target, api_visibility="private", queue=False)
    return examples


def run_buttons(label: str) -> tuple[gr.Button, gr.Button]:
    """A panel's run and Stop buttons, placed after its main inputs and model picker. Their row
    sticks to the top of the screen while the form below it is scrolled (a long Advanced form),
    so they stay in reach without covering anything of the form at rest."""
    with gr.Row(elem_classes=["nl-run"]):
        run = gr.Button(label, variant="primary", scale=2, min_width=100)
        stop = gr.Button("Stop", variant="stop", scale=1, min_width=80)
    return run, stop


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
                store.refuse_when_full(session_hash)
                # The session's room bounds this run's downloads when below the client's cap.
                room = store.room(session_hash)
                budget = room if room < self.ctx.settings.max_output_bytes else None
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
                            if not info.is_official and info.version_id and not ref.version:
                                event.notes.append(f"Ran version {info.version_id[:12]}…")
                            if budget is not None:
                                event.notes.append(store.room_note(budget))
                            status = result_markdown(event, backend.on_replicate)
                            entry = history_entry(
                                self.panel,
                                prompt,
                                event,
                                store.session_dir(session_hash),
                                schema=info.input_schema,
                            )
                            add_history(generations, entry)
                            yield *self.present(event), status
                except DownloadError as exc:
                    if budget is None or "limit" not in str(exc):
                        raise
                    raise store.refused_download(budget, exc.url) from None
            if stopped.prediction is not None:  # canceled: say so, keep the outputs
                yield *unchanged, stopped_markdown(stopped.prediction, backend.on_replicate)


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
