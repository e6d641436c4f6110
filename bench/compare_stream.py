"""10. Compare streaming, in Chromium: four chat cells streaming at once, and Stop in one of them.

Today's app and the previous release (first_visit.PREVIOUS_REF from `git archive`; left out when
git lacks it), each `python <app.py>` against one simulator process (owner token; chat tokens
every TOKEN_INTERVAL s), visited alternately. Per visit: the Compare tab, Chat, four models, one
prompt, Compare; once every cell's answer has begun, the main thread's long tasks (PerformanceObserver
`longtask`, installed before the page loads) are collected for WINDOW seconds, then cell 0's
Stop is clicked and the time from the press reaching the page (a capturing `pointerdown` listener)
to the cancel request at the simulator (its request log; same clock) is read.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import httpx

from .common import Figure, Spread, assert_loopback, ms, wait_until
from .first_visit import CHROMIUM, CHROMIUM_ARGS, PREVIOUS_REF, previous_release
from .subprocess_bench import SimProcess, app_processes, configure

TOKEN_INTERVAL = 0.1  # s between tokens: an answer (~100 words) streams ~10 s, past the Stop
WINDOW = 1.5  # s of streaming observed
MODELS = 4
LONGTASKS = """
window.__longtasks = [];
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) window.__longtasks.push(entry.duration);
}).observe({type: "longtask", buffered: true});
// When the Stop press really reached the page (epoch seconds): Playwright's click first waits
// for the button to be visible and still, which on a busy page is its own delay, not the app's.
document.addEventListener("pointerdown", () => { window.__pressedAt = Date.now() / 1000; }, true);
"""


def _cancel_after(base: str, since: float) -> float | None:
    assert_loopback(base)
    records = httpx.get(f"{base}/_sim/requests", timeout=10.0, trust_env=False).json()
    found = [r["time"] for r in records if r["path"].endswith("/cancel") and r["time"] >= since]
    return min(found) if found else None


def one_visit(browser: Any, url: str, base: str) -> dict[str, float | None]:
    from playwright.sync_api import expect

    from neurolink_ui.comparison import suggested_for

    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.add_init_script(LONGTASKS)
    page = context.new_page()
    try:
        page.goto(url, wait_until="load")
        page.get_by_role("tab", name="🆚 Compare").click(timeout=60_000)
        page.get_by_role("radio", name="Chat").check(timeout=30_000)
        expect(page.get_by_role("textbox", name="System prompt")).to_be_visible(timeout=30_000)
        models = page.get_by_label("Models (2–4)")
        for model in suggested_for("chat")[2:MODELS]:  # the first two are chosen already
            models.click()
            models.fill(model)
            models.press("Enter")
        page.keyboard.press("Escape")
        page.get_by_role("textbox", name="Prompt (the same for every model)").fill(
            "Tell me everything about tides"
        )
        page.get_by_role("button", name="Compare", exact=True).click()
        cells = [page.locator(f"#nl-compare-{index}") for index in range(MODELS)]
        for cell in cells:  # every cell's answer has begun
            expect(cell.locator(".bot").first).to_be_visible(timeout=60_000)
        page.evaluate("window.__longtasks = []")
        page.wait_for_timeout(WINDOW * 1000)
        tasks: list[float] = page.evaluate("window.__longtasks")
        asked = time.time()
        cells[0].get_by_role("button", name="Stop").click(timeout=30_000)
        pressed = float(page.evaluate("window.__pressedAt"))
        wait_until(lambda: _cancel_after(base, pressed) is not None, 10.0, 0.05)
        canceled = _cancel_after(base, pressed)
        return {
            "longest_task_ms": max(tasks, default=0.0),
            "long_tasks": float(len(tasks)),
            "stop_to_cancel_ms": ms(canceled - pressed) if canceled is not None else None,
            "click_wait_ms": ms(pressed - asked),  # Playwright's wait for a still button
        }
    finally:
        context.close()


def run_compare_stream(sim: SimProcess, workdir: Path, runs: int) -> list[Figure]:
    from playwright.sync_api import sync_playwright

    configure(sim.base, cold_start=0.3, token_interval=TOKEN_INTERVAL, first_token_delay=0.1)
    load_before = os.getloadavg()
    found: dict[str, list[dict[str, float | None]]] = {}
    with previous_release() as tree:
        wanted = [("today", "app.py")]
        if tree is not None:
            wanted.append(("previous", str(tree / "app.py")))
        launches = [(workdir / f"compare-stream-{key}", script) for key, script in wanted]
        with app_processes(sim.base, launches) as apps, sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            try:
                for _ in range(runs):
                    for (key, _script), app in zip(wanted, apps, strict=True):
                        found.setdefault(key, []).append(one_visit(browser, app.url, sim.base))
            finally:
                browser.close()
    configure(sim.base, cold_start=0.05, token_interval=0.01, first_token_delay=0.02)
    how = (
        f"Chromium 1440×900; Compare, Chat, {MODELS} models streaming a token every "
        f"{TOKEN_INTERVAL:g} s each; long tasks (PerformanceObserver) over {WINDOW:g} s once all "
        f"are answering, then cell 0's Stop; today and previous release {PREVIOUS_REF} "
        f"alternating; load {load_before[0]:.2f} → {os.getloadavg()[0]:.2f}"
    )
    figures: list[Figure] = []
    for key, visits in found.items():
        today = key == "today"
        longest = Spread.of([v["longest_task_ms"] or 0.0 for v in visits])
        stops = [v["stop_to_cancel_ms"] for v in visits if v["stop_to_cancel_ms"] is not None]
        figures.append(
            Figure(
                f"compare_stream.longest_task.{key}",
                f"Compare, {MODELS} cells streaming: longest main-thread task, {key}",
                "≤ 100 ms" if today else "(reference)",
                " ms",
                longest,
                longest.median <= 100 if today else None,
                how,
                context={"visits": visits},
            )
        )
        if stops:
            stop = Spread.of(stops)
            figures.append(
                Figure(
                    f"compare_stream.stop.{key}",
                    f"Compare, {MODELS} cells streaming: Stop click → cancel at the simulator, "
                    f"{key}",
                    "≤ 300 ms" if today else "(reference)",
                    " ms",
                    stop,
                    stop.median <= 300 and len(stops) == len(visits) if today else None,
                    how,
                    context={"runs_without_cancel": len(visits) - len(stops)},
                )
            )
    return figures
