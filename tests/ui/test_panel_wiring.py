"""How each media panel's run button is wired (`ui.common.wire_media_run`), read from the built
app's event graph: what the API sees, what Stop ends, and the History refresh after a run."""

from __future__ import annotations

from typing import Any

import pytest

from neurolink_ui.ui.app import build_app
from neurolink_ui.ui.context import AppContext

MEDIA_PANELS = ("image", "video", "avatar", "music")


@pytest.fixture(scope="module")
def graph() -> Any:
    from neurolink_ui.config import Settings

    ctx = AppContext.create(Settings(api_token="r8_wiringtoken0123456789"))
    demo = build_app(ctx=ctx)
    return demo, demo.get_config_file()["dependencies"]


@pytest.mark.parametrize("panel", MEDIA_PANELS)
def test_a_media_run_is_public_queued_stoppable_and_refreshes_history(
    graph: Any, panel: str
) -> None:
    demo, dependencies = graph
    runs = [d for d in dependencies if d["api_name"] == panel]
    assert len(runs) == 1, f"one /{panel} endpoint"
    run = runs[0]
    assert run["api_visibility"] == "public" and run["queue"] and run["types"]["generator"]
    assert demo.fns[run["id"]].concurrency_id == panel  # its own concurrency group
    # The panel's inputs, then the session's token, History log and live runs (States).
    session, log, live = run["inputs"][-3:]
    blocks = demo.blocks
    assert all(type(blocks[i]).__name__ == "State" for i in (session, log, live))
    status = run["outputs"][-1]
    assert type(blocks[status]).__name__ == "Markdown"

    cancels = [d for d in dependencies if run["id"] in (d["cancels"] or [])]
    assert len(cancels) == 1, "one Stop ends the run"
    # Gradio splits a click with `cancels=` in two: the cancel, and the Stop handler itself.
    stops = [d for d in dependencies if d["targets"] == cancels[0]["targets"] and d["backend_fn"]]
    assert [(d["inputs"], d["outputs"]) for d in stops] == [([session, live], [status])]
    assert stops[0]["api_visibility"] == "private"

    after = [d for d in dependencies if d["trigger_after"] == run["id"]]
    # The refresh reads the log and whether History is open; it writes the count, and what an
    # open History shows (history_log.recount).
    refresh = [d for d in after if d["inputs"][:1] == [log]]
    assert len(refresh) == 1 and refresh[0]["api_visibility"] == "private"
    assert type(blocks[refresh[0]["inputs"][1]]).__name__ == "State"
    labels = [getattr(blocks[i], "label", None) for i in refresh[0]["outputs"]]
    assert labels == ["Generations", "Generations shown"]


def test_every_media_panel_shares_the_same_session_states(graph: Any) -> None:
    _, dependencies = graph
    states = {tuple(d["inputs"][-3:]) for d in dependencies if d["api_name"] in MEDIA_PANELS}
    assert len(states) == 1  # one session token, one History log, one LiveRuns for all panels
