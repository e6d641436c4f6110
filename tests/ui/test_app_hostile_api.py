"""The launched app against a hostile API on loopback (issue 8.2): a `urls.stream` pointing at an
internal service is never fetched, the visitor never sees its body, and the app keeps serving."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from conftest import TOKEN
from gradio_client import Client
from helpers import free_port
from hostile_api import LEAK, HostileAPI, Trap, set_url

from neurolink_ui.config import Settings
from neurolink_ui.ui.app import build_app, launch_options
from neurolink_ui.ui.context import AppContext

pytestmark = pytest.mark.slow  # launches the whole app


@pytest.fixture(scope="module")
def trap() -> Iterator[Trap]:
    with Trap() as listener:
        yield listener


@pytest.fixture(scope="module")
def hostile(simulator_session: Any, trap: Trap) -> Iterator[HostileAPI]:
    with HostileAPI(simulator_session.base_url) as api:
        api.rewrite = lambda method, path, body: set_url(body, "stream", f"{trap.url}/sse")
        yield api


@pytest.fixture(scope="module")
def app_url(hostile: HostileAPI, tmp_path_factory: Any) -> Iterator[str]:
    settings = Settings(api_token=TOKEN, base_url=hostile.base_url, poll_cap=60)
    ctx = AppContext.create(settings, outputs_dir=tmp_path_factory.mktemp("outputs"))
    demo = build_app(ctx=ctx)
    _, url, _ = demo.launch(
        prevent_thread_lock=True, quiet=True, server_name="127.0.0.1",
        server_port=free_port(), **launch_options(ctx),
    )  # fmt: skip
    yield url
    demo.close()


def test_stream_url_to_an_internal_service_never_reaches_the_visitor(
    app_url: str, trap: Trap, simulator: Any
) -> None:
    client = Client(app_url, verbose=False, analytics_enabled=False)
    try:
        history, *_ = client.predict("Tell me about llamas", api_name="/chat")
        answer = str(history[-1]["content"])
        assert LEAK not in str(history) and "llama" in answer.lower()
        gallery, status, *_ = client.predict(
            "still serving", model="black-forest-labs/flux-schnell", api_name="/image"
        )
    finally:
        client.close()
    assert gallery and "Done" in status
    assert trap.connections == 0
