"""What the app keeps and for how long (issue 8, items 1, 4, 5): the output store, its sweep and
disk cap, ended sessions released from memory, and the limits on a visitor's input — as units,
then on the launched app against the simulator."""

from __future__ import annotations

import os
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from conftest import TOKEN
from gradio_client import Client
from gradio_client.exceptions import AppError
from helpers import REPO, free_port
from launched import LaunchedApp

from neurolink_ui.config import Settings
from neurolink_ui.limits import (
    MAX_CHAT_MESSAGES,
    check_chat_history,
    json_depth_over,
    parse_json_object,
)
from neurolink_ui.modalities.common import InputProblem
from neurolink_ui.results import NewResult, ResultStore
from neurolink_ui.ui.history_log import HistoryLog
from neurolink_ui.ui.panels.history import DETAILS_INPUT_CHARS, entry_details, entry_summary
from neurolink_ui.ui.retention import OutputStore, OutsideOutputs, session_folder_name

FAST_IMAGE = "black-forest-labs/flux-schnell"


# ---- the output store ------------------------------------------------------------------------


def _cached_copy(store: OutputStore, output: Path) -> Path:
    """Put a copy where Gradio keeps one (folder named by the content hash, then the name)."""
    from gradio.processing_utils import hash_file

    copy = store.gradio_cache / hash_file(output) / output.name
    copy.parent.mkdir(parents=True, exist_ok=True)
    copy.write_bytes(output.read_bytes())
    return copy


def _age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


@pytest.fixture
def store(tmp_path: Path) -> OutputStore:
    return OutputStore(
        tmp_path / "outputs", ttl=100, session_cap_bytes=1000, cache_dir=tmp_path / "cache"
    )


@pytest.mark.parametrize(
    "session_hash", ["/etc", "../../..", "x" * 5000, "séssion-✓-日本語-\u202e", "a/b", "\udcff"]
)
def test_session_folders_are_digests_under_the_root(store: OutputStore, session_hash: str) -> None:
    folder = store.session_dir(session_hash)
    assert folder.parent == store.root
    assert len(folder.name) == 32 and all(c in "0123456789abcdef" for c in folder.name)
    assert store.session_dir(session_hash) == folder  # the same session keeps its folder
    assert session_folder_name(session_hash + "!") != folder.name


def test_paths_outside_the_root_are_refused(store: OutputStore, tmp_path: Path) -> None:
    for outside in (tmp_path, store.root / ".." / "elsewhere", store.root):
        with pytest.raises(OutsideOutputs):
            store.contained(outside)
    (store.root / "link").symlink_to(tmp_path)
    with pytest.raises(OutsideOutputs):
        store.contained(store.root / "link" / "x")


def test_sweep_removes_expired_outputs_and_their_cached_copies(store: OutputStore) -> None:
    folder = store.session_dir("visitor")
    old, new = folder / "out-0.png", folder / "out-1.png"
    old.write_bytes(b"old bytes")
    new.write_bytes(b"new bytes")
    old_copy, new_copy = _cached_copy(store, old), _cached_copy(store, new)
    for path in (old, old_copy):
        _age(path, 200)
    assert store.sweep() == 1
    assert not old.exists() and not old_copy.exists() and not old_copy.parent.exists()
    assert new.exists() and new_copy.exists()
    # A cached copy Gradio handed out again lately (a newer output of the same bytes) stays.
    again = folder / "out-2.png"
    again.write_bytes(b"new bytes")
    _age(again, 200)
    assert store.sweep() == 1 and new_copy.exists()
    assert store.clear() == 1
    assert not new.exists() and not new_copy.exists() and not folder.exists()


def test_a_copy_made_after_its_output_goes_once_it_ages_too(store: OutputStore) -> None:
    """Gradio copies an output some time after it is written (seconds, on a busy machine): the
    sweep that removes the expired output finds a copy younger than the TTL. That copy is not
    left behind for good once its output, the only way to find it, is gone."""
    folder = store.session_dir("visitor")
    output = folder / "out-0.png"
    output.write_bytes(b"late copy")
    copy = _cached_copy(store, output)
    _age(output, 150)
    _age(copy, 50)  # copied (or handed out again) well after the output was written
    assert store.sweep() == 1
    assert not output.exists() and copy.exists()  # too young to go yet
    assert store.sweep() == 0 and copy.exists()
    assert store.sweep(now=time.time() + 60) == 0  # 110 s old: past the 100 s TTL
    assert not copy.exists() and not copy.parent.exists()


def test_shutdown_removes_copies_kept_past_their_outputs(store: OutputStore) -> None:
    folder = store.session_dir("visitor")
    output = folder / "out-0.png"
    output.write_bytes(b"late copy")
    copy = _cached_copy(store, output)
    _age(output, 150)
    assert store.sweep() == 1 and copy.exists()
    store.clear()
    assert not copy.exists()


def test_disk_cap_refuses_a_full_session_and_keeps_its_outputs(store: OutputStore) -> None:
    folder = store.session_dir("visitor")
    store.refuse_when_full("visitor")  # empty: fine
    (folder / "a.bin").write_bytes(b"x" * 600)
    assert store.room("visitor") == 400
    assert "0.0 MB left of its 0.0 MB disk limit" in store.room_note(400)
    (folder / "b.bin").write_bytes(b"x" * 600)
    assert store.room("visitor") == 0
    with pytest.raises(InputProblem, match=r"limit is 0.0 MB.*download it from History"):
        store.refuse_when_full("visitor")
    assert (folder / "a.bin").exists() and (folder / "b.bin").exists()
    store.refuse_when_full("someone else")  # the cap is per session
    refused = store.refused_download(10, "https://example.invalid/out.png")
    assert "not downloaded" in str(refused) and "https://example.invalid/out.png" in str(refused)


# ---- settings ----------------------------------------------------------------------------------


def test_retention_settings_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "NEUROLINK_OUTPUT_TTL": "3600",
            "NEUROLINK_SESSION_TTL": "600",
            "NEUROLINK_SESSION_DISK_MB": "512",
            "NEUROLINK_MAX_PROMPT_CHARS": "1000",
            "NEUROLINK_MAX_CHAT_CHARS": "5000",
        }
    )
    assert (settings.output_ttl, settings.session_ttl) == (3600, 600)
    assert settings.session_disk_bytes == 512 * 1024 * 1024
    assert (settings.max_prompt_chars, settings.max_chat_chars) == (1000, 5000)
    defaults = Settings.from_env({})
    assert defaults.output_ttl == 86400 and defaults.session_disk_bytes == 2 * 1024**3
    assert (defaults.max_prompt_chars, defaults.max_chat_chars) == (20_000, 200_000)


@pytest.mark.parametrize(
    ("key", "raw"),
    [
        ("NEUROLINK_OUTPUT_TTL", "a day"),
        ("NEUROLINK_OUTPUT_TTL", "-1"),
        ("NEUROLINK_SESSION_TTL", "inf"),
        ("NEUROLINK_SESSION_DISK_MB", "0"),
        ("NEUROLINK_MAX_PROMPT_CHARS", "1.5"),
        ("NEUROLINK_MAX_CHAT_CHARS", "-3"),
    ],
)
def test_bad_retention_settings_fail_at_start_up_naming_the_variable(key: str, raw: str) -> None:
    with pytest.raises(ValueError, match=key):
        Settings.from_env({key: raw})


# ---- input limits ------------------------------------------------------------------------------


def test_json_depth_is_measured_without_parsing() -> None:
    assert not json_depth_over('{"a": [[1]]}', 3)
    assert json_depth_over('{"a": [[[1]]]}', 3)
    assert not json_depth_over('{"a": "[[[[[[[[\\"[[["}', 3)  # brackets inside a string
    assert json_depth_over("[" * 50_000 + "]" * 50_000, 32)


def test_advanced_json_numbers_of_any_size_are_refused_without_converting() -> None:
    assert parse_json_object('{"seed": 42, "strength": 0.5}') == {"seed": 42, "strength": 0.5}
    with pytest.raises(InputProblem, match=r"5,000 digits\) is too large"):
        parse_json_object('{"seed": ' + "9" * 5000 + "}")
    with pytest.raises(InputProblem, match="too large"):
        parse_json_object('{"seed": 99999999999999999999}')
    for constant in ("NaN", "Infinity", "-Infinity", "1e999"):
        with pytest.raises(InputProblem, match="finite"):
            parse_json_object('{"x": ' + constant + "}")
    with pytest.raises(InputProblem, match="JSON object"):
        parse_json_object("[1, 2]")


def test_chat_history_shape_and_size() -> None:
    good = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": [{"text": "yo"}]}]
    check_chat_history(good, message_limit=100)
    check_chat_history(None, message_limit=100)
    bad: list[tuple[Any, str]] = [
        ({"role": "user"}, "must be a list"),
        ([{"bogus": 1}], "'role' and 'content'"),
        ([{"role": "root", "content": "x"}], "role 'root'"),
        ([{"role": "user", "content": "x", "evil": 1}], "unknown keys"),
        ([{"role": "user", "content": "x" * 101}], "101 characters"),
        ([{"role": "user", "content": "x" * 100}] * 5, "500 characters"),
        ([{"role": "user", "content": "x"}] * (MAX_CHAT_MESSAGES + 1), "messages; the limit"),
    ]
    for history, needle in bad:
        with pytest.raises(InputProblem, match=needle):
            check_chat_history(history, message_limit=100)


def test_history_shows_long_prompts_cut_with_the_full_text_downloadable(tmp_path: Path) -> None:
    prompt = "word " * 2000
    log = HistoryLog(store=ResultStore(tmp_path / "results"))
    log.add(NewResult(kind="image", model="owner/model", prompt=prompt, input={"prompt": prompt}))
    [kept] = log.shown()
    summary, details = entry_summary(kept), entry_details(kept)
    assert "full text" in summary and len(summary) < 600  # the card shows its start
    assert len(details) < DETAILS_INPUT_CHARS + 200  # the input sent, cut for display
    assert kept.prompt_file is not None
    assert kept.prompt_file.read_text(encoding="utf-8") == prompt  # the whole text, a download
    log.add(NewResult(kind="image", model="owner/model", prompt="a cat"))
    short = log.shown()[0]
    assert short.prompt == "a cat" and short.prompt_file is None


# ---- on the launched app -----------------------------------------------------------------------


class Launched(LaunchedApp):
    def outputs(self) -> list[Path]:
        return [p for p in self.ctx.outputs_dir.rglob("*") if p.is_file()]

    def cached_copies(self, files: list[Path]) -> list[Path]:
        from neurolink_ui.ui.retention import _gradio_cache_copy

        return [c for f in files if (c := _gradio_cache_copy(f, self.ctx.outputs.gradio_cache))]


def _launch(simulator_session: Any, outputs: Path, **settings: Any) -> Launched:
    base = Settings(api_token=TOKEN, base_url=simulator_session.base_url, poll_cap=60)
    return Launched(Settings(**{**base.__dict__, **settings}), outputs)


def _wait_for(predicate: Any, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return bool(predicate())


def _generate(client: Client, prompt: str = "a lighthouse") -> tuple[Any, str]:
    gallery, status, *_ = client.predict(prompt, model=FAST_IMAGE, api_name="/image")
    return gallery, status


@pytest.mark.slow  # launches the app
def test_outputs_and_their_cached_copies_expire_and_go_at_shutdown(
    simulator_session, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    app = _launch(simulator_session, tmp_path / "outputs", output_ttl=3)
    try:
        with closing(app.client()) as c:
            _generate(c, "expires soon")
            files = app.outputs()
            copies = app.cached_copies(files)
            assert files and copies  # Gradio copied the output to serve it
            assert _wait_for(lambda: not any(p.exists() for p in files + copies))
            # The app keeps serving, and a new output is kept until its own time is up.
            gallery, _ = _generate(c, "made after the sweep")
            assert gallery
            fresh = app.outputs()
            fresh_copies = app.cached_copies(fresh)
            assert fresh and fresh_copies
    finally:
        app.close()
    # A clean shutdown removed what was left, with Gradio's copies.
    assert not any(p.exists() for p in fresh + fresh_copies)


@pytest.mark.slow  # launches the app
def test_a_session_over_its_disk_cap_is_refused_and_keeps_its_outputs(
    simulator_session, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    app = _launch(simulator_session, tmp_path / "outputs", session_disk_mb=1)
    cap = app.ctx.settings.session_disk_bytes
    try:
        with closing(app.client()) as c:
            gallery, status = _generate(c, "the first one fits")
            assert gallery and "left of its 1.0 MB disk limit" in status
            folder = app.ctx.outputs.session_dir(c.session_hash)
            made = app.outputs()
            # Nearly full: the next output does not fit the room left, so it is not downloaded,
            # and the visitor gets its link instead.
            filler = folder / "filler.bin"
            filler.write_bytes(b"x" * (cap - app.ctx.outputs.usage(c.session_hash) - 100))
            with pytest.raises(AppError, match=r"did not fit.*not downloaded.*http://127.0.0.1"):
                _generate(c, "the second one does not fit")
            assert app.ctx.outputs.usage(c.session_hash) <= cap
            # Full: a new run is refused before anything is paid for.
            filler.write_bytes(b"x" * cap)
            with pytest.raises(AppError, match=r"new runs are refused.*History"):
                _generate(c, "refused at once")
            assert all(p.exists() for p in made)  # what was made is kept
        with closing(app.client()) as other:  # another session has its own budget
            assert _generate(other, "another visitor")[0]
    finally:
        app.close()


@pytest.mark.slow  # launches the app
def test_ended_sessions_are_released_from_memory(simulator_session, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    app = _launch(simulator_session, tmp_path / "outputs", session_ttl=2)
    holder = app.demo.state_holder
    try:
        c = app.client()
        _generate(c, "a session that ends")
        session_hash = c.session_hash
        assert session_hash in holder.session_data
        c.close()  # its heartbeat ends: Gradio calls the unload event
        assert _wait_for(lambda: session_hash not in holder.session_data, timeout=30)
        with closing(app.client()) as again:
            assert _generate(again, "still serving")[0]
    finally:
        app.close()


@pytest.mark.slow  # launches the app
def test_history_says_how_long_outputs_are_kept(simulator_session, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """History shows kept results (copies of the outputs): it names NEUROLINK_RESULT_TTL's span."""
    import httpx

    app = _launch(simulator_session, tmp_path / "outputs", result_ttl=7200)
    try:
        config = httpx.get(app.url.rstrip("/") + "/config", timeout=10).text
        assert "kept on this server for 2 hours" in config
    finally:
        app.close()


@pytest.mark.slow  # launches the app
def test_app_py_removes_outputs_when_stopped_with_sigterm(tmp_path: Path) -> None:
    """`python app.py` as Spaces and `docker stop` end it: SIGTERM is a clean shutdown."""
    import signal
    import subprocess
    import sys

    import httpx

    root = REPO
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REPLICATE_", "GRADIO_"))}
    env.update(
        GRADIO_SERVER_NAME="127.0.0.1",
        GRADIO_SERVER_PORT=str(port),
        GRADIO_TEMP_DIR=str(tmp_path / "gradio"),
        GRADIO_ANALYTICS_ENABLED="False",
        TMPDIR=str(tmp_path),  # the outputs folder lives under the system temp dir
    )
    log = tmp_path / "app.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "app.py"], cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}/"
    try:

        def serving() -> bool:
            assert proc.poll() is None, log.read_text()[-2000:]
            try:
                return httpx.get(url, timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        assert _wait_for(serving, timeout=240), log.read_text()[-2000:]
        with closing(Client(url, verbose=False, analytics_enabled=False)) as c:
            assert _generate(c, "made, then stopped")[0]
        outputs = [p for p in (tmp_path / "neurolink_ui").rglob("*") if p.is_file()]
        cached = [p for p in (tmp_path / "gradio").rglob("*.png")]
        assert outputs and cached
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    assert not any(p.exists() for p in outputs + cached), log.read_text()[-2000:]


@pytest.mark.slow  # launches the app
def test_app_py_names_a_bad_setting_at_start_up(tmp_path: Path) -> None:
    import subprocess
    import sys

    root = REPO
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REPLICATE_", "NEUROLINK_"))}
    env.update(NEUROLINK_SESSION_DISK_MB="two gigs", GRADIO_ANALYTICS_ENABLED="False")
    done = subprocess.run(
        [sys.executable, "app.py"], cwd=root, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1
    assert "NEUROLINK_SESSION_DISK_MB must be a number of MB, got 'two gigs'" in done.stderr
    assert "Traceback" not in done.stderr


def test_sigterm_while_still_starting_stops_the_app() -> None:
    """A SIGTERM that comes before the server runs (a `docker stop` or a Space restart right
    after the start) ends the process; closing a demo that is not yet running does nothing, so
    the app used to go on and serve."""
    import signal

    import gradio as gr

    from neurolink_ui.ui.app import stop_cleanly_on_sigterm

    with gr.Blocks() as demo:
        gr.Markdown("not launched")
    before = signal.getsignal(signal.SIGTERM)
    try:
        stop_cleanly_on_sigterm(demo)
        with pytest.raises(SystemExit) as stopped:
            signal.raise_signal(signal.SIGTERM)
        assert stopped.value.code == 0
    finally:
        signal.signal(signal.SIGTERM, before)
