"""An event index the app does not have (a redrawn page's old control, or any client's number)
is answered with a 404 that says so, not a 500 with a traceback; the app keeps serving."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import TOKEN
from launched import LaunchedApp

from neurolink_ui.config import Settings
from neurolink_ui.ui.stale_events import GONE

pytestmark = pytest.mark.slow  # launches the app


@pytest.fixture(scope="module")
def app(simulator_session, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LaunchedApp]:  # type: ignore[no-untyped-def]
    launched = LaunchedApp(
        Settings(api_token=TOKEN, base_url=simulator_session.base_url),
        Path(tmp_path_factory.mktemp("outputs")),
    )
    yield launched
    launched.close()


@pytest.mark.parametrize("path", ["gradio_api/run/predict", "gradio_api/queue/join"])
@pytest.mark.parametrize("fn_index", [987_654, 10**30, -1])
def test_an_event_the_app_does_not_have_is_a_clear_404(
    app: LaunchedApp, path: str, fn_index: int, caplog: pytest.LogCaptureFixture
) -> None:
    body = {"data": [], "fn_index": fn_index, "session_hash": "stale-page", "trigger_id": 1}
    answer = httpx.post(app.url + path, json=body, timeout=30)
    if answer.status_code == 422:  # a number pydantic refuses first: also no 500
        assert fn_index == 10**30
        return
    assert answer.status_code == 404, answer.text
    assert answer.json()["detail"] == GONE
    assert "Exception in ASGI application" not in caplog.text
    assert httpx.get(app.url + "config", timeout=30).status_code == 200  # still serving


def test_events_the_app_has_still_run(app: LaunchedApp) -> None:
    from contextlib import closing

    with closing(app.client()) as client:  # through /gradio_api/queue/join, as the page does
        dialog, _message, status = client.predict("hi", api_name="/chat")
    assert dialog and "Error" not in str(status)
