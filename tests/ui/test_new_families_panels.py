"""The panels' mappings for the newest families (issue 22, item 4), through the panel handlers and
the simulator serving the recorded schemas: Music's lyrics box and lengths in milliseconds, Video's
last frame, Sora's portrait/landscape, and Hailuo 02's 10 s (only at 768p) not failing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import av
import gradio as gr
import httpx
import pytest
import soundfile as sf
from PIL import Image

from neurolink_ui.modalities.common import parse_ratio
from neurolink_ui.ui.context import AppContext
from neurolink_ui.ui.history_log import HistoryLog
from neurolink_ui.ui.panels.music import make_music_handler
from neurolink_ui.ui.panels.video import make_video_handler

LYRICS = "[verse]\nPaper boats on the river\n[chorus]\nSail away, sail away"


@pytest.fixture(autouse=True)
def _quick(simulator: Any) -> None:
    simulator.config.run_time = 0.0  # the runs' outputs matter here, not their pace


def _still(path: Path, size: tuple[int, int] = (200, 120)) -> str:
    Image.new("RGB", size, (40, 120, 200)).save(path)
    return str(path)


def _last_input(simulator: Any, model: str) -> dict[str, Any]:
    runs = [s for s in simulator.predictions.values() if s.model.slug == model]
    assert runs, f"no prediction of {model}"
    return dict(runs[-1].input)


async def _run(handler: Any, *args: Any, **kwargs: Any) -> list[Any]:
    return [update async for update in handler(*args, generations=HistoryLog(), **kwargs)]


async def test_music_lyrics_box_reaches_a_singing_model(
    ctx: AppContext, simulator: Any, tmp_path: Path
) -> None:
    music = make_music_handler(ctx)
    updates = await _run(
        music, "Upbeat indie pop with bright guitars", model="minimax/music-1.5", lyrics=LYRICS
    )
    audio, status = updates[-1]
    assert "Done" in status, status
    sent = _last_input(simulator, "minimax/music-1.5")
    assert sent["lyrics"] == LYRICS and sent["prompt"].startswith("Upbeat indie pop")
    assert sf.info(audio).duration > 1
    # the same model without lyrics is refused before anything is paid for
    before = len(simulator.predictions)
    with pytest.raises(gr.Error, match="Lyrics box"):
        await _run(music, "Upbeat indie pop with bright guitars", model="minimax/music-1.5")
    assert len(simulator.predictions) == before
    # a model without lyrics says so and still runs
    updates = await _run(music, "calm lo-fi beat", model="meta/musicgen", duration=3, lyrics=LYRICS)
    assert "takes no lyrics" in updates[-1][-1]


async def test_music_length_in_milliseconds(ctx: AppContext, simulator: Any) -> None:
    music = make_music_handler(ctx)
    updates = await _run(
        music, "calm lo-fi beat", duration=8, output_format="wav", model="elevenlabs/music"
    )
    audio, status = updates[-1]
    assert "Done" in status, status
    sent = _last_input(simulator, "elevenlabs/music")
    assert sent["music_length_ms"] == 8000 and sent["output_format"] == "wav_cd_quality"
    assert sf.info(audio).duration == pytest.approx(8.0, abs=0.2)


async def test_video_last_frame_goes_to_the_models_own_field(
    ctx: AppContext, simulator: Any, tmp_path: Path
) -> None:
    video = make_video_handler(ctx)
    start, end = _still(tmp_path / "a.png"), _still(tmp_path / "b.png", (200, 121))
    updates = await _run(
        video, "a paper boat", start, model="bytedance/seedance-2.0", length=4, last_frame=end
    )
    assert "Done" in updates[-1][-1], updates[-1][-1]
    sent = _last_input(simulator, "bytedance/seedance-2.0")
    assert sent["image"] and sent["last_frame_image"] and sent["image"] != sent["last_frame_image"]
    # a model with no last frame says it was not sent
    updates = await _run(
        video, "a paper boat", start, model="wan-video/wan-2.2-t2v-fast", length=2, last_frame=end
    )
    assert "last frame was NOT sent" in updates[-1][-1]


async def test_sora_portrait_and_landscape(ctx: AppContext, simulator: Any) -> None:
    assert parse_ratio("portrait") == pytest.approx(9 / 16)
    assert parse_ratio("landscape") == pytest.approx(16 / 9)
    video = make_video_handler(ctx)
    for chosen, named in (("9:16", "portrait"), ("16:9", "landscape")):
        updates = await _run(
            video, "a paper boat", model="openai/sora-2", length=4, aspect_ratio=chosen
        )
        clip, _, status = updates[-1]
        assert "Done" in status, status
        sent = _last_input(simulator, "openai/sora-2")
        assert (sent["aspect_ratio"], sent["seconds"]) == (named, 4)
        with av.open(clip) as container:
            stream = container.streams.video[0]
            tall = stream.codec_context.height > stream.codec_context.width
        assert tall is (named == "portrait")


async def test_hailuo_02_ten_seconds_is_made_at_768p(
    ctx: AppContext, simulator: Any, token: str
) -> None:
    # Replicate's own description: "10 seconds is only available for 768p resolution"; the
    # default is 1080p. The simulator refuses the combination as the model does ...
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=simulator.base_url, headers=headers, timeout=60) as http:
        answer = await http.post(
            "/v1/models/minimax/hailuo-02/predictions",
            json={"input": {"prompt": "a paper boat", "duration": 10}},
            headers={"Prefer": "wait=30"},
        )
    made = answer.json()
    assert made["status"] == "failed"
    assert "10 seconds is only available for 768p" in made["error"]
    # ... and the Video panel's 10 s choice picks 768p, so it runs
    video = make_video_handler(ctx)
    updates = await _run(video, "a paper boat", model="minimax/hailuo-02", length=10)
    status = updates[-1][-1]
    assert "Done" in status and "768p" in status, status
    sent = _last_input(simulator, "minimax/hailuo-02")
    assert (sent["duration"], sent["resolution"]) == (10, "768p")
    # a 1080p chosen in Advanced cannot make 10 s: refused before anything is paid for
    before = len(simulator.predictions)
    with pytest.raises(gr.Error, match="only at 768p"):
        await _run(
            video,
            "a paper boat",
            model="minimax/hailuo-02",
            length=10,
            advanced='{"resolution": "1080p"}',
        )
    assert len(simulator.predictions) == before
    # 6 s keeps the model's own 1080p default
    await _run(video, "a paper boat", model="minimax/hailuo-02", length=6)
    assert "resolution" not in _last_input(simulator, "minimax/hailuo-02")
