"""`python -m neurolink_ui.simulator --port N [--host 127.0.0.1]`: serve until Ctrl-C."""

from __future__ import annotations

import argparse
import sys
import threading

from .config import SimulatorConfig
from .runner import Simulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m neurolink_ui.simulator",
        description="A local Replicate-compatible API server with simulated models.",
    )
    parser.add_argument("--port", type=int, default=0, help="port (0 picks a free one)")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default: loopback)")
    parser.add_argument("--cold-start", type=float, help="seconds each prediction spends starting")
    parser.add_argument("--run-time", type=float, help="seconds a file model spends processing")
    parser.add_argument("--token-interval", type=float, help="seconds between streamed tokens")
    args = parser.parse_args(argv)

    config = SimulatorConfig()
    if args.cold_start is not None:
        config.cold_start = args.cold_start
    if args.run_time is not None:
        config.run_time = args.run_time
    if args.token_interval is not None:
        config.token_interval = args.token_interval
    try:
        config.validate()
    except ValueError as exc:
        parser.error(str(exc))

    simulator = Simulator(config, host=args.host, port=args.port)
    simulator.start()
    print(simulator.base_url, flush=True)
    print(f"Replicate API at {simulator.base_url}/v1 — Ctrl-C to stop", file=sys.stderr, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        simulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
