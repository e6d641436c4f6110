"""Entry point: `python app.py` (and Hugging Face Spaces) builds and launches the playground."""

from __future__ import annotations

import os

from neurolink_ui.config import Settings
from neurolink_ui.ui.app import build_app, launch_options, stop_cleanly_on_sigterm

try:
    settings = Settings.from_env()
except ValueError as exc:  # a bad setting: say which one, without a traceback
    raise SystemExit(f"NeuroLink UI cannot start: {exc}") from None
demo = build_app(settings)

if __name__ == "__main__":
    stop_cleanly_on_sigterm(demo)
    demo.launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        **launch_options(demo.neurolink_context),
    )
