"""The token bar (`ui/session.py`): sign in, restore a remembered token, forget it, against the
simulator's `/v1/account` on loopback; and how its events show in the app's API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr
import pytest
from conftest import token_id

from neurolink_ui.config import Settings
from neurolink_ui.ui.context import AppContext
from neurolink_ui.ui.session import (
    FORGOTTEN,
    STORAGE_KEY,
    banner_markdown,
    build_token_bar,
    make_session_handlers,
    token_problem,
)

VISITOR = "r8_visitortoken0123456789ab"
REVOKED = "r8_invalid_revoked_0123456789"  # the simulator answers 401 for r8_invalid…


def username(token: str) -> str:
    """The simulator's account name for a token."""
    return f"sim-{token_id(token)[:6]}"


def account_calls(simulator: Any) -> int:
    return sum(1 for r in simulator.requests if r.path == "/v1/account")


async def test_sign_in_checks_the_token_and_keeps_it_for_this_session_only(
    simulator: Any, ctx: AppContext
) -> None:
    sign_in, _, _ = make_session_handlers(ctx)
    session, box, status, stored, banner = await sign_in(f"  {VISITOR}\n", False)
    assert session == VISITOR  # pasted with spaces around it, kept without
    assert box == ""  # the secret leaves the text box
    assert status == f"✅ Signed in as **{username(VISITOR)}** for this session."
    assert stored == FORGOTTEN  # nothing in the browser's storage
    assert banner == banner_markdown(ctx, username(VISITOR)) and "your own token" in banner
    assert account_calls(simulator) == 1


async def test_sign_in_remembers_in_this_browser_only_when_asked(ctx: AppContext) -> None:
    sign_in, _, _ = make_session_handlers(ctx)
    _, _, status, stored, _ = await sign_in(VISITOR, True)
    assert stored == {"token": VISITOR}
    assert status.endswith("and remembered in this browser.")


@pytest.mark.parametrize("pasted", ["", "   ", None])
async def test_sign_in_with_nothing_pasted_is_refused_before_any_request(
    simulator: Any, ctx: AppContext, pasted: Any
) -> None:
    sign_in, _, _ = make_session_handlers(ctx)
    with pytest.raises(gr.Error, match="Paste a Replicate API token first"):
        await sign_in(pasted, False)
    assert account_calls(simulator) == 0


async def test_a_token_replicate_refuses_is_a_clear_error_that_never_echoes_it(
    simulator: Any, ctx: AppContext
) -> None:
    sign_in, _, _ = make_session_handlers(ctx)
    with pytest.raises(gr.Error) as refused:
        await sign_in(REVOKED, True)
    assert refused.value.title == "Unauthenticated"
    assert "authentication token" in refused.value.message
    assert REVOKED not in refused.value.message
    assert account_calls(simulator) == 1


async def test_a_token_with_control_characters_is_refused_without_a_request(
    simulator: Any, ctx: AppContext
) -> None:
    sign_in, _, _ = make_session_handlers(ctx)
    hostile = "r8_abc\r\nX-Injected: 1"
    with pytest.raises(gr.Error, match="spaces or control characters") as refused:
        await sign_in(hostile, False)
    assert "Injected" not in refused.value.message
    assert account_calls(simulator) == 0


@pytest.mark.parametrize(
    ("pasted", "says"),
    [
        ("abc", "they start with `r8_`"),
        ("r8_abc123", "they are 40 characters"),
        ("r8_" + "a" * 38, "this has 41"),
        ("r8_" + "a" * 36 + "!", "40 characters"),
    ],
)
def test_a_token_of_the_wrong_shape_is_named_for_what_is_wrong(pasted: str, says: str) -> None:
    assert says in (token_problem(pasted) or "")
    assert token_problem("r8_" + "a1B2" * 9 + "z") is None  # 40 characters
    assert token_problem("r8_shortsimulatortoken", exact_length=False) is None


async def test_a_token_of_the_wrong_shape_never_reaches_the_network(tmp_path: Path) -> None:
    """Against Replicate itself (nothing listens here: a request would fail otherwise)."""
    ctx = AppContext.create(Settings(api_token=None), outputs_dir=tmp_path)
    asked: list[str] = []

    async def account(*args: Any, **kwargs: Any) -> Any:
        asked.append("account")
        raise AssertionError("no request for a token of the wrong shape")

    ctx.client.get_account = account  # type: ignore[method-assign]
    sign_in, _, _ = make_session_handlers(ctx)
    try:
        for pasted in ("abc", "r8_abc123"):
            with pytest.raises(gr.Error, match="Replicate API token"):
                await sign_in(pasted, False)
    finally:
        await ctx.aclose()
    assert asked == []


async def test_restore_signs_in_with_the_remembered_token(ctx: AppContext) -> None:
    _, restore, _ = make_session_handlers(ctx)
    session, status, banner = await restore({"token": VISITOR})
    assert session == VISITOR
    assert status == f"✅ Signed in as **{username(VISITOR)}** (remembered in this browser)."
    assert banner == banner_markdown(ctx, username(VISITOR))


async def test_a_remembered_token_that_stopped_working_falls_back_and_says_so(
    ctx: AppContext,
) -> None:
    _, restore, _ = make_session_handlers(ctx)
    session, status, banner = await restore({"token": REVOKED})
    assert session is None
    assert status.startswith("⚠️ The remembered token no longer works:")
    assert REVOKED not in status
    assert banner == banner_markdown(ctx)  # the owner's backend again


@pytest.mark.parametrize(
    "stored",
    [
        None,
        {},
        FORGOTTEN,
        {"token": ""},
        # The browser's storage is the visitor's to edit: whatever is there is only a hint.
        "r8_a_string_not_an_object",
        ["r8_in_a_list"],
        {"token": 12345},
        {"token": {"nested": VISITOR}},
        {"token": None, "extra": "x" * 10_000},
    ],
)
async def test_restore_with_nothing_usable_stored_changes_nothing_and_sends_nothing(
    simulator: Any, ctx: AppContext, stored: Any
) -> None:
    _, restore, _ = make_session_handlers(ctx)
    # Every output skipped: a late page load never overwrites a sign-in made meanwhile.
    assert await restore(stored) == (gr.skip(), gr.skip(), gr.skip())
    assert account_calls(simulator) == 0


async def test_forget_clears_the_session_the_storage_and_the_box(ctx: AppContext) -> None:
    _, _, forget = make_session_handlers(ctx)
    session, status, stored, box, banner = forget()
    assert session is None and box == "" and stored == FORGOTTEN
    assert stored["token"] is None  # a falsy BrowserState write would be skipped by Gradio
    assert "default backend" in status
    assert banner == banner_markdown(ctx)


def test_banner_in_simulator_mode_says_outputs_are_synthetic(tmp_path: Path) -> None:
    no_token = AppContext.create(Settings(api_token=None), outputs_dir=tmp_path / "out")
    banner = banner_markdown(no_token)
    assert "Simulator mode" in banner and "synthetic" in banner and "owner pays" not in banner


def test_token_bar_events_stay_out_of_the_api_docs(ctx: AppContext) -> None:
    with gr.Blocks() as demo:
        session = gr.State()
        stored, _, outputs = build_token_bar(ctx, session)
    assert stored.storage_key == STORAGE_KEY
    assert outputs[0] is session
    dependencies = demo.get_config_file()["dependencies"]
    named = {d["api_name"]: d for d in dependencies if d.get("api_name")}
    # Callable by name (gradio_client's sign in), but not listed in the API page.
    assert named["sign_in"]["api_visibility"] == "undocumented"
    others = [d for d in dependencies if d.get("api_name") != "sign_in"]
    assert len(others) == 2  # Enter in the box, and Forget
    assert all(d["api_visibility"] == "private" for d in others)
