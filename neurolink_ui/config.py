"""Settings from the environment. Read once by the entry points and passed down, never global."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from .catalog import default_model
from .quota.settings import QuotaSettings, suggested_models

DEFAULT_BASE_URL = "https://api.replicate.com"
# Each panel's default: a confirmed model of the catalogue (evidence in neurolink_ui/catalog/models).
DEFAULT_CHAT_MODEL = default_model("chat")
DEFAULT_IMAGE_MODEL = default_model("image")
DEFAULT_VIDEO_MODEL = default_model("video")
DEFAULT_AVATAR_MODEL = default_model("avatar")
DEFAULT_MUSIC_MODEL = default_model("music")
# The built-in simulator accepts any well-formed token; this one never leaves the machine.
BUILTIN_SIMULATOR_TOKEN = "r8_builtinsimulatortoken"


def _float(env: Mapping[str, str], key: str, default: float, unit: str = "seconds") -> float:
    raw = env.get(key, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError as exc:
        raise ValueError(f"{key} must be a number of {unit}, got {raw!r}") from exc
    if value <= 0:
        raise ValueError(f"{key} must be positive, got {raw!r}")
    return value


@dataclass(frozen=True)
class Settings:
    api_token: str | None = field(default=None, repr=False)
    base_url: str = DEFAULT_BASE_URL
    chat_model: str = DEFAULT_CHAT_MODEL
    image_model: str = DEFAULT_IMAGE_MODEL
    video_model: str = DEFAULT_VIDEO_MODEL
    avatar_model: str = DEFAULT_AVATAR_MODEL
    music_model: str = DEFAULT_MUSIC_MODEL
    poll_cap: float = 300.0  # seconds a prediction may run before we cancel it
    max_output_files: int = 16  # files downloaded per prediction; the rest are shown as links
    max_output_mb: float = 512.0  # MB downloaded per prediction
    # Limits on runs paid by api_token; the default limits nothing, from_env the documented ones.
    quota: QuotaSettings = field(default_factory=QuotaSettings)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        settings = cls(
            api_token=(env.get("REPLICATE_API_TOKEN") or "").strip() or None,
            base_url=(env.get("REPLICATE_BASE_URL") or DEFAULT_BASE_URL).strip().rstrip("/"),
            chat_model=env.get("REPLICATE_MODEL") or DEFAULT_CHAT_MODEL,
            image_model=env.get("REPLICATE_IMAGE_MODEL") or DEFAULT_IMAGE_MODEL,
            video_model=env.get("REPLICATE_VIDEO_MODEL") or DEFAULT_VIDEO_MODEL,
            avatar_model=env.get("REPLICATE_AVATAR_MODEL") or DEFAULT_AVATAR_MODEL,
            music_model=env.get("REPLICATE_MUSIC_MODEL") or DEFAULT_MUSIC_MODEL,
            poll_cap=_float(env, "REPLICATE_POLL_CAP", 300.0),
            max_output_files=int(_float(env, "NEUROLINK_MAX_FILES_PER_PREDICTION", 16, "files")),
            max_output_mb=_float(env, "NEUROLINK_MAX_MB_PER_PREDICTION", 512.0, "MB"),
        )
        quota = QuotaSettings.from_env(
            env, owner_token_set=bool(settings.api_token), suggested=suggested_models(settings)
        )
        return replace(settings, quota=quota)
