"""The simulator's generated media: real, decodable, deterministic, shaped by the input."""

from __future__ import annotations

import io
from typing import Any

import av
import numpy as np
import pytest
import soundfile
from PIL import Image

from neurolink_ui.simulator import catalog, media
from neurolink_ui.simulator.catalog import Generation, SimModel


def _png(width: int, height: int, colour: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buf, "PNG")
    return buf.getvalue()


def _speech_like_wav(seconds: float, rate: int = 16000) -> bytes:
    """A tone with a syllable-like loudness envelope: loud and quiet stretches."""
    t = np.arange(int(seconds * rate)) / rate
    envelope = (np.sin(2 * np.pi * 2 * t) > 0).astype(np.float32)
    wave = 0.5 * np.sin(2 * np.pi * 220 * t) * envelope
    buf = io.BytesIO()
    soundfile.write(buf, wave.astype(np.float32), rate, format="WAV")
    return buf.getvalue()


def _empty_wav() -> bytes:
    buf = io.BytesIO()
    soundfile.write(buf, np.zeros(0, np.float32), 16000, format="WAV")
    return buf.getvalue()


FILES: dict[str, bytes] = {
    "sim://red.png": _png(320, 240, (220, 30, 30)),
    "sim://tall.png": _png(240, 400, (30, 200, 60)),
    "sim://speech.wav": _speech_like_wav(1.3),
    "sim://empty.wav": _empty_wav(),
    "sim://text.txt": b"this is not media at all",
}


def resolve(url: str) -> bytes:
    if url in FILES:
        return FILES[url]
    raise ValueError(f"not a simulator URL: {url}")


def _run(slug: str, **input: Any) -> Generation:
    owner, name = slug.split("/")
    model = catalog.get_model(owner, name)
    assert model is not None
    resolved, problems = model.validate(input)
    assert problems == [], problems
    return model.generate(resolved, resolve)


def _model(slug: str) -> SimModel:
    owner, name = slug.split("/")
    model = catalog.get_model(owner, name)
    assert model is not None
    return model


# ----------------------------------------------------------------------------- images


@pytest.mark.parametrize(
    ("slug", "input", "size", "fmt", "count"),
    [
        (
            "black-forest-labs/flux-schnell",
            {"aspect_ratio": "16:9", "num_outputs": 2, "output_format": "jpg"},
            (1024, 576),
            "JPEG",
            2,
        ),
        (
            "black-forest-labs/flux-schnell",
            {"megapixels": "0.25", "output_format": "png"},
            (512, 512),
            "PNG",
            1,
        ),
        (
            "black-forest-labs/flux-1.1-pro",
            {"aspect_ratio": "custom", "width": 512, "height": 320},
            (512, 320),
            "WEBP",
            1,
        ),
        (
            "stability-ai/stable-diffusion-3.5-large",
            {"aspect_ratio": "2:3"},
            (688, 1024),
            "WEBP",
            1,
        ),
        (
            "playgroundai/playground-v2.5-1024px-aesthetic",
            {"width": 384, "height": 256},
            (384, 256),
            "PNG",
            1,
        ),
        ("ideogram-ai/ideogram-v3-turbo", {"resolution": "832x960"}, (832, 960), "PNG", 1),
    ],
)
def test_images_have_requested_size_format_and_count(
    slug: str, input: dict[str, Any], size: tuple[int, int], fmt: str, count: int
) -> None:
    generation = _run(slug, prompt="a lighthouse at dusk", seed=7, **input)
    assert len(generation.files) == count
    assert generation.single == (_model(slug).output.get("type") == "string")
    for out in generation.files:
        img = Image.open(io.BytesIO(out.data))
        assert img.format == fmt and img.size == size
        assert out.content_type == Image.MIME[fmt]
    assert any("%|" in line for line in generation.logs)


def test_images_are_deterministic_and_depend_on_prompt_and_seed() -> None:
    base = {"prompt": "a lighthouse at dusk", "seed": 3, "megapixels": "0.25"}
    first = _run("black-forest-labs/flux-schnell", **base).files[0].data
    assert _run("black-forest-labs/flux-schnell", **base).files[0].data == first
    other_seed = _run("black-forest-labs/flux-schnell", **{**base, "seed": 4}).files[0].data
    other_prompt = _run("black-forest-labs/flux-schnell", **{**base, "prompt": "a cat"})
    assert other_seed != first and other_prompt.files[0].data != first


def test_output_quality_changes_lossy_size() -> None:
    base = {"prompt": "quality", "seed": 1, "megapixels": "0.25", "output_format": "jpg"}
    low = _run("black-forest-labs/flux-schnell", **base, output_quality=5).files[0].data
    high = _run("black-forest-labs/flux-schnell", **base, output_quality=95).files[0].data
    assert len(low) < len(high)


def test_img2img_blends_the_input_image_visibly() -> None:
    generation = _run(
        "stability-ai/stable-diffusion-3.5-large",
        prompt="make it red",
        image="sim://red.png",
        prompt_strength=0.5,
        seed=1,
        output_format="png",
    )
    img = Image.open(io.BytesIO(generation.files[0].data)).convert("RGB")
    assert img.size == (320, 240)  # output takes the input image's shape
    top = np.asarray(img, np.float32)[:120]  # above the caption
    red, green, blue = top[..., 0].mean(), top[..., 1].mean(), top[..., 2].mean()
    assert red > green + 40 and red > blue + 40


def test_bad_image_inputs_raise_value_error() -> None:
    with pytest.raises(ValueError, match="image"):
        _run("stability-ai/stable-diffusion-3.5-large", prompt="x", image="sim://text.txt")
    with pytest.raises(ValueError, match="image_prompt"):
        _run("black-forest-labs/flux-1.1-pro", prompt="x", image_prompt="https://elsewhere/x")


# ----------------------------------------------------------------------------- video


def _probe_video(data: bytes) -> tuple[str, int, float, tuple[int, int], bool]:
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        codec = stream.codec_context.name
        rate = float(stream.average_rate or 0)
        size = (stream.codec_context.width, stream.codec_context.height)
        has_audio = bool(container.streams.audio)
        frames = sum(1 for _ in container.decode(video=0))
    return codec, frames, rate, size, has_audio


def test_text_to_video_mp4() -> None:
    generation = _run(
        "wan-video/wan-2.2-t2v-fast", prompt="waves", num_frames=81, frames_per_second=24
    )
    out = generation.files[0]
    assert generation.single and out.name == "output.mp4" and out.content_type == "video/mp4"
    codec, frames, fps, size, _ = _probe_video(out.data)
    assert (codec, frames, fps, size) == ("h264", 81, 24.0, (832, 480))


def test_image_to_video_animates_the_start_frame() -> None:
    generation = _run("kwaivgi/kling-v2.1", prompt="zoom", start_image="sim://tall.png")
    codec, frames, fps, (width, height), _ = _probe_video(generation.files[0].data)
    assert (codec, frames, fps) == ("h264", 120, 24.0)
    assert height > width and width % 2 == 0 and height % 2 == 0
    with av.open(io.BytesIO(generation.files[0].data)) as container:
        first = next(container.decode(video=0)).to_ndarray(format="rgb24").astype(np.float32)
    green = first[: height // 2]
    assert green[..., 1].mean() > green[..., 0].mean() + 40  # the green start image shows


def test_wan_alpha_vp9_webm_and_animated_webp() -> None:
    webm = _run(
        "atonamy/wan-alpha",
        prompt="ghost",
        num_frames=10,
        fps=8,
        resolution="512*512 (fit horizontal)",
    )
    out = webm.files[0]
    assert out.content_type == "video/webm"
    codec, frames, fps, size, _ = _probe_video(out.data)
    assert (codec, frames, fps, size) == ("vp9", 9, 8.0, (480, 480))  # 4n+1 frames, <= 480p
    with av.open(io.BytesIO(out.data)) as container:
        assert container.streams.video[0].metadata.get("alpha_mode") == "1"
    webp = _run(
        "atonamy/wan-alpha",
        prompt="ghost",
        num_frames=5,
        fps=10,
        resolution="512*512 (fit vertical)",
        output_format="webp",
        remove_first_frame=True,
    ).files[0]
    img = Image.open(io.BytesIO(webp.data))
    assert img.format == "WEBP" and img.n_frames == 4 and img.mode == "RGBA"


def test_video_bad_start_image_raises() -> None:
    with pytest.raises(ValueError, match="first_frame_image"):
        _run("minimax/hailuo-2.3-fast", prompt="x", first_frame_image="sim://speech.wav")


# ----------------------------------------------------------------------------- avatar


def _audio_duration(data: bytes) -> float:
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        assert stream.codec_context.name == "aac"
        assert stream.duration is not None and stream.time_base is not None
        return float(stream.duration * stream.time_base)


def test_sadtalker_mp4_has_audio_of_input_duration_and_moving_mouth() -> None:
    generation = _run(
        "cjwbw/sadtalker", source_image="sim://red.png", driven_audio="sim://speech.wav"
    )
    data = generation.files[0].data
    assert abs(_audio_duration(data) - 1.3) <= 0.1
    codec, frames, fps, _size, has_audio = _probe_video(data)
    assert codec == "h264" and fps == 25.0 and has_audio and abs(frames - 1.3 * 25) <= 1
    with av.open(io.BytesIO(data)) as container:
        images = [
            f.to_ndarray(format="rgb24").astype(np.float32) for f in container.decode(video=0)
        ]
    brightness = [img.mean() for img in images]
    assert max(brightness) - min(brightness) > 5  # driven by the audio's loudness


def test_musetalk_loops_input_video_frames() -> None:
    clip = media.encode_mp4(media.animate_frames("face", 1, 160, 120, 5), 160, 120, 10)
    FILES["sim://face.mp4"] = clip
    generation = _run(
        "douwantech/musetalk", video_input="sim://face.mp4", audio_input="sim://speech.wav", fps=20
    )
    data = generation.files[0].data
    assert abs(_audio_duration(data) - 1.3) <= 0.1
    codec, frames, fps, size, _ = _probe_video(data)
    assert (codec, fps, size) == ("h264", 20.0, (160, 120)) and abs(frames - 26) <= 1


@pytest.mark.parametrize(
    ("field", "url", "message"),
    [
        ("driven_audio", "sim://empty.wav", "zero length"),
        ("driven_audio", "sim://text.txt", "driven_audio"),
        ("driven_audio", "sim://red.png", "driven_audio"),
        ("source_image", "sim://text.txt", "source_image"),
    ],
)
def test_avatar_bad_inputs_raise_value_error(field: str, url: str, message: str) -> None:
    input = {"source_image": "sim://red.png", "driven_audio": "sim://speech.wav", field: url}
    with pytest.raises(ValueError, match=message):
        _run("lucataco/sadtalker", **input)


def test_decode_audio_reads_mp3() -> None:
    clip = media.synth_music("x", 2, channels=1)
    mp3, content_type, _ = media.encode_audio(clip, "mp3")
    assert content_type == "audio/mpeg"
    decoded = media.decode_audio(mp3, rate=32000)
    assert abs(decoded.duration - 2.0) <= 0.1


# ----------------------------------------------------------------------------- music


@pytest.mark.parametrize(
    ("model_version", "channels", "strategy"),
    [("stereo-large", 2, "loudness"), ("melody-large", 1, "peak"), ("large", 1, "clip")],
)
def test_musicgen_wav_duration_rate_channels_level(
    model_version: str, channels: int, strategy: str
) -> None:
    generation = _run(
        "meta/musicgen",
        prompt="Lo-fi beat. Mood: calm. 80 BPM",
        duration=3,
        model_version=model_version,
        normalization_strategy=strategy,
    )
    out = generation.files[0]
    assert out.content_type == "audio/wav" and out.name == "output.wav"
    data, rate = soundfile.read(io.BytesIO(out.data), always_2d=True)
    assert rate == 32000 and data.shape == (3 * 32000, channels)
    rms = float(np.sqrt(np.mean(data**2)))
    peak = float(np.abs(data).max())
    assert 0.03 < rms < 0.3 and 0.2 < peak < 0.99
    assert any("it/s" in line for line in generation.logs)


def test_musicgen_mp3_and_tempo_from_prompt() -> None:
    out = _run("meta/musicgen", prompt="drums 90bpm", duration=2, output_format="mp3").files[0]
    assert out.content_type == "audio/mpeg"
    data, rate = soundfile.read(io.BytesIO(out.data), always_2d=True)
    assert rate == 32000 and abs(data.shape[0] / rate - 2.0) <= 0.1
    assert media.bpm_from_prompt("Genre: lo-fi. 80 BPM") == 80
    assert media.bpm_from_prompt("fast 140bpm techno") == 140
    assert media.bpm_from_prompt("no tempo") == 120


def test_music_tempo_changes_the_beat() -> None:
    def onsets(bpm: int) -> int:
        clip = media.synth_music(f"{bpm} BPM", 4, seed=1, normalization="peak")
        env = np.abs(clip.samples[0]).reshape(-1, 320).max(axis=1)  # 10 ms blocks
        rising = (env[1:] > 0.5) & (env[:-1] <= 0.5)
        return int(rising.sum())

    assert onsets(150) > onsets(75)


def test_musicgen_continuation_and_bad_input_audio() -> None:
    out = _run(
        "meta/musicgen",
        prompt="continue",
        duration=2,
        input_audio="sim://speech.wav",
        continuation=True,
        model_version="melody-large",
    ).files[0]
    data, _ = soundfile.read(io.BytesIO(out.data))
    assert data.shape[0] == 2 * 32000
    with pytest.raises(ValueError, match="input_audio"):
        _run("meta/musicgen", prompt="x", duration=1, input_audio="sim://text.txt")
    with pytest.raises(ValueError, match="duration"):
        _run("meta/musicgen", prompt="x", duration=0)


def test_tqdm_lines_look_like_tqdm() -> None:
    lines = media.tqdm_lines(50, 17.15, every=10)
    assert lines[0].startswith("  0%|          | 0/50")
    assert lines[-1].startswith("100%|██████████| 50/50")
    assert " 40%|████      | 20/50 [00:01<00:01, 17.15it/s]" in lines
