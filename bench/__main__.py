"""`python -m bench [--quick] [--only client,path,concurrency,streaming,memory,startup,sessions,
firstvisit,perrun,output,comparestream]`.

Runs the benchmarks against the local simulator, prints the results table (Markdown) and writes
them as JSON to bench/results/. Every request stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .common import ROOT, Figure

SECTIONS = (
    "client",
    "path",
    "concurrency",
    "streaming",
    "memory",
    "startup",
    "sessions",
    "firstvisit",
    "perrun",
    "output",
    "comparestream",
)
RESULTS_DIR = ROOT / "bench" / "results"


@dataclass(frozen=True)
class Sizes:
    """How big each benchmark is: the full run, or the quick one the test suite runs."""

    runs: int
    levels: list[int]
    default_levels: list[int]
    # Backend seconds of each concurrent image request: long enough, even in the quick run, that
    # a loaded machine still creates all five before the first ends (they are seen overlapping).
    run_time: float
    padding: int  # bytes of each large output
    simultaneous: int
    startup_runs: int
    session_rounds: tuple[int, int, int]  # rounds × new sessions × generations each
    visits: int  # first visits per app (Chromium)
    # Seconds an ended session is kept, so it is released within the run (the default is a
    # day); the quick run waits for two sweeps of it after each round, so it is shorter there.
    session_ttl: float

    @classmethod
    def for_mode(cls, quick: bool) -> Sizes:
        if quick:
            return cls(1, [1, 5], [1, 5], 1.0, 5_000_000, 2, 1, (1, 3, 1), 1, 1.0)
        return cls(5, [1, 10, 50, 100], [1, 10, 50], 2.0, 200_000_000, 8, 5, (3, 50, 4), 5, 5.0)


def machine() -> dict[str, Any]:
    import gradio
    import replicate

    model = "unknown"
    with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "gradio": gradio.__version__,
        "replicate": replicate.__version__ if hasattr(replicate, "__version__") else "1.0.7",
        "loadavg_before": os.getloadavg(),
    }


def run(
    quick: bool, only: tuple[str, ...] = SECTIONS, profile_dir: Path | None = None
) -> dict[str, Any]:
    """Every selected benchmark; the results as one JSON-able dict.

    `profile_dir`: py-spy profiles of the app process under the largest concurrent batch.
    """
    from neurolink_ui.simulator.runner import Simulator

    from . import (
        app_bench,
        client_overhead,
        compare_stream,
        concurrency_bench,
        first_visit,
        per_run,
        session_bench,
        subprocess_bench,
        time_to_output,
    )

    sizes = Sizes.for_mode(quick)
    info = machine()
    started = time.time()
    figures: list[Figure] = []
    timings: dict[str, float] = {}
    errors: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="neurolink-bench-") as tmp:
        workdir = Path(tmp)

        def timed(name: str, fn: Any) -> None:
            if name not in only:
                return
            begin = time.perf_counter()
            try:
                figures.extend(fn())
            except Exception as exc:  # one broken section must not lose the others' results
                errors[name] = f"{type(exc).__name__}: {exc}"[:1000]
                print(f"[bench] {name} FAILED: {errors[name]}", file=sys.stderr, flush=True)
            timings[name] = round(time.perf_counter() - begin, 1)
            print(f"[bench] {name} done in {timings[name]} s", file=sys.stderr, flush=True)

        if {"client", "output"} & set(only):
            with Simulator(tls=True) as tls_sim:
                timed(
                    "client",
                    lambda: asyncio.run(
                        client_overhead.run_client_overhead(tls_sim, sizes.runs, quick)
                    ),
                )
                timed(
                    "output",
                    lambda: asyncio.run(
                        time_to_output.run_time_to_output(tls_sim, sizes.runs, quick)
                    ),
                )
        if {"path", "streaming"} & set(only):
            with Simulator() as sim:  # in this process: the path and streaming read its state
                timed("path", lambda: app_bench.run_whole_path(sim, sizes.runs, quick, workdir))
                timed("streaming", lambda: app_bench.run_streaming(sim, sizes.runs, quick, workdir))
        if {
            "concurrency",
            "memory",
            "startup",
            "sessions",
            "firstvisit",
            "perrun",
            "comparestream",
        } & set(only):
            with subprocess_bench.simulator_process() as sim_process:
                base = sim_process.base
                timed(
                    "concurrency",
                    lambda: concurrency_bench.run_concurrency(
                        sim_process,
                        sizes.levels,
                        min(sizes.runs, 3),
                        sizes.run_time,
                        workdir,
                        sizes.default_levels,
                        profile_dir,
                    ),
                )
                timed(
                    "memory",
                    lambda: subprocess_bench.run_large_outputs(
                        base, workdir, 1 if quick else 3, sizes.padding, sizes.simultaneous
                    ),
                )
                timed(
                    "startup",
                    lambda: subprocess_bench.run_startup(base, workdir, sizes.startup_runs),
                )
                timed(
                    "sessions",
                    lambda: session_bench.run_session_memory(
                        base, workdir, *sizes.session_rounds, session_ttl=sizes.session_ttl
                    ),
                )
                timed(
                    "firstvisit",
                    lambda: first_visit.run_first_visit(sim_process, workdir, sizes.visits),
                )
                timed(
                    "perrun",
                    lambda: per_run.run_per_run(sim_process, workdir, sizes.visits),
                )
                timed(
                    "comparestream",
                    lambda: compare_stream.run_compare_stream(sim_process, workdir, sizes.visits),
                )
    info["loadavg_after"] = os.getloadavg()
    return {
        "mode": "quick" if quick else "full",
        "started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(started)),
        "seconds": round(time.time() - started, 1),
        "section_seconds": timings,
        "errors": errors,
        "machine": info,
        "figures": [figure.to_json() for figure in figures],
    }


def markdown_table(results: dict[str, Any]) -> str:
    rows = [
        "| Figure | Goal | Measured: median (min–max, runs) | Met | How measured |",
        "| --- | --- | --- | --- | --- |",
    ]
    for figure in results["figures"]:
        met = {True: "yes", False: "**no**", None: "—"}[figure["met"]]
        how = figure["how"].replace("|", "\\|")
        rows.append(
            f"| {figure['title']} | {figure['goal']} | {figure['measured']} | {met} | {how} |"
        )
    return "\n".join(rows)


def write_results(results: dict[str, Any], directory: Path = RESULTS_DIR) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"bench-{results['mode']}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (the test suite's)")
    parser.add_argument(
        "--only",
        default=",".join(SECTIONS),
        help=f"comma-separated sections of: {', '.join(SECTIONS)}",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="py-spy record the app process under the largest concurrent batch (py-spy on PATH)",
    )
    args = parser.parse_args(argv)
    only = tuple(part.strip() for part in args.only.split(",") if part.strip())
    unknown = set(only) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {sorted(unknown)}")
    profile_dir = (
        RESULTS_DIR / f"profile-{time.strftime('%Y%m%d-%H%M%S')}" if args.profile else None
    )
    results = run(args.quick, only, profile_dir)
    path = write_results(results)
    machine_info = results["machine"]
    print(
        f"nproc {machine_info['nproc']} · {machine_info['cpu']} · python "
        f"{machine_info['python']} · gradio {machine_info['gradio']} · load "
        f"{machine_info['loadavg_before']} → {machine_info['loadavg_after']}"
    )
    print(markdown_table(results))
    for name, error in results["errors"].items():
        print(f"\n{name} failed: {error}")
    if profile_dir is not None:
        from .concurrency_bench import top_functions

        for profile in sorted(profile_dir.glob("*.txt")):
            print(f"\n{profile}: top functions by own samples (self, inclusive)")
            for name, own, inclusive in top_functions(profile):
                print(f"  {own:6.1%} {inclusive:6.1%}  {name}")
    print(f"\nJSON: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
