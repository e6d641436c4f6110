"""7. First visit, in Chromium: the page as a newcomer gets it, against a bare Gradio app.

Three apps run side by side against one simulator process, each as its own `python` process:
the bare Gradio app of the same shape (bench/bare_app.py: a ChatInterface and four tabs of
prompt, dropdown, button and media output), the app as it is today (`python app.py`) and the
previous release (`app.py` of PREVIOUS_REF, from `git archive`; left out when git has no such
commit). Visits alternate between the apps, each in a fresh browser context (a cold cache, as a
first visit), so the machine's load hits them alike. Per visit:

- time from navigation to the first panel's run button visible (ours: Chat's Send; bare: the
  ChatInterface's submit), and, in a second visit, to the Image panel's Generate visible (the
  Image tab clicked as soon as it can be);
- the app process's CPU for the page load (/proc/<pid>/stat, navigation until 2 s after the
  run button shows; the app is otherwise idle);
- the page's JS heap after a forced garbage collection (CDP `Runtime.getHeapUsage`);
- bytes of the page (`/`, which embeds the config) and of `/config`, as sent (with
  `Accept-Encoding: gzip`) and decoded.

Every figure is a ratio of today's over the bare app's, measured in the same run.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from .common import ROOT, Figure, Spread, assert_loopback, ms
from .stop_latency import CHROMIUM, CHROMIUM_ARGS  # one Chromium set-up for every bench
from .subprocess_bench import SimProcess, app_processes, configure, cpu_seconds

PREVIOUS_REF = "6232e39"  # main before issue 21 (a light page and a cheap run)
SETTLE = 2.0  # seconds after the run button shows that still count as the page load
VISIT_TIMEOUT = 60_000  # ms


@dataclass(frozen=True)
class Target:
    key: str  # "bare", "today", "previous"
    title: str
    script: str  # run as `python <script>` (cwd: the repository root)
    first_button: str  # the first panel's run button: accessible name, or a "css=" selector
    image_tab: re.Pattern[str]
    image_button: str


def targets(previous_tree: Path | None) -> list[Target]:
    found = [
        Target(
            "bare",
            "bare Gradio app",
            "bench/bare_app.py",
            "css=button.submit-button",  # the ChatInterface's send arrow has no name
            re.compile("Image"),
            "Generate",
        ),
        Target("today", "today", "app.py", "Send", re.compile("Image"), "Generate"),
    ]
    if previous_tree is not None:
        found.append(
            Target(
                "previous",
                f"previous release ({PREVIOUS_REF})",
                str(previous_tree / "app.py"),
                "Send",
                re.compile("Image"),
                "Generate",
            )
        )
    return found


@contextlib.contextmanager
def previous_release(ref: str = PREVIOUS_REF) -> Iterator[Path | None]:
    """The repository's files at `ref` in a temporary folder, or None when git lacks it (or
    BENCH_PREVIOUS=off: the suite's quick-bench test checks today's figures, not the release's)."""
    if os.environ.get("BENCH_PREVIOUS", "").lower() == "off":
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="first-visit-") as folder:
        archive = Path(folder) / "tree.tar"
        made = subprocess.run(
            ["git", "archive", "--format=tar", "-o", str(archive), ref],
            cwd=ROOT,
            capture_output=True,
        )
        if made.returncode != 0:
            yield None
            return
        with tarfile.open(archive) as tar:
            tar.extractall(Path(folder) / "tree", filter="data")
        yield Path(folder) / "tree"


@dataclass
class Visits:
    first_button_s: list[float] = field(default_factory=list)
    image_button_s: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    heap_mb: list[float] = field(default_factory=list)
    sizes: dict[str, int] = field(default_factory=dict)


def payload_sizes(url: str) -> dict[str, int]:
    """Bytes of the page and of /config: as sent with gzip allowed, and decoded."""
    assert_loopback(url)
    sizes: dict[str, int] = {}
    with httpx.Client(trust_env=False, timeout=30.0) as http:
        for name, path in (("page", ""), ("config", "config")):
            response = http.get(url + path, headers={"Accept-Encoding": "gzip"})
            response.raise_for_status()
            sizes[f"{name}_wire"] = response.num_bytes_downloaded
            sizes[f"{name}_decoded"] = len(response.content)
    return sizes


def visit_first_button(
    browser: Any, url: str, target: Target, pid: int
) -> tuple[float, float, float]:
    """(seconds to the first run button, app CPU ms of the load, JS heap MB after GC)."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        cpu_before = cpu_seconds(pid)
        started = time.perf_counter()
        page.goto(url, wait_until="commit")
        button = (
            page.locator(target.first_button)
            if target.first_button.startswith("css=")
            else page.get_by_role("button", name=target.first_button, exact=True)
        )
        button.filter(visible=True).first.wait_for(state="visible", timeout=VISIT_TIMEOUT)
        shown = time.perf_counter() - started
        page.wait_for_timeout(SETTLE * 1000)
        cpu = ms(cpu_seconds(pid) - cpu_before)
        cdp.send("HeapProfiler.collectGarbage")
        heap = cdp.send("Runtime.getHeapUsage")["usedSize"] / 1_000_000
        return shown, cpu, heap
    finally:
        context.close()


def visit_image_button(browser: Any, url: str, target: Target) -> float:
    """Seconds from navigation to the Image panel's Generate visible (tab clicked when it can)."""
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    try:
        page = context.new_page()
        started = time.perf_counter()
        page.goto(url, wait_until="commit")
        page.get_by_role("tab", name=target.image_tab).first.click(timeout=VISIT_TIMEOUT)
        button = page.get_by_role("button", name=target.image_button, exact=True)
        button.filter(visible=True).first.wait_for(state="visible", timeout=VISIT_TIMEOUT)
        return time.perf_counter() - started
    finally:
        context.close()


def measure(sim: SimProcess, workdir: Path, runs: int) -> dict[str, Visits]:
    """Every target visited `runs` times, alternating; one warm-up visit each, not counted."""
    from playwright.sync_api import sync_playwright

    configure(sim.base, cold_start=0.05, run_time=0.3, output_padding=0)
    with previous_release() as tree:
        chosen = targets(tree)
        launches = [(workdir / f"first-visit-{t.key}", t.script) for t in chosen]
        with app_processes(sim.base, launches) as apps, sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            try:
                results = {t.key: Visits() for t in chosen}
                for target, app in zip(chosen, apps, strict=True):
                    visit_first_button(browser, app.url, target, app.process.pid)  # warm-up
                    results[target.key].sizes = payload_sizes(app.url)
                for _ in range(runs):
                    for target, app in zip(chosen, apps, strict=True):
                        found = results[target.key]
                        shown, cpu, heap = visit_first_button(
                            browser, app.url, target, app.process.pid
                        )
                        found.first_button_s.append(shown)
                        found.cpu_ms.append(cpu)
                        found.heap_mb.append(heap)
                        found.image_button_s.append(visit_image_button(browser, app.url, target))
            finally:
                browser.close()
    return results


def run_first_visit(sim: SimProcess, workdir: Path, runs: int) -> list[Figure]:
    import os

    load_before = os.getloadavg()
    results = measure(sim, workdir, runs)
    load_after = os.getloadavg()
    bare = results["bare"]
    figures: list[Figure] = []
    how_common = (
        f"Chromium 1440×900, a fresh context per visit, apps alternating (bare Gradio app, today"
        f"{', previous release ' + PREVIOUS_REF if 'previous' in results else ''}); load "
        f"{load_before[0]:.2f} → {load_after[0]:.2f}"
    )

    def add(
        key: str,
        title: str,
        goal: str,
        limit: float | None,
        pick: Any,
        how: str,
        absolute: Any = None,
    ) -> None:
        base = Spread.of(pick(bare)).median
        for who, visits in results.items():
            if who == "bare":
                continue
            ratios = Spread.of([value / base for value in pick(visits)])
            is_today = who == "today"
            figures.append(
                Figure(
                    f"first_visit.{key}.{who}",
                    f"{title}: {who} over the bare Gradio app",
                    goal if is_today else "(reference)",
                    "×",
                    ratios,
                    (ratios.median <= limit) if is_today and limit is not None else None,
                    f"{how}; {how_common}",
                    digits=2,
                    context={
                        "values": pick(visits),
                        "bare_values": pick(bare),
                        **({"absolute": absolute(visits, bare)} if absolute else {}),
                        "loadavg": [load_before, load_after],
                    },
                )
            )

    add(
        "first_button",
        "First visit: time to the first panel's run button",
        "≤ 1.3× bare",
        1.3,
        lambda v: v.first_button_s,
        "navigation → the first tab's run button visible (ours: Send; bare: the ChatInterface's submit arrow)",
    )
    add(
        "image_button",
        "First visit: time to the Image panel's Generate",
        "(context)",
        None,
        lambda v: v.image_button_s,
        "navigation → Image tab clicked as soon as it can be → Generate visible",
    )
    add(
        "cpu",
        "First visit: app CPU per page load",
        "≤ 2× bare",
        2.0,
        lambda v: v.cpu_ms,
        f"app process CPU (/proc/<pid>/stat) from navigation to {SETTLE:g} s after the run "
        "button shows",
    )
    add(
        "heap",
        "First visit: JS heap",
        "≤ 2× bare",
        2.0,
        lambda v: v.heap_mb,
        "CDP Runtime.getHeapUsage usedSize after HeapProfiler.collectGarbage, 2 s after the run "
        "button shows",
    )
    for who, visits in results.items():
        sizes = visits.sizes
        for name in ("page", "config"):
            for form, goal, limit in (
                ("wire", "≤ 200 KB" if name == "config" else "(context)", 200.0),
                ("decoded", "(context)", None),
            ):
                kb = sizes[f"{name}_{form}"] / 1000
                is_goal = who == "today" and limit is not None and goal != "(context)"
                figures.append(
                    Figure(
                        f"first_visit.{name}_{form}.{who}",
                        f"First visit: {'/' if name == 'page' else '/config'} "
                        f"{'as sent (gzip allowed)' if form == 'wire' else 'decoded'}, {who}",
                        goal if who == "today" else "(reference)",
                        " KB",
                        Spread.of([kb]),
                        (kb <= limit) if is_goal and limit is not None else None,
                        "bytes of one GET with Accept-Encoding: gzip (num_bytes_downloaded) and "
                        f"its decoded body; bare app: {bare.sizes[f'{name}_{form}'] / 1000:.0f} KB",
                        context={"bytes": sizes[f"{name}_{form}"]},
                    )
                )
    return figures
