"""8. Per run: what one /image request costs the app, alone and 20 at once.

Three apps, each its own process, against one simulator process (0.05 s cold, 2 s run, the same
cached image for every request): the app as it is today (`python app.py`), the previous release
(first_visit.PREVIOUS_REF from `git archive`, left out when git lacks it) and the bare Gradio
app's naive Image tab (bench/bare_app.py: a held create, polls, one download). Batches alternate
between the apps so the machine's load hits them alike. Per app:

- app CPU per request at 20 at once (/proc/<pid>/stat over the batch, divided by 20);
- 20 at once over one call: the batch's wall time over a single call's, both measured here;
- one call's wall time over its backend time (the simulator's created → completed).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from .common import Figure, Spread, ms
from .concurrency_bench import PROMPT, Batch, _batch, submit_image
from .first_visit import PREVIOUS_REF, previous_release
from .subprocess_bench import SimProcess, app_processes, configure

AT_ONCE = 20
COLD_START = 0.05
RUN_TIME = 2.0


def submit_bare(client: Any) -> Any:
    from .app_bench import IMAGE_MODEL

    return client.submit(PROMPT, IMAGE_MODEL, api_name="/image")


def _backend(batch: Batch) -> float:
    times = [p.completed_at - p.created_at for p in batch.predictions if p.completed_at]
    return Spread.of(times).median


def run_per_run(sim: SimProcess, workdir: Path, runs: int) -> list[Figure]:
    configure(sim.base, cold_start=COLD_START, run_time=RUN_TIME, output_padding=0)
    load_before = os.getloadavg()
    with previous_release() as tree:
        apps_wanted: list[tuple[str, str, Any]] = [
            ("today", "app.py", submit_image),
            ("bare", "bench/bare_app.py", submit_bare),
        ]
        if tree is not None:
            apps_wanted.insert(1, ("previous", str(tree / "app.py"), submit_image))
        launches = [(workdir / f"per-run-{key}", script) for key, script, _ in apps_wanted]
        singles: dict[str, list[Batch]] = {key: [] for key, _, _ in apps_wanted}
        batches: dict[str, list[Batch]] = {key: [] for key, _, _ in apps_wanted}
        with app_processes(sim.base, launches) as apps:
            for (_key, _, submit), app in zip(apps_wanted, apps, strict=True):
                _batch(sim, app.process.pid, app.url, 1, submit)  # warm-up
            for _ in range(runs):
                for (key, _, submit), app in zip(apps_wanted, apps, strict=True):
                    pid = app.process.pid
                    singles[key].append(_batch(sim, pid, app.url, 1, submit))
                    batches[key].append(_batch(sim, pid, app.url, AT_ONCE, submit))
    load_after = os.getloadavg()
    how = (
        f"app, simulator and gradio_client in 3 processes ({COLD_START:g} s cold + {RUN_TIME:g} s "
        f"run, cached image); apps alternating (today, previous release {PREVIOUS_REF}, bare "
        f"Gradio app's naive /image); load {load_before[0]:.2f} → {load_after[0]:.2f}"
    )
    figures: list[Figure] = []
    for key in batches:
        today = key == "today"
        failures = [f for b in (*singles[key], *batches[key]) for f in b.failures]
        cpu = Spread.of([ms(b.cpu["app"]) / AT_ONCE for b in batches[key]])
        one_wall = Spread.of([b.wall for b in singles[key]]).median
        ratio = Spread.of([b.wall / one_wall for b in batches[key]])
        over = Spread.of([ms(b.wall - _backend(b)) for b in singles[key]])
        context = {
            "failures": failures[:5],
            "one_call_wall_s": [b.wall for b in singles[key]],
            "batch_wall_s": [b.wall for b in batches[key]],
            "clients_cpu_ms_per_request": [ms(b.cpu["clients"]) / AT_ONCE for b in batches[key]],
            "loadavg": [load_before, load_after],
        }
        figures += [
            Figure(
                f"per_run.cpu.{key}",
                f"Per run: app CPU per /image request, {AT_ONCE} at once, {key}",
                "≤ 35 ms" if today else "(reference)",
                " ms",
                cpu,
                (cpu.median <= 35 and not failures) if today else None,
                f"app process CPU over the batch / {AT_ONCE}; {how}",
                context=context,
            ),
            Figure(
                f"per_run.at_once.{key}",
                f"Per run: {AT_ONCE} at once over one call, {key}",
                "≤ 1.5×" if today else "(reference)",
                "×",
                ratio,
                (ratio.median <= 1.5 and not failures) if today else None,
                f"batch wall time over the median single call's wall time; {how}",
                digits=2,
                context=context,
            ),
            Figure(
                f"per_run.one_over_backend.{key}",
                f"Per run: one call's wall over its backend time, {key}",
                "(context)",
                " ms",
                over,
                None,
                f"gradio_client submit → result, minus the simulator's created → completed; {how}",
                context=context,
            ),
        ]
    return figures
