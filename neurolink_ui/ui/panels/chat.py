"""The Chat panel: multi-turn chat with streaming, a Thinking trace for reasoning models, Stop."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from pathlib import Path
from typing import Any

import gradio as gr

from ...catalog import default_model
from ...limits import check_chat_history, check_number, check_text
from ...modalities.builtin import CHAT, MODEL_DEFAULT_TOKENS
from ...modalities.chat import (
    CHAT_IMAGE_NAMES,
    DEFAULT_SYSTEM_PROMPT,
    TOKEN_LIMIT_FIELDS,
    filled_fields,
    flatten_content,
)
from ...modalities.common import InputProblem
from ...modalities.spec import ModalityValues
from ...runs import (
    RunFailed,
    RunFinished,
    RunProgress,
    RunRequest,
    RunStarted,
    RunStopped,
    RunText,
    run,
)
from ..adapters import (
    ChatStreamView,
    plain_text,
    progress_markdown,
    result_markdown,
    stopped_markdown,
    streaming_markdown,
    without_footers,
)
from ..common import (
    caller_of,
    error_markdown,
    failure_error,
    from_page,
    image_check,
    mapper,
    refuse,
    user_errors,
)
from ..components import ImageInput, chat_history_input
from ..context import AppContext
from ..events import EVENT_CONCURRENCY
from ..forms import (
    MODEL_INFO,
    advanced_form,
    control_component,
    example_prompts,
    parse_advanced,
)
from ..history_log import HistoryHandles, HistoryLog, refresh_after
from ..live import LiveRuns, runs_live, wire_stop
from ..remix import RemixTarget

ChatUpdate = tuple[Any, Any, str]  # (dialog, message box, status)
ChatHandler = Callable[..., AsyncGenerator[ChatUpdate, None]]


def make_chat_handler(ctx: AppContext) -> ChatHandler:
    @runs_live("chat")
    async def chat(
        message: str,
        history: list[dict[str, Any]] | None = None,
        system_prompt: str = DEFAULT_SYSTEM_PROMPT,
        model: str = default_model("chat"),
        max_tokens: float = MODEL_DEFAULT_TOKENS,
        temperature: float = 0.6,
        advanced: str = "{}",
        image: str | None = None,
        session_token: str | None = None,
        generations: HistoryLog | None = None,
        live: LiveRuns | None = None,
        request: gr.Request | None = None,
        profile: gr.OAuthProfile | None = None,
    ) -> AsyncGenerator[ChatUpdate, None]:
        """Send `message` (and `image`, for models that see images) to a chat model and stream
        its answer into the history. `max_tokens` 0 keeps the model's own limit."""
        limit = ctx.settings.max_chat_chars
        before = list(history or [])
        try:
            with user_errors():
                check_chat_history(history, message_limit=limit)
                check_text(message, "message", limit)
                check_text(system_prompt, "system prompt", limit)
                check_number(max_tokens, "max tokens")
                check_number(temperature, "temperature")
                if not (message or "").strip():
                    raise InputProblem("Type a message first.")
                extra = parse_advanced(advanced, text_limit=ctx.settings.max_prompt_chars)
        except gr.Error as exc:  # refused before anything was sent: the dialog is untouched
            yield gr.skip(), gr.skip(), error_markdown(exc.message)
            if not from_page(request):
                raise gr.Error(
                    plain_text(exc.message), title=exc.title, print_exception=exc.print_exception
                ) from None
            return
        picture = Path(image) if image else None
        controls = {
            "system_prompt": system_prompt,
            "history": without_footers(before),
            "max_tokens": max_tokens,
            "temperature": temperature,
        }
        values = ModalityValues(message, controls, image=picture, advanced=extra)
        run_request = RunRequest(
            "chat", model, message, mapper(CHAT, values), "text", image_check(picture, "image")
        )
        attached = [{"role": "user", "content": {"path": image}}] if image else []
        shown = [*before, *attached, {"role": "user", "content": message}]
        view = ChatStreamView(model=model)
        sent = False
        caller = caller_of(ctx, session_token, generations, live, request, profile)
        async for event in run(ctx, run_request, caller):
            if isinstance(event, RunStarted):
                sent, view.model = True, event.model
                yield [*shown, *view.messages()], gr.skip(), "📤 Sending to Replicate…"
            elif isinstance(event, RunText):
                view.show_text(event.text)
                if event.show:  # batched: the page re-renders the whole answer at every update
                    status = streaming_markdown(event.elapsed, len(event.text))
                    yield [*shown, *view.messages()], gr.skip(), status
            elif isinstance(event, RunProgress):
                if event.show:
                    status = progress_markdown(event.progress, event.on_replicate)
                    yield gr.skip(), gr.skip(), status
            elif isinstance(event, RunFinished):
                result = event.result
                view.show_text(view.text or result.text)
                view.finish(result.predict_time, result.wall_time)
                done = result_markdown(result, event.on_replicate)
                yield [*shown, *view.messages()], "", done
            elif isinstance(event, RunStopped):  # canceled: keep what was streamed, say so
                status = stopped_markdown(event.prediction, event.on_replicate)
                yield [*shown, *view.messages()], gr.skip(), status
            elif isinstance(event, RunFailed):
                # Nothing is lost: the dialog goes back to how it was and the message stays typed.
                said = f"Not sent: {event.message}" if sent else event.message
                yield (before if sent else gr.skip()), gr.skip(), error_markdown(said)
                if event.stays:
                    raise failure_error(event)
                if not from_page(request):
                    raise refuse(plain_text(event.message), title=event.title) from None

    return chat


def retry_split(history: list[dict[str, Any]] | None) -> tuple[list[dict[str, Any]], str]:
    """The dialog before the last user turn, and that turn's text."""
    turns = list(history or [])
    for index in range(len(turns) - 1, -1, -1):
        if turns[index].get("role") == "user" and not (turns[index].get("metadata") or {}).get(
            "title"
        ):
            return turns[:index], flatten_content(turns[index].get("content"))
    return turns, ""


def build_panel(
    ctx: AppContext, session: gr.State, history: HistoryHandles, live: gr.State
) -> RemixTarget:
    """The panel's components and events; returns what Remix fills and Explore sets."""
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            chatbot = chat_history_input(
                ctx.settings.max_chat_chars,
                label="Conversation",
                height=480,
                buttons=["copy", "copy_all"],
                placeholder="Ask anything. Answers stream token by token where the model can.",
            )
            with gr.Row():
                # No autofocus: focusing it on load scrolls the page past the title and banner.
                # Wide enough that on a phone it has a line of its own, the buttons the next one.
                message = gr.Textbox(
                    label="Message",
                    placeholder="Write a message and press Enter",
                    scale=5,
                    lines=1,
                    max_lines=8,
                    min_width=300,
                )
                send = gr.Button("Send", variant="primary", scale=1, min_width=90)
                stop = gr.Button("Stop", variant="stop", scale=1, min_width=90)
            with gr.Accordion("🖼️ Attach an image (for models that see images)", open=False):
                image = ImageInput(
                    label="Image",
                    type="filepath",
                    sources=["upload", "clipboard"],
                    height=160,
                )
            with gr.Row():
                retry = gr.Button("↻ Retry", size="sm")
                clear = gr.Button("🗑 Clear", size="sm")
            status = gr.Markdown(elem_classes=["nl-status"])
        with gr.Column(scale=2):
            model = gr.Dropdown(
                choices=list(dict.fromkeys([ctx.settings.chat_model, *CHAT.suggested_models()])),
                value=ctx.settings.chat_model,
                label="Model",
                allow_custom_value=True,
                info=MODEL_INFO,
            )
            example_prompts(
                ctx, "chat", model, session, message, "Examples: click one to fill the message"
            )
            system_prompt = control_component(CHAT.control("system_prompt"), lines=3, max_lines=10)
            max_tokens = control_component(CHAT.control("max_tokens"))
            temperature = control_component(CHAT.control("temperature"))
            preset = gr.State(None)  # Remix's values for the Advanced form
            advanced = advanced_form(ctx, model, session, filled_fields, preset)

    handler = make_chat_handler(ctx)
    inputs = [message, chatbot, system_prompt, model, max_tokens, temperature, advanced, image]
    inputs += [session, history.log, live]
    outputs = [chatbot, message, status]
    common: dict[str, Any] = {
        "concurrency_limit": EVENT_CONCURRENCY,
        "concurrency_id": "chat",
    }
    submit = send.click(handler, inputs, outputs, api_name="chat", **common)
    enter = message.submit(handler, inputs, outputs, api_visibility="private", **common)

    async def retry_last(
        dialog: list[dict[str, Any]] | None, *rest: Any
    ) -> AsyncGenerator[ChatUpdate, None]:
        before, last = retry_split(dialog)
        if not last:
            yield gr.skip(), gr.skip(), error_markdown("Nothing to retry yet.")
            return
        async for update in handler(last, before, *rest):
            yield update

    retried = retry.click(
        retry_last,
        [chatbot, *inputs[2:]],
        outputs,
        api_visibility="private",
        **common,
    )
    refresh_after(submit, history)
    refresh_after(enter, history)
    refresh_after(retried, history)
    wire_stop(ctx, "chat", stop, [submit, enter, retried], session, live, status)
    clear.click(lambda: ([], ""), None, [chatbot, status], api_visibility="private", queue=False)
    controls = {
        ("system_prompt",): system_prompt,
        TOKEN_LIMIT_FIELDS: max_tokens,
        ("temperature",): temperature,
    }
    files: dict[tuple[str, ...], gr.components.Component] = {CHAT_IMAGE_NAMES: image}
    return RemixTarget("chat", model, message, controls, preset=preset, files=files)
