"""Quick benchmarks, the client against the official one, time to output, the panels' path, streaming, memory: every figure is produced (not their timings)."""

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
    check_quick_run(("client", "output", "path", "streaming", "memory"), tmp_path)
