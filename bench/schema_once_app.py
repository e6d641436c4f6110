"""`python bench/schema_once_app.py`: `python app.py` with the proposed fix for finding 1 applied.

Gradio 6.31 answers every `gr.skip()` a generator yields for an output by building a new
component and its config, including `api_info()`: a pydantic JSON schema of the component's
`data_model`, cached only per instance, so recomputed every time (~4 ms for a Gallery). The
schema depends on the class alone, so this launcher caches it per class before the app is
built — what the fix in BENCHMARKS.md does in neurolink_ui/ui/components.py. Bench code only:
it measures the fix without changing the product.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import gradio as gr

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from neurolink_ui.ui.app import build_app, launch_options

_SCHEMAS: dict[type, dict[str, Any]] = {}


def _cache_api_info_per_class(component: type[gr.components.Component]) -> None:
    original = component.api_info

    def api_info(self: gr.components.Component) -> dict[str, Any]:
        cls = type(self)
        if cls not in _SCHEMAS:
            _SCHEMAS[cls] = original(self)
        return _SCHEMAS[cls]

    component.api_info = api_info  # type: ignore[method-assign]


def main() -> None:
    for component in (gr.Gallery, gr.Video, gr.Audio):  # the media panels' outputs
        _cache_api_info_per_class(component)
    demo = build_app()
    demo.launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        **launch_options(demo.neurolink_context),  # type: ignore[attr-defined]
    )


if __name__ == "__main__":
    main()
