"""The Music panel: a prompt, lyrics (for models that sing them), a duration and a tempo into a
track."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import gradio as gr

from ...catalog import default_model
from ...limits import check_text
from ...modalities.builtin import MUSIC
from ...modalities.music import DURATION_NAMES, LYRICS_NAMES, TEMPO_NAMES, filled_fields
from ...modalities.spec import ModalityValues
from ..common import (
    MediaPanel,
    PanelHandler,
    PanelUpdate,
    caller_of,
    mapper,
    media_failed,
    reports_errors,
    user_errors,
    wire_media_run,
)
from ..components import AudioOutput
from ..context import AppContext
from ..forms import (
    advanced_form,
    check_numbers,
    control_component,
    example_prompts,
    model_picker,
    parse_advanced,
    run_buttons,
)
from ..history_log import HistoryHandles, HistoryLog
from ..live import LiveRuns
from ..remix import RemixTarget


def make_music_handler(ctx: AppContext) -> PanelHandler:
    panel = MediaPanel(ctx, "music", "audio")

    @reports_errors(media_failed(panel.outputs))
    async def music(
        prompt: str,
        duration: float = 8,
        tempo: float = 90,
        model_version: str = "stereo-large",
        output_format: str = "mp3",
        model: str = default_model("music"),
        advanced: str = "{}",
        lyrics: str = "",
        session_token: str | None = None,
        generations: HistoryLog | None = None,
        live: LiveRuns | None = None,
        request: gr.Request | None = None,
        profile: gr.OAuthProfile | None = None,
    ) -> AsyncGenerator[PanelUpdate, None]:
        """Compose `duration` seconds of music from `prompt` at `tempo` BPM, singing `lyrics`
        where the model takes them."""
        extra = parse_advanced(advanced, text_limit=ctx.settings.max_prompt_chars)
        check_numbers(duration=duration, tempo=tempo)
        with user_errors():
            check_text(lyrics, "lyrics", ctx.settings.max_prompt_chars)

        controls = {
            "duration": duration,
            "tempo": tempo,
            "model_version": model_version,
            "output_format": output_format,
            "lyrics": lyrics or "",
        }
        values = ModalityValues(prompt, controls, advanced=extra)
        async for update in panel.run(
            prompt,
            model,
            mapper(MUSIC, values),
            caller_of(ctx, session_token, generations, live, request, profile),
        ):
            yield update

    return music


def build_panel(
    ctx: AppContext, session: gr.State, history: HistoryHandles, live: gr.State
) -> RemixTarget:
    """The panel's components and events; returns what Remix fills and Explore sets."""
    with gr.Row(equal_height=False):
        with gr.Column(scale=2):
            with gr.Row():  # side by side: the run button stays above the fold
                prompt = gr.Textbox(
                    label="Prompt",
                    placeholder="Describe the music, or pick an example below",
                    lines=2,
                    scale=3,
                )
                lyrics = gr.Textbox(
                    value="",  # a default, so API callers may leave it out
                    label=MUSIC.control("lyrics").label,
                    placeholder="[verse] … [chorus] …",
                    lines=2,
                    scale=2,
                )
            with gr.Row():
                duration = control_component(MUSIC.control("duration"))
                tempo = control_component(MUSIC.control("tempo"))
            with gr.Row():
                model_version = control_component(MUSIC.control("model_version"))
                output_format = control_component(MUSIC.control("output_format"))
            model = model_picker("Model", ctx.settings.music_model, MUSIC.suggested_models())
            run, stop = run_buttons("Compose")
            example_prompts(ctx, "music", model, session, prompt)
            preset = gr.State(None)  # Remix's values for the Advanced form
            advanced = advanced_form(ctx, model, session, filled_fields, preset)
        with gr.Column(scale=3):
            output = AudioOutput(label="Track", type="filepath", buttons=["download"])
            status = gr.Markdown(elem_classes=["nl-status"])

    inputs = [prompt, duration, tempo, model_version, output_format, model, advanced, lyrics]
    handler = make_music_handler(ctx)
    wire_media_run(
        ctx, "music", handler, run, stop, inputs, [output], status, session, history, live
    )
    controls: dict[tuple[str, ...], gr.components.Component] = {
        DURATION_NAMES: duration,
        TEMPO_NAMES: tempo,
        ("model_version",): model_version,
        ("output_format",): output_format,
        LYRICS_NAMES: lyrics,
    }
    return RemixTarget("music", model, prompt, controls, preset=preset)
