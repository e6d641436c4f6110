"""Quick benchmarks, capacity: how many visitors one process serves; the figure is produced and
its levels are consistent (not their timings)."""

from __future__ import annotations

from pathlib import Path

import pytest
from quick_checks import check_quick_run


@pytest.mark.slow
@pytest.mark.bench
@pytest.mark.timeout(600)  # a hang guard, not a timing check
def test_quick_benchmarks_produce_every_figure(tmp_path: Path) -> None:
    check_quick_run(("capacity",), tmp_path)
