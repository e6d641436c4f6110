"""A sixth modality (text to speech) is its registry entry plus its own modules: registered by
NEUROLINK_MODALITIES with nothing else edited, it has its tab and API, its History cards, a place
in Compare and a mode on the command line. Both run as a fresh process, as an owner would."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import soundfile
from gradio_client import Client
from helpers import REPO, draw_history, free_port, stop_process, wait_for_page

pytestmark = pytest.mark.slow
PLUGIN_ENV = {
    "NEUROLINK_MODALITIES": "plugins.speech_modality",
    "PYTHONPATH": os.pathsep.join([str(REPO / "tests"), str(REPO)]),
}


def _environment(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REPLICATE_", "NEUROLINK_"))}
    return {**env, **PLUGIN_ENV, "GRADIO_TEMP_DIR": str(tmp_path / "gradio")}


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("speech-app")
    port = free_port()
    env = {**_environment(tmp), "GRADIO_SERVER_PORT": str(port)}
    process = subprocess.Popen(
        [sys.executable, "app.py"],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_for_page(url, process, lambda: process.communicate()[1])
        yield url
    finally:
        stop_process(process)


def test_its_tab_runs_and_history_and_compare_know_it(app_url: str, tmp_path: Path) -> None:
    config = httpx.get(f"{app_url}config", timeout=30).json()
    tabs = {c["props"].get("id"): c["props"].get("label") for c in config["components"]
            if c.get("type") == "tabitem"}  # fmt: skip
    assert tabs.get("speech") == "🔊 Speech"
    # Compare is drawn when first opened, so its Modality choices are not in the first config:
    # Compare knowing the modality is shown below by /compare, which takes "speech".

    client = Client(app_url, verbose=False, analytics_enabled=False)
    try:
        track, status = client.predict("Hello from the sixth modality", api_name="/speech")
        assert "Done" in status and "meta/musicgen" in status
        data, rate = soundfile.read(track)
        assert rate > 0 and len(data) > 0
        # History: the run's card says what it is, with the modality's icon and title.
        card = draw_history(app_url, client.session_hash)
        assert "**🔊 Speech** ·" in card and "Hello from the sixth modality" in card
        compared, _ = client.predict(
            "speech",
            ["meta/musicgen", "stability-ai/stable-audio-2.5"],
            '{"prompt": "Hello twice"}',
            api_name="/compare",
        )
        assert [cell["status"] for cell in compared["cells"]] == ["succeeded", "succeeded"]
    finally:
        client.close()


def test_the_command_line_has_its_mode(tmp_path: Path) -> None:
    out = tmp_path / f"{uuid.uuid4().hex[:6]}.wav"
    done = subprocess.run(
        [sys.executable, "-m", "neurolink_ui", "generate", "Hello", "--outputMode", "speech",
         "--outputFile", str(out)],
        cwd=REPO, env=_environment(tmp_path), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()) == out and soundfile.info(str(out)).frames > 0
    usage = subprocess.run(
        [sys.executable, "-m", "neurolink_ui", "generate", "--help"],
        cwd=REPO, env=_environment(tmp_path), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert "speech" in usage.stdout
