"""A 4-model compare through `/compare`: its wall time over its slowest cell's backend time.

The app runs in this process against a loopback simulator; a gradio_client asks `/compare` for
four image models (or four chat models, streamed) at once. The figure is the caller's wall time
(submit → every cell's result in hand) over the slowest cell's backend time (the simulator's own
created → completed for that prediction), so ≤ 1.1× means the cells really ran side by side and
the app added under a tenth. As a baseline measured in the same run, alternating: one model
through its panel's endpoint (`/image`, `/chat`), wall over its backend time.

    python -m bench.compare_bench [--runs 5] [--run-time 2.0] [--token-interval 0.02]

Every request stays on 127.0.0.1. Results: a table on stdout, JSON in bench/results/.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from neurolink_ui.catalog import suggested_models

from .common import ROOT, Spread, backend_seconds, gradio_client, launched_app, new_predictions

RESULTS_DIR = ROOT / "bench" / "results"


def _one(client: Any, sim: Any, call: dict[str, Any]) -> tuple[float, list[float]]:
    """(wall seconds, each prediction's backend seconds) of one call."""
    before = set(sim.predictions)
    started = time.monotonic()
    client.predict(**call)
    wall = time.monotonic() - started
    backends = [backend_seconds(state) for state in new_predictions(sim, before)]
    return wall, backends


def measure(runs: int, run_time: float, token_interval: float) -> dict[str, Any]:
    from neurolink_ui.simulator.config import SimulatorConfig
    from neurolink_ui.simulator.runner import Simulator

    config = SimulatorConfig(run_time=run_time, token_interval=token_interval)
    cases = {
        "image": (
            {
                "modality": "image",
                "models": suggested_models("image")[:4],
                "input_json": json.dumps({"prompt": "a lighthouse at dusk"}),
                "api_name": "/compare",
            },
            {
                "prompt": "a lighthouse at dusk",
                "model": suggested_models("image")[0],
                "api_name": "/image",
            },
        ),
        "chat": (
            {
                "modality": "chat",
                "models": suggested_models("chat")[:4],
                "input_json": json.dumps({"prompt": "Tell me about lighthouses"}),
                "api_name": "/compare",
            },
            {
                "message": "Tell me about lighthouses",
                "model": suggested_models("chat")[0],
                "api_name": "/chat",
            },
        ),
    }
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="compare-bench-") as folder:
        with Simulator(config) as sim, launched_app(sim.base_url, Path(folder)) as app:
            client = gradio_client(app.url)
            for name, (compare, single) in cases.items():
                _one(client, sim, compare)  # warm-up: schemas cached, paths compiled
                _one(client, sim, single)
                compare_ratios, single_ratios, walls, slowest = [], [], [], []
                for _ in range(runs):
                    wall, backends = _one(client, sim, compare)
                    if len(backends) != 4:
                        raise RuntimeError(f"{name}: {len(backends)} predictions, not 4")
                    compare_ratios.append(wall / max(backends))
                    walls.append(wall)
                    slowest.append(max(backends))
                    wall, backends = _one(client, sim, single)
                    single_ratios.append(wall / backends[0])
                results[name] = {
                    "compare_ratio": asdict(Spread.of(compare_ratios)),
                    "single_ratio": asdict(Spread.of(single_ratios)),
                    "compare_wall_s": asdict(Spread.of(walls)),
                    "slowest_backend_s": asdict(Spread.of(slowest)),
                }
            client.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--run-time", type=float, default=2.0, help="s each image model runs")
    parser.add_argument("--token-interval", type=float, default=0.02, help="s between tokens")
    args = parser.parse_args()
    results = measure(args.runs, args.run_time, args.token_interval)
    print("| 4-model compare | wall / slowest cell's backend | one model: wall / backend |")
    print("| --- | --- | --- |")
    for name, figures in results.items():
        compare = Spread(**figures["compare_ratio"]).text("×", 2)
        single = Spread(**figures["single_ratio"]).text("×", 2)
        print(f"| {name} | {compare} | {single} |")
    RESULTS_DIR.mkdir(exist_ok=True)
    out = RESULTS_DIR / f"compare-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps({"args": vars(args), "results": results}, indent=1))
    print(f"JSON: {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
