"""The still face video is bounded: fps, narration length, frames and the audio read itself.

Bounds are asserted on what was produced (frames decoded from the MP4 with PyAV) and on
refusals made before any encode (still_to_video replaced by a failing stand-in), never on time.
"""

from __future__ import annotations

import copy
import io
import os
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from neurolink_ui.catalog import catalog_model
from neurolink_ui.modalities import avatar
from neurolink_ui.modalities.avatar import (
    HARD_MAX_FACE_VIDEO_FPS,
    MAX_FACE_VIDEO_FPS,
    MAX_FACE_VIDEO_FRAMES,
    MAX_NARRATION_BYTES,
    MAX_NARRATION_SECONDS,
    audio_duration,
    build_avatar_input,
    length_cap_seconds,
    still_to_video,
)
from neurolink_ui.modalities.common import InputProblem
from neurolink_ui.replicate.schema import InputSchema


def _musetalk_openapi() -> dict[str, Any]:
    model = catalog_model("douwantech/musetalk")
    assert model is not None
    return copy.deepcopy(model.openapi_schema)


def _musetalk(fps_maximum: float | None = None) -> InputSchema:
    openapi = _musetalk_openapi()
    if fps_maximum is not None:
        fps = openapi["components"]["schemas"]["Input"]["properties"]["fps"]
        fps["maximum"] = fps_maximum
    return InputSchema.from_openapi(openapi)


def _portrait() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 120, 90)).save(buffer, format="PNG")
    return buffer.getvalue()


def _narration(path: Path, seconds: float, rate: int = 8000) -> Path:
    """Quiet 16-bit speech stand-in: small on disk however long (16 KB a second)."""
    samples = (0.1 * np.sin(2 * np.pi * 200 * np.arange(int(seconds * rate)) / rate)).astype(
        "float32"
    )
    sf.write(path, samples, rate, subtype="PCM_16")
    return path


def _frames(video: bytes) -> tuple[int, float]:
    """Frames decoded from the MP4, and its frame rate."""
    with av.open(io.BytesIO(video)) as container:
        stream = container.streams.video[0]
        count = sum(1 for _ in container.decode(stream))
        return count, float(stream.average_rate or 0)


@pytest.fixture
def no_encode(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any encode fails the test: a refusal must come before it."""

    def refuse(*_: Any, **__: Any) -> bytes:
        raise AssertionError("still_to_video ran for an input that should be refused first")

    monkeypatch.setattr(avatar, "still_to_video", refuse)


def test_huge_advanced_fps_is_clamped_with_a_note_and_frames_stay_bounded(
    tmp_path: Path,
) -> None:
    voice = _narration(tmp_path / "voice.wav", 1.0)
    mapped = build_avatar_input(
        _musetalk(), portrait=_portrait(), audio=voice, advanced={"fps": 100000}
    )
    frames, rate = _frames(mapped.input["video_input"])
    assert rate == MAX_FACE_VIDEO_FPS and frames == MAX_FACE_VIDEO_FPS  # 1 s at 30 fps
    assert frames <= MAX_FACE_VIDEO_FRAMES
    # The model is asked for the still video's rate, and the person is told why.
    assert mapped.input["fps"] == MAX_FACE_VIDEO_FPS
    assert any("fps 100000 was lowered to 30" in note for note in mapped.notes)


def test_fps_ceiling_is_the_schema_maximum_within_the_hard_cap(tmp_path: Path) -> None:
    voice = _narration(tmp_path / "voice.wav", 0.5)
    low = build_avatar_input(
        _musetalk(fps_maximum=12), portrait=_portrait(), audio=voice, advanced={"fps": 2000}
    )
    assert _frames(low.input["video_input"]) == (6, 12.0)
    assert low.input["fps"] == 12
    high = build_avatar_input(
        _musetalk(fps_maximum=1e9), portrait=_portrait(), audio=voice, advanced={"fps": 2000}
    )
    assert _frames(high.input["video_input"]) == (HARD_MAX_FACE_VIDEO_FPS // 2, 60.0)
    # A fraction of a frame a second is still at least one.
    slow = build_avatar_input(_musetalk(), portrait=_portrait(), audio=voice, advanced={"fps": 0.2})
    assert slow.input["fps"] == 1 and _frames(slow.input["video_input"])[0] == 1


def test_narration_over_the_length_cap_is_refused_before_any_encode(
    tmp_path: Path, no_encode: None
) -> None:
    assert length_cap_seconds(_musetalk()) == MAX_NARRATION_SECONDS
    long_voice = _narration(tmp_path / "long.wav", MAX_NARRATION_SECONDS + 1)
    with pytest.raises(InputProblem, match=r"61\.0 s.*60 s of narration at most.*Trim") as refused:
        build_avatar_input(_musetalk(), portrait=_portrait(), audio=long_voice)
    assert refused.value.field == "audio"
    # A caller's cap (the owner's on a guarded Space) lowers it further.
    short_voice = _narration(tmp_path / "short.wav", 3.0)
    with pytest.raises(InputProblem, match="2 s of narration at most"):
        build_avatar_input(_musetalk(), portrait=_portrait(), audio=short_voice, max_seconds=2)


def test_fps_times_seconds_is_bounded_by_the_frame_cap(tmp_path: Path, no_encode: None) -> None:
    # 60 fps is allowed by this schema, 31 s by the length cap: together 1,860 frames.
    voice = _narration(tmp_path / "voice.wav", 31.0)
    with pytest.raises(InputProblem, match=r"at 60 fps.*lower fps"):
        build_avatar_input(
            _musetalk(fps_maximum=60), portrait=_portrait(), audio=voice, advanced={"fps": 60}
        )


def test_a_50_mb_narration_is_refused_from_its_size_without_reading_it(
    tmp_path: Path, no_encode: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = _narration(tmp_path / "big.wav", 1.0)
    os.truncate(big, 50 * 1024 * 1024)  # sparse: the size is what matters
    assert big.stat().st_size > MAX_NARRATION_BYTES

    def no_open(*_: Any, **__: Any) -> Any:
        raise AssertionError("a file over the size cap was opened")

    monkeypatch.setattr(avatar.av, "open", no_open)
    with pytest.raises(InputProblem, match=r"50\.0 MB; the limit is 32 MB.*MP3") as refused:
        build_avatar_input(_musetalk(), portrait=_portrait(), audio=big)
    assert refused.value.field == "audio"
    with pytest.raises(InputProblem, match="limit is"):
        audio_duration(big)


def test_still_to_video_refuses_unbounded_requests_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_container(*_: Any, **__: Any) -> Any:
        raise AssertionError("an encode began for a request that should be refused")

    monkeypatch.setattr(avatar.av, "open", no_container)
    with pytest.raises(InputProblem, match="frame rate"):
        still_to_video(_portrait(), 1.0, fps=100000)
    with pytest.raises(InputProblem, match="frame rate"):
        still_to_video(_portrait(), 1.0, fps=0)
    with pytest.raises(InputProblem, match=r"1,800"):
        still_to_video(_portrait(), 1000.0, fps=25)


def test_still_to_video_frames_never_exceed_the_bound() -> None:
    seconds = MAX_FACE_VIDEO_FRAMES / MAX_FACE_VIDEO_FPS  # exactly at the bound
    frames, rate = _frames(still_to_video(_portrait(), seconds, fps=MAX_FACE_VIDEO_FPS))
    assert frames == MAX_FACE_VIDEO_FRAMES and rate == MAX_FACE_VIDEO_FPS
