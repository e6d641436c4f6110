"""Every History snippet, executed (curl and Python in subprocesses) against the loopback
simulator, sends the same input as the generation it came from."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from neurolink_ui.replicate.schema import InputSchema
from neurolink_ui.results import StoredResult
from neurolink_ui.snippets import curl_snippet, file_field_names, python_snippet
from neurolink_ui.ui.context import AppContext
from neurolink_ui.ui.history_log import HistoryLog
from neurolink_ui.ui.panels.chat import make_chat_handler
from neurolink_ui.ui.panels.history import entry_snippets
from neurolink_ui.ui.panels.image import make_image_handler

REPLICATE = "https://api.replicate.com"


def _run_snippets(entry: StoredResult, simulator, token: str) -> list[dict]:  # type: ignore[no-untyped-def]
    """Run the entry's Python and curl snippets; the inputs of the predictions they created."""
    if not shutil.which("curl"):
        pytest.fail("curl is missing: scripts/test.sh installs it")
    python, curl = entry_snippets(entry)
    env = {**os.environ, "REPLICATE_API_TOKEN": token}
    inputs = []
    for command in (
        [sys.executable, "-c", python.replace(REPLICATE, simulator.base_url)],
        ["sh", "-c", curl.replace(REPLICATE, simulator.base_url)],
    ):
        before = set(simulator.predictions)
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=90)
        assert done.returncode == 0, done.stderr
        (created,) = [s for pid, s in simulator.predictions.items() if pid not in before]
        inputs.append(created.input)
    return inputs


async def test_chat_snippets_rerun_the_same_input(ctx: AppContext, simulator, token: str) -> None:  # type: ignore[no-untyped-def]
    log = HistoryLog()
    chat = make_chat_handler(ctx)
    # Llama 3's prompt starts with `<|begin_of_text|>`: text, not a file.
    async for _ in chat(
        "Why is the sky blue?", [], model="meta/meta-llama-3-8b-instruct", generations=log
    ):
        pass
    (entry,) = log.entries
    original = simulator.predictions[entry.prediction_id].input
    assert str(original.get("prompt", "")).startswith("<|begin_of_text|>")
    assert _run_snippets(entry, simulator, token) == [original, original]


async def test_image_snippets_rerun_the_same_input(ctx: AppContext, simulator, token: str) -> None:  # type: ignore[no-untyped-def]
    log = HistoryLog()
    image = make_image_handler(ctx)
    async for _ in image(
        "<b>a lighthouse</b> at dusk", "black-forest-labs/flux-schnell", "16:9", 7, generations=log
    ):
        pass
    (entry,) = log.entries
    original = simulator.predictions[entry.prediction_id].input
    assert original["prompt"].startswith("<b>") and original["seed"] == 7
    assert _run_snippets(entry, simulator, token) == [original, original]


def test_file_fields_come_from_the_schema_not_the_text() -> None:
    schema = InputSchema.from_openapi(
        {
            "components": {
                "schemas": {
                    "Input": {
                        "type": "object",
                        "properties": {
                            "prompt": {"type": "string"},
                            "image": {"type": "string", "format": "uri"},
                            "refs": {"type": "array", "items": {"type": "string", "format": "uri"}},
                        },
                    }
                }
            }
        }
    )
    files = file_field_names(schema)
    assert set(files) == {"image", "refs"}
    sent = {"prompt": "<|begin_of_text|>hi", "image": "<file a.png>", "refs": ["data:,…", "<x>"]}
    for snippet in (
        python_snippet("a/b", sent, file_fields=files),
        curl_snippet("a/b", sent, file_fields=files),
    ):
        assert "<|begin_of_text|>hi" in snippet
        assert snippet.count("https://example.com/your-file") == 3
