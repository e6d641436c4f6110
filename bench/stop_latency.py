"""Stop during a long streamed answer, in Chromium: click on Stop → cancel at "Replicate".

A visitor signs in (their runs go to a loopback simulator this script controls), asks for a
4,000-token answer streamed with a small token interval, and clicks Stop 2.5 s into the stream.
The figure is the time from the click to the cancel request reaching the simulator (its request
log has the times), for this tree and for a baseline tree (`git archive` of a ref, default the
commit before chat updates were batched), measured in the same run, alternating. Also: how long
one read of the answer's text from the page takes while it streams (page responsiveness).

    python -m bench.stop_latency [--runs 3] [--baseline REF] [--token-interval 0.003]

Every request stays on 127.0.0.1. Results: a table on stdout, JSON in bench/results/.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import httpx

from .common import LOOPBACK, ROOT, Spread, free_port, ms, wait_until

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VISITOR_TOKEN = "r8_benchvisitor0123456789abcdef"
CLICK_TIMEOUT = 60  # s; a page that takes no click for this long counts as "never stopped"
BASELINE_REF = "47bd1a4"  # main before issue 10: one page update per streamed token


@contextmanager
def tree_of(ref: str) -> Iterator[Path]:
    """The repository's files at `ref`, in a temporary folder (nothing in the repo changes)."""
    with tempfile.TemporaryDirectory(prefix="stop-bench-") as folder:
        archive = Path(folder) / "tree.tar"
        subprocess.run(
            ["git", "archive", "--format=tar", "-o", str(archive), ref], cwd=ROOT, check=True
        )
        with tarfile.open(archive) as tar:
            tar.extractall(Path(folder) / "tree", filter="data")
        yield Path(folder) / "tree"


@contextmanager
def app_from(tree: Path, base_url: str) -> Iterator[str]:
    """`python app.py` of `tree`, no token, visitors' runs going to `base_url` (loopback)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("REPLICATE_")}
    env.update(
        REPLICATE_BASE_URL=base_url,
        GRADIO_SERVER_NAME=LOOPBACK,
        GRADIO_SERVER_PORT=str(port),
        GRADIO_ANALYTICS_ENABLED="False",
        PYTHONPATH=str(tree),
    )
    with tempfile.TemporaryDirectory() as temp:
        env["GRADIO_TEMP_DIR"] = temp
        proc = subprocess.Popen(
            [sys.executable, "app.py"],
            cwd=tree,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        url = f"http://{LOOPBACK}:{port}/"
        try:

            def up() -> bool:
                try:
                    return httpx.get(url, timeout=2).status_code == 200
                except httpx.HTTPError:
                    return False

            if not wait_until(up, 120, step=0.3):
                raise RuntimeError(f"the app in {tree} never answered")
            yield url
        finally:
            proc.terminate()
            proc.wait(timeout=20)


def read_times(reads: list[float]) -> dict[str, float | None]:
    return {
        "read_median": sorted(reads)[len(reads) // 2] if reads else None,
        "read_max": max(reads) if reads else None,
    }


def one_stop(browser: Any, url: str, sim: Any, stop_after: float) -> dict[str, float | None]:
    """One visit: a 4,000-token answer, Stop `stop_after` s into the stream."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    page = browser.new_page(viewport={"width": 1440, "height": 900})
    try:
        page.goto(url, wait_until="load")
        page.get_by_label("Replicate API token").fill(VISITOR_TOKEN)
        page.get_by_role("button", name="Use token", exact=True).click()
        page.get_by_text("Signed in as").first.wait_for(timeout=30_000)
        max_tokens = page.get_by_role("spinbutton", name="number input for Max tokens")
        max_tokens.fill("4096")
        max_tokens.press("Enter")
        page.get_by_text("Advanced — parameters from the model's schema").first.click()
        min_tokens = page.get_by_label("Min tokens").first
        min_tokens.wait_for(timeout=30_000)
        min_tokens.fill("4000")
        min_tokens.press("Enter")
        page.wait_for_timeout(300)
        page.get_by_label("Message").fill("Tell me everything about tides")
        page.get_by_role("button", name="Send", exact=True).click()
        answer = page.locator(".bot").last
        answer.wait_for(timeout=60_000)
        streaming = time.monotonic()
        reads: list[float] = []
        while time.monotonic() - streaming < stop_after:
            started = time.monotonic()
            answer.inner_text()
            reads.append(time.monotonic() - started)
            page.wait_for_timeout(100)
        clicked = time.time()
        # On a frozen page the click itself waits (Playwright needs the page to answer).
        try:
            page.get_by_role("button", name="Stop", exact=True).filter(visible=True).click(
                timeout=CLICK_TIMEOUT * 1000
            )
        except PlaywrightTimeout:
            return {"click_to_cancel": None, "click_blocked": None, **read_times(reads)}
        click_returned = time.time()

        def cancel_time() -> float | None:
            found = [
                r.time for r in sim.requests if r.path.endswith("/cancel") and r.time >= clicked
            ]
            return min(found) if found else None

        wait_until(lambda: cancel_time() is not None, 30)
        canceled_at = cancel_time()
        # None: no cancel ever left (the click was taken only after the answer had finished).
        return {
            "click_to_cancel": canceled_at - clicked if canceled_at is not None else None,
            "click_blocked": click_returned - clicked,
            **read_times(reads),
        }
    finally:
        page.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--baseline", default=BASELINE_REF)
    parser.add_argument("--token-interval", type=float, default=0.003)
    parser.add_argument("--stop-after", type=float, default=2.5)
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    from neurolink_ui.simulator.runner import Simulator

    results: dict[str, list[dict[str, float | None]]] = {"baseline": [], "batched": []}
    with Simulator() as sim, tree_of(args.baseline) as baseline, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        with app_from(baseline, sim.base_url) as before, app_from(ROOT, sim.base_url) as after:
            for _ in range(args.runs):  # alternating, so both see the same machine load
                for name, url in (("baseline", before), ("batched", after)):
                    sim.reset()
                    sim.config.token_interval = args.token_interval
                    results[name].append(one_stop(browser, url, sim, args.stop_after))
        browser.close()

    summary: dict[str, Any] = {
        "token_interval": args.token_interval,
        "stop_after": args.stop_after,
        "baseline_ref": args.baseline,
        "load_average": os.getloadavg(),
    }
    print(f"{'figure':<32} {'baseline (' + args.baseline + ')':<40} batched")
    for figure in ("click_to_cancel", "click_blocked", "read_median", "read_max"):
        shown = []
        for name, runs in results.items():
            values = [ms(v) for r in runs if (v := r[figure]) is not None]
            missing = len(runs) - len(values)
            spread = Spread.of(values) if values else None
            summary.setdefault(figure, {})[name] = {
                "spread": asdict(spread) if spread else None,
                "runs_without_cancel": missing,
            }
            text = spread.text(" ms") if spread else "—"
            shown.append(text + (f", {missing} without" if missing else ""))
        print(f"{figure:<32} {shown[0]:<40} {shown[1]}")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"stop-latency-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps({"summary": summary, "runs": results}, indent=2))
    print(f"JSON: {path}")


if __name__ == "__main__":
    main()
