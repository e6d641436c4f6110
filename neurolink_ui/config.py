"""Settings from the environment. Read once by the entry points and passed down, never global."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from .catalog import default_model
from .env import env_number
from .modalities.registry import get_modality, modalities
from .quota.settings import QuotaSettings, default_data_dir

DEFAULT_BASE_URL = "https://api.replicate.com"
# Each panel's default: a confirmed model of the catalogue (evidence in neurolink_ui/catalog/models).
# The built-in simulator accepts any well-formed token; this one never leaves the machine.
BUILTIN_SIMULATOR_TOKEN = "r8_builtinsimulatortoken"


def _float(env: Mapping[str, str], key: str, default: float, unit: str = "seconds") -> float:
    return env_number(env, key, default, unit=unit)


_HOST = re.compile(r"[A-Za-z0-9.-]+(:[0-9]{1,5})?")


def public_url(env: Mapping[str, str]) -> str | None:
    """`NEUROLINK_PUBLIC_URL` (http(s)://host[:port][/path]), else the Hugging Face Space's own
    host (`SPACE_HOST`, which Spaces set) over https; None when neither is set."""
    raw = env.get("NEUROLINK_PUBLIC_URL", "").strip().rstrip("/")
    if raw:
        scheme, _, rest = raw.partition("://")
        host = rest.split("/", 1)[0]
        if (
            scheme not in ("http", "https")
            or not _HOST.fullmatch(host)
            or any(c in rest for c in "\"'<> ?#")
        ):
            raise ValueError(
                f"NEUROLINK_PUBLIC_URL: {raw!r} is not an http(s) address such as "
                "https://example.org/playground"
            )
        return raw
    space_host = env.get("SPACE_HOST", "").strip()
    return f"https://{space_host}" if space_host and _HOST.fullmatch(space_host) else None


def _ttl(env: Mapping[str, str], key: str, default: float) -> float:
    """Seconds something is kept; 0 keeps it for good."""
    raw = env.get(key, "").strip()
    if raw in ("0", "0.0"):
        return 0.0
    return env_number(env, key, default, unit="seconds (0 keeps them)")


def database_url(env: Mapping[str, str]) -> str | None:
    """`NEUROLINK_DATABASE_URL`: PostgreSQL for the kept results, shared by every replica (None:
    SQLite in the data folder, one process)."""
    raw = env.get("NEUROLINK_DATABASE_URL", "").strip()
    if raw and not raw.startswith(("postgresql://", "postgres://")):
        raise ValueError(
            "NEUROLINK_DATABASE_URL must be a PostgreSQL URL such as "
            "postgresql://user:password@db-host:5432/neurolink (or unset it to keep results in "
            "SQLite)"
        )
    return raw or None


def _switch(env: Mapping[str, str], key: str, default: bool) -> bool:
    raw = env.get(key, "").strip().lower()
    if not raw:
        return default
    if raw in ("on", "true", "1", "yes"):
        return True
    if raw in ("off", "false", "0", "no"):
        return False
    raise ValueError(f"{key} must be on or off, got {raw!r}")


def _choice(env: Mapping[str, str], key: str, choices: tuple[str, ...]) -> str:
    """One of `choices` (the first when unset); on/off also as true/false, 1/0, yes/no."""
    raw = env.get(key, "").strip().lower()
    if not raw:
        return choices[0]
    raw = {"true": "on", "1": "on", "yes": "on", "false": "off", "0": "off", "no": "off"}.get(
        raw, raw
    )
    if raw not in choices:
        raise ValueError(f"{key} must be one of {', '.join(choices)}, got {raw!r}")
    return raw


def _int(env: Mapping[str, str], key: str, default: int, unit: str) -> int:
    return int(env_number(env, key, default, unit=unit, whole=True))


@dataclass(frozen=True)
class Settings:
    api_token: str | None = field(default=None, repr=False)
    base_url: str = DEFAULT_BASE_URL
    chat_model: str = default_model("chat")
    image_model: str = default_model("image")
    video_model: str = default_model("video")
    avatar_model: str = default_model("avatar")
    music_model: str = default_model("music")
    poll_cap: float = 300.0  # seconds a prediction may run before we cancel it
    max_output_files: int = 16  # files downloaded per prediction; the rest are shown as links
    max_output_mb: float = 512.0  # MB downloaded per prediction
    # Limits on runs paid by api_token; the default limits nothing, from_env the documented ones.
    quota: QuotaSettings = field(default_factory=QuotaSettings)
    # What a public link must bound (issue 8): how long outputs and sessions live, and sizes.
    output_ttl: float = 86400.0  # seconds an output (and Gradio's copy of it) is kept
    session_ttl: float = 86400.0  # seconds an idle session's state is kept in memory
    session_disk_mb: float = 2048.0  # MB of outputs one session may keep on disk
    max_prompt_chars: int = 20_000  # a media panel's prompt, and any text field
    max_chat_chars: int = 200_000  # one chat turn
    # Kept results (History, share links): where, how long, how much. `data_dir` None: a
    # temporary folder for this process only (tests, embedding); from_env: NEUROLINK_DATA_DIR.
    data_dir: Path | None = None
    result_ttl: float = 7 * 86400.0  # seconds a result is kept; 0 keeps results for good
    results_disk_mb: float = 10240.0  # MB of kept results in all; the oldest unshared go first
    results_history_mb: float = 512.0  # MB one History id may keep (its own oldest go first)
    results_simulator_mb: float = 1024.0  # MB of simulator results, kept apart from real ones
    # PostgreSQL for the results' rows, shared by replicas (their files: data_dir on a shared
    # volume); None keeps them in SQLite in data_dir. May hold a password: not in repr.
    database_url: str | None = field(default=None, repr=False)
    sharing: bool = True  # "Share" links (NEUROLINK_SHARING=off refuses them)
    # Where visitors reach the app (share links' og:url/og:image); never read from a request.
    public_url: str | None = None
    # The MCP server for agents (NEUROLINK_MCP): "auto" serves it where it is safe (agents.
    # mcp_enabled: no owner token, or the owner's token guarded by limits), "on", "off".
    mcp: str = "auto"

    def model_for(self, modality: str) -> str:
        """A modality's default model: the configured one (REPLICATE_MODEL, NEUROLINK_*_MODEL)
        for the built-in five, else the first the modality suggests."""
        configured = {
            "chat": self.chat_model,
            "image": self.image_model,
            "video": self.video_model,
            "avatar": self.avatar_model,
            "music": self.music_model,
        }.get(modality)
        return configured or get_modality(modality).suggested_models()[0]

    @property
    def max_output_bytes(self) -> int:
        return int(self.max_output_mb * 1024 * 1024)

    @property
    def results_disk_bytes(self) -> int:
        return int(self.results_disk_mb * 1024 * 1024)

    @property
    def session_disk_bytes(self) -> int:
        return int(self.session_disk_mb * 1024 * 1024)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        settings = cls(
            api_token=(env.get("REPLICATE_API_TOKEN") or "").strip() or None,
            base_url=(env.get("REPLICATE_BASE_URL") or DEFAULT_BASE_URL).strip().rstrip("/"),
            chat_model=env.get("REPLICATE_MODEL") or default_model("chat"),
            image_model=env.get("REPLICATE_IMAGE_MODEL") or default_model("image"),
            video_model=env.get("REPLICATE_VIDEO_MODEL") or default_model("video"),
            avatar_model=env.get("REPLICATE_AVATAR_MODEL") or default_model("avatar"),
            music_model=env.get("REPLICATE_MUSIC_MODEL") or default_model("music"),
            poll_cap=_float(env, "REPLICATE_POLL_CAP", 300.0),
            max_output_files=_int(env, "NEUROLINK_MAX_FILES_PER_PREDICTION", 16, "files"),
            max_output_mb=_float(env, "NEUROLINK_MAX_MB_PER_PREDICTION", 512.0, "MB"),
            output_ttl=_float(env, "NEUROLINK_OUTPUT_TTL", 86400.0),
            session_ttl=_float(env, "NEUROLINK_SESSION_TTL", 86400.0),
            session_disk_mb=_float(env, "NEUROLINK_SESSION_DISK_MB", 2048.0, "MB"),
            max_prompt_chars=_int(env, "NEUROLINK_MAX_PROMPT_CHARS", 20_000, "characters"),
            max_chat_chars=_int(env, "NEUROLINK_MAX_CHAT_CHARS", 200_000, "characters"),
            data_dir=default_data_dir(env),
            result_ttl=_ttl(env, "NEUROLINK_RESULT_TTL", 7 * 86400.0),
            results_disk_mb=_float(env, "NEUROLINK_RESULTS_DISK_MB", 10240.0, "MB"),
            results_history_mb=_float(env, "NEUROLINK_RESULTS_HISTORY_MB", 512.0, "MB"),
            results_simulator_mb=_float(env, "NEUROLINK_RESULTS_SIMULATOR_MB", 1024.0, "MB"),
            database_url=database_url(env),
            sharing=_switch(env, "NEUROLINK_SHARING", True),
            public_url=public_url(env),
            mcp=_choice(env, "NEUROLINK_MCP", ("auto", "on", "off")),
        )
        quota = QuotaSettings.from_env(
            env, owner_token_set=bool(settings.api_token), suggested=suggested_by_panel(settings)
        )
        return replace(settings, quota=quota)


def suggested_by_panel(settings: Settings) -> dict[str, list[str]]:
    """Each panel's picker: its configured default, then its suggestions (the default allow-list
    of guarded demo mode). Here, beside Settings, so quota.settings never imports config."""
    panels = {
        modality.name: [settings.model_for(modality.name), *modality.suggested_models()]
        for modality in modalities()
    }
    # Explore may run, on the owner's token, what any panel may (more: NEUROLINK_ALLOWED_MODELS).
    return {**panels, "explore": [model for models in panels.values() for model in models]}
