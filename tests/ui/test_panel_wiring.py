"""How each media panel's run button is wired (`ui.common.wire_media_run`), read from the event
graph of the panel as its tab draws it: what Stop ends, and the History refresh after a run; and
how the app serves each panel's endpoint from the start, the tab drawn or not (`api_twins`)."""

from __future__ import annotations

from typing import Any

import pytest
from helpers import panel_alone

from neurolink_ui.modalities.registry import get_modality
from neurolink_ui.ui.app import build_app
from neurolink_ui.ui.context import AppContext

MEDIA_PANELS = ("image", "video", "avatar", "music")


@pytest.fixture(scope="module")
def ctx() -> AppContext:
    from neurolink_ui.config import Settings

    return AppContext.create(Settings(api_token="r8_wiringtoken0123456789"))


@pytest.fixture(scope="module")
def graph(ctx: AppContext) -> Any:
    demo = build_app(ctx=ctx)
    return demo, demo.get_config_file()["dependencies"]


@pytest.mark.parametrize("panel", MEDIA_PANELS)
def test_a_media_run_is_public_queued_stoppable_and_refreshes_history(
    ctx: AppContext, panel: str
) -> None:
    demo = panel_alone(ctx, get_modality(panel).build_panel())
    dependencies = demo.get_config_file()["dependencies"]
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


@pytest.mark.parametrize("panel", MEDIA_PANELS)
def test_the_app_serves_each_media_endpoint_before_its_tab_is_drawn(
    graph: Any, ctx: AppContext, panel: str
) -> None:
    """The app's /image etc. (the tabs are drawn when opened): the same inputs and outputs as the
    panel's own run, queued, streaming, in the panel's concurrency group, with the page's own
    session States and History's recount after it."""
    demo, dependencies = graph
    (run,) = [d for d in dependencies if d["api_name"] == panel]
    assert run["api_visibility"] == "public" and run["queue"] and run["types"]["generator"]
    assert demo.fns[run["id"]].concurrency_id == panel
    blocks = demo.blocks
    alone = panel_alone(ctx, get_modality(panel).build_panel())
    (own,) = [d for d in alone.get_config_file()["dependencies"] if d["api_name"] == panel]

    def kinds(ids: list[int], where: Any) -> list[str]:
        return [type(where[i]).__name__ for i in ids]

    assert kinds(run["inputs"], blocks) == kinds(own["inputs"], alone.blocks)
    assert kinds(run["outputs"], blocks) == kinds(own["outputs"], alone.blocks)
    labels = [getattr(blocks[i], "label", None) for i in run["inputs"][:-3]]
    assert labels == [getattr(alone.blocks[i], "label", None) for i in own["inputs"][:-3]]

    # The steps after it (History's recount, a panel's own) are the panel's, in the same order.
    def steps(fns: Any, deps: Any, run_id: int) -> list[str]:
        return [fns[d["id"]].fn.__qualname__ for d in deps if d["trigger_after"] == run_id]

    own_steps = steps(alone.fns, alone.get_config_file()["dependencies"], own["id"])
    assert steps(demo.fns, dependencies, run["id"]) == own_steps
    assert "recount" in own_steps
