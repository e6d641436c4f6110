"""The token bar: a visitor's own Replicate token for their session only.

The token lives server-side in `gr.State`; it is remembered in this browser only when asked, and
its events are kept out of the API docs and the browser's run history.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import gradio as gr

from ..config import DEFAULT_BASE_URL
from ..replicate.errors import ReplicateError
from .adapters import plain_text
from .common import error_markdown, from_page, refuse
from .context import AppContext

STORAGE_KEY = "neurolink_ui_token"
FORGOTTEN: dict[str, Any] = {"token": None}  # a falsy BrowserState write would be skipped


def banner_markdown(ctx: AppContext, username: str | None = None) -> str:
    """Where this visitor's runs go and who pays: it follows the session, not just the app."""
    if username:
        return (
            f"🔑 Signed in as **{username}** — your runs go to Replicate on your own token, "
            "billed to your account. **Forget** switches back to the default backend."
        )
    if ctx.settings.api_token:
        return (
            "🔑 This playground runs on its owner's Replicate token: **the owner pays** for your "
            "runs. Paste your own token below to run on (and pay with) your account instead."
        )
    return (
        "🧪 **Simulator mode** — no Replicate token is set, so every panel runs on the built-in "
        "simulator and **outputs are synthetic**. Paste your Replicate token below (create one at "
        "https://replicate.com/account/api-tokens), or set `REPLICATE_API_TOKEN` where the app runs."
    )


# Replicate's tokens are "40-character strings that always start with r8_"
# (https://replicate.com/docs/topics/security/api-tokens).
TOKEN_PREFIX = "r8_"
TOKEN_LENGTH = 40
TOKEN_PAGE = "https://replicate.com/account/api-tokens"
_TOKEN_CHARS = re.compile(r"[A-Za-z0-9_-]+")


def token_problem(token: str, exact_length: bool = True) -> str | None:
    """Why a pasted text cannot be a Replicate API token (None: it may be one), found without
    any request. `exact_length`: its 40 characters are checked too (not for a simulator or
    another API at REPLICATE_BASE_URL, whose test tokens are of any length)."""
    if not token:
        return f"Paste a Replicate API token first (it starts with {TOKEN_PREFIX})."
    if not token.startswith(TOKEN_PREFIX):
        return (
            f"That is not a Replicate API token: they start with `{TOKEN_PREFIX}`. "
            f"Copy yours from {TOKEN_PAGE}."
        )
    if any(c.isspace() or not c.isprintable() for c in token):
        return "The API token contains spaces or control characters: paste the token alone."
    if exact_length and (len(token) != TOKEN_LENGTH or not _TOKEN_CHARS.fullmatch(token)):
        return (
            f"That is not a whole Replicate API token: they are {TOKEN_LENGTH} characters "
            f"(`{TOKEN_PREFIX}` and {TOKEN_LENGTH - len(TOKEN_PREFIX)} letters and digits); "
            f"this has {len(token)}. Copy it again from {TOKEN_PAGE}."
        )
    return None


def remembered_token(stored: Any) -> str | None:
    """The token the browser's store holds, if any: the store is the visitor's to edit, so
    anything but `{"token": "<text>"}` means none."""
    token = stored.get("token") if isinstance(stored, dict) else None
    return token if isinstance(token, str) and token.strip() else None


def _session_of(request: gr.Request | None) -> str | None:
    return request.session_hash if request is not None else None


SessionHandlers = tuple[
    Callable[..., Awaitable[Any]], Callable[..., Awaitable[Any]], Callable[..., Any]
]
"""The token bar's event functions: sign in, restore a remembered token, forget it."""


def make_session_handlers(ctx: AppContext) -> SessionHandlers:
    async def sign_in(
        token: str, remember: bool = False, request: gr.Request | None = None
    ) -> tuple[str | None, str, str, dict, str]:
        """Check a pasted token (its shape first, then with Replicate) and keep it for this
        session. On the page every refusal is said in the token row's status; API callers get
        it raised."""
        token = (token or "").strip()
        try:
            problem = token_problem(token, exact_length=ctx.client.base_url == DEFAULT_BASE_URL)
            if problem is not None:
                raise refuse(problem, title="Not a Replicate token")
            try:
                account = await ctx.client.get_account(token=token)
            except ReplicateError as exc:
                raise refuse(str(exc), title=exc.title) from None
        except gr.Error as exc:
            if not from_page(request):
                raise gr.Error(
                    plain_text(exc.message), title=exc.title, print_exception=False
                ) from None
            return gr.skip(), gr.skip(), error_markdown(exc.message), gr.skip(), gr.skip()
        # Remembered apart from the session's state: a run of this session that arrives
        # without the token is refused rather than paid by the owner (issue 20, item 2).
        ctx.own_tokens.signed_in(_session_of(request))
        kept = {"token": token} if remember else FORGOTTEN
        where = " and remembered in this browser" if remember else " for this session"
        return (
            token,
            "",
            f"✅ Signed in as **{account.username}**{where}.",
            kept,
            banner_markdown(ctx, account.username),
        )

    async def restore(stored: Any, request: gr.Request | None = None) -> tuple[Any, Any, Any]:
        token = remembered_token(stored)
        if token is None:
            # Nothing to restore: the page already shows the signed-out state, and a page load
            # answered late on a busy server must not wipe what the person did meanwhile (a
            # token just signed in with, or the token row's answer to a bad one).
            return gr.skip(), gr.skip(), gr.skip()
        try:
            account = await ctx.client.get_account(token=token)
        except ReplicateError as exc:
            return None, f"⚠️ The remembered token no longer works: {exc}", banner_markdown(ctx)
        ctx.own_tokens.signed_in(_session_of(request))
        return (
            token,
            f"✅ Signed in as **{account.username}** (remembered in this browser).",
            banner_markdown(ctx, account.username),
        )

    def forget(request: gr.Request | None = None) -> tuple[None, str, dict, str, str]:
        ctx.own_tokens.signed_out(_session_of(request))
        signed_out = "Signed out: this session uses the default backend again."
        return None, signed_out, FORGOTTEN, "", banner_markdown(ctx)

    return sign_in, restore, forget


def build_token_bar(ctx: AppContext, session: gr.State) -> tuple[gr.BrowserState, Any, list]:
    """Returns the browser store, the restore function and its outputs, for `demo.load`."""
    stored = gr.BrowserState(FORGOTTEN, storage_key=STORAGE_KEY)
    banner = gr.Markdown(banner_markdown(ctx), elem_classes=["nl-banner"])
    # One closed row by default: it is needed up front only when no backend is usable at all.
    usable = bool(ctx.settings.api_token) or ctx.simulated_by_default
    with gr.Accordion("🔑 Your Replicate token", open=not usable, elem_classes=["nl-token"]):
        with gr.Row(equal_height=True):
            token_box = gr.Textbox(
                label="Replicate API token",
                type="password",
                placeholder="r8_…",
                scale=4,
                min_width=220,
            )
            remember = gr.Checkbox(
                label="Remember in this browser",
                info="Kept in this browser's local storage",
                value=False,
                scale=2,
                min_width=220,
                elem_classes=["nl-remember"],
            )
            use = gr.Button("Use token", variant="primary", size="sm", scale=1, min_width=100)
            forget_button = gr.Button("Forget", size="sm", scale=1, min_width=100)
        status = gr.Markdown()

    sign_in, restore, forget = make_session_handlers(ctx)
    use.click(
        sign_in,
        [token_box, remember],
        [session, token_box, status, stored, banner],
        api_name="sign_in",
        api_visibility="undocumented",
        show_progress_on=[status],
    )
    token_box.submit(
        sign_in,
        [token_box, remember],
        [session, token_box, status, stored, banner],
        api_visibility="private",
        show_progress_on=[status],
    )
    forget_button.click(
        forget,
        None,
        [session, status, stored, token_box, banner],
        api_visibility="private",
        queue=False,
    )
    return stored, restore, [session, status, banner]
