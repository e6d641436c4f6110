"""Guarded demo mode in the page: the run paths' check point, the meter, sign-in, the simulator switch.

Every run path calls `check_run()` before any request and wraps its prediction stream in
`RunQuota.guarded()`, so limits hold for the page and for API callers alike (hidden endpoints too).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from typing import ParamSpec, TypeVar

import gradio as gr

from ..config import BUILTIN_SIMULATOR_TOKEN
from ..modalities.common import MappedInput
from ..quota.guard import QuotaGuard, QuotaRefused
from ..quota.identity import Visitor, identify
from ..replicate.schema import InputSchema
from ..replicate.types import ModelRef
from .context import AppContext, Backend

T = TypeVar("T")
P = ParamSpec("P")


def refused(exc: QuotaRefused) -> gr.Error:
    return gr.Error(exc.message, title=exc.title, duration=None)


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


@dataclass(frozen=True)
class RunQuota:
    """One run's limits; `limits` is None when nothing limits it (own token, simulator)."""

    panel: str
    limits: QuotaGuard | None = None
    visitor: Visitor | None = None

    def clamp(self, mapped: MappedInput, schema: InputSchema) -> MappedInput:
        """Cost-driving values within the owner's caps, with a note saying what changed."""
        if self.limits is None:
            return mapped
        clamped = self.limits.clamp(schema, mapped.input, self.panel)
        return replace(mapped, input=clamped.input, notes=[*mapped.notes, *clamped.notes])

    def guard(self, run: Callable[P, AsyncIterator[T]]) -> Callable[P, AsyncIterator[T]]:
        """`run` (e.g. run_model) admitted before it starts: `quota.guard(run_model)(...)`."""

        def guarded_run(*args: P.args, **kwargs: P.kwargs) -> AsyncIterator[T]:
            return self.guarded(run(*args, **kwargs))

        return guarded_run

    async def guarded(self, events: AsyncIterator[T]) -> AsyncIterator[T]:
        """`events` (a run not yet started) once admitted; its slot is freed however it ends."""
        if self.limits is None or self.visitor is None:
            async with contextlib.aclosing(events) as stream:  # type: ignore[type-var]
                async for event in stream:
                    yield event
            return
        try:
            ticket = await self.limits.admit(self.visitor)
        except QuotaRefused as exc:
            await events.aclose()  # type: ignore[attr-defined]
            raise refused(exc) from None
        try:
            async with contextlib.aclosing(events) as stream:  # type: ignore[type-var]
                async for event in stream:
                    yield event
        finally:
            await self.limits.release(ticket)


async def check_run(
    ctx: AppContext,
    panel: str,
    ref: ModelRef | str,
    backend: Backend,
    request: gr.Request | None,
    profile: gr.OAuthProfile | None,
) -> RunQuota:
    """Refuse, before any request, a run the owner's token may not pay for."""
    if ctx.quota is None or not backend.owner_paid:
        return RunQuota(panel)
    visitor = visitor_of(ctx, request, profile)
    try:
        ctx.quota.check_model(panel, str(ref))
        await ctx.quota.precheck(visitor)
    except QuotaRefused as exc:
        raise refused(exc) from None
    return RunQuota(panel, ctx.quota, visitor)


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
