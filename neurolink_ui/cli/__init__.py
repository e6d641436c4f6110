"""`python -m neurolink_ui serve|simulator|generate`: the web app, the local simulator, and the
command line of NeuroLink's Replicate provider guide (`generate`), flag for flag.

`generate` maps its flags with the same schema-driven modality functions as the panels and runs the
prediction through `pipeline.run_model`, so the CLI and the UI share one path to Replicate. Results
go to stdout (the text, or the paths of the files written), everything else to stderr.
`models check` compares the catalogue's recorded schemas with the live API (`catalog.drift`).

The package: `parser` (commands and flags), `request` (a checked `generate` command and its
mapping), `run_generate`, `files` (where outputs are written), `console` (stdout/stderr), `serve`
(`serve`, `simulator`) and `models_check`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from .models_check import run_models_check
from .parser import EXIT_ERROR, build_parser
from .run_generate import run_generate
from .serve import run_serve, run_simulator

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "simulator":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command == "serve":
        try:
            return run_serve(args)
        except ValueError as exc:  # a bad setting in the environment
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_ERROR
    if args.command == "simulator":
        return run_simulator(args, extra)
    if args.command == "models":
        return run_models_check(args, args.usage_error)
    return run_generate(args, args.usage_error)
