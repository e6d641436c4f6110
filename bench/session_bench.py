"""7. Memory once sessions end: does the app give back what its visitors' sessions used?

Rounds of new gradio_client sessions, each making a few generations, against `python app.py`
(its own process, the simulator in another); the app's resident memory (VmRSS) is read before the
rounds and after each round's sessions have closed and been released. The same run is made with
sessions kept for a day (NEUROLINK_SESSION_TTL=86400: nothing is released within the run, as
before issue 8), side by side.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from .common import Figure, Spread, assert_loopback, read_proc_kib
from .subprocess_bench import MB, app_process, configure

IMAGE_MODEL = "black-forest-labs/flux-schnell"
KEPT_TTL = 86400.0  # a day: no session ends within the run
SETTLE_SECONDS = 1.0
AT_ONCE = 5


def _session(url: str, generations: int, index: int) -> Any:
    from gradio_client import Client

    assert_loopback(url)
    client = Client(
        url,
        verbose=False,
        analytics_enabled=False,
        download_files=False,
        max_workers=2,
        httpx_kwargs={"timeout": 300},  # a shared, loaded machine must slow the run, not fail it
    )
    for n in range(generations):
        client.predict(f"session {index} picture {n}", model=IMAGE_MODEL, api_name="/image")
    return client


def _round(url: str, sessions: int, generations: int, offset: int) -> None:
    """`sessions` new sessions at once (AT_ONCE running together), each making
    `generations` images; every session stays open until the round is done, then closes."""
    with ThreadPoolExecutor(max_workers=AT_ONCE) as pool:
        clients = list(pool.map(lambda i: _session(url, generations, offset + i), range(sessions)))
    for client in clients:
        client.close()


def _rss_mb(pid: int) -> float:
    return read_proc_kib(pid, "VmRSS") * 1024 / MB


def _growth(
    base: str, workdir: Path, rounds: int, sessions: int, generations: int, session_ttl: float
) -> tuple[list[float], dict[str, Any]]:
    """RSS after each round (its sessions gone) minus RSS before the rounds, in MB."""
    wait = session_ttl + max(1.0, session_ttl / 2) * 2 + SETTLE_SECONDS  # grace + two sweeps
    env = {"NEUROLINK_SESSION_TTL": f"{session_ttl:g}"}
    with app_process(base, workdir, extra_env=env) as app:
        pid = app.process.pid
        _round(app.url, 1, generations, -1)  # warm-up: every code path loaded, pools open
        # The warm-up's session released before the first reading; kept a day, it never is.
        time.sleep(wait if session_ttl < KEPT_TTL else SETTLE_SECONDS)
        before = _rss_mb(pid)
        growth: list[float] = []
        open_rss: list[float] = []
        for number in range(rounds):
            _round(app.url, sessions, generations, number * sessions)
            open_rss.append(_rss_mb(pid))
            if session_ttl < KEPT_TTL:
                time.sleep(wait)
            else:
                time.sleep(SETTLE_SECONDS)
            growth.append(_rss_mb(pid) - before)
    return growth, {"rss_before_mb": round(before, 1), "rss_right_after_rounds_mb": open_rss}


def run_session_memory(
    base: str, workdir: Path, rounds: int, sessions: int, generations: int, session_ttl: float
) -> list[Figure]:
    configure(base, cold_start=0.0, run_time=0.05, output_padding=0)
    how = (
        f"python app.py against a simulator process; {rounds} round(s) of {sessions} new "
        f"gradio_client sessions × {generations} image generations ({AT_ONCE} at once), each session "
        "closed at the end of its round; VmRSS after the round's sessions are gone minus VmRSS "
        "before the rounds (after a one-session warm-up), per round"
    )
    figures = []
    for key, ttl, title, goal in (
        ("released", session_ttl, "App memory after sessions end, over before", "≤ 20 MB"),
        ("kept", KEPT_TTL, "Same, sessions kept a day (as before issue 8)", "(reference)"),
    ):
        growth, context = _growth(
            base, workdir / f"app-sessions-{key}", rounds, sessions, generations, ttl
        )
        spread = Spread.of(growth)
        figures.append(
            Figure(
                f"sessions.{key}",
                title,
                goal,
                " MB",
                spread,
                (growth[-1] <= 20) if key == "released" else None,
                how + f"; NEUROLINK_SESSION_TTL={ttl:g} s",
                digits=1,
                context={**context, "growth_per_round_mb": [round(g, 1) for g in growth]},
            )
        )
    return figures
