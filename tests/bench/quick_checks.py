"""What every quick benchmark run must produce: each figure of its sections, well formed.

The sections run in four test files (tests/bench/test_bench_quick_*.py) so the suite's
workers share them; each checks its own sections' figures here (not their timings)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

from helpers import REPO

# bench/ sits at the repository root, next to neurolink_ui/ (plain `pytest` may not add it).
sys.path.insert(0, str(REPO))

from bench.__main__ import SECTIONS, Sizes, markdown_table, run, write_results

# Every figure the full run reports, in quick mode's sizes (concurrency 1 and 5; the schema-once
# rows need 50 at once, so only the full run has them).
EXPECTED_KEYS = {
    *(
        f"client.{case}.{who}_{what}"
        for case in ("short", "long", "image")
        for who in ("ours", "official")
        for what in ("over_backend", "after_end", "requests")
    ),
    *(f"path.{panel}.over_backend" for panel in ("chat", "image", "video", "avatar", "music")),
    *(f"concurrency.{mode}.{n}" for mode in ("app", "gradio_default") for n in (1, 5)),
    *(
        f"streaming.{case}.{where}"
        for case in ("streamed", "fallback")
        for where in ("handler", "client")
    ),
    "memory.large_outputs",
    "startup.ratio",
    "startup.extra",
    "sessions.released",
    "sessions.kept",
    # Issue 21: first visit, per run, time to output, Compare streaming.
    *(f"first_visit.{what}.today" for what in ("first_button", "image_button", "cpu", "heap")),
    *(
        f"first_visit.{name}_{form}.{who}"
        for name in ("page", "config")
        for form in ("wire", "decoded")
        for who in ("bare", "today")
    ),
    *(
        f"per_run.{what}.{who}"
        for what in ("cpu", "at_once", "one_over_backend")
        for who in ("today", "bare")
    ),
    *(
        f"output.{case}.{who}_{what}"
        for case in ("short", "long")
        for who in ("ours", "fixed", "official")
        for what in ("after_end", "requests")
    ),
    "compare_stream.longest_task.today",
    "capacity.visitors",
}
# The previous release (bench/first_visit.PREVIOUS_REF) comes from git history too, and a Stop
# that reached no running cell (all answers over) leaves its row out.
PREVIOUS_KEYS = {
    *(
        f"first_visit.{what}.previous"
        for what in (
            "first_button",
            "image_button",
            "cpu",
            "heap",
            "page_wire",
            "page_decoded",
            "config_wire",
            "config_decoded",
        )
    ),
    *(f"per_run.{what}.previous" for what in ("cpu", "at_once", "one_over_backend")),
    "compare_stream.longest_task.previous",
    "compare_stream.stop.previous",
    "compare_stream.stop.today",
}
# The held-create baseline is loaded from git history: present when the repository has it.
HELD_KEYS = {
    f"client.{case}.held_{what}"
    for case in ("short", "long", "image")
    for what in ("over_backend", "after_end", "requests")
}


# Which figures each section writes: its keys' first part.
SECTION_PREFIX = {
    "client": "client.",
    "path": "path.",
    "concurrency": "concurrency.",
    "streaming": "streaming.",
    "memory": "memory.",
    "startup": "startup.",
    "sessions": "sessions.",
    "firstvisit": "first_visit.",
    "perrun": "per_run.",
    "output": "output.",
    "comparestream": "compare_stream.",
    "capacity": "capacity.",
}
assert set(SECTION_PREFIX) == set(SECTIONS)


def _of(keys: set[str], sections: tuple[str, ...]) -> set[str]:
    prefixes = tuple(SECTION_PREFIX[name] for name in sections)
    return {key for key in keys if key.startswith(prefixes)}


def check_quick_run(sections: tuple[str, ...], tmp_path: Path) -> None:
    """Run `sections` in quick mode and check every figure they owe is there and well formed."""
    results = run(quick=True, only=sections)
    assert results["errors"] == {}
    figures = {figure["key"]: figure for figure in results["figures"]}
    expected = _of(EXPECTED_KEYS, sections)
    assert expected <= set(figures) <= expected | _of(HELD_KEYS | PREVIOUS_KEYS, sections)
    for key, figure in figures.items():
        spread = figure["spread"]
        values = (
            spread["minimum"],
            spread["q1"],
            spread["median"],
            spread["q3"],
            spread["maximum"],
        )
        assert all(math.isfinite(v) for v in values), key
        assert values == tuple(sorted(values)), key
        assert spread["runs"] >= 1, key
        assert figure["how"] and figure["goal"], key
        # A row with a goal says whether it was met; a reference or context row says nothing.
        if figure["goal"].startswith("("):
            assert figure["met"] is None, key
        else:
            assert isinstance(figure["met"], bool), key

    # The verdict is the goal applied to the measurement: ours ≤ the official client's requests.
    if "client" in sections:
        _check_client(figures)
    if "concurrency" in sections:
        _check_concurrency(figures)
    if "capacity" in sections:
        _check_capacity(figures)
    assert results["machine"]["nproc"] >= 1 and results["machine"]["gradio"]
    table = markdown_table(results)
    assert table.count("\n") == len(figures) + 1  # a header row, then one row a figure
    written = write_results(results, tmp_path)
    assert json.loads(written.read_text(encoding="utf-8"))["mode"] == "quick"


def _check_client(figures: dict[str, Any]) -> None:
    for case in ("short", "long", "image"):
        ours = figures[f"client.{case}.ours_requests"]
        official = figures[f"client.{case}.official_requests"]
        assert ours["met"] is (ours["spread"]["median"] <= official["spread"]["median"]), case
    # Relative figures mean what they say: counts are whole requests, ratios positive.
    assert figures["client.short.ours_requests"]["spread"]["minimum"] >= 1
    assert figures["client.image.ours_requests"]["context"] is not None
    assert figures["client.image.official_requests"]["spread"]["minimum"] >= 2  # create + file


def _check_concurrency(figures: dict[str, Any]) -> None:
    for n in (1, 5):
        assert figures[f"concurrency.app.{n}"]["spread"]["minimum"] > 0
    # Gradio's default runs the 5 requests one after another; the app runs them together.
    assert figures["concurrency.app.5"]["context"]["all_predictions_overlapped"] is True
    assert figures["concurrency.gradio_default.5"]["context"]["all_predictions_overlapped"] is False
    # The app and the simulator are processes of their own: every prediction of both runs is read
    # back from the simulator process, and the app process's CPU is counted apart from ours.
    app_5 = figures["concurrency.app.5"]["context"]
    batches = min(Sizes.for_mode(quick=True).runs, 3)  # batches of 5 (bench: min(runs, 3))
    assert app_5["predictions_seen"] == batches * 5 and app_5["failed_requests"] == 0
    assert app_5["cpu_ms_per_request_app"]["median"] > 0


def _check_capacity(figures: dict[str, Any]) -> None:
    levels = figures["capacity.visitors"]["context"]["levels"]
    # Levels run in turn from the smallest, and stop after the first one not served.
    assert [level["visitors"] for level in levels] == sorted(level["visitors"] for level in levels)
    assert all(level["served"] for level in levels[:-1])
    for level in levels:  # every level saw the newcomer's page and every visitor's run
        assert level["page_s"] is not None and level["page_s"] > 0, level
        assert level["failures"] == [], level
        assert level["worst_run_over_backend"] >= level["median_run_over_backend"] >= 1.0, level
    served = [level["visitors"] for level in levels if level["served"]]
    assert figures["capacity.visitors"]["spread"]["median"] == (max(served) if served else 0)
