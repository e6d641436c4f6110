"""Guarded demo mode's parts on their own: settings, identity, cost caps, and the SQLite / Redis
counts (real files, a real redis-server on loopback), including atomicity under many threads."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from helpers import free_port

from neurolink_ui.config import Settings
from neurolink_ui.quota.clamp import clamp_costs
from neurolink_ui.quota.guard import QuotaGuard, QuotaRefused
from neurolink_ui.quota.identity import client_address, identify
from neurolink_ui.quota.settings import AllowList, OwnerCaps, QuotaConfigError, QuotaSettings
from neurolink_ui.quota.store import (
    AdmitRequest,
    QuotaStore,
    RedisQuotaStore,
    SQLiteQuotaStore,
    open_store,
    redacted,
)
from neurolink_ui.replicate.schema import InputSchema

OWNER = {"REPLICATE_API_TOKEN": "r8_owner0123456789"}


# ---- settings ------------------------------------------------------------------------------


def test_defaults_apply_when_the_owner_token_is_set(tmp_path: Path) -> None:
    quota = Settings.from_env({**OWNER, "NEUROLINK_DATA_DIR": str(tmp_path)}).quota
    assert quota.enabled
    assert (quota.runs_per_minute, quota.runs_per_day, quota.user_runs_per_day) == (6, 50, 200)
    assert (quota.concurrent, quota.daily_runs, quota.max_seconds) == (2, 2000, 300.0)
    assert quota.caps == OwnerCaps(images=4, video_seconds=10, music_seconds=30, tokens=4096)
    assert quota.state_db == tmp_path / "state.db"
    assert quota.proxy_hops == 0 and not quota.oauth
    assert quota.allowed is not None
    assert quota.allowed.allows("image", "black-forest-labs/flux-schnell")
    assert not quota.allowed.allows("chat", "black-forest-labs/flux-schnell")  # per panel
    assert not quota.allowed.allows("image", "ideogram-ai/ideogram-v3")
    # A configured panel default is in its picker, so it is allowed too.
    custom = Settings.from_env({**OWNER, "REPLICATE_IMAGE_MODEL": "acme/painter"}).quota
    assert custom.allowed is not None and custom.allowed.allows("image", "acme/painter:abc123")


def test_without_the_owner_token_nothing_is_limited() -> None:
    assert not Settings.from_env({}).quota.enabled
    assert not Settings().quota.enabled  # a Settings built in code limits nothing


def test_zero_disables_and_env_overrides() -> None:
    quota = Settings.from_env(
        {**OWNER, "NEUROLINK_VISITOR_RUNS_PER_MINUTE": "0", "NEUROLINK_DAILY_RUNS": "7"}
    ).quota
    assert quota.runs_per_minute == 0 and quota.daily_runs == 7


def test_default_data_dir_is_under_the_users_data_directory(tmp_path: Path) -> None:
    quota = Settings.from_env({**OWNER, "XDG_DATA_HOME": str(tmp_path)}).quota
    assert quota.state_db == tmp_path / "neurolink-ui" / "state.db"
    explicit = Settings.from_env({**OWNER, "NEUROLINK_STATE_DB": str(tmp_path / "x.db")}).quota
    assert explicit.state_db == tmp_path / "x.db"


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        (
            {"NEUROLINK_VISITOR_RUNS_PER_DAY": "abc"},
            "NEUROLINK_VISITOR_RUNS_PER_DAY must be a whole",
        ),
        (
            {"NEUROLINK_VISITOR_CONCURRENT": "-1"},
            "NEUROLINK_VISITOR_CONCURRENT must be a whole number from 0",
        ),
        ({"NEUROLINK_MAX_SECONDS": "soon"}, "NEUROLINK_MAX_SECONDS must be a number"),
        ({"NEUROLINK_ALLOWED_MODELS": "flux"}, "not an owner/name glob"),
        ({"NEUROLINK_ALLOWED_MODELS": "paint:acme/*"}, "names no panel"),
        ({"NEUROLINK_REDIS_URL": "localhost:6379"}, "must start with redis://"),
        ({"FORWARDED_ALLOW_IPS": "*"}, "NEUROLINK_PROXY_HOPS"),
    ],
)
def test_bad_settings_name_the_variable(env: dict[str, str], needle: str) -> None:
    with pytest.raises(QuotaConfigError, match=needle):
        Settings.from_env({**OWNER, **env})


def test_allow_list_globs_and_panel_prefixes() -> None:
    allowed = AllowList.parse("black-forest-labs/*, chat:meta/*")
    assert allowed.allows("image", "black-forest-labs/flux-dev")
    assert allowed.allows("video", "black-forest-labs/flux-dev")  # unprefixed: every panel
    assert allowed.allows("chat", "meta/meta-llama-3-8b-instruct")
    assert not allowed.allows("image", "meta/meta-llama-3-8b-instruct")
    assert AllowList.parse("*").allows("music", "anyone/anything:v1")


# ---- identity ------------------------------------------------------------------------------


def test_identity_order_user_then_address_then_session() -> None:
    user = identify(
        hf_username="Alice", peer="10.0.0.1", forwarded_for=[], proxy_hops=0, session_hash="s"
    )
    assert user.kind == "user" and user.key == "hf:alice" and user.signed_in
    address = identify(
        hf_username=None, peer="10.0.0.1", forwarded_for=[], proxy_hops=0, session_hash="s"
    )
    assert address.key == "ip:10.0.0.1"
    session = identify(
        hf_username=None, peer=None, forwarded_for=[], proxy_hops=0, session_hash="abc"
    )
    assert session.kind == "session" and "abc" not in session.key


def test_spoofed_forwarded_for_does_not_change_the_address() -> None:
    # No trusted proxy: the socket peer, whatever the visitor writes in the header.
    assert client_address("198.51.100.7", ["1.2.3.4"], 0) == "198.51.100.7"
    # One trusted proxy appends the real peer: only the last entry counts; spoofs go left of it.
    assert client_address("10.0.0.2", ["198.51.100.7"], 1) == "198.51.100.7"
    assert client_address("10.0.0.2", ["1.2.3.4, 5.6.7.8, 198.51.100.7"], 1) == "198.51.100.7"
    assert client_address("10.0.0.2", ["1.2.3.4", "198.51.100.7"], 1) == "198.51.100.7"
    # Two proxies: the entry two from the right.
    assert client_address("10.0.0.3", ["9.9.9.9, 198.51.100.7, 10.0.0.2"], 2) == "198.51.100.7"


def test_ipv6_visitors_are_counted_by_their_64() -> None:
    one = client_address("2001:db8:1:2::1", [], 0)
    other = client_address("2001:db8:1:2:ffff::9", [], 0)
    assert one == other == "2001:db8:1:2::/64"
    assert client_address("::ffff:192.0.2.5", [], 0) == "192.0.2.5"


def test_ipv6_visitors_also_share_their_48() -> None:
    """One holder of many /64s (a site, a cloud account) shares its /48's limits too."""

    def of(peer: str):  # type: ignore[no-untyped-def]
        return identify(hf_username=None, peer=peer, forwarded_for=[], proxy_hops=0, session_hash=None)  # fmt: skip

    first, second, elsewhere = of("2001:db8:1:2::1"), of("2001:db8:1:ff::1"), of("2001:db8:2::1")
    assert first.key != second.key  # two visitors, two /64s
    assert first.network == second.network == "net:2001:db8:1::/48"
    assert elsewhere.network == "net:2001:db8:2::/48"
    assert of("192.0.2.5").network == "" and of("::ffff:192.0.2.5").network == ""


# ---- cost caps -----------------------------------------------------------------------------


def _schema(properties: dict) -> InputSchema:
    return InputSchema.from_openapi(
        {"components": {"schemas": {"Input": {"type": "object", "properties": properties}}}}
    )


def test_cost_driving_values_are_capped_with_a_note() -> None:
    schema = _schema(
        {
            "num_outputs": {"type": "integer", "minimum": 1, "maximum": 8, "default": 1},
            "width": {"type": "integer", "minimum": 256, "maximum": 1440},
            "max_tokens": {"type": "integer", "default": 8192},
        }
    )
    caps = OwnerCaps(images=4, tokens=4096)
    clamped = clamp_costs(schema, {"num_outputs": 8, "width": 4000}, caps, "image")
    assert clamped.input == {"num_outputs": 4, "width": 1440, "max_tokens": 4096}
    (note,) = clamped.notes
    assert "num_outputs 8 → 4" in note and "width 4000 → 1440" in note
    assert "max_tokens its default 8192 → 4096" in note
    assert clamp_costs(schema, {"num_outputs": 2}, caps, "image").input["num_outputs"] == 2


def test_a_token_floor_is_never_raised_to_the_cap() -> None:
    """Llama 3's `min_tokens` (default 0) once got the 4096-token ceiling meant for a model with
    no maximum: every owner-paid chat was made to write at least 4096 tokens."""
    from neurolink_ui.catalog import catalog_model

    caps = OwnerCaps(tokens=4096)
    for ref in ("meta/meta-llama-3-70b-instruct", "meta/meta-llama-3-8b-instruct"):
        model = catalog_model(ref)
        assert model is not None
        schema = InputSchema.from_openapi(model.openapi_schema)
        assert schema.get("min_tokens") is not None and schema.get("max_tokens") is not None
        clamped = clamp_costs(schema, {"prompt": "hi", "max_tokens": 512}, caps, "chat")
        assert clamped.input == {"prompt": "hi", "max_tokens": 512}
        assert clamped.notes == []
        # A floor above the cap is a cost driver like any other: lowered, with a note.
        high = clamp_costs(schema, {"prompt": "hi", "min_tokens": 9000}, caps, "chat")
        assert high.input["min_tokens"] == 4096 and "min_tokens 9000 → 4096" in high.notes[0]
    described = _schema(
        {
            "floor": {"type": "integer", "description": "The minimum number of tokens to write"},
            "limit": {"type": "integer", "description": "Maximum tokens (minimum 16)"},
        }
    )
    assert clamp_costs(described, {}, caps, "explore").input == {"limit": 4096}


def test_video_length_and_frames_follow_the_seconds_cap() -> None:
    choices = _schema({"duration": {"type": "integer", "enum": [5, 10, 15], "default": 15}})
    assert clamp_costs(choices, {}, OwnerCaps(video_seconds=10), "video").input == {"duration": 10}
    frames = _schema(
        {
            "num_frames": {"type": "integer", "maximum": 481, "default": 81},
            "fps": {"type": "integer", "default": 16},
        }
    )
    capped = clamp_costs(frames, {"num_frames": 400}, OwnerCaps(video_seconds=10), "video")
    assert capped.input["num_frames"] == 160
    music = _schema({"duration": {"type": "integer", "default": 8}})
    out = clamp_costs(music, {"duration": 120}, OwnerCaps(music_seconds=30), "music")
    assert out.input == {"duration": 30}


# ---- stores --------------------------------------------------------------------------------


def _request(visitor: str = "ip:1", day: str = "2026-11-30", now: float = 1000.0, **limits: int) -> AdmitRequest:  # fmt: skip
    values = {"runs_per_minute": 0, "runs_per_day": 0, "concurrent": 0, "daily_runs": 0}
    values.update(limits)
    return AdmitRequest(
        ticket=uuid.uuid4().hex, visitor=visitor, day=day, now=now, lease=600.0, **values
    )


def _exercise_limits(store: QuotaStore) -> None:
    # Per minute: a sliding window.
    for second in (0, 10):
        assert store.admit(_request("ip:m", now=1000 + second, runs_per_minute=2)).admitted
    blocked = store.admit(_request("ip:m", now=1030, runs_per_minute=2))
    assert blocked.refused == "runs_per_minute" and blocked.usage.minute_frees_at == 1060
    assert store.admit(_request("ip:m", now=1061, runs_per_minute=2)).admitted
    # Concurrent: released slots free room; unreleased ones hold it.
    first = _request("ip:c", concurrent=1)
    assert store.admit(first).admitted
    assert store.admit(_request("ip:c", concurrent=1)).refused == "concurrent"
    store.release("ip:c", first.ticket)
    assert store.admit(_request("ip:c", concurrent=1)).admitted
    # Per visitor per day, and everyone per day.
    assert store.admit(_request("ip:d", runs_per_day=1)).admitted
    assert store.admit(_request("ip:d", runs_per_day=1)).refused == "runs_per_day"
    assert store.admit(_request("ip:d", day="2026-12-01", runs_per_day=1)).admitted
    total = store.usage("ip:x", "2026-11-30", 1000).all_today
    assert store.admit(_request("ip:x", daily_runs=total)).refused == "daily_runs"
    _exercise_network_share(store)


def _on_48(visitor: str, network: str = "net:2001:db8:9::/48", **limits: int) -> AdmitRequest:
    return dataclasses.replace(_request(visitor, **limits), network=network, network_share=2)


def _exercise_network_share(store: QuotaStore) -> None:
    # Each /64 may run one a day; their /48 twice that, whichever /64s ran them.
    assert store.admit(_on_48("ip:2001:db8:9:1::/64", runs_per_day=1)).admitted
    assert store.admit(_on_48("ip:2001:db8:9:2::/64", runs_per_day=1)).admitted
    refused = store.admit(_on_48("ip:2001:db8:9:3::/64", runs_per_day=1))
    assert refused.refused == "network" and refused.usage.network_today == 2
    other_48 = _on_48("ip:2001:db8:a:1::/64", "net:2001:db8:a::/48", runs_per_day=1)
    assert store.admit(other_48).admitted
    # Slots at once: a released slot frees the /48's room too.
    held = [
        _on_48(f"ip:2001:db8:b:{i}::/64", "net:2001:db8:b::/48", concurrent=1) for i in range(3)
    ]
    assert [store.admit(r).admitted for r in held] == [True, True, False]
    store.release(held[0].visitor, held[0].ticket, held[0].network)
    assert store.admit(held[2]).admitted
    usage = store.usage(held[2].visitor, held[2].day, held[2].now, held[2].network)
    assert usage.network_running == 2 and usage.running == 1


def _race(store: QuotaStore, calls: int, limit: int) -> int:
    barrier = threading.Barrier(calls)

    def one(_: int) -> bool:
        barrier.wait()
        return store.admit(_request("ip:race", runs_per_day=limit)).admitted

    with ThreadPoolExecutor(calls) as pool:
        return sum(pool.map(one, range(calls)))


def test_sqlite_store_limits_and_atomic_admission(tmp_path: Path) -> None:
    store = SQLiteQuotaStore(tmp_path / "state.db")
    _exercise_limits(store)
    assert _race(store, 50, 10) == 10
    # Another connection (another process would be the same) sees the same counts.
    other = SQLiteQuotaStore(tmp_path / "state.db")
    assert other.usage("ip:race", "2026-11-30", 1000).today == 10
    store.close()
    other.close()


def test_sqlite_admission_reads_the_counts_under_the_write_lock(tmp_path: Path) -> None:
    """Check-then-act would read the count while another writer holds the lock, then insert too."""
    import sqlite3

    store = SQLiteQuotaStore(tmp_path / "state.db")
    other = sqlite3.connect(tmp_path / "state.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process admitting a run right now
    other.execute(
        "INSERT INTO runs (ticket, visitor, day, started, lease_until) VALUES (?, ?, ?, ?, ?)",
        ("t-other", "ip:lock", "2026-11-30", 1000.0, 1600.0),
    )
    outcome: list[bool] = []
    admitting = threading.Thread(
        target=lambda: outcome.append(store.admit(_request("ip:lock", runs_per_day=1)).admitted)
    )
    admitting.start()
    admitting.join(timeout=0.5)
    assert admitting.is_alive()  # the admission waits while the other write is open
    other.execute("COMMIT")
    admitting.join(timeout=30)
    assert outcome == [False]  # it counted the other run, so the limit of 1 held
    other.close()
    store.close()


def test_sqlite_counts_survive_a_restart(tmp_path: Path) -> None:
    settings = QuotaSettings(enabled=True, runs_per_day=2, state_db=tmp_path / "s" / "state.db")
    visitor = identify(hf_username=None, peer="192.0.2.1", forwarded_for=[], proxy_hops=0, session_hash=None)  # fmt: skip

    async def two_runs_then_restart() -> None:
        guard = QuotaGuard.open(settings)
        for _ in range(2):
            await guard.release(await guard.admit(visitor))
        guard.close()
        reopened = QuotaGuard.open(settings)
        with pytest.raises(QuotaRefused, match="used your 2 runs for today"):
            await reopened.admit(visitor)
        assert "0 of 2" in await reopened.meter(visitor)
        reopened.close()

    asyncio.run(two_runs_then_restart())


def test_counts_kept_before_the_48_share_gain_its_column(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "state.db"
    with sqlite3.connect(path) as old:  # the table as the previous release wrote it
        old.execute(
            "CREATE TABLE runs (ticket TEXT PRIMARY KEY, visitor TEXT NOT NULL, day TEXT NOT "
            "NULL, started REAL NOT NULL, lease_until REAL NOT NULL, running INTEGER NOT NULL "
            "DEFAULT 1)"
        )
        old.execute("INSERT INTO runs VALUES ('t0', 'ip:1', '2026-11-30', 1000.0, 1600.0, 1)")
    store = SQLiteQuotaStore(path)
    assert store.usage("ip:1", "2026-11-30", 1000).today == 1  # kept
    assert store.admit(_on_48("ip:2001:db8:9:1::/64", runs_per_day=1)).admitted
    store.close()


def test_a_48_past_its_share_reads_why(tmp_path: Path) -> None:
    settings = QuotaSettings(
        enabled=True, runs_per_day=1, network_share=2, state_db=tmp_path / "state.db"
    )

    async def three_64s() -> None:
        guard = QuotaGuard.open(settings)
        for i in (1, 2):
            visitor = identify(hf_username=None, peer=f"2001:db8:7:{i}::5", forwarded_for=[], proxy_hops=0, session_hash=None)  # fmt: skip
            await guard.release(await guard.admit(visitor))
        third = identify(hf_username=None, peer="2001:db8:7:3::5", forwarded_for=[], proxy_hops=0, session_hash=None)  # fmt: skip
        with pytest.raises(QuotaRefused, match=r"runs from your network.*2001:db8:7::/48"):
            await guard.precheck(third)
        with pytest.raises(QuotaRefused, match="2× one visitor's limits"):
            await guard.admit(third)
        guard.close()

    asyncio.run(three_64s())


def test_unwritable_state_db_is_a_startup_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(QuotaConfigError, match="NEUROLINK_STATE_DB"):
        open_store(blocker / "state.db", None)


def test_redis_store_limits_and_atomic_admission(redis_url: str) -> None:
    store = RedisQuotaStore(redis_url, prefix=f"t{uuid.uuid4().hex[:6]}:")
    _exercise_limits(store)
    assert _race(store, 50, 10) == 10
    again = RedisQuotaStore(redis_url, prefix=store.prefix)  # another replica's connection
    assert again.usage("ip:race", "2026-11-30", 1000).today == 10
    store.close()
    again.close()


def test_unreachable_redis_is_a_clear_startup_error() -> None:
    port = free_port()
    url = f"redis://:hunter2@127.0.0.1:{port}/0"
    with pytest.raises(QuotaConfigError, match="cannot reach Redis") as info:
        open_store(None, url)
    assert "hunter2" not in str(info.value)
    assert redacted(url) == f"redis://:***@127.0.0.1:{port}/0"


def test_fields_are_known_by_their_description_too() -> None:
    schema = _schema(
        {
            "outputs_wanted": {"type": "integer", "description": "Number of images to generate"},
            "clip": {"type": "integer", "description": "Duration of the video in seconds"},
            "budget": {"type": "integer", "description": "Maximum number of tokens to generate"},
            "size": {"type": "string", "enum": ["1K", "2K", "4K", "custom"], "default": "4K"},
        }
    )
    caps = OwnerCaps(images=2, video_seconds=5, tokens=100, side=2048)
    clamped = clamp_costs(
        schema, {"outputs_wanted": 9, "clip": 60, "budget": 0}, caps, "explore"
    ).input
    assert clamped == {"outputs_wanted": 2, "clip": 5, "budget": 100, "size": "2K"}
