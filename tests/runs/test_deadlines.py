"""Each run's deadline from what is known of its model (issue 22, item 1): the catalogue's run time
with its evidence, the panel's usual run, the runs seen here, else the poll cap; a model whose
run takes longer than the old one-size cap is not killed; a guarded Space refuses a model too
slow for its limit unless the owner allowed it; the panels say so before the run.

The simulator's model runs 3 s against a poll cap of 2 s: "longer than the default cap" at a
fraction of the real scale. The real numbers are asserted in the `Cancel-After` it recorded.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import io
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from conftest import TOKEN
from PIL import Image

from neurolink_ui.catalog import catalog_model
from neurolink_ui.cli import main
from neurolink_ui.config import Settings
from neurolink_ui.deadlines import (
    BOOT_COMMUNITY,
    BOOT_OFFICIAL,
    LONGEST,
    MARGIN,
    deadline_seconds,
    known_run_time,
    run_time_note,
)
from neurolink_ui.examples import write_avatar_example
from neurolink_ui.modalities.common import MappedInput
from neurolink_ui.modalities.registry import get_modality
from neurolink_ui.modalities.spec import ModalityValues
from neurolink_ui.quota.settings import QuotaConfigError, QuotaSettings
from neurolink_ui.replicate.errors import PredictionCanceledError, PredictionTimeoutError
from neurolink_ui.replicate.run import PredictionRun
from neurolink_ui.replicate.timing import ModelTimes
from neurolink_ui.replicate.types import ModelRef, Prediction
from neurolink_ui.runs import Caller, RunFailed, RunFinished, RunRequest, run
from neurolink_ui.ui.context import AppContext
from neurolink_ui.ui.forms import MODEL_INFO, run_time_info, run_time_markdown

MUSETALK = "douwantech/musetalk"
FLUX = "black-forest-labs/flux-schnell"
UPSCALER = "nightmareai/real-esrgan"  # no run time known, fits no panel: the poll cap applies
POLL_CAP = 2.0  # the "default cap" of these tests; the simulator's runs take 3 s


def _creates(simulator: Any) -> list[Any]:
    return [r for r in simulator.requests if r.method == "POST" and r.path.endswith("/predictions")]


def _cancel_after(simulator: Any) -> str:
    (create,) = _creates(simulator)
    return str(create.headers["cancel-after"])


async def _context(simulator: Any, tmp_path: Path, **settings: Any) -> AppContext:
    base = Settings(api_token=TOKEN, base_url=simulator.base_url, poll_cap=POLL_CAP)
    return AppContext.create(dataclasses.replace(base, **settings), outputs_dir=tmp_path / "out")


@pytest.fixture
async def short_ctx(simulator: Any, tmp_path: Path) -> AsyncIterator[AppContext]:
    """The app's context on a poll cap of 2 s: what a model with nothing known would get."""
    ctx = await _context(simulator, tmp_path)
    yield ctx
    await ctx.aclose()


def _guarded(state_db: Path, **changes: Any) -> QuotaSettings:
    """A guarded Space's limits: a run on the owner's token at most `max_seconds` (300 s, the
    documented default), no counts."""
    return dataclasses.replace(
        QuotaSettings(enabled=True, max_seconds=300.0, state_db=state_db), **changes
    )


def _avatar(tmp_path: Path, model: str = MUSETALK) -> RunRequest:
    portrait, narration = write_avatar_example(tmp_path / "example")
    values = ModalityValues(image=portrait, audio=narration)
    avatar = get_modality("avatar")
    return RunRequest(
        "avatar", model, "narration", lambda info: avatar.map_input(info, values), "video"
    )


def _upscale() -> RunRequest:
    picture = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 40, 40)).save(picture, "PNG")
    image = "data:image/png;base64," + base64.b64encode(picture.getvalue()).decode()
    return RunRequest(
        "explore",
        UPSCALER,
        "upscale",
        lambda info: MappedInput({"image": image, "scale": 2}),
        "image",
    )


async def _events(ctx: AppContext, request: RunRequest) -> list[Any]:
    return [event async for event in run(ctx, request, Caller())]


# ---- what is known, and the deadline it gives -------------------------------------------------


def test_the_catalogue_record_wins_with_its_evidence() -> None:
    known = known_run_time(MUSETALK, "avatar")
    record = catalog_model(MUSETALK).run_time  # type: ignore[union-attr]
    assert known is not None and record is not None and known.basis == "catalogue"
    assert (known.typical, known.worst) == (record.typical_seconds, record.worst_seconds)
    assert known.typical >= 8 * 60 > 300  # longer than the old one-size cap
    assert known.source == record.source and known.dated == record.dated
    # Community: the boot counts (the deadline runs from the create); never past 30 min.
    expected = min(LONGEST, record.worst_seconds * MARGIN + BOOT_COMMUNITY)
    assert deadline_seconds(known, official=False, default=POLL_CAP) == expected > 300


def test_without_a_record_the_panel_gives_the_usual_run() -> None:
    known = known_run_time(FLUX, "image")
    assert known is not None and known.basis == "panel" and known.source == "image"
    typical, worst = get_modality("image").usual_run  # type: ignore[misc]
    assert (known.typical, known.worst) == (typical, worst)
    assert (
        deadline_seconds(known, official=True, default=POLL_CAP) == worst * MARGIN + BOOT_OFFICIAL
    )
    # The catalogue's panel, not the one it is run from (an Explore run of an image model).
    assert known_run_time(FLUX, "explore") == known


def test_nothing_known_is_the_poll_cap_and_a_seen_run_raises_the_worst_case() -> None:
    assert known_run_time(UPSCALER, "explore") is None
    assert deadline_seconds(None, official=False, default=POLL_CAP) == POLL_CAP
    seen = known_run_time(UPSCALER, "explore", seen=40.0)
    assert seen is not None and seen.basis == "seen" and seen.worst == 40.0
    flux = known_run_time(FLUX, "image", seen=500.0)  # slower here than the panel's worst case
    assert flux is not None and flux.worst == 500.0 and flux.typical == 10.0
    assert (
        deadline_seconds(known_run_time(MUSETALK, seen=5000.0), official=False, default=1)
        == LONGEST
    )


def test_a_deployment_is_known_by_the_model_its_release_runs() -> None:
    # Before its release is read nothing names its model: only the modality's usual run.
    ref = ModelRef.parse("deployment:acme/lip-sync")
    before = known_run_time(ref, "avatar")
    assert before is not None and before.basis == "panel"


def test_the_note_says_minutes_before_the_run_and_refuses_on_a_slow_space() -> None:
    musetalk = known_run_time(MUSETALK, "avatar")
    note = run_time_note(musetalk)
    assert note.startswith("⏱️") and "about 8 min" in note and MUSETALK in note
    assert run_time_note(known_run_time(FLUX, "image")) == ""  # seconds: nothing to say
    refused = run_time_note(musetalk, owner_cap=300.0)
    assert (
        "not run on it" in refused
        and "the 5 min this Space" in refused
        and "own Replicate token" in refused
    )
    assert "not run on it" not in run_time_note(musetalk, owner_cap=300.0, raised=True)


# ---- through the run core, against the simulator ----------------------------------------------


async def test_a_model_longer_than_the_default_cap_runs_to_the_end(
    short_ctx: AppContext, simulator: Any, tmp_path: Path
) -> None:
    """MuseTalk's run (3 s here) is longer than the default cap (2 s here): it gets its own
    deadline — minutes, sent as Cancel-After — and finishes; before, it was canceled at the cap
    and billed."""
    simulator.config.run_time = 3.0
    events = await _events(short_ctx, _avatar(tmp_path))
    finished = events[-1]
    assert isinstance(finished, RunFinished), events[-1]
    assert finished.result.files and finished.result.prediction.status == "succeeded"
    assert (finished.result.wall_time or 0) > POLL_CAP
    known = known_run_time(MUSETALK, "avatar")
    deadline = deadline_seconds(known, official=False, default=POLL_CAP)
    assert _cancel_after(simulator) == f"{deadline:g}s"
    assert not [r for r in simulator.requests if r.path.endswith("/cancel")]


async def test_a_model_nothing_is_known_of_keeps_the_default_cap(
    short_ctx: AppContext, simulator: Any
) -> None:
    simulator.config.run_time = 3.0
    events = await _events(short_ctx, _upscale())
    failed = events[-1]
    assert isinstance(failed, RunFailed) and "deadline of 2 s" in failed.message
    assert _cancel_after(simulator) == "5s"  # the minimum Cancel-After
    (prediction,) = [p for p in simulator.predictions.values() if p.model.slug == UPSCALER]
    assert prediction.status == "canceled"


class _DeadlineBackend:
    """A backend whose prediction runs on until Replicate's own Cancel-After ends it: reads
    say `processing` before the deadline and `canceled` from it on (no stream, so it polls)."""

    poll_cap = 60.0
    poll_schedule = (0.05,)
    cancel_timeout = 1.0

    def __init__(self) -> None:
        self.run_times = ModelTimes()
        self.created = 0.0
        self.deadline = 0.0
        self.canceled: list[str] = []

    @property
    def guarded_http(self) -> Any:
        raise AssertionError("no stream to follow")

    async def create_prediction(self, ref: Any, input: Any, **options: Any) -> Prediction:
        self.created, self.deadline = time.monotonic(), float(options["cancel_after"])
        return Prediction(id="p1", status="processing")

    async def get_prediction(self, prediction_id: str, **options: Any) -> Prediction:
        # Ended a little before the run's own clock runs out, so a poll sees it first: the run's
        # clock starts before the create, and on a loaded machine its deadline came first and
        # it (rightly) canceled a prediction it had not yet seen end.
        past = time.monotonic() - self.created >= self.deadline - 0.3
        return Prediction(id=prediction_id, status="canceled" if past else "processing")

    async def cancel_quietly(self, prediction_id: str, *, token: str) -> None:
        self.canceled.append(prediction_id)

    def detach(self, coro: Any) -> asyncio.Task[Any]:
        return asyncio.ensure_future(coro)


async def test_canceled_by_the_deadline_is_a_timeout_not_a_stop() -> None:
    """Replicate's own Cancel-After can end the prediction before the run gives up: the run says
    it timed out, never that someone stopped it (a Stop comes before the deadline)."""
    backend = _DeadlineBackend()
    prediction_run = PredictionRun(backend, ModelRef.parse(UPSCALER), None, {}, TOKEN, deadline=1.0)
    with pytest.raises(PredictionTimeoutError, match=r"within its deadline of 1 s"):
        async for _ in prediction_run.events():
            pass
    assert backend.deadline == 1.0 and backend.canceled == []  # it had ended: nothing to cancel
    backend = _DeadlineBackend()
    backend.deadline = 10.0
    stopped = PredictionRun(backend, ModelRef.parse(UPSCALER), None, {}, TOKEN, deadline=10.0)

    async def stop_early(prediction_id: str, **options: Any) -> Prediction:
        return Prediction(id=prediction_id, status="canceled")

    backend.get_prediction = stop_early  # type: ignore[method-assign]
    with pytest.raises(PredictionCanceledError):
        async for _ in stopped.events():
            pass


# ---- a guarded Space --------------------------------------------------------------------------


async def test_a_guarded_space_refuses_a_model_too_slow_for_its_limit(
    simulator: Any, tmp_path: Path
) -> None:
    ctx = await _context(simulator, tmp_path, quota=_guarded(tmp_path / "state.db"))
    try:
        events = await _events(ctx, _avatar(tmp_path))
    finally:
        await ctx.aclose()
    failed = events[-1]
    assert isinstance(failed, RunFailed) and failed.reason == "quota"
    assert failed.title == "Model too slow for this Space"
    assert f"{MUSETALK} typically takes about 8 min a run" in failed.message
    assert "the 5 min this Space allows" in failed.message
    assert "NEUROLINK_LONG_MODELS" in failed.message
    assert "paste your own Replicate token" in failed.message
    assert _creates(simulator) == []  # refused before anything was paid for


async def test_the_owner_can_let_a_long_model_run_to_its_own_deadline(
    simulator: Any, tmp_path: Path
) -> None:
    limits = _guarded(tmp_path / "state.db", long_models=("douwantech/*",))
    ctx = await _context(simulator, tmp_path, quota=limits)
    try:
        events = await _events(ctx, _avatar(tmp_path))
    finally:
        await ctx.aclose()
    assert isinstance(events[-1], RunFinished)
    deadline = deadline_seconds(known_run_time(MUSETALK), official=False, default=POLL_CAP)
    assert _cancel_after(simulator) == f"{deadline:g}s" and deadline > limits.max_seconds


async def test_owner_runs_are_bounded_by_the_limit_and_own_tokens_are_not(
    simulator: Any, tmp_path: Path
) -> None:
    ctx = await _context(
        simulator, tmp_path, quota=_guarded(tmp_path / "state.db", max_seconds=45.0)
    )
    image = get_modality("image")
    request = RunRequest(
        "image",
        FLUX,
        "a lighthouse",
        lambda info: image.map_input(info, ModalityValues("x")),
        "image",
    )
    try:
        assert isinstance((await _events(ctx, request))[-1], RunFinished)
        assert _cancel_after(simulator) == "45s"  # the owner's limit, shorter than the model's
        simulator.requests.clear()
        own = await _events_as(ctx, request, "r8_testtokenbravo9876543210")
        assert isinstance(own[-1], RunFinished)
        flux = deadline_seconds(known_run_time(FLUX, "image"), official=True, default=POLL_CAP)
        assert _cancel_after(simulator) == f"{flux:g}s"  # a visitor's own token: the model's
    finally:
        await ctx.aclose()


async def _events_as(ctx: AppContext, request: RunRequest, token: str) -> list[Any]:
    return [event async for event in run(ctx, request, Caller(session_token=token))]


async def test_the_panel_note_follows_the_token(simulator: Any, tmp_path: Path) -> None:
    ctx = await _context(simulator, tmp_path, quota=_guarded(tmp_path / "state.db"))
    try:
        owner = ctx.backend(None)
        ref = ModelRef.parse(MUSETALK)
        info = await owner.client.get_model(ref, token=owner.token)
        note = run_time_markdown(ctx, owner, ref, info)
        assert "not run on it" in note and "about 8 min" in note
        own = ctx.backend("r8_testtokenbravo9876543210")
        note = run_time_markdown(ctx, own, ref, info)
        assert "not run on it" not in note and "typically takes about 8 min" in note
        flux = await owner.client.get_model(FLUX, token=owner.token)
        assert run_time_markdown(ctx, owner, ModelRef.parse(FLUX), flux) == ""
        # Shown as the model picker's own note, before what the picker takes.
        assert run_time_info(ctx, own, ref, info) == f"{note} {MODEL_INFO}."
        assert run_time_info(ctx, owner, ModelRef.parse(FLUX), flux) == MODEL_INFO
    finally:
        await ctx.aclose()


def test_long_models_are_read_from_the_environment() -> None:
    env = {"NEUROLINK_LONG_MODELS": "douwantech/musetalk, deployment:acme/*"}
    limits = QuotaSettings.from_env(env, owner_token_set=True, suggested={})
    assert limits.long_models == ("douwantech/musetalk", "deployment:acme/*")
    assert limits.runs_long("douwantech/musetalk:5501004e") and limits.runs_long(
        "deployment:acme/lip-sync"
    )
    assert not limits.runs_long("acme/lip-sync") and not limits.runs_long(FLUX)
    with pytest.raises(QuotaConfigError, match="NEUROLINK_LONG_MODELS"):
        QuotaSettings.from_env(
            {"NEUROLINK_LONG_MODELS": "musetalk"}, owner_token_set=True, suggested={}
        )


def test_the_command_line_says_before_the_run_that_a_model_takes_minutes(
    simulator: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    portrait, narration = write_avatar_example(tmp_path / "example")
    monkeypatch.setenv("REPLICATE_BASE_URL", simulator.base_url)
    monkeypatch.setenv("REPLICATE_API_TOKEN", TOKEN)
    monkeypatch.chdir(tmp_path)
    argv = ["generate", "--outputMode", "avatar", "--avatarImage", str(portrait)]
    code = main([*argv, "--avatarAudio", str(narration), "--avatarOutput", "talk.mp4"])
    err = capsys.readouterr().err
    assert code == 0, err
    note = f"note: ⏱️ {MUSETALK} typically takes about 8 min a run"
    assert note in err and err.index(note) < err.index("done with")
