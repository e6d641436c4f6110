"""9. Time to output for a model without a stream: Replicate finishing → the output in hand.

The client_overhead cases without a stream (short: ends within the official client's held
create; long: outlives a 1 s wait, 1 s of spread across runs so an end falls anywhere between
two polls), three clients against one TLS simulator, interleaved, one pooled client each, after
a warm-up: ours (polls around the model's recent times, replicate/timing.py), ours on the fixed
0.5 s schedule (what the previous release did: a ModelTimes that remembers nothing) and the
official `replicate` client. Per prediction: the simulator's completed_at → the call returning
(one clock: same process), and the HTTP requests the simulator saw.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import httpx

from .client_overhead import Case, Runners, Sample, _measure, cases
from .common import Figure, Spread, ms

TIMEOUT = 60.0


def _forgetful() -> Any:
    from neurolink_ui.replicate.timing import ModelTimes

    class Forgetful(ModelTimes):
        def record(self, model: str, prediction: Any) -> None:
            return None

    return Forgetful()


async def run_time_to_output(sim: Any, runs: int, quick: bool) -> list[Figure]:
    from neurolink_ui.replicate.client import ReplicateClient

    load_before = os.getloadavg()
    figures: list[Figure] = []
    chosen = [case for case in cases(quick) if case.key in ("short", "long")]
    with tempfile.TemporaryDirectory(prefix="bench-output-") as tmp:
        runners = Runners(sim, Path(tmp))
        fixed = ReplicateClient(
            sim.base_url,
            poll_cap=120,
            transport=httpx.AsyncHTTPTransport(verify=sim.ssl_context()),
        )
        fixed.run_times = _forgetful()

        async def run_fixed(case: Case) -> None:
            from .common import TOKEN

            prediction = await fixed.run(case.model, dict(case.input), token=TOKEN)
            if not prediction.output:
                raise RuntimeError("fixed: no output returned")

        try:
            for case in chosen:
                sim.reset()
                sim.config.update_from_json(case.sim_config)
                await runners.run_ours(case, -1)  # warm-up: also the first recorded time
                await run_fixed(case)
                await runners.run_official(case, -1)
                found: dict[str, list[Sample]] = {"ours": [], "fixed": [], "official": []}
                for index in range(runs):
                    sim.config.update_from_json(case.config_for_run(index, runs))
                    found["ours"].append(
                        await _measure(sim, lambda c=case, i=index: runners.run_ours(c, i), TIMEOUT)
                    )
                    found["fixed"].append(await _measure(sim, lambda c=case: run_fixed(c), TIMEOUT))
                    found["official"].append(
                        await _measure(
                            sim, lambda c=case, i=index: runners.run_official(c, i), TIMEOUT
                        )
                    )
                figures += _figures(case, found, load_before)
        finally:
            await fixed.aclose()
            await runners.aclose()
            sim.reset()
    return figures


def _figures(case: Case, found: dict[str, list[Sample]], load: tuple[float, ...]) -> list[Figure]:
    official_requests = Spread.of([float(s.requests) for s in found["official"]]).median
    how = (
        f"{case.title}; sim {case.sim_config}"
        + (f" + cold start spread over {case.phase_spread:g} s" if case.phase_spread else "")
        + f"; official: Prefer: wait={case.wait}; simulator completed_at → call returned (same "
        f"clock); load {load[0]:.2f} → {os.getloadavg()[0]:.2f}"
    )
    titles = {
        "ours": "ours (polls around the model's recent times)",
        "fixed": "fixed 0.5 s schedule (previous release)",
        "official": "official replicate client",
    }
    figures: list[Figure] = []
    for who, samples in found.items():
        end = Spread.of([ms(s.after_end) for s in samples])
        requests = Spread.of([float(s.requests) for s in samples])
        ours = who == "ours"
        figures += [
            Figure(
                f"output.{case.key}.{who}_after_end",
                f"Time to output, {case.key}: {titles[who]}",
                "≤ 150 ms" if ours else "(reference)",
                " ms",
                end,
                end.median <= 150 if ours else None,
                how,
                context={"backend_ms": [ms(s.backend) for s in samples]},
            ),
            Figure(
                f"output.{case.key}.{who}_requests",
                f"HTTP requests per prediction, {case.key}: {titles[who]}",
                f"≤ 1.5 × official ({official_requests:g})" if ours else "(reference)",
                " req",
                requests,
                requests.median <= 1.5 * official_requests if ours else None,
                how,
                context={"kinds": [dict(s.kinds) for s in samples]},
            ),
        ]
    return figures
