"""Entry point: `python app.py` (and Hugging Face Spaces) builds and launches the playground."""

from __future__ import annotations

import os

from neurolink_ui.config import Settings

try:  # a setting in the environment that cannot work: say which, plainly, without a traceback
    # Read before Gradio is imported (config has no Gradio): a bad setting is named in about
    # half a second, not after the ten or more that importing the UI takes on a small machine.
    settings = Settings.from_env()
except ValueError as exc:
    raise SystemExit(f"error: {exc}") from None

# Gradio is imported only once the settings are known good.
from neurolink_ui.ui.app import (
    build_app,
    launch_options,
    startup_message,
    stop_cleanly_on_sigterm,
)

try:  # what only the app can check (Redis reachable, a data folder writable…): the same way
    demo = build_app(settings)
except ValueError as exc:
    raise SystemExit(f"error: {exc}") from None

if __name__ == "__main__":
    host = os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1")
    port = int(os.environ.get("GRADIO_SERVER_PORT", "7860"))
    print(startup_message(demo.neurolink_context, host, port), flush=True)
    stop_cleanly_on_sigterm(demo)
    demo.launch(server_name=host, server_port=port, **launch_options(demo.neurolink_context))
