"""The Explore tab: search Replicate's public models, browse collections, and run any model from a
form generated from its own schema, its outputs shown as its output schema and files say. The pure
parts (result cards, the model card, checks) are in explore_cards.py."""

from __future__ import annotations

import asyncio
import functools
import html
import json
import secrets
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import gradio as gr

from ...catalog import load_catalog
from ...config import BUILTIN_SIMULATOR_TOKEN
from ...limits import check_text, parse_json_object
from ...modalities.common import InputProblem, MappedInput
from ...modalities.forms import FormField
from ...modalities.generic import (
    PanelName,
    fit_example,
    output_plan,
    result_views,
    run_form,
    sniff_file,
)
from ...pipeline import RunResult
from ...replicate import discovery
from ...replicate.client import ReplicateClient
from ...replicate.errors import ReplicateError
from ...replicate.outputs import RunOutput
from ...replicate.schema import ModelInfo
from ...replicate.types import ModelExample, ModelRef
from ...runs import Backend
from ..common import (
    MediaPanel,
    PanelUpdate,
    caller_of,
    error_markdown,
    from_page,
    reports_errors,
    user_errors,
)
from ..components import AudioOutput, GalleryOutput, VideoOutput, described
from ..context import AppContext
from ..events import EVENT_CONCURRENCY, RENDER_ONE_AT_A_TIME
from ..forms import AdvancedPreset, FormComponent, form_component, parse_advanced, run_buttons
from ..history_log import HistoryHandles, HistoryLog, refresh_after
from ..lazy import endpoint, serves_api, when_drawn
from ..live import LiveRuns, wire_stop
from ..on_demand import Inbox, opened_with
from ..readme import readme_html
from ..remix import RemixTarget
from .explore_cards import (
    MAX_QUERY_CHARS,
    ModelCard,
    card_html,
    checked_query,
    example_label,
    history_prompt,
    local_covers,
    merged_input,
    model_card,
    panel_label,
    remixed_input,
    summary_json,
    typed_prompt,
)

SEARCH_LIMIT = 20
MAX_EXAMPLES_SHOWN = 12
OUTPUTS = 6  # text, gallery, video, audio, files, JSON
MAX_JSON_CHARS = 200_000  # of a JSON output shown as code; longer output is cut

A = TypeVar("A")


# ---- outputs ---------------------------------------------------------------------------------


def new_drawing() -> dict[str, str]:
    """A generated form's mark: which drawing of the form its controls belong to."""
    return {"drawing": secrets.token_hex(8)}


def file_choices(fields: list[FormField], values: Sequence[Any]) -> list[Any]:
    """The form's values, one per field: a file field's two controls (an upload, then a URL)
    give the upload if there is one, else the URL typed (blank: nothing)."""
    chosen: list[Any] = []
    given = iter(values)
    for spec in fields:
        value = next(given, None)
        if spec.kind == "file":
            url = next(given, None)
            if not value:
                value = url.strip() if isinstance(url, str) and url.strip() else None
        chosen.append(value)
    return chosen


def present_result(page: bool) -> Callable[[RunResult, ModelInfo], tuple[Any, ...]]:
    """The six output views of a finished run, from the model's output plan and the files'
    sniffed types.

    The page gets each view shown or hidden; API callers get the plain values (None or "" for
    the views this run has no use for)."""

    def present(result: RunResult, info: ModelInfo) -> tuple[Any, ...]:
        plan = output_plan(info.output_schema)
        files = [(path, sniff_file(path)) for path in result.files]
        data = result.prediction.output
        views = result_views(plan, files, text=result.text or None, data=data)
        shows = set(views.views)
        values = (
            result.text if "text" in shows else "",
            described(views.images, typed_prompt(result.input), f"An output of {result.model}")
            or None,
            str(views.videos[0]) if views.videos else None,
            str(views.audios[0]) if views.audios else None,
            [str(p) for p in views.others] or None,
            json.dumps(data, indent=2, ensure_ascii=False)[:MAX_JSON_CHARS]
            if "json" in shows
            else "",
        )
        if not page:
            return values
        kinds: tuple[str, ...] = ("text", "images", "video", "audio", "files", "json")
        return tuple(
            gr.update(value=value, visible=kind in shows)
            for kind, value in zip(kinds, values, strict=True)
        )

    return present


def streamed_text(page: bool) -> Callable[[str], tuple[Any, ...]]:
    def show(text: str) -> tuple[Any, ...]:
        box = gr.update(value=text, visible=True) if page else text
        return (box, *(gr.skip(),) * (OUTPUTS - 1))

    return show


# ---- handlers ----------------------------------------------------------------------------------


def _status_only(markdown: str) -> tuple[Any, ...]:
    return gr.skip(), markdown


@dataclass(frozen=True)
class ExploreHandlers:
    """The tab's event functions (plain async functions: tests call them directly)."""

    ctx: AppContext

    async def shared(
        self, backend: Backend, key: tuple[str, ...], ask: Callable[[], Awaitable[A]]
    ) -> A:
        """An answer on the owner's token (or the simulator's) is the same for everyone: kept a
        while (ctx.catalogue) rather than asked again; a visitor's own token asks each time."""
        if backend.owner_paid or backend.token == BUILTIN_SIMULATOR_TOKEN:
            answer: A = await self.ctx.catalogue.answer((backend.client.base_url, *key), ask)
            return answer
        return await ask()

    async def search(
        self, query: str, session_token: str | None = None, request: gr.Request | None = None
    ) -> AsyncGenerator[tuple[Any, ...], None]:
        """Search public models for `query`: the results as JSON (model, description,
        run_count, is_official, cover_image_url, url, tags, score) and a status line."""
        with user_errors():
            text = checked_query(query)
            backend = self.ctx.backend(session_token)
            found = await self.shared(
                backend,
                ("search", text),
                lambda: discovery.search_models(
                    backend.client, text, token=backend.token, limit=SEARCH_LIMIT
                ),
            )
        results = [summary_json(model) for model in found.models]
        await self.covers_for_page(backend.client, results, request)
        count = len(results)
        status = (
            f"{count} model{'s' if count != 1 else ''} for “{html.escape(found.query[:80])}”."
            if count
            else f"No model matches “{html.escape(found.query[:80])}”. Try another word."
        )
        if backend.token == BUILTIN_SIMULATOR_TOKEN:
            # Why a search finds little (issue 23, item 7): not Replicate's, the simulator's.
            status += (
                f" Simulator mode: the search covers the simulator's catalogue of"
                f" {len(load_catalog())} models, not all of Replicate's (with a token it"
                " searches Replicate)."
            )
        yield results, status

    async def covers_for_page(
        self, client: ReplicateClient, results: list[dict[str, Any]], request: gr.Request | None
    ) -> None:
        """The page's cards get their covers (`local_covers`); API callers get the URLs only."""
        if from_page(request):
            folder = self.ctx.session_dir(request.session_hash if request else None)
            await local_covers(client, results, folder)

    async def collections(self, session_token: str | None = None) -> gr.Dropdown:
        backend = self.ctx.backend(session_token)
        try:
            found = await self.shared(
                backend,
                ("collections",),
                lambda: discovery.list_collections(backend.client, token=backend.token),
            )
        except ReplicateError as exc:
            return gr.Dropdown(choices=[], info=f"⚠️ Collections could not be listed: {exc}")
        return gr.Dropdown(choices=[(c.name or c.slug, c.slug) for c in found], value=None)

    async def collection(
        self, slug: str, session_token: str | None = None, request: gr.Request | None = None
    ) -> AsyncGenerator[tuple[Any, ...], None]:
        """The models of the collection `slug`, as JSON like search results, and a status."""
        if not slug:
            yield gr.skip(), "Pick a collection."
            return
        with user_errors():
            check_text(slug, "collection", 200)
            backend = self.ctx.backend(session_token)
            found = await self.shared(
                backend,
                ("collection", slug),
                lambda: discovery.get_collection(backend.client, slug, token=backend.token),
            )
        results = [summary_json(model) for model in found.models]
        await self.covers_for_page(backend.client, results, request)
        about = f" — {html.escape(found.description[:300])}" if found.description else ""
        yield (
            results,
            f"**{html.escape(found.name)}**{about} ({len(results)} model{'s' if len(results) != 1 else ''})",
        )

    async def model_info(self, model_text: str, session_token: str | None) -> ModelInfo:
        """The model's schema and metadata (the client caches it), or a clear refusal."""
        with user_errors():
            check_text(model_text, "model", 300)
            ref = ModelRef.parse(model_text)
            backend = self.ctx.backend(session_token)
            return await backend.client.get_model(ref, token=backend.token)

    async def model_card(
        self, model_text: str, session_token: str | None = None
    ) -> tuple[ModelCard, ModelInfo, list[ModelExample], str]:
        """The card, the model, its examples (the default one first) and its README Markdown;
        a README or examples that cannot be read are left out (the card still opens)."""
        info = await self.model_info(model_text, session_token)
        ref = ModelRef.parse(model_text)
        if info.deployment is not None:  # a deployment's README and examples: its model's
            ref = ModelRef.parse(info.deployment.model)
        backend = self.ctx.backend(session_token)
        readme, listed = await asyncio.gather(
            self.shared(
                backend,
                ("readme", str(ref)),
                lambda: discovery.get_model_readme(backend.client, ref, token=backend.token),
            ),
            self.shared(
                backend,
                ("examples", str(ref)),
                lambda: discovery.list_model_examples(
                    backend.client, ref, token=backend.token, limit=MAX_EXAMPLES_SHOWN
                ),
            ),
            return_exceptions=True,
        )
        for outcome in (readme, listed):
            if isinstance(outcome, BaseException) and not isinstance(outcome, ReplicateError):
                raise outcome  # a bug, not a model without a README or examples
        examples = [] if isinstance(listed, BaseException) else list(listed)
        readme_text = "" if isinstance(readme, BaseException) else readme
        card = model_card(info)
        if info.default_example is not None:
            examples.insert(0, info.default_example)
        unique: list[ModelExample] = []  # the default example is often one of the list too
        for example in examples:
            if all(example.input != seen.input for seen in unique):
                unique.append(example)
        return card, info, unique[:MAX_EXAMPLES_SHOWN], readme_text

    async def card_api(self, model: str) -> dict[str, Any]:
        """A model's card as JSON: description, version, the panel it fits, its output kind, its
        form's fields and its default example's input (what fits the schema now)."""
        card, _, examples, _ = await self.model_card(model, None)
        return {**card.api_json(), "examples": len(examples)}

    async def run(
        self,
        model: str,
        input_json: str = "{}",
        session_token: str | None = None,
        generations: HistoryLog | None = None,
        live: LiveRuns | None = None,
        request: gr.Request | None = None,
        profile: gr.OAuthProfile | None = None,
    ) -> AsyncGenerator[PanelUpdate, None]:
        """Run `model` (owner/name, owner/name:version or deployment:owner/name) on `input_json` (a JSON object of its
        inputs, as its schema names them). Outputs: text, images, video, audio, other files,
        JSON data — each filled when the model's output schema and files say so — and status."""
        with user_errors():
            check_text(model, "model", 300)
            if isinstance(input_json, str):
                model_input = parse_json_object(input_json or "{}", "The model's input")
            else:
                raise InputProblem("The model's input must be a JSON object of names to values.")
        values = parse_advanced(model_input, text_limit=self.ctx.settings.max_prompt_chars)
        panel = MediaPanel(
            self.ctx,
            "explore",
            "file",
            present=present_result(from_page(request)),
            outputs=OUTPUTS,
            stream=streamed_text(from_page(request)),  # only a streaming model streams
        )
        async for update in panel.run(
            history_prompt(values),
            model,
            functools.partial(fitted_input, values),
            caller_of(self.ctx, session_token, generations, live, request, profile),
            output=explore_output,
        ):
            yield update


def fitted_input(values: dict[str, Any], info: ModelInfo) -> MappedInput:
    """Explore's input as the model's schema takes it, or a refusal naming what does not fit."""
    problems = info.input_schema.validate(values)
    if problems:
        raise InputProblem("This input doesn't fit the model: " + "; ".join(problems[:6]))
    return MappedInput(info.input_schema.coerce(values), [])


def explore_output(info: ModelInfo) -> RunOutput:
    """What an Explore run downloads: files when its output schema says so, else nothing."""
    return "file" if output_plan(info.output_schema) == "files" else "text"


# ---- the tab ---------------------------------------------------------------------------------

CSS = """
.nl-result { display: flex; gap: 12px; align-items: flex-start; }
.nl-cover { width: 72px; height: 72px; object-fit: cover; border-radius: 8px; flex: none; }
.nl-cover-none { display: flex; align-items: center; justify-content: center; font-size: 28px;
  background: var(--block-background-fill); border: 1px solid var(--border-color-primary); }
.nl-result-text { min-width: 0; overflow-wrap: anywhere; }
.nl-badge { font-size: 0.75em; padding: 1px 6px; border-radius: 6px;
  background: var(--color-accent-soft); border: 1px solid var(--border-color-accent); }
.nl-runs { font-size: 0.85em; opacity: 0.75; }
.nl-readme { max-height: 480px; overflow: auto; overflow-wrap: anywhere; }
.nl-readme img { max-width: 100%; }
"""


def build_explore_panel(
    ctx: AppContext,
    session: gr.State,
    history: HistoryHandles,
    live: gr.State,
    tabs: gr.Tabs,
    panels: Mapping[PanelName, Inbox],
) -> RemixTarget:
    """The tab's components and events. "Open in the X panel" writes panel X's inbox (`panels`)
    with the model and the prompt typed here, and the Tabs switch to that panel (whose tab id
    is its name).
    Returns what Remix of a shared Explore run fills: the model box and a preset, whose change
    opens that model's card with the shared input."""
    handlers = ExploreHandlers(ctx)
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=320):
            with gr.Row():
                query = gr.Textbox(
                    label="Search Replicate's models",
                    placeholder="A task or a word: upscale, music, llama…",
                    scale=4,
                    max_length=MAX_QUERY_CHARS * 20,  # the handler says the real limit clearly
                )
                search = gr.Button("Search", variant="primary", scale=1, min_width=90)
            collections = gr.Dropdown(
                choices=[], label="…or browse a collection", allow_custom_value=True
            )
            found_status = gr.Markdown(elem_classes=["nl-status"])
            results = gr.JSON(value=[], visible=False, label="Results")

            # Not on page load: there is nothing to draw before a search (issue 21).
            @gr.render(inputs=[results], triggers=[results.change], **RENDER_ONE_AT_A_TIME)
            def render_results(found: list[dict[str, Any]] | None) -> None:
                for index, result in enumerate(found or []):
                    if not isinstance(result, dict) or not result.get("model"):
                        continue
                    with gr.Group(elem_classes=["nl-card"], key=f"r-{index}-{result['model']}"):
                        gr.HTML(card_html(result), padding=True)
                        choose = gr.Button(f"Open {result['model']}", size="sm")
                    choose.click(
                        lambda ref=result["model"]: ref, None, model_box, queue=False,
                        api_visibility="private",
                    ).then(open_model, [model_box, session], card_outputs, api_visibility="private")  # fmt: skip

        with gr.Column(scale=3, min_width=360):
            with gr.Row():
                model_box = gr.Textbox(
                    label="Model", placeholder="owner/name — or pick a result", scale=4
                )
                open_button = gr.Button("Open", scale=1, min_width=80)
            card_md = gr.Markdown("*Search, browse a collection, or type a model to open it.*")
            open_in_panel = gr.Button("Open in panel", visible=False, size="sm")
            card_panel = gr.State(None)
            with gr.Accordion("README", open=False):
                readme = gr.HTML()
            examples = gr.Dataset(
                components=[gr.Textbox(visible=False)],
                samples=[],
                visible=False,
                label="Load example",
                type="index",
                samples_per_page=MAX_EXAMPLES_SHOWN,
            )
            example_inputs = gr.State([])
            form_state = gr.State(None)
            remixed = gr.State(None)  # Remix's AdvancedPreset: the model and its shared input

            with gr.Column():  # the generated form, above the JSON it writes

                @gr.render(
                    inputs=[form_state], triggers=[form_state.change], **RENDER_ONE_AT_A_TIME
                )
                def render_form(state: dict[str, Any] | None) -> None:
                    if not state:
                        return
                    fields: list[FormField] = state["fields"]
                    values: dict[str, Any] = state["values"]
                    if state.get("note"):
                        gr.Markdown(state["note"])
                    components: list[FormComponent] = []
                    for spec in fields:
                        value = values.get(spec.name, spec.default)
                        if spec.kind == "file":
                            # An upload or a URL, whatever the example held (issue 23, item
                            # 4), as replicate.com's forms take; a URL stays a URL: the server
                            # never fetches it to show it.
                            url = value if isinstance(value, str) else ""
                            upload = None if url else value
                            components.append(form_component(spec, upload))
                            components.append(
                                gr.Textbox(
                                    value=url, label=f"…or {spec.label} as a URL",
                                    placeholder="https://… or data:…", info=spec.info,
                                    max_lines=2, interactive=True,
                                )
                            )  # fmt: skip
                        else:
                            components.append(form_component(spec, value))

                    def collect(current: str, latest: dict[str, Any] | None, *values: Any) -> Any:
                        # A form drawn before the latest one (a second example loaded while
                        # the first was still being drawn, on a busy server) may still report
                        # its controls' changes: they would write the older form's values over
                        # the newer input. Only the latest form writes the input.
                        if not latest or latest.get("drawing") != state.get("drawing"):
                            return gr.skip()
                        with user_errors():
                            return merged_input(current, fields, file_choices(fields, values))

                    for component in components:
                        component.change(
                            collect, [input_json, form_state, *components], input_json,
                            queue=False, api_visibility="private",
                        )  # fmt: skip

            input_json = gr.Code(
                value="{}", language="json", label="Input JSON (what is sent)", lines=4,
                interactive=True, max_lines=12,
            )  # fmt: skip

            run, stop = run_buttons("Run")
            status = gr.Markdown(elem_classes=["nl-status"])
            text_out = gr.Textbox(label="Text", lines=6, visible=False, buttons=["copy"])
            gallery = GalleryOutput(
                label="Images", columns=2, height=420, object_fit="contain", visible=False,
                buttons=["download", "fullscreen"], elem_classes=["nl-gallery", "nl-alt"],
            )  # fmt: skip
            video = VideoOutput(label="Video", visible=False)
            audio = AudioOutput(label="Audio", visible=False)
            files = gr.File(label="Files", file_count="multiple", visible=False)
            json_out = gr.Code(label="JSON", language="json", visible=False)

    run.interactive = False  # until a model is open: there is nothing to run (issue 23, item 7)
    card_outputs = [
        card_md, readme, form_state, input_json, examples, example_inputs, open_in_panel,
        card_panel, run, status,
    ]  # fmt: skip

    async def card_view(
        model_text: str, session_token: str | None, shared: dict[str, Any] | None = None
    ) -> tuple[Any, ...]:
        """The model's card, its form filled with its default example, or with a shared run's
        input when it is remixed (`shared`: what the model takes now; files named, not sent)."""
        try:
            card, info, found, text = await handlers.model_card(model_text, session_token)
        except gr.Error as exc:
            return (*(gr.skip(),) * (len(card_outputs) - 1), error_markdown(exc.message))
        values = card.example_input
        notes = [card.example_note] if card.example_note else []
        if card.example_input:
            notes.insert(0, "The model's default example is filled in: press Run to run it.")
        if shared is not None:
            values, note = remixed_input(info.input_schema, shared)
            notes = [note]
        form = {"fields": card.form, "values": values, "note": card.form_note, **new_drawing()}
        samples = [[example_label(i, e)] for i, e in enumerate(found)]
        button = (
            gr.Button(f"Open in the {panel_label(card.panel)} panel", visible=True)
            if card.panel
            else gr.Button(visible=False)
        )
        return (
            card.markdown(),
            readme_html(text),
            form,
            json.dumps(values, default=str),
            gr.Dataset(samples=samples, visible=bool(samples)),
            [e.input for e in found],
            button,
            card.panel,
            gr.Button(interactive=True),
            "\n\n".join(notes),
        )

    async def open_model(model_text: str, session_token: str | None) -> tuple[Any, ...]:
        return await card_view(model_text, session_token)

    async def open_remixed(preset: AdvancedPreset | None, token: str | None) -> tuple[Any, ...]:
        """Remix of a shared run: its model's card with the shared input."""
        if preset is None:
            return (gr.skip(),) * len(card_outputs)
        try:
            stored = json.loads(preset.values)
        except json.JSONDecodeError:
            stored = {}
        return await card_view(preset.model, token, stored if isinstance(stored, dict) else {})

    async def load_example(
        index: int | None, inputs: list[dict[str, Any]], model_text: str, token: str | None
    ) -> tuple[Any, ...]:
        if index is None or not 0 <= index < len(inputs):
            return gr.skip(), gr.skip(), gr.skip()
        try:
            info = await handlers.model_info(model_text, token)
        except gr.Error as exc:
            return gr.skip(), gr.skip(), error_markdown(exc.message)
        fitted = fit_example(info.input_schema, inputs[index])
        form_fields = run_form(info.input_schema)
        form = {
            "fields": list(form_fields.fields),
            **new_drawing(),
            "values": fitted.input,
            "note": form_fields.note,
        }
        note = fitted.note or f"Example {index + 1} loaded."
        return form, json.dumps(fitted.input, default=str), note

    inboxes = [inbox.state for inbox in panels.values()]

    def open_panel(model_text: str, panel: PanelName | None, sent: str) -> tuple[Any, ...]:
        """The panel opened with this model, and with the prompt typed here."""
        if panel is None or panel not in panels:
            return (
                *[gr.skip()] * len(inboxes),
                gr.skip(),
            )  # its button shows only for a model that fits one
        try:
            model_input = json.loads(sent or "{}")
        except json.JSONDecodeError:
            model_input = {}
        typed = typed_prompt(model_input) if isinstance(model_input, dict) else None
        fill = opened_with(model_text.strip(), typed)
        updates = [fill if name == panel else gr.skip() for name in panels]
        return (*updates, gr.Tabs(selected=panel))

    quiet: dict[str, Any] = {"api_visibility": "private", "show_progress": "hidden"}
    gr.on(
        [search.click, query.submit],
        reports_errors(_status_only)(handlers.search),
        [query, session],
        [results, found_status],
        concurrency_limit=EVENT_CONCURRENCY,
        **endpoint("search"),
    )
    # When the tab is drawn and when the token changes (a tab drawn on demand listens to no
    # event outside it, its own select included: on_demand.built_when_opened).
    gr.on([when_drawn(), session.change], handlers.collections, [session], [collections], **quiet)
    collections.input(
        reports_errors(_status_only)(handlers.collection),
        [collections, session],
        [results, found_status],
        **endpoint("collection"),
    )
    gr.on(
        [open_button.click, model_box.submit], open_model, [model_box, session], card_outputs,
        api_visibility="private",
    )  # fmt: skip
    if serves_api():
        gr.api(handlers.card_api, api_name="model_card")
    examples.click(
        load_example,
        [examples, example_inputs, model_box, session],
        [form_state, input_json, status],
        api_visibility="private",
    )
    # Remix's preset opens the card: the one the tab is drawn with (Remix drew it), and every
    # later one (its change; the same preset again, from a second Remix of the same link, is
    # no change: it is cleared after).
    gr.on(
        [when_drawn(), remixed.change], open_remixed, [remixed, session], card_outputs,
        api_visibility="private",
    ).then(lambda: None, None, remixed, api_visibility="private", queue=False)  # fmt: skip
    # Queued: the panel's inbox is a State, whose change Gradio reports only from a queued event.
    open_in_panel.click(
        open_panel, [model_box, card_panel, input_json], [*inboxes, tabs],
        api_visibility="private", show_progress="hidden",
    )  # fmt: skip

    event = run.click(
        reports_errors(_failed_run)(handlers.run),
        [model_box, input_json, session, history.log, live],
        [text_out, gallery, video, audio, files, json_out, status],
        concurrency_limit=EVENT_CONCURRENCY,
        **endpoint("run_model"),
        concurrency_id="explore",
    )
    refresh_after(event, history)
    wire_stop(ctx, "explore", stop, [event], session, live, status)
    return RemixTarget("explore", model_box, preset=remixed)


def _failed_run(markdown: str) -> PanelUpdate:
    return *(gr.skip(),) * OUTPUTS, markdown
