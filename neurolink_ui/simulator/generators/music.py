"""Music generation for any music model, driven by the fields its schema has.

Reads `prompt` (or `lyrics`); `duration` seconds or `music_length_ms` milliseconds (models
without either make a fixed-length clip); a melody or continuation source from `input_audio` with
`continuation`, `continuation_start`, `continuation_end`; `model_version` (stereo unless it says
otherwise), `normalization_strategy`, `output_format` or `audio_format` (wav/mp3; ElevenLabs'
`mp3_standard`, `wav_cd_quality`… by their kind, MiniMax's raw `pcm` as WAV). Returns one audio
file whose tempo follows the prompt.
"""

from __future__ import annotations

from typing import Any

from .. import media
from .common import FileResolver, Generation, ModelView, OutputFile, input_seed, resolve_audio

SAMPLE_RATE = 32000
FIXED_SECONDS = 30  # models without a duration field (e.g. Lyria 2) make 30-second clips
MAX_SECONDS = 300


def generate_music(model: ModelView, input: dict[str, Any], resolve: FileResolver) -> Generation:
    raw = input.get("duration")
    millis = input.get("music_length_ms")
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        duration = float(raw)
    elif isinstance(millis, int | float) and not isinstance(millis, bool):
        raw, duration = millis, float(millis) / 1000
    else:
        duration = float(FIXED_SECONDS)
    if duration <= 0 or duration > MAX_SECONDS:
        raise ValueError(f"duration must be between 1 and {MAX_SECONDS} seconds, got {raw}")
    prompt = str(input.get("prompt") or input.get("lyrics") or "")
    seed = input_seed(input)
    continuation = bool(input.get("continuation"))
    melody = None
    if input.get("input_audio"):
        melody = resolve_audio(resolve, input["input_audio"], "input_audio", rate=SAMPLE_RATE)
        if continuation:
            start = int(float(input.get("continuation_start") or 0) * SAMPLE_RATE)
            end_s = input.get("continuation_end")
            end = melody.samples.shape[1]
            if end_s is not None and end_s > 0:
                end = int(end_s * SAMPLE_RATE)
            if end <= start:
                raise ValueError("continuation_end must be after continuation_start")
            melody = media.AudioClip(melody.samples[:, start:end], SAMPLE_RATE)
    version = str(input.get("model_version") or "stereo")
    clip = media.synth_music(
        prompt,
        duration,
        sample_rate=SAMPLE_RATE,
        channels=2 if version.startswith("stereo") else 1,
        seed=seed,
        melody=melody,
        continuation=continuation,
        normalization=str(input.get("normalization_strategy") or "loudness"),
    )
    data, content_type, ext = media.encode_audio(clip, _audio_kind(input))
    steps = round(duration * 50)  # MusicGen generates 50 audio tokens per second
    logs = [
        f"Using seed: {seed}",
        f"Tempo: {media.bpm_from_prompt(prompt):g} BPM",
        *media.tqdm_lines(steps, 87.3, every=max(1, steps // 10)),
    ]
    return Generation(None, [OutputFile(f"output.{ext}", content_type, data)], True, logs)


def _audio_kind(input: dict[str, Any]) -> str:
    """wav or mp3, from `output_format`/`audio_format` (`mp3_high_quality` is an mp3)."""
    fmt = str(input.get("output_format") or input.get("audio_format") or "wav").lower()
    return "mp3" if fmt.startswith("mp3") else "wav"
