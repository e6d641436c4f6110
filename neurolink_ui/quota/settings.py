"""Guarded demo mode's settings: who may spend the owner's token, how much, on which models.

Read once from the environment (`QuotaSettings.from_env`); every bad value is a startup error that
names the variable. `0` disables a limit. No Gradio here.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..env import env_number
from ..modalities.registry import modality_names

# Explore runs any model: on the owner's token, only those of its allow-list ("explore:owner/*").


def quota_panels() -> tuple[str, ...]:
    """What an allow-list entry may name before its ':': every modality, and Explore."""
    return (*modality_names(), "explore")


class QuotaConfigError(ValueError):
    """A guarded-demo setting that cannot work; the message names the variable and the fix."""


def _count(env: Mapping[str, str], key: str, default: int) -> int:
    """A whole number from `key`; 0 disables the limit."""
    return int(
        env_number(env, key, default, whole=True, zero_disables=True, error=QuotaConfigError)
    )


def _seconds(env: Mapping[str, str], key: str, default: float) -> float:
    """A number of seconds from `key`; 0 disables the limit."""
    return env_number(env, key, default, unit="seconds", zero_disables=True, error=QuotaConfigError)


def _dollars(env: Mapping[str, str], key: str) -> float:
    """A number of US dollars from `key`; 0 (the default) turns it off."""
    return env_number(env, key, 0.0, unit="US dollars", zero_disables=True, error=QuotaConfigError)


def default_data_dir(env: Mapping[str, str]) -> Path:
    """`NEUROLINK_DATA_DIR`, else `neurolink-ui` in the user's data directory (XDG)."""
    explicit = env.get("NEUROLINK_DATA_DIR", "").strip()
    if explicit:
        return Path(explicit).expanduser()
    base = env.get("XDG_DATA_HOME", "").strip()
    return (Path(base) if base else Path.home() / ".local" / "share") / "neurolink-ui"


@dataclass(frozen=True)
class OwnerCaps:
    """The most one owner-paid run may ask for; the model's own schema range applies too."""

    images: int = 4
    video_seconds: float = 10.0
    music_seconds: float = 30.0
    tokens: int = 4096
    side: int = 2048  # pixels on the longest side (width, height, "4K"-style choices)
    input_chars: int = 50_000  # characters of text in one run's input


@dataclass(frozen=True)
class AllowList:
    """Per panel, the `owner/name` globs a run on the owner's token may use."""

    globs: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def allows(self, panel: str, ref: str) -> bool:
        name = model_name(ref)
        return any(fnmatch.fnmatchcase(name, glob.lower()) for glob in self.globs.get(panel, ()))

    def names(self, panel: str) -> tuple[str, ...]:
        return self.globs.get(panel, ())

    @classmethod
    def parse(cls, raw: str, *, key: str = "NEUROLINK_ALLOWED_MODELS") -> AllowList:
        """`owner/name` globs, comma-separated; `panel:glob` limits one to a panel; `*` is any;
        `deployment:owner/name` (a glob too) names deployments."""
        globs: dict[str, list[str]] = {panel: [] for panel in quota_panels()}
        for item in (part.strip() for part in raw.split(",")):
            if not item:
                continue
            head, colon, rest = item.partition(":")
            panel, glob = (head, rest) if colon and head != DEPLOYMENT else ("", item)
            if panel and panel not in quota_panels():
                raise QuotaConfigError(
                    f"{key}: {item!r} names no panel; use one of {', '.join(quota_panels())} before ':'"
                )
            for target in [panel] if panel else quota_panels():
                globs[target].append(checked_glob(glob, key))
        return cls({panel: tuple(found) for panel, found in globs.items()})


DEPLOYMENT = "deployment"


def model_name(ref: str) -> str:
    """What a glob is matched against: `owner/name` (a pinned version is still that model) or
    `deployment:owner/name`, lowercase."""
    text = ref.strip().lower()
    if text.startswith(DEPLOYMENT + ":"):
        return text
    return text.split(":", 1)[0]


def checked_glob(glob: str, key: str) -> str:
    """An `owner/name` glob, `deployment:owner/name` glob, or `*`; else QuotaConfigError."""
    name = glob.removeprefix(DEPLOYMENT + ":")
    if glob != "*" and name.count("/") != 1:
        raise QuotaConfigError(
            f"{key}: {glob!r} is not an owner/name glob (e.g. black-forest-labs/*), a "
            "deployment:owner/name or *"
        )
    return glob


def parse_globs(raw: str, key: str) -> tuple[str, ...]:
    """Comma-separated model globs (`owner/name`, `deployment:owner/name`, `*`), checked."""
    return tuple(checked_glob(item, key) for item in (p.strip() for p in raw.split(",")) if item)


@dataclass(frozen=True)
class QuotaSettings:
    """Limits for runs paid by the owner's token. The default object limits nothing."""

    enabled: bool = False
    runs_per_minute: int = 0
    runs_per_day: int = 0
    user_runs_per_day: int = 0
    concurrent: int = 0
    daily_runs: int = 0
    network_share: int = 0  # an IPv6 /48 may have this many times a visitor's limits; 0: none
    # US dollars the owner's token may spend in one UTC day, all visitors together (0: no
    # budget): a run is admitted only when its worst-case cost fits in what is left.
    daily_budget_usd: float = 0.0
    # Under a budget, a run of a model whose price is not confirmed counts as this many dollars
    # (its worst case and its charge); 0 refuses such runs — an unknown price could be anything.
    unknown_price_usd: float = 0.0
    allowed: AllowList | None = None  # None: any model
    max_seconds: float = 0.0  # the longest deadline of an owner-paid run; 0: no bound
    # Models (globs) that may run past max_seconds on the owner's token, to their own deadline:
    # the owner's explicit choice for models whose typical run is longer (NEUROLINK_LONG_MODELS).
    long_models: tuple[str, ...] = ()
    caps: OwnerCaps | None = None  # None: no clamping
    proxy_hops: int = 0
    state_db: Path | None = None
    redis_url: str | None = field(default=None, repr=False)  # may hold a password
    space_id: str | None = None  # owner/name of the Hugging Face Space, for the duplicate link
    oauth: bool = False  # the Space enables "Sign in with Hugging Face"

    @property
    def counts(self) -> bool:
        """True when some limit needs the shared counts (the store)."""
        return self.enabled and any(
            (
                self.runs_per_minute,
                self.runs_per_day,
                self.user_runs_per_day,
                self.concurrent,
                self.daily_runs,
                self.daily_budget_usd,
            )
        )

    def runs_long(self, ref: str) -> bool:
        """Whether the owner let `ref` run past `max_seconds` (NEUROLINK_LONG_MODELS)."""
        name = model_name(ref)
        return any(fnmatch.fnmatchcase(name, glob.lower()) for glob in self.long_models)

    @property
    def duplicate_url(self) -> str | None:
        return (
            f"https://huggingface.co/spaces/{self.space_id}?duplicate=true"
            if self.space_id
            else None
        )

    @classmethod
    def from_env(
        cls,
        env: Mapping[str, str] | None = None,
        *,
        owner_token_set: bool,
        suggested: Mapping[str, list[str]],
    ) -> QuotaSettings:
        """The documented defaults apply when the owner's token is set; `suggested` is each
        panel's model list, the allow-list unless `NEUROLINK_ALLOWED_MODELS` says otherwise."""
        env = os.environ if env is None else env
        space_id = env.get("SPACE_ID", "").strip() or None
        oauth = bool(space_id and env.get("OAUTH_CLIENT_ID", "").strip())
        allowed_raw = env.get("NEUROLINK_ALLOWED_MODELS", "").strip()
        if allowed_raw:
            allowed = AllowList.parse(allowed_raw)
        else:
            allowed = AllowList(
                {panel: tuple(dict.fromkeys(suggested.get(panel, ()))) for panel in quota_panels()}
            )
        state_db_raw = env.get("NEUROLINK_STATE_DB", "").strip()
        state_db = (
            Path(state_db_raw).expanduser() if state_db_raw else default_data_dir(env) / "state.db"
        )
        redis_url = env.get("NEUROLINK_REDIS_URL", "").strip() or None
        if redis_url and not redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise QuotaConfigError(
                "NEUROLINK_REDIS_URL must start with redis://, rediss:// or unix://"
            )
        if owner_token_set and env.get("FORWARDED_ALLOW_IPS", "").strip():
            raise QuotaConfigError(
                "FORWARDED_ALLOW_IPS makes uvicorn replace the client address with an "
                "X-Forwarded-For entry; unset it and set NEUROLINK_PROXY_HOPS to the number of "
                "proxies in front of the app instead"
            )
        return cls(
            enabled=owner_token_set,
            runs_per_minute=_count(env, "NEUROLINK_VISITOR_RUNS_PER_MINUTE", 6),
            runs_per_day=_count(env, "NEUROLINK_VISITOR_RUNS_PER_DAY", 50),
            user_runs_per_day=_count(env, "NEUROLINK_USER_RUNS_PER_DAY", 200),
            concurrent=_count(env, "NEUROLINK_VISITOR_CONCURRENT", 2),
            daily_runs=_count(env, "NEUROLINK_DAILY_RUNS", 2000),
            network_share=_count(env, "NEUROLINK_IPV6_48_SHARE", 4),
            daily_budget_usd=_dollars(env, "NEUROLINK_DAILY_BUDGET_USD"),
            unknown_price_usd=_dollars(env, "NEUROLINK_UNKNOWN_PRICE_USD"),
            allowed=allowed,
            max_seconds=_seconds(env, "NEUROLINK_MAX_SECONDS", 300.0),
            long_models=parse_globs(env.get("NEUROLINK_LONG_MODELS", ""), "NEUROLINK_LONG_MODELS"),
            caps=OwnerCaps(
                images=_count(env, "NEUROLINK_MAX_IMAGES", 4),
                video_seconds=_seconds(env, "NEUROLINK_MAX_VIDEO_SECONDS", 10.0),
                music_seconds=_seconds(env, "NEUROLINK_MAX_MUSIC_SECONDS", 30.0),
                tokens=_count(env, "NEUROLINK_MAX_TOKENS", 4096),
                side=_count(env, "NEUROLINK_MAX_SIDE", 2048),
                input_chars=_count(env, "NEUROLINK_MAX_INPUT_CHARS", 50_000),
            ),
            proxy_hops=_count(env, "NEUROLINK_PROXY_HOPS", 0),
            state_db=state_db,
            redis_url=redis_url,
            space_id=space_id,
            oauth=oauth,
        )
