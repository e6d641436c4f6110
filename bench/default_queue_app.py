"""`python bench/default_queue_app.py`: the playground served with Gradio's default queue.

The benchmarks' reference point: `python app.py` as shipped, except that every event is put
back to Gradio's default concurrency (one run at a time per event) and the thread pool to its
default 40. The app sets `concurrency_limit=None` on its events explicitly, so
`queue(default_concurrency_limit=1)` alone would not reach them. Same environment as app.py
(REPLICATE_BASE_URL, REPLICATE_API_TOKEN, GRADIO_SERVER_NAME/PORT). Bench code only.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Run as a script from anywhere: the repository root holds neurolink_ui/.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from neurolink_ui.ui.app import QUEUE_MAX_SIZE, build_app, launch_options


def main() -> None:
    os.environ.pop("GRADIO_DEFAULT_CONCURRENCY_LIMIT", None)  # Gradio's own default: 1
    demo = build_app()
    for fn in demo.fns.values():
        fn.concurrency_limit = "default"
    demo.queue(max_size=QUEUE_MAX_SIZE)  # default_concurrency_limit not set → Gradio's 1
    options = launch_options(demo.neurolink_context)
    options.pop("max_threads", None)  # Gradio's default 40
    demo.launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        **options,
    )


if __name__ == "__main__":
    main()
