"""Issue 20 item 4 through the launched app: strangers' runs on the free built-in simulator
cannot evict another visitor's History entry or share link, each History keeps within its own
share of the store, and a run's database bytes (prompt, input JSON, answer) count toward it."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from gradio_client import handle_file
from launched import LaunchedApp
from PIL import Image

from neurolink_ui.config import Settings
from neurolink_ui.results import NewResult, new_history_id

pytestmark = pytest.mark.slow  # launches the whole app

MB = 1024 * 1024


@pytest.fixture(scope="module")
def app(tmp_path_factory) -> Iterator[LaunchedApp]:  # type: ignore[no-untyped-def]
    # No owner token: every visitor runs on the built-in simulator, as on a free demo.
    settings = Settings(poll_cap=60, data_dir=tmp_path_factory.mktemp("data"))
    launched = LaunchedApp(settings, tmp_path_factory.mktemp("outputs"))
    yield launched
    launched.close()


@pytest.fixture
def noisy_png(tmp_path: Path) -> Path:
    """A 2.7 MB input image (noise does not compress)."""
    path = tmp_path / "noise.png"
    Image.frombytes("RGB", (1000, 900), os.urandom(1000 * 900 * 3)).save(path)
    assert path.stat().st_size > 2.5 * MB
    return path


def _real_result(tmp_path: Path, name: str) -> NewResult:
    picture = tmp_path / f"{name}.png"
    Image.new("RGB", (64, 64), "teal").save(picture)
    return NewResult(kind="image", model="black-forest-labs/flux-schnell", prompt=name,
                     files=(picture,))  # fmt: skip


def test_simulator_runs_cannot_evict_others_results(
    app: LaunchedApp, noisy_png: Path, tmp_path: Path
) -> None:
    store = app.ctx.results
    store.disk_cap = 4 * MB  # small caps, as a Space with a small disk sets them
    store.max_bytes_per_history = 6 * MB
    store.simulated_disk_cap = 11 * MB
    shared_history, plain_history = new_history_id(), new_history_id()
    shared = store.add(shared_history, _real_result(tmp_path, "shared"))
    share_id = store.share(shared_history, shared.id)
    plain = store.add(plain_history, _real_result(tmp_path, "plain"))

    # Strangers' free simulator runs, each with a 2.7 MB input image (kept with the result).
    for stranger in range(2):
        with closing(app.client()) as c:
            for i in range(2):
                gallery, status, *_ = c.predict(
                    f"stranger {stranger} run {i}",
                    model="black-forest-labs/flux-kontext-pro",
                    input_image=handle_file(str(noisy_png)),
                    api_name="/image",
                )
                assert gallery and "Done" in status

    assert store.shared(share_id) is not None  # the link still opens
    assert [r.id for r in store.list(shared_history)] == [shared.id]
    assert [r.id for r in store.list(plain_history)] == [plain.id]
    assert store.disk_usage(simulated=True) <= store.simulated_disk_cap
    with sqlite3.connect(store.root / "results.db") as db:
        per_history = db.execute(
            "SELECT owner, sum(size + db_bytes), count(*) FROM results WHERE simulated = 1 "
            "GROUP BY owner"
        ).fetchall()
    assert len(per_history) == 2
    assert all(total <= store.max_bytes_per_history for _, total, _ in per_history)


def test_database_bytes_count_toward_the_caps(app: LaunchedApp) -> None:
    store = app.ctx.results
    message = "tell me about foxes " * 5000  # 100,000 characters
    with closing(app.client()) as c:
        c.predict(message, api_name="/chat")
    with sqlite3.connect(store.root / "results.db") as db:
        prompt, input_json, text, size = db.execute(
            "SELECT prompt, input, text, size + db_bytes FROM results WHERE kind = 'chat' "
            "ORDER BY created_at DESC LIMIT 1"
        ).fetchone()
    assert message.strip() in prompt or message.strip() in json.loads(input_json).get("prompt", "")
    assert size >= len(prompt) + len(input_json) + len(text)
    # The app keeps serving.
    with closing(app.client()) as c:
        gallery, status, *_ = c.predict("still serving", api_name="/image")
    assert gallery and "Done" in status
