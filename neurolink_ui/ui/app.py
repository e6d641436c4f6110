"""`build_app()` composes the panels into one Blocks app; `launch_options()` is how to serve it."""

from __future__ import annotations

import signal
from types import FrameType
from typing import Any

import gradio as gr

from ..config import Settings
from .avatar import build_avatar_panel
from .chat import build_chat_panel
from .context import AppContext
from .history import build_history_panel
from .image import build_image_panel
from .music import build_music_panel
from .retention import housekeeping
from .session import build_token_bar
from .video import build_video_panel

TITLE = "NeuroLink UI — a playground for Replicate's models"
QUEUE_MAX_SIZE = 512
MAX_UPLOAD = "50mb"
CACHE_CLEANUP = (3600, 3600)  # every hour, files older than an hour

CSS = """
.gradio-container { max-width: 1280px !important; margin: auto; }
.nl-banner { border-radius: 10px; padding: 4px 14px; background: var(--block-background-fill);
  border: 1px solid var(--border-color-accent); }
.nl-status { min-height: 2.2em; }
.nl-status pre { max-height: 8em; overflow: auto; font-size: 0.8em; }
"""


class NeuroLinkApp(gr.Blocks):
    """The playground's Blocks, carrying the `AppContext` its panels were built with.

    `launch_options(demo.neurolink_context)` is how app.py, the CLI and tests serve it.
    """

    def __init__(self, ctx: AppContext, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.neurolink_context = ctx


def build_app(settings: Settings | None = None, ctx: AppContext | None = None) -> NeuroLinkApp:
    """The whole playground. Pass `ctx` to share clients with a caller (tests, benchmarks)."""
    ctx = ctx or AppContext.create(settings or Settings.from_env())
    with NeuroLinkApp(ctx, title=TITLE, delete_cache=CACHE_CLEANUP, fill_width=False) as demo:
        gr.Markdown(
            "# 🧠 NeuroLink UI\nChat, images, video, talking avatars and music from "
            "[Replicate](https://replicate.com)'s hosted models, behind one API token."
        )
        session = gr.State(None)  # this visitor's own token: server-side, never sent back
        # This session's History: its entries point at outputs kept `output_ttl` seconds.
        generations = gr.State([], time_to_live=ctx.settings.output_ttl)
        stored, restore, restore_outputs = build_token_bar(ctx, session)
        with gr.Tabs():
            with gr.Tab("💬 Chat"):
                build_chat_panel(ctx, session, generations)
            with gr.Tab("🖼️ Image"):
                build_image_panel(ctx, session, generations)
            with gr.Tab("🎬 Video"):
                build_video_panel(ctx, session, generations)
            with gr.Tab("🗣️ Avatar"):
                build_avatar_panel(ctx, session, generations)
            with gr.Tab("🎵 Music"):
                build_music_panel(ctx, session, generations)
            with gr.Tab("🕘 History"):
                build_history_panel(generations, ctx.settings.output_ttl)
        demo.load(restore, [stored], restore_outputs, api_visibility="private")

        def page_closed(request: gr.Request) -> None:
            ctx.sessions.page_closed(request.session_hash)

        demo.unload(page_closed)
    demo.queue(default_concurrency_limit=None, max_size=QUEUE_MAX_SIZE)
    return demo


def stop_cleanly_on_sigterm(demo: gr.Blocks) -> None:
    """`docker stop` and Spaces send SIGTERM: close the app as `demo.close()` does, so the server
    shuts down cleanly (its lifespan removes the outputs) instead of dying where it stands;
    `launch()` then returns."""

    def close(signum: int, frame: FrameType | None) -> None:
        demo.close()

    signal.signal(signal.SIGTERM, close)


def launch_options(ctx: AppContext) -> dict[str, Any]:
    """The keyword arguments for `demo.launch()` (app.py, the CLI and tests use the same)."""
    return {
        "theme": gr.themes.Soft(primary_hue="violet", secondary_hue="sky"),
        "css": CSS,
        "max_file_size": MAX_UPLOAD,
        # Gradio pre- and post-processes every event in its thread pool (40 by default), which
        # would cap how many async predictions run at once.
        "max_threads": QUEUE_MAX_SIZE,
        "allowed_paths": [str(ctx.outputs_dir)],
        "footer_links": ["api", "gradio", "settings"],
        "show_error": False,
        # Outputs and ended sessions are swept on a schedule; outputs are removed at shutdown.
        "app_kwargs": {"lifespan": housekeeping(ctx.outputs, ctx.sessions)},
    }
