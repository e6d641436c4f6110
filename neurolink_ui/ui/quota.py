"""Guarded demo mode in the page: who a visitor is, the meter, sign-in, the simulator switch.

The limits themselves are applied by the run core (`runs.core.run`: check, clamp, admission,
release) for every entry point alike; the page only tells it who is asking (`visitor_of`).
"""

from __future__ import annotations

import logging
from typing import ParamSpec, TypeVar

import gradio as gr

from ..config import BUILTIN_SIMULATOR_TOKEN
from ..quota.guard import QuotaRefused
from ..quota.identity import Visitor, identify
from .context import AppContext

log = logging.getLogger("neurolink_ui.ui")

T = TypeVar("T")
P = ParamSpec("P")


def refused(exc: QuotaRefused) -> gr.Error:
    """A quota refusal: a toast that stays, and one warning line in the log (no traceback)."""
    log.warning("refused: %s", " ".join(exc.message.split())[:300])
    return gr.Error(exc.message, title=exc.title, duration=None, print_exception=False)


def visitor_of(
    ctx: AppContext, request: gr.Request | None, profile: gr.OAuthProfile | None
) -> Visitor:
    """Who is counted: the signed-in Hugging Face user, else the client address seen through
    NEUROLINK_PROXY_HOPS trusted proxies, else the session."""
    hops = ctx.quota.settings.proxy_hops if ctx.quota else 0
    peer: str | None = None
    forwarded: list[str] = []
    session_hash: str | None = None
    if request is not None:
        client = getattr(request, "client", None)
        peer = getattr(client, "host", None)
        headers = getattr(request, "headers", None) or {}
        getlist = getattr(headers, "getlist", None)
        if getlist is not None:
            forwarded = list(getlist("x-forwarded-for"))
        elif headers.get("x-forwarded-for"):
            forwarded = [str(headers["x-forwarded-for"])]
        session_hash = request.session_hash
    return identify(
        hf_username=profile.username if profile is not None else None,
        peer=peer,
        forwarded_for=forwarded,
        proxy_hops=hops,
        session_hash=session_hash,
    )


async def meter_markdown(
    ctx: AppContext,
    session_token: str | None,
    request: gr.Request | None,
    profile: gr.OAuthProfile | None,
) -> str:
    backend = ctx.backend(session_token)
    if backend.token == BUILTIN_SIMULATOR_TOKEN:
        return "🧪 Unlimited: the simulator (synthetic outputs, free)."
    if not backend.owner_paid:
        return "♾️ Unlimited: your own token."
    if ctx.quota is None:
        return ""
    return "🎟️ " + await ctx.quota.meter(visitor_of(ctx, request, profile))


def build_quota_bar(ctx: AppContext, session: gr.State, generations: gr.Number) -> None:
    """The meter, "Use the simulator", and Hugging Face sign-in when the Space enables OAuth.

    Shown only when the owner's token is limited; refreshed on load, when the session's token
    changes and after every run that reaches the History."""
    if ctx.quota is None:
        return
    with gr.Row(equal_height=True, elem_classes=["nl-quota"]):
        meter = gr.Markdown(elem_id="nl-meter")
        simulator = gr.Button("🧪 Use the simulator", size="sm", scale=1, min_width=160)
        if ctx.quota.settings.oauth:
            gr.LoginButton(size="sm", scale=1, min_width=160)

    async def refresh(
        session_token: str | None,
        request: gr.Request,
        profile: gr.OAuthProfile | None,
    ) -> str:
        return await meter_markdown(ctx, session_token, request, profile)

    quiet: dict = {"api_visibility": "private", "show_progress": "hidden"}
    gr.on(None, refresh, [session], meter, **quiet)  # on page load
    session.change(refresh, [session], meter, **quiet)  # signed in or out with a token
    generations.change(refresh, [session], meter, **quiet)
    simulator.click(
        lambda: BUILTIN_SIMULATOR_TOKEN, None, session, api_visibility="private", queue=False
    ).then(refresh, [session], meter, **quiet)
