"""`serve` (the web app) and `simulator` (the local Replicate-compatible server)."""

from __future__ import annotations

import argparse
import os

from .parser import EXIT_OK


def run_serve(args: argparse.Namespace) -> int:
    from ..ui.app import (  # Gradio only for this command
        build_app,
        launch_options,
        startup_message,
        stop_cleanly_on_sigterm,
    )

    host = args.host or os.environ.get("GRADIO_SERVER_NAME") or "127.0.0.1"
    port = args.port if args.port is not None else int(os.environ.get("GRADIO_SERVER_PORT") or 7860)
    demo = build_app()
    print(startup_message(demo.neurolink_context, host, port), flush=True)
    stop_cleanly_on_sigterm(demo)
    demo.launch(
        server_name=host,
        server_port=port,
        share=args.share,
        **launch_options(demo.neurolink_context),
    )
    return EXIT_OK


def run_simulator(args: argparse.Namespace, passthrough: list[str]) -> int:
    from ..simulator.__main__ import main as simulator_main

    return simulator_main(["--host", args.host, "--port", str(args.port), *passthrough])
