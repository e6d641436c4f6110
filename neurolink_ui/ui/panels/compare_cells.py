"""One Compare cell: its run (the run core's events as a CellView), its status and dialog as
Markdown, and its slot of components on the page. The tab itself is compare.py."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

import gradio as gr

from ...comparison import (
    CellView,
    ComparePlan,
    cell_key,
    conceal,
    label_of,
    map_input,
    output_kind,
)
from ...modalities.generic import file_category
from ...replicate.types import Prediction
from ...runs import Caller, RunProgress, RunRequest, RunText, run
from ...runs.pacing import text_update_interval
from ..adapters import (
    ChatStreamView,
    boot_text,
    done_markdown,
    progress_markdown,
    stopped_markdown,
    streaming_markdown,
)
from ..common import error_markdown
from ..components import AudioOutput, GalleryOutput, ImageOutput, VideoOutput, described
from ..context import AppContext
from ..inert import without_html

# ---------------------------------------------------------------------------------------------
# Sharing the whole compare as one kept result, and Remix of one.

SHARE_LABEL = "🔗 Share this comparison"
SHARE_BLIND_LABEL = "🔗 Share this comparison (blind: pick one first)"

# ---------------------------------------------------------------------------------------------
# A cell's view (comparison.CellView) as Markdown and dialog.


def progress_text(view: CellView, hidden: bool) -> str:
    """The running cell's status line: answering once text streams, else where its prediction is.
    `hidden`: no link to the prediction's page."""
    if view.text:
        return streaming_markdown(view.elapsed, len(view.text))
    if view.progress is None:
        return ""
    return progress_markdown(view.progress, view.on_replicate and not hidden)


def cell_status(view: CellView, hidden: bool) -> str:
    """The cell's status Markdown: progress, the ✅ Done line with times and boot, or its error.
    `hidden` (blind mode before a pick): no model name, no link to the prediction's page."""
    name = view.label if hidden else view.model
    on_replicate = view.on_replicate and not hidden
    if view.state == "waiting":
        text = "⏳ Waiting to start…"
    elif view.state == "running":
        text = progress_text(view, hidden) or "📤 Sending to Replicate…"
    elif view.state == "done":
        # Blind, a price could tell the model: the cost shows once the pick reveals it.
        text = done_markdown(
            name,
            view.predict_time,
            view.total_time or 0.0,
            [],
            view.prediction,
            on_replicate,
            None if hidden else view.cost,
            view.simulated,
        )
        boot = boot_text(view.cold_boot, view.starting_time)
        if boot:
            text += f"\n\n{boot}"
    elif view.state == "stopped":
        text = stopped_markdown(view.prediction, on_replicate)
    elif view.state == "refused":
        text = f"🎟️ {without_html(view.error)}"
    else:
        text = error_markdown(without_html(view.error))
    for note in view.notes:
        text += f"\n\nℹ️ {without_html(note)}"
    return conceal(text, view.model, view.label) if hidden else text


def chat_messages(view: CellView, prompt: str, hidden: bool) -> list[dict[str, Any]]:
    """A chat cell's dialog: the shared message, then the model's answer (Thinking apart)."""
    stream = ChatStreamView(model=view.label if hidden else view.model)
    stream.add(view.text)
    if view.state == "done":
        stream.finish(view.predict_time, view.total_time or 0.0)
    shown = stream.messages() if view.text or view.state == "running" else []
    return [{"role": "user", "content": without_html(prompt)}, *shown]


# ---------------------------------------------------------------------------------------------
# One cell's run: the same steps as a panel's (quota, schema, mapping, run, History).


async def run_cell(
    ctx: AppContext,
    plan: ComparePlan,
    index: int,
    caller: Caller,
) -> AsyncGenerator[CellView, None]:
    """Cell `index` of `plan` as the run core's events turned into its view, yielded as it
    changes (paced by the core). Its failures end in the view; only cancellation (Stop)
    propagates, after the client has canceled the prediction."""
    view = CellView(index, plan.models[index])
    request = RunRequest(
        plan.modality,
        view.model,
        plan.prompt,
        functools.partial(map_input, plan),
        output_kind(plan.modality),
        key=cell_key(index),
        # The cells share the page's rate of text updates: streaming side by side, they cost the
        # browser what one answer does.
        text_interval=text_update_interval(len(plan.models)),
    )
    try:
        async with contextlib.aclosing(run(ctx, request, caller)) as events:
            async for event in events:
                view.apply(event)
                if isinstance(event, RunProgress | RunText) and not event.show:
                    continue
                yield view
    except asyncio.CancelledError:
        # The event was canceled (Stop): the client has canceled the prediction it created.
        view.stop(
            Prediction(id=view.prediction_id, status="canceled") if view.prediction_id else None
        )
        raise


# ---------------------------------------------------------------------------------------------
# A cell on the page: its slot of components and the update of its outputs for a view.


@dataclass(frozen=True)
class CellSlot:
    """One cell's components on the page."""

    box: gr.Column
    title: gr.Markdown
    chat: gr.Chatbot
    gallery: GalleryOutput
    video: VideoOutput
    animated: ImageOutput
    audio: AudioOutput
    status: gr.Markdown
    stop: gr.Button
    retry: gr.Button
    pick: gr.Button

    @property
    def outputs(self) -> list[Any]:
        """What the cell's run events update."""
        return [self.chat, self.gallery, self.video, self.animated, self.audio, self.status]


CellUpdate = tuple[Any, ...]


def cell_update(view: CellView, plan: ComparePlan, hidden: bool) -> CellUpdate:
    """The cell's six outputs for `view`: its media (or dialog) and its status."""
    skip = gr.skip()
    status = cell_status(view, hidden)
    kind = output_kind(plan.modality)
    if kind == "text":
        return chat_messages(view, plan.prompt, hidden), skip, skip, skip, skip, status
    if view.state != "done":
        return skip, skip, skip, skip, skip, status
    files = [str(path) for path in view.files]
    if kind == "image":
        pictures = described(view.files, plan.prompt, "A generated image")
        return skip, pictures, skip, skip, skip, status
    if kind == "audio":
        return skip, skip, skip, skip, files[0], status
    # A clip returned as an animated image (by its bytes) plays in an <img>, not a <video>.
    animated = file_category(view.files[0]) == "image"
    return (
        skip,
        skip,
        gr.update(value=None if animated else files[0], visible=not animated),
        gr.update(value=files[0] if animated else None, visible=animated),
        skip,
        status,
    )


def slot_reset(modality: str, shown: bool, title: str) -> list[Any]:
    """A slot cleared for a new compare: visible if used, with the modality's output only."""
    kind = output_kind(modality)
    return [
        gr.update(visible=shown),
        title,
        gr.update(value=[], visible=kind == "text"),
        gr.update(value=None, visible=kind == "image"),
        gr.update(value=None, visible=kind == "video"),
        gr.update(value=None, visible=False),
        gr.update(value=None, visible=kind == "audio"),
        "⏳ Waiting to start…" if shown else "",
    ]


def cell_slot(index: int) -> CellSlot:
    with gr.Column(
        min_width=280, visible=index < 3, elem_id=f"nl-compare-{index}", elem_classes=["nl-card"]
    ) as box:
        title = gr.Markdown(f"### {label_of(index)}")
        # Above the output, so they stay in place while an answer streams in below them.
        with gr.Row():
            stop = gr.Button("Stop", variant="stop", size="sm", min_width=60)
            retry = gr.Button("↻ Retry", size="sm", min_width=60)
            pick = gr.Button("⭐ Pick", size="sm", min_width=60)
        chat = gr.Chatbot(label="Answer", height=320, visible=False, buttons=["copy"])
        gallery = GalleryOutput(
            label="Images",
            columns=2,
            height=300,
            object_fit="contain",
            buttons=["download", "fullscreen"],
            elem_classes=["nl-gallery", "nl-alt"],  # whole pictures (app.CSS)
        )
        video = VideoOutput(label="Video", height=300, visible=False, interactive=False)
        animated = ImageOutput(
            label="Video (animated image)",
            type="filepath",
            height=300,
            visible=False,
            interactive=False,
        )
        audio = AudioOutput(label="Track", type="filepath", visible=False, buttons=["download"])
        status = gr.Markdown(elem_classes=["nl-status"])
    return CellSlot(box, title, chat, gallery, video, animated, audio, status, stop, retry, pick)
