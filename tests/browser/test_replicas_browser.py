"""Two replicas, one set of results: two `python app.py` processes share one PostgreSQL
database (NEUROLINK_DATABASE_URL, a real server on loopback: tests/conftest.py postgres_server)
and one data folder, as replicas behind a load balancer do. In headless Chromium: a generation
on A is in the same History id's list on B, a share link made on A opens on B with its image, a
cap reached through A refuses on B, and Delete on B removes the result for A. (Two sweeps at
once, and the races under them, are tested on the stores: tests/results/
test_result_store_postgres.py.)

The tests run in order on the module's two apps and browser contexts (one visitor, V, whose
History id both replicas see; a stranger, W).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from conftest import new_database, start_app_process
from helpers import stop_process, until, wait_for_page
from test_browser import browser  # noqa: F401  (a fixture: used by name)
from test_share_browser import generate, open_history

from neurolink_ui.ui.history_log import HISTORY_STORAGE_KEY

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PROMPT = "A lighthouse on a cliff at dawn, watercolor"
# Simulator results may take 0.17 MB (178 KB) in all: one of the simulator's PNG images of the
# Image panel's default model (100-145 KB, measured over random seeds) fits, two do not. So a
# result V shares through A leaves no room that W's run on B may take.
SIMULATOR_MB = "0.17"


@dataclass
class Replicas:
    a: str  # replica A's address
    b: str
    database: str
    data: Path
    log_b: Path

    def rows(self) -> int:
        with psycopg.connect(self.database) as conn:
            row = conn.execute("SELECT count(*) FROM results").fetchone()
        return int(row[0]) if row else 0

    def on_b(self, link: str) -> str:
        """The same link, as the balancer would send it to B."""
        return self.b.rstrip("/") + link[len(self.a.rstrip("/")) :]


@pytest.fixture(scope="module")
def replicas(postgres_server: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replicas]:
    folder = tmp_path_factory.mktemp("replicas")
    data, database = folder / "data", new_database(postgres_server)
    env = {
        "NEUROLINK_DATA_DIR": str(data),
        "NEUROLINK_DATABASE_URL": database,
        "NEUROLINK_RESULTS_SIMULATOR_MB": SIMULATOR_MB,
    }
    logs = folder / "a.log", folder / "b.log"
    started = [start_app_process(env, log) for log in logs]  # both start at once
    try:
        for (process, url), log in zip(started, logs, strict=True):
            # Two apps loading at once on 2 shared cores: up to twice one app's start limit.
            assert wait_for_page(url, process, log.read_text, 180).status_code == 200
        yield Replicas(started[0][1], started[1][1], database, data, logs[1])
    finally:
        for process, _ in started:  # both asked to stop first: they close side by side
            process.terminate()
        for process, _ in started:
            stop_process(process, grace=20)


@dataclass
class Visitors:
    on_a: Any  # V's page on A
    on_b: Any  # V's page on B: the same History id (the browser's storage, copied)
    stranger: Any  # W's page on B
    link: str = ""


@pytest.fixture(scope="module")
def visitors(replicas: Replicas, browser: Any) -> Iterator[Visitors]:  # noqa: F811
    first = browser.new_context(viewport={"width": 1366, "height": 1000})
    page = first.new_page()
    page.goto(replicas.a, wait_until="load")
    second = browser.new_context(viewport={"width": 1366, "height": 1000})
    stranger = browser.new_context(viewport={"width": 1366, "height": 1000})
    try:
        yield Visitors(page, second, stranger.new_page())
    finally:
        for context in (first, second, stranger):
            context.close()


def test_a_generation_on_a_is_in_the_same_history_on_b(
    replicas: Replicas, visitors: Visitors
) -> None:
    from playwright.sync_api import expect

    generate(visitors.on_a, PROMPT)
    expect(open_history(visitors.on_a)).to_have_count(1, timeout=30_000)
    assert replicas.rows() == 1
    # The browser keeps its History id in its own storage (per origin: A and B have two
    # addresses here, one behind a balancer): the same browser on B.
    stored = visitors.on_a.evaluate(f"localStorage.getItem({json.dumps(HISTORY_STORAGE_KEY)})")
    assert stored, "the page kept no History id"
    context = visitors.on_b
    context.add_init_script(
        f"localStorage.setItem({json.dumps(HISTORY_STORAGE_KEY)}, {json.dumps(stored)})"
    )
    page = context.new_page()
    page.goto(replicas.b, wait_until="load")
    cards = open_history(page)
    expect(cards).to_have_count(1, timeout=20_000)
    expect(cards.first).to_contain_text(PROMPT)
    expect(cards.first.locator("img").first).to_be_visible(timeout=20_000)
    visitors.on_b = page


def test_a_share_link_made_on_a_opens_on_b_with_its_image(
    replicas: Replicas, visitors: Visitors
) -> None:
    from playwright.sync_api import expect

    card = open_history(visitors.on_a).filter(has_text=PROMPT)
    card.get_by_role("button", name="🔗 Share").click()
    box = card.get_by_role("textbox")
    expect(box).to_have_value(re.compile(r"^http://127\.0\.0\.1:\d+/\?result=[\w-]{32,}$"))
    visitors.link = box.input_value()
    assert visitors.link.startswith(replicas.a)

    view = visitors.stranger
    view.goto(replicas.on_b(visitors.link), wait_until="load")
    expect(view.get_by_text("Shared image result")).to_be_visible(timeout=30_000)
    expect(view.get_by_text(PROMPT).first).to_be_visible()
    picture = view.locator("[data-testid='gallery'] img, .thumbnail-item img").first
    expect(picture).to_be_visible(timeout=20_000)
    assert view.evaluate("img => img.naturalWidth", picture.element_handle()) > 0  # its bytes
    # The link card's preview image, from B's own copy of the shared folder.
    share_id = visitors.link.split("result=")[1]
    preview = httpx.get(f"{replicas.b}shared-preview/{share_id}", timeout=30)
    assert preview.status_code == 200 and preview.headers["content-type"].startswith("image/")


def test_a_cap_reached_through_a_refuses_on_b(replicas: Replicas, visitors: Visitors) -> None:
    """V's shared result (kept through A) fills the simulator results' room; W's run on B is
    shown but not kept: another visitor's shared result is never removed for it."""
    before = replicas.log_b.read_text()
    visitors.stranger.goto(replicas.b, wait_until="load")
    generate(visitors.stranger, "A stranger's red bicycle")
    until(
        lambda: (
            "full of other visitors' shared results" in replicas.log_b.read_text()[len(before) :]
        ),
        20,
        "B's log saying the result was not kept",
    )
    assert replicas.rows() == 1  # V's, still there


def test_delete_on_b_removes_the_result_for_a(replicas: Replicas, visitors: Visitors) -> None:
    from playwright.sync_api import expect

    folders = lambda: {p.name for p in (replicas.data / "results" / "files").iterdir()}  # noqa: E731
    assert len(folders()) == 1
    cards = open_history(visitors.on_b)
    cards.filter(has_text=PROMPT).get_by_role("button", name="🗑️ Delete").click()
    expect(cards).to_have_count(0, timeout=15_000)
    assert replicas.rows() == 0 and folders() == set()

    visitors.on_a.reload(wait_until="load")  # A's History: gone
    expect(open_history(visitors.on_a)).to_have_count(0, timeout=30_000)
    visitors.stranger.goto(visitors.link, wait_until="load")  # the link, on A: gone too
    expect(visitors.stranger.get_by_text("No shared result has this id")).to_be_visible(
        timeout=30_000
    )
