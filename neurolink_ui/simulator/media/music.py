"""Music: drums, bass and chord pads at the prompt's tempo; normalisation; WAV/MP3 encoding."""

from __future__ import annotations

import io
import re

import numpy as np
import soundfile

from .common import AudioClip, rng_for

_BPM = re.compile(r"(\d{2,3}(?:\.\d+)?)\s*-?\s*bpm\b", re.IGNORECASE)


def bpm_from_prompt(prompt: str, default: float = 120.0) -> float:
    """Tempo from text like '80 BPM' or '80bpm' (kept within 40..220), else `default`."""
    match = _BPM.search(prompt)
    if not match:
        return default
    return min(220.0, max(40.0, float(match[1])))


_PROGRESSIONS = ((0, 7, 9, 5), (9, 5, 0, 7), (0, 9, 5, 7), (0, 5, 9, 7))
_MINOR_WORDS = ("sad", "dark", "minor", "melanchol", "moody", "somber", "sombre", "gloomy")
_CALM_WORDS = ("calm", "ambient", "chill", "lo-fi", "lofi", "relax", "soft", "sleep")


def _note_hz(midi: float) -> float:
    return 440.0 * 2 ** ((midi - 69) / 12)


def _add(track: np.ndarray, start: int, sound: np.ndarray) -> None:
    end = min(track.shape[-1], start + sound.shape[-1])
    if start < end:
        track[..., start:end] += sound[..., : end - start]


def synth_music(
    prompt: str,
    duration: float,
    *,
    sample_rate: int = 32000,
    channels: int = 1,
    seed: int = 0,
    melody: AudioClip | None = None,
    continuation: bool = False,
    normalization: str = "loudness",
) -> AudioClip:
    """Drums, bass and chord pads at the prompt's tempo; exactly `duration` seconds long.

    A melody clip is mixed in quietly (conditioning); with `continuation` it opens the track and
    the synthesis carries on after it. Never clipped: the result is normalised, then soft-limited.
    """
    n = round(duration * sample_rate)
    rng = rng_for("music", prompt, seed)
    text = prompt.lower()
    bpm = bpm_from_prompt(prompt)
    beat = 60.0 / bpm
    minor = any(w in text for w in _MINOR_WORDS)
    calm = any(w in text for w in _CALM_WORDS)
    root = 45 + int(rng.integers(0, 8))  # A2..E3
    progression = _PROGRESSIONS[int(rng.integers(0, len(_PROGRESSIONS)))]
    drums = np.zeros(n, np.float32)
    bass = np.zeros(n, np.float32)
    pads = np.zeros((2, n), np.float32)
    hats = np.zeros(n, np.float32)

    def env_decay(length_s: float, tau: float) -> tuple[np.ndarray, np.ndarray]:
        t = np.arange(int(length_s * sample_rate)) / sample_rate
        return t, np.exp(-t / tau)

    kt, kenv = env_decay(0.35, 0.09)
    kick = np.sin(2 * np.pi * (45 * kt + (120 - 45) * 0.04 * (1 - np.exp(-kt / 0.04)))) * kenv
    st, senv = env_decay(0.25, 0.06)
    snare_noise = rng.standard_normal(st.size).astype(np.float32)
    snare = (0.5 * snare_noise + 0.5 * np.sin(2 * np.pi * 185 * st)) * senv
    ht, henv = env_decay(0.08, 0.015)
    hat_noise = np.diff(rng.standard_normal(ht.size + 1)).astype(np.float32)
    hat = hat_noise * henv
    drum_gain = 0.55 if calm else 0.8

    beats = int(duration / beat) + 1
    for b in range(beats):
        pos = int(b * beat * sample_rate)
        _add(drums, pos, drum_gain * kick * (1.0 if b % 2 == 0 else 0.7))
        if b % 4 in (1, 3):
            _add(drums, pos, drum_gain * 0.45 * snare)
        _add(hats, int((b + 0.5) * beat * sample_rate), drum_gain * 0.12 * hat)

    bar = 4 * beat
    for bar_index in range(int(duration / bar) + 1):
        degree = progression[bar_index % len(progression)]
        chord_root = root + degree
        is_minor_chord = (degree in (9, 2, 4)) != minor
        third = 3 if is_minor_chord else 4
        pos = int(bar_index * bar * sample_rate)
        length = int(bar * sample_rate)
        t = np.arange(length) / sample_rate
        attack = np.minimum(1.0, t / 0.08)
        release = np.minimum(1.0, (bar - t) / 0.15).clip(0, 1)
        shape = attack * release
        for k, interval in enumerate((12, 12 + third, 19)):
            hz = _note_hz(chord_root + interval)
            for side, detune in ((0, -0.6), (1, 0.6)):
                wave = np.sin(2 * np.pi * (hz + detune) * t) + 0.25 * np.sin(4 * np.pi * hz * t)
                _add(pads[side], pos, (0.09 - 0.01 * k) * wave * shape)
        for half in (0, 2):
            bt = np.arange(int(2 * beat * sample_rate)) / sample_rate
            bass_note = np.sin(2 * np.pi * _note_hz(chord_root) * bt) * np.exp(-bt / (beat * 1.2))
            _add(bass, pos + int(half * beat * sample_rate), 0.35 * bass_note)

    mix = np.zeros((2, n), np.float32)
    mix += drums + bass
    mix += pads
    mix[0] += 0.8 * hats
    mix[1] += 1.0 * hats
    if melody is not None:
        tune = melody.samples.mean(axis=0)[:n]
        if continuation:
            fade = min(tune.size, int(0.5 * sample_rate))
            ramp = np.ones(n, np.float32)
            ramp[: tune.size] = 0.0
            ramp[tune.size - fade : tune.size] = np.linspace(0, 1, fade)
            mix *= ramp
            mix[:, : tune.size] += tune * (1 - ramp[: tune.size])
        else:
            mix[:, : tune.size] += 0.3 * tune
    fade_in, fade_out = min(n, int(0.01 * sample_rate)), min(n, int(0.5 * sample_rate))
    mix[:, :fade_in] *= np.linspace(0, 1, fade_in)
    mix[:, n - fade_out :] *= np.linspace(1, 0, fade_out)
    out = mix if channels == 2 else mix.mean(axis=0, keepdims=True)
    return AudioClip(normalize_audio(out, normalization), sample_rate)


def normalize_audio(samples: np.ndarray, strategy: str) -> np.ndarray:
    """MusicGen's normalisation strategies, followed by a soft limiter so nothing clips."""
    peak = float(np.abs(samples).max()) or 1.0
    rms = float(np.sqrt(np.mean(samples**2))) or 1.0
    if strategy == "peak":
        gain = 0.89 / peak
    elif strategy == "clip":
        gain = 0.15 / rms
    else:  # loudness / rms: about -18 dBFS RMS
        gain = 0.125 / rms
    out = samples * gain
    # tanh soft limiter above 0.8: transparent below, never reaches full scale.
    over = np.abs(out) > 0.8
    out[over] = np.sign(out[over]) * (0.8 + 0.15 * np.tanh((np.abs(out[over]) - 0.8) / 0.15))
    return out.astype(np.float32)


AUDIO_TYPES = {"wav": ("audio/wav", "wav"), "mp3": ("audio/mpeg", "mp3")}


def encode_audio(clip: AudioClip, fmt: str) -> tuple[bytes, str, str]:
    """WAV (PCM 16) or MP3 via libsndfile; returns (bytes, content type, extension)."""
    content_type, ext = AUDIO_TYPES[fmt]
    buf = io.BytesIO()
    data = clip.samples.T
    if ext == "wav":
        soundfile.write(buf, data, clip.sample_rate, format="WAV", subtype="PCM_16")
    else:
        soundfile.write(buf, data, clip.sample_rate, format="MP3", subtype="MPEG_LAYER_III")
    return buf.getvalue(), content_type, ext
