"""The Video panel: a prompt, a start frame and (for models that take one) a last frame into a
short clip."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from pathlib import Path
from typing import Any

import gradio as gr

from ...catalog import default_model
from ...modalities.builtin import VIDEO, VIDEO_DEFAULT_SECONDS
from ...modalities.generic import file_category
from ...modalities.image import AUTO_RATIO
from ...modalities.spec import ModalityValues
from ...modalities.video import (
    DURATION_NAMES,
    LAST_FRAME_NAMES,
    START_IMAGE_NAMES,
    filled_fields,
)
from ...pipeline import RunResult
from ...replicate.schema import ModelInfo
from ..common import (
    MediaPanel,
    PanelHandler,
    PanelUpdate,
    caller_of,
    image_check,
    mapper,
    media_failed,
    reports_errors,
    wire_media_run,
)
from ..components import ImageInput, ImageOutput, VideoOutput
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


def present_clip(result: RunResult, info: ModelInfo) -> tuple[str | None, str | None]:
    """(video output, animated-image output): the clip goes to the one that plays it. Clips some
    models return as animated images (wan-alpha's WebP) are images by their bytes: a <video>
    cannot play them, an <img> can (WebM, alpha included, plays in the video one)."""
    clip = str(result.files[0])
    if file_category(result.files[0]) == "image":
        return None, clip
    return clip, None


def show_filled(video: Any, animated: Any) -> tuple[Any, Any]:
    """Show whichever output holds the clip (the video one when neither does)."""
    return gr.update(visible=not animated), gr.update(visible=bool(animated))


def make_video_handler(ctx: AppContext) -> PanelHandler:
    panel = MediaPanel(ctx, "video", "video", present=present_clip, outputs=2)

    @reports_errors(media_failed(panel.outputs))
    async def video(
        prompt: str,
        start_image: str | None = None,
        model: str = default_model("video"),
        length: float = VIDEO_DEFAULT_SECONDS,
        aspect_ratio: str = AUTO_RATIO,
        advanced: str = "{}",
        last_frame: str | None = None,
        session_token: str | None = None,
        generations: HistoryLog | None = None,
        live: LiveRuns | None = None,
        request: gr.Request | None = None,
        profile: gr.OAuthProfile | None = None,
    ) -> AsyncGenerator[PanelUpdate, None]:
        """Generate a video from `prompt`, starting from `start_image` and ending on
        `last_frame` where the model takes them."""
        extra = parse_advanced(advanced, text_limit=ctx.settings.max_prompt_chars)
        check_numbers(length=length)
        picture = Path(start_image) if start_image else None
        ending = Path(last_frame) if last_frame else None
        controls = {"length": length, "aspect_ratio": aspect_ratio}
        more = {"last_frame": ending} if ending else {}
        values = ModalityValues(prompt, controls, image=picture, advanced=extra, more_images=more)
        checks = [
            c for c in (image_check(picture, "start frame"), image_check(ending, "last frame")) if c
        ]

        def precheck() -> None:
            for check in checks:
                check()

        async for update in panel.run(
            prompt,
            model,
            mapper(VIDEO, values),
            caller_of(ctx, session_token, generations, live, request, profile),
            precheck=precheck if checks else None,
        ):
            yield update

    return video


def build_panel(
    ctx: AppContext, session: gr.State, history: HistoryHandles, live: gr.State
) -> RemixTarget:
    """The panel's components and events; returns what Remix fills and Explore sets."""
    with gr.Row(equal_height=False):
        with gr.Column(scale=2):
            prompt = gr.Textbox(
                label="Prompt", placeholder="Describe the motion, or pick an example below", lines=2
            )
            with gr.Row():
                start_image = ImageInput(label="Start frame", type="filepath", height=200)
                last_frame = ImageInput(label="Last frame (optional)", type="filepath", height=200)
            model = model_picker("Model", ctx.settings.video_model, VIDEO.suggested_models())
            run, stop = run_buttons("Generate video")
            example_prompts(ctx, "video", model, session, prompt)
            with gr.Row():
                length = control_component(VIDEO.control("length"))
                aspect_ratio = control_component(VIDEO.control("aspect_ratio"))
            preset = gr.State(None)  # Remix's values for the Advanced form
            advanced = advanced_form(ctx, model, session, filled_fields, preset)
        with gr.Column(scale=3):
            # interactive=False: they are inputs of the visibility step, but outputs to a person.
            output = VideoOutput(
                label="Video", height=420, autoplay=True, loop=True, interactive=False
            )
            animated = ImageOutput(
                label="Video (animated image)",
                type="filepath",
                height=420,
                visible=False,
                interactive=False,
            )
            status = gr.Markdown(elem_classes=["nl-status"])

    inputs = [prompt, start_image, model, length, aspect_ratio, advanced, last_frame]
    handler = make_video_handler(ctx)
    outputs = [output, animated]
    event = wire_media_run(
        ctx, "video", handler, run, stop, inputs, outputs, status, session, history, live
    )
    # Visibility after the run, so the API returns plain file paths, not component updates.
    event.then(show_filled, outputs, outputs, api_visibility="private", queue=False)
    controls = {DURATION_NAMES: length, ("aspect_ratio",): aspect_ratio}
    files: dict[tuple[str, ...], gr.components.Component] = {
        START_IMAGE_NAMES: start_image,
        LAST_FRAME_NAMES: last_frame,
    }
    return RemixTarget("video", model, prompt, controls, preset=preset, files=files)
