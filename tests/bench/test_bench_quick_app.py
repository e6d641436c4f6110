"""Quick benchmarks, launched apps: concurrency against Gradio's default queue, start-up, sessions, per run: every figure is produced (not their timings)."""

from __future__ import annotations

from pathlib import Path

import pytest
from quick_checks import check_quick_run


@pytest.mark.slow
@pytest.mark.bench
@pytest.mark.timeout(900)  # a hang guard, not a timing check
def test_quick_benchmarks_produce_every_figure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Today's figures only: building and serving the previous release too (three more apps, two
    # more Chromium visits) doubled the time; `python -m bench` measures both.
    monkeypatch.setenv("BENCH_PREVIOUS", "off")
    check_quick_run(("concurrency", "startup", "sessions", "perrun"), tmp_path)
