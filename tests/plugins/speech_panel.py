"""The speech modality's tab: text, a model, Speak and Stop, the audio and its status."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import gradio as gr
from plugins.speech_modality import SPEECH, SPEECH_MODELS, TEXT_FIELDS, filled_fields

from neurolink_ui.modalities.spec import ModalityValues
from neurolink_ui.ui.common import (
    MediaPanel,
    PanelUpdate,
    caller_of,
    mapper,
    media_failed,
    reports_errors,
    wire_media_run,
)
from neurolink_ui.ui.components import AudioOutput
from neurolink_ui.ui.context import AppContext
from neurolink_ui.ui.forms import advanced_form, model_picker, parse_advanced, run_buttons
from neurolink_ui.ui.history_log import HistoryHandles, HistoryLog
from neurolink_ui.ui.live import LiveRuns
from neurolink_ui.ui.remix import RemixTarget


def build_panel(
    ctx: AppContext, session: gr.State, history: HistoryHandles, live: gr.State
) -> RemixTarget:
    panel = MediaPanel(ctx, SPEECH.name, SPEECH.output)

    @reports_errors(media_failed(panel.outputs))
    async def speech(
        text: str,
        model: str = SPEECH_MODELS[0],
        advanced: str = "{}",
        session_token: str | None = None,
        generations: HistoryLog | None = None,
        live: LiveRuns | None = None,
        request: gr.Request | None = None,
        profile: gr.OAuthProfile | None = None,
    ) -> AsyncGenerator[PanelUpdate, None]:
        """Speak `text` with a text-to-speech model."""
        extra = parse_advanced(advanced, text_limit=ctx.settings.max_prompt_chars)
        values = ModalityValues(text, advanced=extra)
        caller = caller_of(ctx, session_token, generations, live, request, profile)
        async for update in panel.run(text, model, mapper(SPEECH, values), caller):
            yield update

    with gr.Row(equal_height=False):
        with gr.Column(scale=2):
            text = gr.Textbox(label="Text to speak", lines=3)
            model = model_picker("Model", SPEECH_MODELS[0], SPEECH_MODELS)
            run, stop = run_buttons("Speak")
            preset = gr.State(None)
            advanced = advanced_form(ctx, model, session, filled_fields, preset)
        with gr.Column(scale=3):
            output = AudioOutput(label="Speech", type="filepath", buttons=["download"])
            status = gr.Markdown(elem_classes=["nl-status"])
    wire_media_run(
        ctx, SPEECH.name, speech, run, stop, [text, model, advanced], [output], status, session,
        history, live,
    )  # fmt: skip
    return RemixTarget(SPEECH.name, model, text, {TEXT_FIELDS: text}, preset=preset)
