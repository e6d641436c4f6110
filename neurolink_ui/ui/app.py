"""`build_app()` composes the panels into one Blocks app; `launch_options()` is how to serve it."""

from __future__ import annotations

import contextlib
import copy
import functools
import gc
import importlib.util
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable, Sequence
from types import FrameType
from typing import Any, cast
from urllib.parse import urlsplit

import gradio as gr
from starlette.middleware import Middleware

from ..agents import mcp_enabled
from ..agents.server import AgentEndpoint, AgentServer
from ..config import Settings
from ..modalities.registry import modalities
from ..runs import LiveRuns
from .context import AppContext
from .fairness import FairQueue, UploadLimits, install_session_store
from .history_log import bind_history, history_state, track_history_tab
from .light import CompressPages, api_component_ids, page_without, slim_config
from .on_demand import (
    API_ONLY,
    Inbox,
    TabBuilder,
    api_twins,
    built_when_opened,
    copied_tokens,
    receive,
)
from .panels.compare import build_compare_panel
from .panels.compare_api import build_compare_api
from .panels.explore import CSS as EXPLORE_CSS
from .panels.explore import build_explore_panel
from .panels.history import build_history_panel
from .panels.shared import SharedPageMeta, build_shared_tab, wire_shared
from .quota import build_quota_bar
from .retention import housekeeping
from .session import build_token_bar
from .stale_events import unknown_event

TITLE = "NeuroLink UI — a playground for Replicate's models"
QUEUE_MAX_SIZE = 512
MAX_UPLOAD = "50mb"
CACHE_CLEANUP = (3600, 3600)  # every hour, files older than an hour
SKIPPED = {"__type__": "update"}  # what gr.skip() returns, and what Gradio sends for it

CSS = """
/* clip, not Gradio's hidden: a hidden overflow is a scroll container, which defeats sticky. */
.gradio-container { max-width: 1280px !important; margin: auto; overflow: clip !important; }
/* Gradio puts the class on the Markdown's block and on its prose: one border, on the block. */
.block.nl-banner { border-radius: 10px; padding: 4px 14px; background: var(--block-background-fill);
  border: 1px solid var(--border-color-accent); }
.prose.nl-banner { border: none; padding: 0; background: none; }
.nl-status { min-height: 2.2em; }
/* Long prompts, URLs and JSON wrap instead of widening the page on a phone. */
.gradio-container .prose { overflow-wrap: anywhere; }
.gradio-container .prose code { white-space: pre-wrap; overflow-wrap: anywhere; }
/* The token row wraps on a phone instead of squeezing its checkbox to a word a line. */
.nl-token .row { flex-wrap: wrap; }
.nl-remember { min-width: 220px !important; flex: 2 1 220px !important; }
/* Whole pictures in every output gallery (issue 23, item 5): each at its own aspect ratio, no
   larger than its own pixels (a 96×64 output stays 96×64, not blown up to the tile), at most
   480 px tall; the gallery as tall as its pictures instead of a fixed box that crops them; a
   caption below its picture, not over it. */
.nl-gallery, .nl-gallery .grid-wrap { height: auto !important; min-height: 0 !important;
  max-height: none !important; overflow: visible !important; }
.nl-gallery .grid-wrap { padding-top: 2.6em; }  /* below the gallery's label */
.nl-gallery .grid-container { grid-template-rows: none !important; grid-auto-rows: auto !important; }
.nl-gallery .thumbnail-item.thumbnail-lg { aspect-ratio: auto; height: auto; display: flex;
  flex-direction: column; align-items: center; justify-content: center; gap: 4px; }
.nl-gallery .thumbnail-lg > img { width: auto; height: auto; max-width: 100%; max-height: 480px;
  object-fit: contain; }
.nl-gallery .caption-label { position: static; max-width: 100%; white-space: normal;
  border: none; opacity: 1 !important; }
/* Where the prompt is the caption, it is the pictures' alt text for screen readers only. */
.nl-alt .caption-label { display: none; }
/* A shared result's input files: small thumbnails (a gallery stretches a lone one to its width). */
.nl-inputs .grid-container { grid-template-columns: repeat(auto-fill, minmax(120px, 180px)) !important; }
.nl-inputs .thumbnail-item { height: 150px !important; aspect-ratio: auto !important; }
.nl-inputs .grid-wrap { height: auto !important; min-height: 0 !important; max-height: 400px; }
/* History: compact cards, thumbnails on light ground rather than black letterboxes. */
.nl-card { border: 1px solid var(--border-color-primary) !important; border-radius: 10px !important;
  margin-bottom: 10px; box-shadow: none !important; }
.nl-card .nl-card { border: none !important; margin: 0; }  /* a Group's inner div */
/* Nothing in a card may widen the page: long JSON and code wrap inside it. */
.nl-card, .nl-card * { min-width: 0; }
.nl-card { max-width: 100%; }
.nl-card pre, .nl-card pre code { white-space: pre-wrap !important; overflow-wrap: anywhere; }
.nl-card .cm-content { white-space: pre-wrap !important; overflow-wrap: anywhere;
  flex-shrink: 1 !important; }
.nl-thumb .image-container, .nl-thumb video, .nl-thumb img { background: transparent !important; }
.nl-thumb img, .nl-thumb video { object-fit: contain !important; }
/* Placed after the main inputs, it covers nothing of the form at rest; it sticks to the top
   while the rest of the form scrolls under it, and a field scrolled into view stops below it. */
.nl-run { position: sticky; top: 0; z-index: 100; padding: 8px 0;
  background: var(--body-background-fill); }
html { scroll-padding-top: 72px; }
/* A primary button under the pointer (as it stays after a click) darkens; Gradio's lighter
   hover shade read as a disabled button once a run had ended. */
button.primary:hover:not(:disabled) { background: var(--button-primary-background-fill);
  filter: brightness(0.9); }
/* On a phone the gallery is as tall as its images: a fixed 520 px left a square image with
   200 px of empty box below it. */
.nl-status pre { max-height: 8em; overflow: auto; font-size: 0.8em; }
/* A phone (issue 23, item 2): a compact header (the title on one line, no tagline, a smaller
   banner), and each panel's run row kept on the
   screen, at its bottom edge until the form scrolls it into its place. */
@media (max-width: 640px) {
  .nl-title h1 { font-size: 1.3em !important; margin: 0 !important; }
  .nl-title p { display: none; }
  .block.nl-banner { padding: 2px 8px; }
  .prose.nl-banner, .prose.nl-banner * { font-size: 13px !important; line-height: 1.35 !important; }
  .nl-run { top: auto; bottom: 0; }
  .nl-compose { position: sticky; bottom: 0; z-index: 100; background: var(--body-background-fill); }
}
/* A long line of JSON (a data: URL) scrolls inside its editor instead of widening the page
   (on a phone it pushed Explore's Run off the screen). */
.gradio-container .codemirror-wrapper { contain: inline-size; }
/* Where the keyboard is, always visible (issue 23, item 8): Gradio's buttons show no focus. */
.gradio-container :is(button, a, [role=tab], input, textarea, select):focus-visible {
  outline: 3px solid var(--color-accent) !important; outline-offset: 2px; }
"""


# What CSS cannot do (issue 23), run once per frame at most while the page changes:
# - a panel's status is a live region (role=status), so "Done", "Stopped" and every refusal are
#   announced where they land; Gradio's empty-output placeholder carries an aria-label on a plain
#   div, which assistive tech ignores, so it gets the role that makes the label count (item 8);
# - a shared link (?result=) starts at its result: the page scrolls to the tabs as the result's
#   parts and pictures arrive (the page may be too short at first), until the tabs are at the top
#   or the visitor scrolls (item 7); a file of the wrong kind dropped on an upload is said in a
#   short sentence instead of Gradio's list of a dozen MIME types (item 7);
# - on a phone the answer lands below the screen: after a run button is tapped, the status after
#   it comes into view when it first changes, then the output after it when it arrives (item 2).
# No comments inside: every visitor downloads the script.
HEAD = r"""<script>(() => {
  let due = false;
  let shared = new URLSearchParams(location.search).has('result');
  for (const moved of ['wheel', 'touchstart', 'keydown'])
    addEventListener(moved, () => { shared = false; }, {once: true, passive: true});
  const mark = () => {
    due = false;
    const tab = shared && document.querySelector('[role=tab][aria-selected=true]');
    if (tab && tab.textContent.includes('Shared')) {
      tab.scrollIntoView({block: 'start', behavior: 'instant'});
      shared = tab.getBoundingClientRect().top > 80;
    }
    for (const e of document.querySelectorAll('.block.nl-status:not([role])'))
      e.setAttribute('role', 'status');
    for (const e of document.querySelectorAll('div.empty[aria-label]:not([role])'))
      e.setAttribute('role', 'img');
    for (const t of document.querySelectorAll('[data-testid=toast-text]:not([data-nl])')) {
      t.dataset.nl = '';
      const m = /^Invalid file types?: (.*)\. Only (.*) allowed\.$/.exec(t.textContent.trim());
      const kind = m && ['audio', 'image', 'video'].find(k => m[2].split(', ').every(
        type => type.startsWith(k + '/') || type.startsWith('.')));
      if (kind) t.textContent = `${m[1]} is not ${kind === 'audio' ? 'an audio' : 'a ' + kind}`
        + ` file: this box takes ${kind === 'image' ? 'pictures' : kind} (${
        {audio: 'mp3, wav, m4a…', image: 'png, jpg, webp…', video: 'mp4, webm, mov…'}[kind]}).`;
    }
  };
  const later = () => { if (!due) { due = true; requestAnimationFrame(mark); } };
  new MutationObserver(later).observe(document.documentElement, {childList: true, subtree: true});
  document.addEventListener('load', () => shared && later(), true);
  document.addEventListener('click', (event) => {
    const run = event.target.closest?.('.nl-run button.primary, .nl-compose button.primary');
    const panel = run?.closest('[role=tabpanel]');
    if (!panel || innerWidth > 640) return;
    const after = (e) => run.compareDocumentPosition(e) & Node.DOCUMENT_POSITION_FOLLOWING;
    const status = [...panel.querySelectorAll('.block.nl-status')].find(after);
    const shown = [...panel.querySelectorAll('.nl-gallery')].find(after);
    const seen = new MutationObserver(() => {
      const done = /Done|Stopped|❌/.test(status.innerText);
      const into = done && shown?.offsetParent ? shown : status;
      into.scrollIntoView({block: 'nearest', behavior: 'instant'});
      if (done) seen.disconnect();
    });
    if (status) seen.observe(status, {childList: true, subtree: true, characterData: true});
  }, true);
})();</script>"""


class NeuroLinkApp(gr.Blocks):
    """The playground's Blocks, carrying the `AppContext` its panels were built with.

    `launch_options(demo.neurolink_context)` is how app.py, the CLI and tests serve it.
    """

    def __init__(self, ctx: AppContext, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.neurolink_context = ctx

    async def postprocess_data(
        self, block_fn: Any, predictions: list[Any] | dict[str, Any], state: Any
    ) -> list[Any]:
        """Gradio's post-processing, without rebuilding the component of a skipped output.

        For each `gr.skip()` among several outputs Gradio constructs a new instance of that
        output's component and its config, only to send `{"__type__": "update"}` — what a
        progress update (status changed, media output skipped) cost most of its CPU. Skipped
        outputs of components that are not State are answered with that directly here; the
        others go through Gradio as before."""
        outputs = block_fn.outputs
        if not isinstance(predictions, list | tuple) or block_fn.batch:
            return await super().postprocess_data(block_fn, predictions, state)
        skipped = {
            index
            for index, (block, value) in enumerate(zip(outputs, predictions, strict=False))
            if value == SKIPPED and not block.stateful
        }
        if not skipped or len(predictions) != len(outputs) or len(outputs) < 2:
            return await super().postprocess_data(block_fn, predictions, state)
        kept = [index for index in range(len(outputs)) if index not in skipped]
        done: list[Any] = []
        if kept:
            rest = copy.copy(block_fn)
            rest.outputs = [outputs[index] for index in kept]
            values = [predictions[index] for index in kept]
            done = await super().postprocess_data(
                rest, values if len(kept) > 1 else values[0], state
            )
        sent = iter(done)
        return [dict(SKIPPED) if index in skipped else next(sent) for index in range(len(outputs))]

    def get_config_file(self) -> Any:
        """Gradio's config without the API schemas of components no endpoint exposes (light.py):
        the page's code never reads them, and the API description reads only the others; the
        page's own view of it without what serves API callers only (`on_demand.api_only`)."""
        config = super().get_config_file()
        slim_config(config["components"], api_component_ids(self.fns.values()))
        page_without(cast(dict[str, Any], config), getattr(self, API_ONLY, set()))
        return config


# Modules Gradio tries to import on every event, which this app does not need.
ABSENT_PER_EVENT = ("matplotlib",)


def absent_modules_fail_fast(names: Sequence[str] = ABSENT_PER_EVENT) -> list[str]:
    """Gradio wraps every event in `MatplotlibBackendMananger`, which imports matplotlib on
    entry and on exit. Where it is not installed, each failed import searched every `sys.path`
    entry again (stats, and directory listings whenever a folder had changed): about a tenth of
    the app's CPU under 20 runs at once (py-spy). A module known to be absent is marked so
    (`sys.modules[name] = None`), and its import fails at once. An installed module is left
    alone. Returns the names marked."""
    marked = []
    for name in names:
        if name not in sys.modules and importlib.util.find_spec(name) is None:
            cast(dict[str, Any], sys.modules)[name] = None
            marked.append(name)
    return marked


def on_token(build_panel: Callable[..., Any], ctx: AppContext, *rest: Any) -> TabBuilder:
    """A panel's `build_panel(ctx, token, *rest)` as a builder of the token State it is given."""
    return lambda token: build_panel(ctx, token, *rest)


def build_app(settings: Settings | None = None, ctx: AppContext | None = None) -> NeuroLinkApp:
    """The whole playground. Pass `ctx` to share clients with a caller (tests, benchmarks)."""
    absent_modules_fail_fast()
    ctx = ctx or AppContext.create(settings or Settings.from_env())
    with NeuroLinkApp(ctx, title=TITLE, delete_cache=CACHE_CLEANUP, fill_width=False) as demo:
        gr.Markdown(
            "# 🧠 NeuroLink UI\nChat, images, video, talking avatars and music from "
            "[Replicate](https://replicate.com)'s hosted models, behind one API token.",
            elem_classes=["nl-title"],
        )
        session = gr.State(None)  # this visitor's own token: server-side, never sent back
        # This session's History (its entries point at outputs kept `output_ttl` seconds), and
        # what each panel is running (what its Stop cancels).
        history = history_state(ctx.settings.output_ttl, ctx.results)
        live = gr.State(LiveRuns())
        stored, restore, restore_outputs = build_token_bar(ctx, session)
        build_quota_bar(ctx, session, history.count)
        settings = ctx.settings
        # "wrap": on a phone the tabs take two lines. Gradio 6.31's "More tabs" menu measured
        # seven tabs wrongly and left the bar wider than the screen.
        panels = modalities()
        # Every tab drawn on demand (all panels but the first, Compare, Explore) reads its own
        # copy of the session's token (on_demand.built_when_opened says why).
        tokens = iter(copied_tokens(session, len(panels) + 1))
        with gr.Tabs(overflow_behavior="wrap") as tabs:
            # Tab ids are the panels' names: Remix opens the one that made a shared result,
            # Explore's "Open in the X panel" selects one. The first tab is built with the page,
            # every other one when first opened (on_demand.py); Remix and Explore reach each
            # through its inbox.
            inboxes: dict[str, Inbox] = {}
            others: list[gr.Tab] = []  # every tab but History's
            drawn: list[TabBuilder] = []  # the builders of the tabs drawn when opened
            for index, modality in enumerate(panels):
                build = on_token(modality.build_panel(), ctx, history, live)
                with gr.Tab(f"{modality.icon} {modality.title}", id=modality.name) as tab:
                    # Inside the tab: the page takes every child of the Tabs for a tab.
                    inboxes[modality.name] = inbox = Inbox(modality.name, gr.State(None))
                    if index:
                        built_when_opened(tab, inbox, build, next(tokens))
                        drawn.append(build)
                    else:
                        receive(inbox, build(session))
                others.append(tab)
            with gr.Tab("🆚 Compare", id="compare") as compare_tab:
                inboxes["compare"] = Inbox("compare", gr.State(None))
                build_compare = on_token(build_compare_panel, ctx, history, live)
                built_when_opened(compare_tab, inboxes["compare"], build_compare, next(tokens))
                drawn.append(build_compare)
            with gr.Tab("🧭 Explore", id="explore") as explore_tab:
                inboxes["explore"] = Inbox("explore", gr.State(None))
                opened_in = {m.name: inboxes[m.name] for m in panels}  # "Open in panel"
                build_explore = on_token(build_explore_panel, ctx, history, live, tabs, opened_in)
                built_when_opened(explore_tab, inboxes["explore"], build_explore, next(tokens))
                drawn.append(build_explore)
            with gr.Tab("🕘 History", id="history") as history_tab:
                build_history_panel(history, settings.result_ttl, settings.sharing)
            shared = build_shared_tab()
        # What the tabs drawn on demand serve to API callers, from the start, on the session's
        # own token State (what /sign_in sets).
        api_twins([functools.partial(build_tab, session) for build_tab in drawn])
        build_compare_api(ctx, session, history, live)
        track_history_tab(history, history_tab, [*others, compare_tab, explore_tab, shared.tab])
        bind_history(demo, history)
        wire_shared(demo, tabs, shared, ctx.results, settings.sharing, list(inboxes.values()))
        demo.load(
            restore, [stored], restore_outputs, api_visibility="private", show_progress="hidden"
        )

        def page_closed(request: gr.Request) -> None:
            ctx.sessions.page_closed(request.session_hash)

        demo.unload(page_closed)
    demo.queue(default_concurrency_limit=None, max_size=QUEUE_MAX_SIZE)
    # Renders take turns per session, not across all; each session's and address's share of
    # the queue is bounded (issue 20).
    demo._queue = FairQueue.replacing(demo._queue, ctx.fair)
    return demo


def serving(
    ctx: AppContext, agents: AgentServer | None = None
) -> Callable[[Any], contextlib.AbstractAsyncContextManager[None]]:
    """The server's lifespan: the bounded session store installed before the first request,
    then the housekeeping schedule, and the agents' MCP server when it is served."""
    keeping = housekeeping(ctx.outputs, ctx.sessions, ctx.results)

    @contextlib.asynccontextmanager
    async def lifespan(app: Any) -> AsyncIterator[None]:
        holder = install_session_store(app, ctx.fair)
        if holder is not None:
            holder.on_evict = ctx.fair.forget_session
        # The built app (~270k objects: every block, its config, Gradio's routes) lives as long
        # as the server. Frozen, Python's full collections no longer walk it: each one cost
        # ~0.2 s of CPU on whichever thread triggered it, the event loop's included (the loop
        # monitor caught one holding the loop 0.58 s). Once, before the first request.
        gc.collect()
        gc.freeze()
        try:
            async with keeping(app):
                if agents is None:
                    yield
                else:
                    async with agents.running():
                        yield
        finally:
            gc.unfreeze()  # closed (tests build several apps in one process): collectable again

    return lifespan


def startup_message(ctx: AppContext, host: str, port: int) -> str:
    """What the terminal says at start: where the panels' runs go, and where the page is."""
    page = f"NeuroLink UI on http://{host}:{port}"
    if ctx.simulator_client is not None:
        sim = urlsplit(ctx.simulator_client.base_url)
        return (
            f"{page} — no REPLICATE_API_TOKEN: runs go to the built-in Replicate simulator on "
            f"port {sim.port} ({sim.scheme}://{sim.netloc}); outputs are synthetic. "
            "Set REPLICATE_API_TOKEN to use Replicate."
        )
    return f"{page} — runs go to Replicate at {ctx.settings.base_url} (REPLICATE_API_TOKEN is set)."


def stop_cleanly_on_sigterm(demo: gr.Blocks) -> None:
    """`docker stop` and Spaces send SIGTERM: close the app as `demo.close()` does, so the server
    shuts down cleanly (its lifespan removes the outputs) instead of dying where it stands;
    `launch()` then returns."""

    def close(signum: int, frame: FrameType | None) -> None:
        if not demo.is_running:  # still starting: nothing to close, so stop here
            raise SystemExit(0)  # (closing a demo not yet running does nothing: it would serve on)
        demo.close()

    signal.signal(signal.SIGTERM, close)


def theme() -> gr.themes.Base:
    """Soft in violet and sky, a shade darker where its text would fall short of WCAG AA's 4.5:1
    contrast (issue 23, item 8): violet 500 labels on violet 100 (3.6:1), white on violet 500
    buttons (4.2:1), sky 600 links (3.9:1), grey 400 hints and footer (2.5:1)."""
    return gr.themes.Soft(primary_hue="violet", secondary_hue="sky").set(
        block_label_text_color="*primary_700",
        block_title_text_color="*primary_700",
        button_primary_background_fill="*primary_600",
        button_primary_background_fill_hover="*primary_700",
        button_primary_border_color="*primary_600",
        button_primary_border_color_hover="*primary_700",
        checkbox_label_background_fill_selected="*primary_600",
        link_text_color="*secondary_700",
        link_text_color_active="*secondary_700",
        link_text_color_hover="*secondary_800",
        link_text_color_visited="*secondary_700",
        body_text_color_subdued="*neutral_500",
        input_placeholder_color="*neutral_500",
    )


def launch_options(ctx: AppContext) -> dict[str, Any]:
    """The keyword arguments for `demo.launch()` (app.py, the CLI and tests use the same)."""
    # Agents' MCP server (issue 24): ours, mounted in front of Gradio's routes; Gradio's own
    # (`mcp_server=True`, GRADIO_MCP_SERVER) is never started (docs/ARCHITECTURE.md, "Agents").
    agents = AgentServer(ctx) if mcp_enabled(ctx.settings) else None
    entry = [Middleware(AgentEndpoint, agents=agents)] if agents is not None else []
    if ctx.quota is not None:
        # Visitors are counted by the address NEUROLINK_PROXY_HOPS says to trust; uvicorn must
        # not swap the socket peer for an X-Forwarded-For entry first (it trusts loopback
        # peers by default). An operator's own FORWARDED_ALLOW_IPS is a startup error instead.
        os.environ["FORWARDED_ALLOW_IPS"] = ""
    return {
        "theme": theme(),
        "css": CSS + EXPLORE_CSS,
        "head": HEAD,
        "max_file_size": MAX_UPLOAD,
        # Gradio pre- and post-processes every event in its thread pool (40 by default), which
        # would cap how many async predictions run at once.
        "max_threads": QUEUE_MAX_SIZE,
        # Kept results are served from their own folder (named by random ids, as outputs are).
        "allowed_paths": [str(ctx.outputs_dir), str(ctx.results.files_root)],
        "footer_links": ["api", "gradio", "settings"],
        "show_error": False,
        "mcp_server": False,
        # Outputs and ended sessions are swept on a schedule; outputs are removed at shutdown.
        "app_kwargs": {
            "lifespan": serving(ctx, agents),
            # An event index the app does not have: a 404 that says so, not a 500 and a traceback.
            "exception_handlers": {KeyError: unknown_event},
            "middleware": [
                # Outermost, so it compresses the page as SharedPageMeta leaves it.
                Middleware(CompressPages),
                # /gradio_api/mcp/: the agents' MCP server (when NEUROLINK_MCP serves it).
                *entry,
                # A shared result's page carries its own title and preview image.
                Middleware(
                    SharedPageMeta,
                    store=ctx.results,
                    sharing=ctx.settings.sharing,
                    public_url=ctx.settings.public_url,
                ),
                # Uploads need no session: bounded per address and in total.
                Middleware(UploadLimits, fair=ctx.fair),
            ],
        },
    }
