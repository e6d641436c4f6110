"""What a run costs, end to end against the simulator: its `metrics` are Replicate's, the run
core estimates each kind of price from the prediction's own metrics and outputs, the closing
status shows the cost beside the predict time with the session's total, and History and the
shared view keep it."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

from neurolink_ui.catalog import prices
from neurolink_ui.catalog.prices import (
    ByHardware,
    ByInput,
    ModelPrice,
    PerMegapixel,
    PerOutputSecond,
    PerRun,
    PriceEvidence,
    PriceTable,
    Rate,
    load_prices,
)
from neurolink_ui.comparison import CellView, board_cost
from neurolink_ui.config import BUILTIN_SIMULATOR_TOKEN
from neurolink_ui.costs import CostEstimate, image_megapixels, media_seconds
from neurolink_ui.results import ResultStore, new_history_id
from neurolink_ui.ui.context import AppContext
from neurolink_ui.ui.history_log import HistoryLog
from neurolink_ui.ui.panels.chat import make_chat_handler
from neurolink_ui.ui.panels.compare_cells import cell_status
from neurolink_ui.ui.panels.history import entry_summary
from neurolink_ui.ui.panels.image import make_image_handler
from neurolink_ui.ui.panels.music import make_music_handler
from neurolink_ui.ui.panels.shared import result_markdown
from neurolink_ui.ui.panels.video import make_video_handler

FLUX = "black-forest-labs/flux-schnell"
LLAMA = "meta/meta-llama-3-8b-instruct"
MUSICGEN = "meta/musicgen"
WAN = "wan-video/wan-2.2-t2v-fast"
TEST_EVIDENCE = (PriceEvidence("test", "2026-12-06", None, "a price for this test only"),)


@pytest.fixture
def price_rates(monkeypatch: pytest.MonkeyPatch) -> Callable[[Mapping[str, Rate]], None]:
    """Install the catalogue's table with some models' rates replaced (a test's own prices)."""

    def install(rates: Mapping[str, Rate]) -> None:
        base = load_prices()
        models = dict(base.models)
        models.update({ref: ModelPrice(ref, rate, TEST_EVIDENCE) for ref, rate in rates.items()})
        table = PriceTable(models, base.hardware, base.hardware_evidence)
        monkeypatch.setattr(prices, "price_table", lambda: table)

    return install


def _status(updates: list[Any]) -> str:
    return str(updates[-1][-1])


def _prediction(simulator, model: str) -> Any:  # type: ignore[no-untyped-def]
    """The model's latest prediction, as the API returns it."""
    found = max(
        (p for p in simulator.predictions.values() if p.model.slug == model), key=lambda p: p.seq
    )
    return found.to_json(simulator.base_url)


async def _image(ctx: AppContext, log: HistoryLog, model: str = FLUX, **kw: Any) -> list[Any]:
    return [u async for u in make_image_handler(ctx)("a fox", model, generations=log, **kw)]


# ---- the simulator's metrics are Replicate's ---------------------------------------------------


async def test_metrics_as_replicate_reports_them(ctx: AppContext, simulator) -> None:  # type: ignore[no-untyped-def]
    log = HistoryLog()
    await _image(ctx, log, num_outputs=3)
    [u async for u in make_chat_handler(ctx)("Explain tides", [], model=LLAMA, generations=log)]
    image, chat = _prediction(simulator, FLUX), _prediction(simulator, LLAMA)
    assert image["metrics"]["image_count"] == len(image["output"]) == 3
    assert {"predict_time", "total_time"} <= set(image["metrics"])
    tokens = [t for t in chat["output"] if t]
    metrics = chat["metrics"]
    assert metrics["output_token_count"] == len(tokens) and metrics["input_token_count"] > 0
    assert metrics["time_to_first_token"] <= metrics["predict_time"]
    assert metrics["tokens_per_second"] > 0


async def test_a_community_models_metrics_are_its_times_only(ctx: AppContext, simulator) -> None:  # type: ignore[no-untyped-def]
    simulator.config.model_overrides = {FLUX: {"official": False}}  # as Replicate ignores its own
    await _image(ctx, HistoryLog())
    assert set(_prediction(simulator, FLUX)["metrics"]) == {"predict_time", "total_time"}


# ---- each kind of price, estimated from the run's own metrics and outputs ----------------------


async def test_per_image_from_the_image_count(ctx: AppContext, simulator) -> None:  # type: ignore[no-untyped-def]
    log = HistoryLog()
    status = _status(await _image(ctx, log, num_outputs=3))
    assert "predict " in status and " · ≈ $0.009 · total " in status  # beside the predict time
    assert "cost 3 images × $0.003 (estimate)" in status
    assert log.entries[0].cost_usd == pytest.approx(0.009)
    assert log.entries[0].cost_basis == "3 images × $0.003"


async def test_per_token_from_the_token_counts(ctx: AppContext, simulator) -> None:  # type: ignore[no-untyped-def]
    log = HistoryLog()
    chat = make_chat_handler(ctx)
    updates = [u async for u in chat("Explain tides", [], model=LLAMA, generations=log)]
    metrics = _prediction(simulator, LLAMA)["metrics"]
    expected = (metrics["input_token_count"] * 0.05 + metrics["output_token_count"] * 0.25) / 1e6
    assert log.entries[0].cost_usd == pytest.approx(expected)
    assert f"{metrics['input_token_count']:,} tokens in × $0.05/M" in _status(updates)


async def test_by_hardware_time_from_the_predict_time(  # type: ignore[no-untyped-def]
    ctx: AppContext, simulator, price_rates
) -> None:
    price_rates({MUSICGEN: ByHardware("gpu-l40s")})
    log = HistoryLog()
    music = make_music_handler(ctx)
    updates = [u async for u in music("lofi", 5, model=MUSICGEN, generations=log)]
    predict = _prediction(simulator, MUSICGEN)["metrics"]["predict_time"]
    assert log.entries[0].cost_usd == pytest.approx(predict * 0.000975)
    assert "on Nvidia L40S GPU × $0.000975/s" in _status(updates)


async def test_per_second_of_video_from_the_clip_made(  # type: ignore[no-untyped-def]
    ctx: AppContext, simulator, price_rates
) -> None:
    price_rates({WAN: PerOutputSecond(0.1, "video")})
    log = HistoryLog()
    updates = [u async for u in make_video_handler(ctx)("a river", None, WAN, generations=log)]
    [clip] = log.entries[0].files
    seconds = media_seconds(clip)
    assert seconds is not None and 4.5 < seconds < 5.5  # 81 frames at 16 fps
    assert log.entries[0].cost_usd == pytest.approx(seconds * 0.1)
    assert "s of video × $0.10/s" in _status(updates)


async def test_per_second_of_audio_from_the_track_made(  # type: ignore[no-untyped-def]
    ctx: AppContext, simulator, price_rates
) -> None:
    price_rates({MUSICGEN: PerOutputSecond(0.002, "audio")})
    log = HistoryLog()
    [u async for u in make_music_handler(ctx)("lofi", 6, model=MUSICGEN, generations=log)]
    [track] = log.entries[0].files
    seconds = media_seconds(track)
    assert seconds is not None and 5.5 < seconds < 6.5
    assert log.entries[0].cost_usd == pytest.approx(seconds * 0.002)


async def test_per_megapixel_from_the_images_made(  # type: ignore[no-untyped-def]
    ctx: AppContext, simulator, price_rates
) -> None:
    price_rates({FLUX: PerMegapixel(0.01)})
    log = HistoryLog()
    await _image(ctx, log, num_outputs=2)
    sizes = [image_megapixels(path) or 0.0 for path in log.entries[0].files]
    assert len(sizes) == 2 and all(sizes)
    assert log.entries[0].cost_usd == pytest.approx(sum(sizes) * 0.01)


async def test_by_the_resolution_the_run_asked_for(  # type: ignore[no-untyped-def]
    ctx: AppContext, simulator, price_rates
) -> None:
    price_rates({WAN: ByInput("resolution", {"480p": PerRun(0.05), "720p": PerRun(0.12)}, "480p")})
    log = HistoryLog()
    video = make_video_handler(ctx)
    [
        u
        async for u in video(
            "a river", None, WAN, advanced='{"resolution": "720p"}', generations=log
        )
    ]
    [
        u
        async for u in video(
            "a river", None, WAN, advanced='{"resolution": "480p"}', generations=log
        )
    ]
    assert [e.cost_usd for e in log.entries] == [pytest.approx(0.05), pytest.approx(0.12)]
    assert log.entries[1].cost_basis == "resolution 720p: $0.12 per run"


async def test_an_unknown_price_is_shown_as_unknown(ctx: AppContext, simulator) -> None:  # type: ignore[no-untyped-def]
    log = HistoryLog()
    status = _status([u async for u in make_music_handler(ctx)("lofi", 5, model=MUSICGEN, generations=log)])  # fmt: skip
    assert " · cost unknown · total " in status
    assert "cost unknown: Community model, billed by predict time" in status
    assert log.entries[0].cost_usd is None and "hardware" in log.entries[0].cost_basis


# ---- the session's total, simulated runs, History and the shared view ----------------------------


async def test_the_session_total_adds_up_and_counts_unknown_runs(
    ctx: AppContext, simulator
) -> None:  # type: ignore[no-untyped-def]
    log = HistoryLog()
    first = _status(await _image(ctx, log))
    assert "session ≈ $0.003</sub>" in first
    second = _status(await _image(ctx, log, num_outputs=2))
    assert "session ≈ $0.009</sub>" in second
    music = make_music_handler(ctx)
    third = _status([u async for u in music("lofi", 5, model=MUSICGEN, generations=log)])
    assert "session ≈ $0.009 + 1 run of unknown cost" in third
    assert "session ≈ $0.003</sub>" in _status(await _image(ctx, HistoryLog()))  # its own total


async def test_a_simulated_run_says_what_it_would_cost(ctx: AppContext, simulator) -> None:  # type: ignore[no-untyped-def]
    log = HistoryLog()
    updates = await _image(ctx, log, session_token=BUILTIN_SIMULATOR_TOKEN)
    status = _status(updates)
    assert "≈ $0.003 on Replicate" in status and "(simulated: not billed)" in status
    assert "session (simulated) ≈ $0.003" in status
    assert log.entries[0].simulated and log.entries[0].cost_usd == pytest.approx(0.003)


async def test_history_and_the_shared_view_keep_the_cost(  # type: ignore[no-untyped-def]
    ctx: AppContext, simulator, tmp_path: Path
) -> None:
    store = ResultStore(tmp_path / "results")
    log = HistoryLog(store=store, history_id=new_history_id())
    await _image(ctx, log, num_outputs=2)
    [kept] = log.shown()
    assert kept.id and kept.cost_usd == pytest.approx(0.006)
    assert " · ≈ $0.006 · total " in entry_summary(kept)
    store.close()
    reopened = ResultStore(tmp_path / "results")  # a restart: the cost is a stored field
    share_id = reopened.share(log.history_id or "", kept.id)
    shared = reopened.shared(share_id)
    assert shared is not None and shared.cost_usd == pytest.approx(0.006)
    assert shared.cost_basis == "2 images × $0.003"
    assert "≈ $0.006 (2 images × $0.003)" in result_markdown(shared)
    reopened.close()


def test_a_results_database_from_before_costs_opens_without_them(tmp_path: Path) -> None:
    store = ResultStore(tmp_path)
    me = new_history_id()
    from neurolink_ui.results import NewResult

    store.add(me, NewResult(kind="image", model="o/m", prompt="old"))
    store.close()
    with sqlite3.connect(tmp_path / "results.db") as db:  # as an older version left it
        db.execute("ALTER TABLE results DROP COLUMN cost_usd")
        db.execute("ALTER TABLE results DROP COLUMN cost_basis")
    reopened = ResultStore(tmp_path)
    [old] = reopened.list(me)
    assert old.cost_usd is None and old.cost_basis == ""
    assert "≈" not in entry_summary(old) and "cost unknown" not in entry_summary(old)
    new = reopened.add(me, NewResult(kind="image", model="o/m", cost_usd=0.04, cost_basis="x"))
    assert new.cost_usd == 0.04
    reopened.close()


def test_a_compare_costs_its_cells_together_and_blind_cells_hide_it() -> None:
    from neurolink_ui.comparison import CompareBoard

    a, b = CellView(0, "x/a", state="done"), CellView(1, "y/b", state="done")
    a.cost, b.cost = CostEstimate(0.003, "1 image × $0.003"), CostEstimate(0.04, "1 image × $0.04")
    board = CompareBoard(cells=[a, b])
    total = board_cost(board)
    assert total is not None and total.usd == pytest.approx(0.043)
    b.cost = CostEstimate(None, "no price")
    unknown = board_cost(board)
    assert unknown is not None and unknown.usd is None and "Model B: cost unknown" in unknown.basis
    assert "≈ $0.003" in cell_status(a, hidden=False)
    assert "$" not in cell_status(a, hidden=True)  # blind: a price could tell the model
