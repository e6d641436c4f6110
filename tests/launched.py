"""The playground launched in this process on a free loopback port, as the API tests reach it."""

from __future__ import annotations

from pathlib import Path

from gradio_client import Client
from helpers import free_port

from neurolink_ui.config import Settings
from neurolink_ui.ui.app import build_app, launch_options
from neurolink_ui.ui.context import AppContext


class LaunchedApp:
    """`build_app()` + `launch(**launch_options())`, exactly as app.py serves it."""

    def __init__(self, settings: Settings, outputs: Path) -> None:
        self.ctx = AppContext.create(settings, outputs_dir=outputs)
        self.demo = build_app(ctx=self.ctx)
        _, self.url, _ = self.demo.launch(
            prevent_thread_lock=True,
            quiet=True,
            server_name="127.0.0.1",
            server_port=free_port(),
            # Gradio's own start-up probe is one 3 s HEAD of the page: on a loaded 2-core machine
            # it can time out and abort a launch that is fine. The tests reach the app through
            # gradio_client and httpx, which wait for it themselves.
            _frontend=False,
            **launch_options(self.ctx),
        )

    def client(self, session_hash: str | None = None) -> Client:
        """A new visitor (session); `session_hash` chooses its id as a hostile client may."""
        client = Client(self.url, verbose=False, analytics_enabled=False)
        if session_hash is not None:
            client.session_hash = session_hash
        return client

    def close(self) -> None:
        self.demo.close()
