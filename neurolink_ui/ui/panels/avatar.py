"""The Avatar panel: a portrait and narration audio into a talking-head video."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from pathlib import Path

import gradio as gr

from ...catalog import default_model
from ...examples import write_avatar_example
from ...modalities.avatar import (
    AUDIO_NAMES,
    FACE_VIDEO_NAMES,
    PORTRAIT_IMAGE_NAMES,
    filled_fields,
)
from ...modalities.builtin import AVATAR
from ...modalities.common import InputProblem
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
from ..components import ImageInput, VideoOutput
from ..context import AppContext
from ..forms import advanced_form, model_picker, parse_advanced, run_buttons
from ..history_log import HistoryHandles, HistoryLog
from ..live import LiveRuns
from ..remix import RemixTarget


def make_avatar_handler(ctx: AppContext) -> PanelHandler:
    panel = MediaPanel(ctx, "avatar", "video")

    @reports_errors(media_failed(panel.outputs))
    async def avatar(
        portrait: str | None,
        audio: str | None,
        model: str = default_model("avatar"),
        advanced: str = "{}",
        session_token: str | None = None,
        generations: HistoryLog | None = None,
        live: LiveRuns | None = None,
        request: gr.Request | None = None,
        profile: gr.OAuthProfile | None = None,
    ) -> AsyncGenerator[PanelUpdate, None]:
        """Animate `portrait` speaking `audio`."""
        with user_errors():
            if not portrait:
                raise InputProblem("Add a portrait image first.")
            if not audio:
                raise InputProblem("Add narration audio first (upload a file or record it).")
        extra = parse_advanced(advanced, text_limit=ctx.settings.max_prompt_chars)

        values = ModalityValues(image=Path(portrait), audio=Path(audio), advanced=extra)
        async for update in panel.run(
            Path(audio).name,  # what History shows as the prompt: the narration's name
            model,
            mapper(AVATAR, values),
            caller_of(ctx, session_token, generations, live, request, profile),
        ):
            yield update

    return avatar


def build_panel(
    ctx: AppContext, session: gr.State, history: HistoryHandles, live: gr.State
) -> RemixTarget:
    """The panel's components and events; returns what Remix fills and Explore sets."""
    with gr.Row(equal_height=False):
        with gr.Column(scale=2):
            with gr.Row():
                portrait = ImageInput(label="Portrait", type="filepath", height=200, min_width=200)
                audio = gr.Audio(
                    label="Narration",
                    sources=["upload", "microphone"],
                    type="filepath",
                    min_width=200,
                )
            model = model_picker("Model", ctx.settings.avatar_model, AVATAR.suggested_models())
            run, stop = run_buttons("Animate")
            example_portrait, example_audio = write_avatar_example(ctx.outputs_dir / "examples")
            gr.Examples(
                [[str(example_portrait), str(example_audio)]],
                [portrait, audio],
                label="Example: click to load a portrait and narration",
            )
            preset = gr.State(None)  # Remix's values for the Advanced form
            advanced = advanced_form(ctx, model, session, filled_fields, preset)
        with gr.Column(scale=3):
            output = VideoOutput(label="Talking avatar", height=420)
            status = gr.Markdown(elem_classes=["nl-status"])

    inputs = [portrait, audio, model, advanced]
    handler = make_avatar_handler(ctx)
    wire_media_run(
        ctx, "avatar", handler, run, stop, inputs, [output], status, session, history, live
    )
    # A lip-sync model's face video was made from the portrait, which is what is kept for it
    # (a video someone gave instead is not put into the image input).
    files: dict[tuple[str, ...], gr.components.Component] = {
        (*PORTRAIT_IMAGE_NAMES, *FACE_VIDEO_NAMES): portrait,
        AUDIO_NAMES: audio,
    }
    return RemixTarget("avatar", model, preset=preset, files=files)
