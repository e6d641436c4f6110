"""The Chat panel: multi-turn chat with streaming, a Thinking trace for reasoning models, Stop."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from pathlib import Path
from typing import Any

import gradio as gr
from gradio.context import Context

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
from ...results import StoredResult, valid_history_id
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
    check_refused,
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
from ..history_log import MAX_HISTORY, HistoryHandles, HistoryLog, refresh_after
from ..lazy import endpoint
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
                check_refused((image, max_tokens, temperature))
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
                # Sent: the message moves from the box into the conversation.
                yield [*shown, *view.messages()], "", "📤 Sending to Replicate…"
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
                done = result_markdown(
                    result, event.on_replicate, event.cost, event.simulated, event.session_cost
                )
                if generations is not None:
                    generations.chat_turn(user_turns(before), event.kept_id)
                yield [*shown, *view.messages()], "", done
            elif isinstance(event, RunStopped):  # canceled: keep what was streamed, say so
                if generations is not None:
                    generations.chat_turn(user_turns(before), None)
                status = stopped_markdown(event.prediction, event.on_replicate)
                yield [*shown, *view.messages()], gr.skip(), status
            elif isinstance(event, RunFailed):
                # Nothing is lost: the dialog goes back to how it was, the message to its box.
                said = f"Not sent: {event.message}" if sent else event.message
                back = (before, message) if sent else (gr.skip(), gr.skip())
                yield *back, error_markdown(said)
                if event.stays:
                    raise failure_error(event)
                if not from_page(request):
                    raise refuse(plain_text(event.message), title=event.title) from None

    return chat


def user_turns(dialog: list[dict[str, Any]] | None) -> int:
    """The person's messages in a dialog (attached images and titled notes aside)."""
    return sum(
        1
        for turn in dialog or []
        if turn.get("role") == "user"
        and not (turn.get("metadata") or {}).get("title")
        and flatten_content(turn.get("content")).strip()
    )


def restored_dialog(results: list[StoredResult]) -> list[dict[str, Any]]:
    """A conversation as its kept turns show it again: each turn's attached image, message,
    and answer (its Thinking and ⏱ footer, as the panel showed them)."""
    dialog: list[dict[str, Any]] = []
    for result in results:
        for paths in result.input_files.values():
            dialog += [{"role": "user", "content": {"path": str(path)}} for path in paths]
        dialog.append({"role": "user", "content": result.prompt})
        view = ChatStreamView(model=result.model)
        view.show_text(result.text)
        view.finish(result.predict_time, result.wall_time)
        dialog += view.messages()
    return dialog


CHAT_STORAGE_KEY = "neurolink-chat-turns"
CHAT_SECRET = "neurolink-chat-turns-v1"  # public anyway (GET /config): it holds result ids only


def make_chat_restore(ctx: AppContext) -> Callable[..., Any]:
    """At page load: the conversation this browser had on screen, from the History results its
    turns were kept as (ids the browser sends are checked against its own History id)."""

    def restore(
        browser_history: Any, stored: Any, log: HistoryLog | None
    ) -> list[dict[str, Any]] | Any:
        ids = stored.get("turns") if isinstance(stored, dict) else None
        history_id = valid_history_id(browser_history)
        if not isinstance(ids, list) or not ids or history_id is None:
            return gr.skip()
        turns: list[str | None] = []
        results: list[StoredResult] = []
        for result_id in ids[:MAX_HISTORY]:
            kept = ctx.results.get(history_id, result_id) if isinstance(result_id, str) else None
            if kept is not None and kept.kind == "chat":
                results.append(kept)
                turns.append(kept.id)
        if log is not None:
            log.chat_turns = turns
        return restored_dialog(results) if results else gr.skip()

    return restore


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
                height=400,  # room below it for the message box and its status on one screen
                buttons=["copy", "copy_all"],
                placeholder="Ask anything. Answers stream token by token where the model can.",
            )
            with gr.Row(elem_classes=["nl-compose"]):  # kept on a phone's screen (app.CSS)
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
            # By the message box, where the eye is after Send: what is wrong with the message,
            # "Answering", "Stopped", a refusal.
            status = gr.Markdown(elem_classes=["nl-status"])
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
    submit = send.click(handler, inputs, outputs, **endpoint("chat"), **common)
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

    # The conversation on screen survives a reload: the browser keeps its turns' History ids.
    turns = gr.BrowserState({"turns": []}, storage_key=CHAT_STORAGE_KEY, secret=CHAT_SECRET)
    quiet: dict[str, Any] = {"api_visibility": "private", "queue": False}

    def kept_turns(log: HistoryLog | None) -> Any:
        return {"turns": list(log.chat_turns)} if log is not None else gr.skip()

    for event in (submit, enter, retried):
        event.then(kept_turns, [history.log], [turns], show_progress="hidden", **quiet)

    def clear_dialog(log: HistoryLog | None) -> tuple[Any, ...]:
        if log is not None:
            log.chat_turns = []
        return [], "", {"turns": []}

    clear.click(clear_dialog, [history.log], [chatbot, status, turns], **quiet)
    page = Context.root_block
    assert page is not None, "the Chat panel is built inside the app's Blocks"
    page.load(
        make_chat_restore(ctx),
        [history.browser_id, turns, history.log],
        [chatbot],
        show_progress="hidden",
        **quiet,
    )
    controls = {
        ("system_prompt",): system_prompt,
        TOKEN_LIMIT_FIELDS: max_tokens,
        ("temperature",): temperature,
    }
    files: dict[tuple[str, ...], gr.components.Component] = {CHAT_IMAGE_NAMES: image}
    return RemixTarget("chat", model, message, controls, preset=preset, files=files)
