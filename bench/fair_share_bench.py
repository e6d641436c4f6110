"""`python -m bench.fair_share_bench [--quick]`: issue 20's fair shares, before and after.

1. A fresh visitor's page while another is busy: one visitor has 50 History entries and queues 30
   History renders (raw `/gradio_api/queue/join`, as a hostile client may); a fresh visitor then
   asks for one Advanced form render. Seconds until it completes, on app.py and on the app as it
   was (bench/before_fair_share_app.py: Gradio's one render lane for every session).
2. Memory of throwaway sessions: 2,000 new session ids, each sending one trivial request (an
   Advanced form render); the app's VmRSS after, minus before, and the sessions it holds.
   New sessions per address are unlimited here (the memory bound itself is measured).

Both apps run as their own processes against a simulator process; every request is loopback.
Prints the figures and writes them as JSON to bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from .common import ROOT, assert_loopback, read_proc_kib
from .subprocess_bench import MB, app_process, configure, simulator_process

RESULTS = ROOT / "bench" / "results"
BEFORE = "bench/before_fair_share_app.py"
MODEL = "black-forest-labs/flux-schnell"


def _rss_mb(pid: int) -> float:
    return read_proc_kib(pid, "VmRSS") * 1024 / MB


async def _render_ids(http: httpx.AsyncClient, url: str) -> tuple[int, int, int]:
    """(an Advanced form's render, History's render, how many inputs History's render takes):
    the first and last render dependencies."""
    config = (await http.get(f"{url}config")).json()
    renders = [d for d in config["dependencies"] if d.get("render_id") is not None]
    return renders[0]["id"], renders[-1]["id"], len(renders[-1]["inputs"])


async def _open_history(http: httpx.AsyncClient, url: str, session: str) -> None:
    """The History tab opened for `session` as the page opens it, where the app draws History
    only while it is open (its tab's select marks it open): the flood's renders then draw every
    card, as they did before that change. An app without it (the bench's "before") has no
    such listener, and nothing is sent."""
    config = (await http.get(f"{url}config")).json()
    tabs = [c["id"] for c in config["components"]
            if c.get("type") == "tabitem" and c["props"].get("id") == "history"]  # fmt: skip
    tickets = [c for c in config["components"] if c["props"].get("label") == "Generations shown"]
    if not tabs or not tickets:
        return
    select = next(d["id"] for d in config["dependencies"]
                  if d.get("render_id") is None and [tabs[0], "select"] in map(list, d["targets"]))  # fmt: skip
    body = {"fn_index": select, "session_hash": session, "data": [], "trigger_id": tabs[0]}
    (await http.post(f"{url}gradio_api/run/predict", json=body)).raise_for_status()


async def _join(http: httpx.AsyncClient, url: str, session: str, fn: int, data: list[Any]) -> str:
    body = {"data": data, "fn_index": fn, "session_hash": session, "trigger_id": None}
    answer = await http.post(f"{url}gradio_api/queue/join", json=body)
    answer.raise_for_status()
    return str(answer.json()["event_id"])


async def _completed(http: httpx.AsyncClient, url: str, session: str, wanted: int = 1) -> float:
    """Reads the session's queue stream until `wanted` events completed; when the last did."""
    done = 0
    params = {"session_hash": session}
    async with http.stream("GET", f"{url}gradio_api/queue/data", params=params) as stream:
        async for line in stream.aiter_lines():
            if line.startswith("data:") and '"process_completed"' in line:
                done += 1
                if done >= wanted:
                    return time.perf_counter()
    return time.perf_counter()


def _history_of_fifty(url: str, entries: int) -> str:
    from gradio_client import Client

    client = Client(url, verbose=False, analytics_enabled=False, download_files=False)
    for n in range(entries):
        client.predict(f"entry {n}", model=MODEL, api_name="/image")
    session = str(client.session_hash)
    client.close()
    return session


async def _fresh_render_seconds(url: str, flooder: str, flood: int) -> dict[str, float]:
    async with httpx.AsyncClient(timeout=httpx.Timeout(600, read=None), trust_env=False) as http:
        form, history, inputs = await _render_ids(http, url)
        await _open_history(http, url, flooder)
        # Joined first, then read: Gradio ends a session's stream that has nothing pending.
        flood_start = time.perf_counter()
        for _ in range(flood):
            await _join(http, url, flooder, history, [None] * inputs)
        flood_done = asyncio.create_task(_completed(http, url, flooder, flood))
        fresh = uuid.uuid4().hex
        asked = time.perf_counter()
        await _join(http, url, fresh, form, [None, MODEL])
        drawn = await _completed(http, url, fresh)
        flood_end = await flood_done
        return {
            "fresh_render_s": round(drawn - asked, 2),
            "flood_s": round(flood_end - flood_start, 2),
            "flood_still_running_when_fresh_drawn": float(flood_end > drawn),
        }


async def _throwaway_sessions(url: str, count: int, at_once: int = 20) -> None:
    async with httpx.AsyncClient(timeout=httpx.Timeout(600, read=None), trust_env=False) as http:
        form, _, _ = await _render_ids(http, url)

        async def one() -> None:
            session = uuid.uuid4().hex
            await _join(http, url, session, form, [None, MODEL])
            await _completed(http, url, session)

        for start in range(0, count, at_once):
            await asyncio.gather(*(one() for _ in range(min(at_once, count - start))))


def run(quick: bool) -> dict[str, Any]:
    entries, flood, sessions = (10, 8, 200) if quick else (50, 30, 2000)
    results: dict[str, Any] = {"entries": entries, "flood": flood, "sessions": sessions}
    env = {
        "NEUROLINK_NEW_SESSIONS_PER_MINUTE": "1000000",
        "NEUROLINK_LOOKUPS_PER_MINUTE": "1000000",
    }
    with simulator_process() as sim:
        assert_loopback(sim.base)
        configure(sim.base, cold_start=0.0, run_time=0.05, output_padding=0)
        workdir = Path(f"/tmp/neurolink-fair-bench-{uuid.uuid4().hex[:8]}")
        for name, script in (("after", "app.py"), ("before", BEFORE)):
            with app_process(sim.base, workdir / name, script=script, extra_env=env) as app:
                url = app.url
                flooder = _history_of_fifty(url, entries)
                render = asyncio.run(_fresh_render_seconds(url, flooder, flood))
                pid = app.process.pid
                before = _rss_mb(pid)
                began = time.perf_counter()
                asyncio.run(_throwaway_sessions(url, sessions))
                after = _rss_mb(pid)
                results[name] = {
                    **render,
                    "rss_before_mb": round(before, 1),
                    "rss_after_sessions_mb": round(after, 1),
                    "rss_growth_mb": round(after - before, 1),
                    "growth_per_session_kb": round((after - before) * 1024 / sessions, 1),
                    "sessions_seconds": round(time.perf_counter() - began, 1),
                }
                print(f"[fair-share bench] {name}: {results[name]}", file=sys.stderr, flush=True)
    a, b = results["after"], results["before"]
    results["fresh_render_ratio_before_over_after"] = round(
        b["fresh_render_s"] / max(a["fresh_render_s"], 0.001), 1
    )
    results["rss_growth_ratio_before_over_after"] = round(
        b["rss_growth_mb"] / max(a["rss_growth_mb"], 0.1), 1
    )
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fair_share_bench", description=__doc__)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    results = run(args.quick)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"fair-share-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(results, indent=2), encoding="utf-8")
    print(json.dumps(results, indent=2))
    print(f"written to {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
