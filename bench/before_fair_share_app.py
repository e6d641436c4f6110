"""`python bench/before_fair_share_app.py`: the playground as it was before issue 20's fair shares.

app.py as shipped, except that Gradio's own queue (every session's renders in one lane of one)
and Gradio's own session store (a copy of every block's config per session, 10,000 sessions)
are put back. Same environment as app.py. Bench code only.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Run as a script from anywhere: the repository root holds neurolink_ui/.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from neurolink_ui.ui.app import QUEUE_MAX_SIZE, build_app, launch_options
from neurolink_ui.ui.retention import housekeeping


def main() -> None:
    demo = build_app()
    demo.queue(default_concurrency_limit=None, max_size=QUEUE_MAX_SIZE)  # Gradio's Queue again
    ctx = demo.neurolink_context
    options = launch_options(ctx)
    options["app_kwargs"]["lifespan"] = housekeeping(ctx.outputs, ctx.sessions, ctx.results)
    demo.launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        **options,
    )


if __name__ == "__main__":
    main()
