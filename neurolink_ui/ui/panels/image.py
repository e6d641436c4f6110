"""The Image panel: text-to-image and image-to-image on any image model, into a gallery."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from pathlib import Path

import gradio as gr

from ...catalog import default_model
from ...modalities.builtin import IMAGE
from ...modalities.image import (
    AUTO_RATIO,
    COUNT_FIELD_NAMES,
    IMAGE_FIELD_NAMES,
    filled_fields,
    panel_defaults,
)
from ...modalities.spec import ModalityValues
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
from ..components import GalleryOutput, ImageInput, described
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


def make_image_handler(ctx: AppContext) -> PanelHandler:
    panel = MediaPanel(
        ctx,
        "image",
        "image",
        present=lambda result, info: (
            described(result.files, result.input.get("prompt"), f"An image by {result.model}"),
        ),
    )

    @reports_errors(media_failed(panel.outputs))
    async def image(
        prompt: str,
        model: str = default_model("image"),
        aspect_ratio: str = AUTO_RATIO,
        seed: float | None = -1,
        num_outputs: float = 1,
        input_image: str | None = None,
        advanced: str = "{}",
        session_token: str | None = None,
        generations: HistoryLog | None = None,
        live: LiveRuns | None = None,
        request: gr.Request | None = None,
        profile: gr.OAuthProfile | None = None,
    ) -> AsyncGenerator[PanelUpdate, None]:
        """Generate images from `prompt`; `input_image` makes it image-to-image. `aspect_ratio`
        "auto" (or empty) keeps the input image's shape, or the model's default without one."""
        extra = parse_advanced(advanced, text_limit=ctx.settings.max_prompt_chars)
        check_numbers(seed=seed, images=num_outputs)
        picture = Path(input_image) if input_image else None
        controls = {"aspect_ratio": aspect_ratio, "seed": seed, "num_outputs": num_outputs}
        values = ModalityValues(prompt, controls, image=picture, advanced=extra)
        async for update in panel.run(
            prompt,
            model,
            mapper(IMAGE, values),
            caller_of(ctx, session_token, generations, live, request, profile),
            precheck=image_check(picture, "input image"),
        ):
            yield update

    return image


def build_panel(
    ctx: AppContext, session: gr.State, history: HistoryHandles, live: gr.State
) -> RemixTarget:
    """The panel's components and events; returns what Remix fills and Explore sets."""
    with gr.Row(equal_height=False):
        with gr.Column(scale=2):
            prompt = gr.Textbox(
                label="Prompt",
                placeholder="Describe the image you want, or pick an example below",
                lines=3,
            )
            model = model_picker("Model", ctx.settings.image_model, IMAGE.suggested_models())
            run, stop = run_buttons("Generate")
            example_prompts(ctx, "image", model, session, prompt)
            with gr.Row():
                # Wide enough for its "Auto (…)" choice; the row wraps where it cannot be.
                aspect_ratio = control_component(
                    IMAGE.control("aspect_ratio"), scale=2, min_width=240
                )
                # Wide enough to show what was typed whole, up to 30 digits (a seed too large is
                # refused, naming the limit: the person sees what they typed).
                seed = control_component(IMAGE.control("seed"), scale=2, min_width=300)
                num_outputs = control_component(IMAGE.control("num_outputs"), min_width=140)
            input_image = ImageInput(
                label="Input image (optional, image-to-image)", type="filepath", height=180
            )
            preset = gr.State(None)  # Remix's values for the Advanced form
            advanced = advanced_form(
                ctx, model, session, filled_fields, preset, defaults=panel_defaults
            )
        with gr.Column(scale=3):
            gallery = GalleryOutput(
                label="Images",
                columns=2,
                height=520,
                object_fit="contain",  # whole images, whatever their aspect ratio
                buttons=["download", "fullscreen"],
                elem_classes=["nl-gallery", "nl-alt"],
            )
            status = gr.Markdown(elem_classes=["nl-status"])

    inputs = [prompt, model, aspect_ratio, seed, num_outputs, input_image, advanced]
    handler = make_image_handler(ctx)
    wire_media_run(
        ctx, "image", handler, run, stop, inputs, [gallery], status, session, history, live
    )
    controls = {
        ("aspect_ratio",): aspect_ratio,
        ("seed",): seed,
        COUNT_FIELD_NAMES: num_outputs,
    }
    files: dict[tuple[str, ...], gr.components.Component] = {IMAGE_FIELD_NAMES: input_image}
    return RemixTarget("image", model, prompt, controls, preset=preset, files=files)
