"""The Replicate simulator over real loopback HTTP: routes, shapes, timing, SSE, delivery, faults.

Shapes are checked against Replicate's OpenAPI spec (required keys copied below) and the recorded
bodies copied into tests/fixtures/ (see its README).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
import struct
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import pytest
from helpers import FIXTURES, interruptible

from neurolink_ui.catalog import catalog_model
from neurolink_ui.simulator import server as sim_server
from neurolink_ui.simulator.catalog import OutputFile, SimModel, all_models, get_model
from neurolink_ui.simulator.config import Fault, SimulatorConfig
from neurolink_ui.simulator.routes import files as file_routes
from neurolink_ui.simulator.runner import Simulator
from neurolink_ui.simulator.server import DeliveredFile, format_sse, parse_cancel_after

# Required keys from replicate-openapi.json (schemas_prediction_response / schemas_file_response).
PREDICTION_REQUIRED = {
    "id", "model", "version", "input", "output", "data_removed", "error", "status", "created_at",
    "urls",
}  # fmt: skip
URLS_REQUIRED = {"web", "get", "cancel"}
FILE_REQUIRED = {
    "id",
    "urls",
    "content_type",
    "size",
    "checksums",
    "metadata",
    "created_at",
    "expires_at",
}
# Sample 11 (files.create 201), key order as recorded.
SAMPLE_11_KEYS = [
    "id", "name", "content_type", "size", "etag", "checksums", "metadata", "created_at",
    "expires_at", "urls",
]  # fmt: skip
# Sample 12 (2025 terminal prediction), its keys without the webhook echo.
SAMPLE_12_KEYS = {
    "completed_at", "created_at", "data_removed", "error", "id", "input", "logs", "metrics",
    "model", "output", "started_at", "status", "urls", "version",
}  # fmt: skip
# Sample 09, exactly.
SAMPLE_09 = {
    "title": "Unauthenticated",
    "detail": "You did not pass a valid authentication token",
    "status": 401,
}
TERMINAL = {"succeeded", "failed", "canceled", "aborted"}
ID_RE = re.compile(r"^[a-z0-9]{26}$")
RFC3339_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?Z$")

CHAT = "meta/meta-llama-3-8b-instruct"
IMAGE = "black-forest-labs/flux-schnell"
COMMUNITY = "replicate/hello-world"
FAST_IMAGE_INPUT = {"prompt": "a red fox in snow", "megapixels": "0.25", "num_outputs": 1}


REFERENCE = FIXTURES


def test_shape_constants_match_the_reference_spec_and_samples() -> None:
    """The constants above are copies; check them against the originals where they exist."""
    schemas = json.loads((REFERENCE / "replicate-openapi.json").read_text())["components"][
        "schemas"
    ]
    prediction = schemas["schemas_prediction_response"]
    assert set(prediction["required"]) == PREDICTION_REQUIRED
    assert set(prediction["properties"]["urls"]["required"]) == URLS_REQUIRED
    assert set(schemas["schemas_file_response"]["required"]) == FILE_REQUIRED
    samples = REFERENCE / "replicate-samples"
    assert list(json.loads((samples / "11_files_create_201.json").read_text())) == SAMPLE_11_KEYS
    sample_12 = json.loads(
        (samples / "12_webhook_2025_video_succeeded_version_hidden.json").read_text()
    )
    assert set(sample_12) - {"webhook"} == SAMPLE_12_KEYS
    assert json.loads((samples / "09_error_401_unauthenticated.json").read_text()) == SAMPLE_09


# ---------------------------------------------------------------------------------------------
# helpers


def api(sim: Simulator, token: str | None, scheme: str = "Bearer") -> httpx.Client:
    headers = {"Authorization": f"{scheme} {token}"} if token else {}
    return httpx.Client(base_url=sim.base_url, headers=headers, timeout=30)


def fast(sim: Simulator, **overrides: Any) -> None:
    sim.config.cold_start = 0.01
    sim.config.run_time = 0.05
    sim.config.token_interval = 0.002
    sim.config.first_token_delay = 0.005
    for key, value in overrides.items():
        setattr(sim.config, key, value)


def wait_for(
    client: httpx.Client,
    prediction_id: str,
    done: Callable[[dict[str, Any]], bool] = lambda p: p["status"] in TERMINAL,
    timeout: float = 15.0,
) -> dict[str, Any]:
    until = time.monotonic() + timeout
    while True:
        body = client.get(f"/v1/predictions/{prediction_id}").json()
        if done(body):
            return body
        assert time.monotonic() < until, f"prediction never reached the state: {body}"
        time.sleep(0.02)


def version_of(slug: str) -> str:
    owner, name = slug.split("/")
    model = get_model(owner, name)
    assert model is not None
    return model.version_id


@dataclass
class Sse:
    comments: list[str]
    events: list[dict[str, str]]  # {"event", "id", "data"}


def read_sse(url: str, headers: dict[str, str] | None = None) -> Sse:
    comments: list[str] = []
    events: list[dict[str, str]] = []
    current: dict[str, Any] = {"data": []}
    with httpx.stream("GET", url, headers=headers or {}, timeout=20) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        for line in response.iter_lines():
            if line.startswith(":"):
                comments.append(line)
            elif line == "":
                if "event" in current:
                    events.append(
                        {
                            "event": current["event"],
                            "id": current.get("id"),
                            "data": "\n".join(current["data"]),
                        }
                    )
                current = {"data": []}
            else:
                name, _, value = line.partition(":")
                value = value[1:] if value.startswith(" ") else value
                if name == "data":
                    current["data"].append(value)
                else:
                    current[name] = value
    return Sse(comments, events)


def parse_boxes(data: bytes) -> list[tuple[str, int]]:
    """Top-level ISO-BMFF boxes (type, size); fails unless they tile the file exactly."""
    boxes: list[tuple[str, int]] = []
    offset = 0
    while offset < len(data):
        assert offset + 8 <= len(data), "truncated box header"
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        if size == 1:
            (size,) = struct.unpack(">Q", data[offset + 8 : offset + 16])
        elif size == 0:
            size = len(data) - offset
        assert size >= 8 and offset + size <= len(data), f"bad box {kind!r} size {size}"
        boxes.append((kind.decode("latin-1"), size))
        offset += size
    return boxes


def tiny_mp4() -> bytes:
    import av
    import numpy as np

    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=8)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for i in range(4):
            frame = av.VideoFrame.from_ndarray(
                np.full((32, 32, 3), i * 40, np.uint8), format="rgb24"
            )
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buffer.getvalue()


def model_with_uri_input() -> tuple[SimModel, str]:
    """A catalogue model with a file (uri) input, fastest kinds first, and that field's name."""
    order = {"image": 0, "music": 1, "video": 2, "avatar": 3, "chat": 4, "other": 5}
    for model in sorted(all_models(), key=lambda m: order[m.kind]):
        props = model.openapi_schema()["components"]["schemas"]["Input"]["properties"]
        required = model.openapi_schema()["components"]["schemas"]["Input"].get("required", [])
        for name, prop in props.items():
            if prop.get("format") == "uri" and set(required) <= {name, "prompt"}:
                return model, name
    raise AssertionError("the catalogue always has a model with a file input; none was found")


@pytest.fixture
def sim(simulator: Simulator) -> Iterator[Simulator]:
    fast(simulator)
    yield simulator


# ---------------------------------------------------------------------------------------------
# auth, account, request log


def test_both_auth_schemes_and_account(sim: Simulator, token: str) -> None:
    expected = "sim-" + hashlib.sha256(token.encode()).hexdigest()[:6]
    for scheme in ("Bearer", "Token"):
        response = api(sim, token, scheme).get("/v1/account")
        assert response.status_code == 200
        body = response.json()
        assert body["type"] in ("user", "organization")
        assert body["username"] == expected
        assert response.headers["ratelimit-remaining"] == "2999"
        assert response.headers["ratelimit-reset"] == "1"


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Bearer",
        "Basic abc",
        "Bearer r8_invalidxyz",
        # not shaped like a Replicate token (`r8_` then letters and digits)
        "Bearer abc123",
        "Bearer r8_",
        "Bearer r8_has_underscores",
        "Token R8_upper",
        "Bearer r8_abc-def",
    ],
)
def test_missing_or_invalid_token_is_sample_09(sim: Simulator, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    for method, path in (("GET", "/v1/account"), ("POST", "/v1/predictions")):
        response = httpx.request(method, sim.base_url + path, headers=headers, json={})
        assert response.status_code == 401
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json() == SAMPLE_09


@pytest.mark.parametrize("token", ["r8_a", "r8_Z9", "r8_" + "Ab1" * 20])
def test_any_token_shaped_like_replicates_is_accepted(sim: Simulator, token: str) -> None:
    for scheme in ("Bearer", "Token"):
        response = httpx.get(
            sim.base_url + "/v1/account", headers={"Authorization": f"{scheme} {token}"}
        )
        assert response.status_code == 200, (scheme, token)


def test_nocredit_token_gets_402_on_create_only(sim: Simulator) -> None:
    client = api(sim, "r8_nocredit0001")
    assert client.get("/v1/account").status_code == 200
    for path, body in (
        ("/v1/predictions", {"version": version_of(COMMUNITY), "input": {"text": "x"}}),
        (f"/v1/models/{CHAT}/predictions", {"input": {"prompt": "x"}}),
    ):
        response = client.post(path, json=body)
        assert response.status_code == 402
        problem = response.json()
        assert problem["title"] == "Insufficient credit"
        assert problem["status"] == 402
        assert problem["detail"].startswith("You have insufficient credit to run this model.")


def test_request_log_records_token_id_never_the_token(sim: Simulator, token: str) -> None:
    client = api(sim, token, "Token")
    client.get("/v1/account")
    client.post(f"/v1/models/{CHAT}/predictions", json={"input": {"prompt": "hello"}})
    httpx.get(sim.base_url + "/v1/account")  # anonymous
    records = list(sim.requests)
    assert [(r.method, r.path, r.status) for r in records] == [
        ("GET", "/v1/account", 200),
        ("POST", f"/v1/models/{CHAT}/predictions", 201),
        ("GET", "/v1/account", 401),
    ]
    assert records[0].token_id == hashlib.sha256(token.encode()).hexdigest()[:12]
    assert records[2].token_id is None
    assert all("authorization" not in r.headers for r in records)
    over_http = httpx.get(sim.base_url + "/_sim/requests")
    assert over_http.status_code == 200
    assert len(over_http.json()) == 3
    assert token not in over_http.text
    assert token not in repr(records)


# ---------------------------------------------------------------------------------------------
# creating predictions


def test_async_create_then_poll_community_version(sim: Simulator, token: str) -> None:
    client = api(sim, token)
    version = version_of(COMMUNITY)
    response = client.post("/v1/predictions", json={"version": version, "input": {"text": "Alice"}})
    assert response.status_code == 201
    assert response.headers["ratelimit-remaining"] == "599"
    created = response.json()
    assert PREDICTION_REQUIRED <= created.keys()
    assert URLS_REQUIRED <= created["urls"].keys()
    assert ID_RE.match(created["id"])
    assert created["status"] == "starting"
    assert created["output"] is None and created["logs"] == "" and created["error"] is None
    assert created["data_removed"] is False
    assert created["version"] == version
    assert created["model"] == COMMUNITY
    assert created["input"] == {"text": "Alice"}
    assert created["source"] == "api"
    assert RFC3339_Z.match(created["created_at"])
    assert "completed_at" not in created and "metrics" not in created
    assert created["urls"]["get"] == f"{sim.base_url}/v1/predictions/{created['id']}"
    assert created["urls"]["cancel"] == f"{sim.base_url}/v1/predictions/{created['id']}/cancel"
    assert created["urls"]["web"] == f"https://replicate.com/p/{created['id']}"
    assert "stream" not in created["urls"]  # plain string output: not streamable

    done = wait_for(client, created["id"])
    assert done["status"] == "succeeded"
    assert isinstance(done["output"], str) and "Alice" in done["output"]
    assert SAMPLE_12_KEYS <= done.keys()
    assert RFC3339_Z.match(done["started_at"]) and RFC3339_Z.match(done["completed_at"])
    assert {"predict_time", "total_time"} <= done["metrics"].keys()
    assert done["metrics"]["total_time"] >= done["metrics"]["predict_time"] >= 0
    get = client.get(created["urls"]["get"])
    assert get.headers["ratelimit-remaining"] == "59999"


def test_version_forms_and_official_routing(sim: Simulator, token: str) -> None:
    client = api(sim, token)
    community = version_of(COMMUNITY)
    ok_forms = [
        (community, {"text": "a"}, community),
        (f"{COMMUNITY}:{community}", {"text": "b"}, community),
        (CHAT, {"prompt": "c"}, "hidden"),  # official model by name
        (version_of(CHAT), {"prompt": "d"}, "hidden"),
    ]
    for version, input_, shown in ok_forms:
        response = client.post("/v1/predictions", json={"version": version, "input": input_})
        assert response.status_code == 201, response.text
        assert response.json()["version"] == shown
    webhook = {"webhook": "https://example.com/hook", "webhook_events_filter": ["completed"]}
    official = client.post(
        f"/v1/models/{CHAT}/predictions", json={"input": {"prompt": "e"}, **webhook}
    )
    assert official.status_code == 201
    assert official.json()["version"] == "hidden"
    assert official.json()["model"] == CHAT
    assert {k: official.json()[k] for k in webhook} == webhook  # echoed, never delivered
    assert official.json()["urls"]["stream"] == f"{sim.base_url}/v1/streams/{official.json()['id']}"

    bad_versions = [
        COMMUNITY,  # community models need a version
        "0" * 64,
        f"{CHAT}:{community}",  # the hex belongs to another model
        "not a version",
    ]
    for version in bad_versions:
        response = client.post("/v1/predictions", json={"version": version, "input": {}})
        assert response.status_code == 422, version
        assert response.json()["title"] == "Invalid version or not permitted"

    by_name = client.post(f"/v1/models/{COMMUNITY}/predictions", json={"input": {"text": "x"}})
    assert by_name.status_code == 404
    assert by_name.headers["content-type"].startswith("application/problem+json")
    assert "version" in by_name.json()["detail"]
    unknown = client.post("/v1/models/nobody/nothing/predictions", json={"input": {}})
    assert unknown.status_code == 404
    deployment = client.post("/v1/deployments/acme/prod/predictions", json={"input": {}})
    assert deployment.status_code == 404


def test_request_body_problems_are_422(sim: Simulator, token: str) -> None:
    client = api(sim, token)
    extra = client.post(
        f"/v1/models/{CHAT}/predictions", json={"input": {"prompt": "x"}, "version": CHAT}
    )
    assert extra.status_code == 422
    assert extra.json()["invalid_fields"][0]["type"] == "additional_property_not_allowed"
    missing = client.post("/v1/predictions", json={"version": version_of(COMMUNITY)})
    assert missing.status_code == 422
    assert any(f["type"] == "required" for f in missing.json()["invalid_fields"])
    no_stream = client.post(
        "/v1/predictions",
        json={"version": version_of(COMMUNITY), "input": {"text": "x"}, "stream": True},
    )
    assert no_stream.status_code == 422
    not_json = client.post(
        "/v1/predictions", content=b"{nope", headers={"content-type": "application/json"}
    )
    assert not_json.status_code == 400


def test_input_validation_failed_lists_invalid_fields(sim: Simulator, token: str) -> None:
    response = api(sim, token).post(
        f"/v1/models/{IMAGE}/predictions",
        json={"input": {"num_outputs": 9, "aspect_ratio": "7:5", "bogus": 1}},
    )
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["title"] == "Input validation failed"
    assert body["status"] == 422
    fields = body["invalid_fields"]
    assert {"type", "field", "description"} <= fields[0].keys()
    by_field = {f["field"]: f for f in fields}
    assert by_field["prompt"]["type"] == "required"
    assert {"num_outputs", "aspect_ratio", "bogus"} <= by_field.keys()
    lines = body["detail"].split("\n")
    assert len(lines) == len(fields)
    assert all(line.startswith("- ") for line in lines)
    assert "- prompt: prompt is required" in lines


# ---------------------------------------------------------------------------------------------
# Prefer: wait, Cancel-After, cancel


def test_prefer_wait_holds_until_output_complete(sim: Simulator, token: str) -> None:
    client = api(sim, token)
    response = client.post(
        f"/v1/models/{CHAT}/predictions",
        json={"input": {"prompt": "Write a haiku about llamas"}},
        headers={"Prefer": "wait=10"},
    )
    assert response.status_code == 201
    assert response.headers["preference-applied"] == "wait=10"
    held = response.json()
    assert held["status"] in ("processing", "succeeded")  # sample 07: processing + full output
    assert isinstance(held["output"], list) and held["output"][-1] == ""
    final = wait_for(client, held["id"])
    assert final["status"] == "succeeded"
    assert final["output"] == held["output"]

    image = client.post(
        f"/v1/models/{IMAGE}/predictions",
        json={"input": FAST_IMAGE_INPUT},
        headers={"Prefer": "wait"},
    )
    assert image.headers["preference-applied"] == "wait"
    assert image.json()["status"] == "succeeded"
    assert image.json()["output"][0].startswith(f"{sim.base_url}/delivery/")


def test_prefer_wait_times_out_into_incomplete_prediction(sim: Simulator, token: str) -> None:
    sim.config.cold_start = 3.0
    client = api(sim, token)
    began = time.monotonic()
    response = client.post(
        f"/v1/models/{CHAT}/predictions",
        json={"input": {"prompt": "x"}},
        headers={"Prefer": "wait=1"},
    )
    elapsed = time.monotonic() - began
    assert 0.9 <= elapsed < 2.5
    assert response.status_code == 201
    assert response.headers["preference-applied"] == "wait=1"
    assert response.json()["status"] == "starting"
    assert response.json()["output"] is None
    client.post(response.json()["urls"]["cancel"])


def test_prefer_rules_and_hold_sync_off(sim: Simulator, token: str) -> None:
    client = api(sim, token)
    for bad in ("wait=0", "wait=100", "wait=5s", "respond-async"):
        response = client.post(
            f"/v1/models/{CHAT}/predictions",
            json={"input": {"prompt": "x"}},
            headers={"Prefer": bad},
        )
        assert response.status_code == 400, bad
    sim.config.hold_sync = False
    sim.config.cold_start = 2.0
    began = time.monotonic()
    response = client.post(
        f"/v1/models/{CHAT}/predictions",
        json={"input": {"prompt": "x"}},
        headers={"Prefer": "wait"},
    )
    assert time.monotonic() - began < 1.0
    assert response.status_code == 201
    assert "preference-applied" not in response.headers
    assert response.json()["status"] == "starting"
    client.post(response.json()["urls"]["cancel"])


def test_parse_cancel_after() -> None:
    assert parse_cancel_after("30s") == 30
    assert parse_cancel_after("5m") == 300
    assert parse_cancel_after("1h30m45s") == 5445
    assert parse_cancel_after("2h") == 7200
    assert parse_cancel_after("12") == 12
    for bad in ("4s", "3", "", "5 minutes", "m"):
        with pytest.raises(ValueError):
            parse_cancel_after(bad)


def test_cancel_after_aborts_while_starting_and_cancels_while_processing(
    sim: Simulator, token: str
) -> None:
    client = api(sim, token)
    assert (
        client.post(
            f"/v1/models/{CHAT}/predictions",
            json={"input": {"prompt": "x"}},
            headers={"Cancel-After": "3s"},
        ).status_code
        == 400
    )
    sim.config.cold_start = 30.0
    starting = client.post(
        f"/v1/models/{CHAT}/predictions",
        json={"input": {"prompt": "x"}},
        headers={"Cancel-After": "5s"},
    ).json()
    sim.config.cold_start = 0.01
    sim.config.token_interval = 1.0  # still streaming tokens at the deadline
    running = client.post(
        f"/v1/models/{CHAT}/predictions",
        json={"input": {"prompt": "y"}},
        headers={"Cancel-After": "5"},
    ).json()
    for created in (starting, running):
        deadline = datetime.fromisoformat(created["deadline"].replace("Z", "+00:00"))
        born = datetime.fromisoformat(created["created_at"].replace("Z", "+00:00"))
        assert abs((deadline - born).total_seconds() - 5) < 0.01
    aborted = wait_for(client, starting["id"], timeout=10)
    canceled = wait_for(client, running["id"], timeout=10)
    assert aborted["status"] == "aborted"
    assert "started_at" not in aborted and aborted["output"] is None
    assert canceled["status"] == "canceled"
    assert "started_at" in canceled and canceled["output"]  # partial tokens kept
    for done in (aborted, canceled):
        completed = datetime.fromisoformat(done["completed_at"].replace("Z", "+00:00"))
        born = datetime.fromisoformat(done["created_at"].replace("Z", "+00:00"))
        assert 4.9 <= (completed - born).total_seconds() < 7


def test_cancel_running_prediction_and_terminal_is_unchanged(sim: Simulator, token: str) -> None:
    sim.config.token_interval = 0.1
    client = api(sim, token)
    created = client.post(f"/v1/models/{CHAT}/predictions", json={"input": {"prompt": "x"}}).json()
    wait_for(client, created["id"], lambda p: bool(p["output"]))
    response = client.post(f"/v1/predictions/{created['id']}/cancel")
    assert response.status_code == 200
    canceled = response.json()
    assert canceled["status"] == "canceled"
    assert {"predict_time", "total_time"} <= canceled["metrics"].keys()
    sse = read_sse(created["urls"]["stream"])  # to its end: nothing more can be produced
    again = client.post(f"/v1/predictions/{created['id']}/cancel")
    assert again.status_code == 200
    assert again.json() == canceled  # no more tokens after cancel, nothing changed
    assert sse.events[-1] == {
        "event": "done",
        "id": sse.events[-1]["id"],
        "data": '{"reason": "canceled"}',
    }
    assert (
        api(sim, "r8_someoneelse").post(f"/v1/predictions/{created['id']}/cancel").status_code
        == 404
    )
    assert client.get("/v1/predictions/doesnotexist").status_code == 404


# ---------------------------------------------------------------------------------------------
# outcomes


def test_outcome_failed_and_aborted(sim: Simulator, token: str) -> None:
    client = api(sim, token)
    sim.config.outcome = "failed"
    chat = client.post(f"/v1/models/{CHAT}/predictions", json={"input": {"prompt": "x"}}).json()
    image = client.post(f"/v1/models/{IMAGE}/predictions", json={"input": FAST_IMAGE_INPUT}).json()
    for created in (chat, image):
        failed = wait_for(client, created["id"])
        assert failed["status"] == "failed"
        assert failed["error"] == "Prediction interrupted; please retry (code: PA)"
        assert failed["logs"]
    events = read_sse(chat["urls"]["stream"]).events
    assert events[-2] == {
        "event": "error",
        "id": events[-2]["id"],
        "data": json.dumps({"detail": "Prediction interrupted; please retry (code: PA)"}),
    }
    assert events[-1]["event"] == "done" and json.loads(events[-1]["data"]) == {"reason": "error"}

    sim.config.outcome = "aborted"
    aborted = wait_for(
        client,
        client.post(f"/v1/models/{CHAT}/predictions", json={"input": {"prompt": "x"}}).json()["id"],
    )
    assert aborted["status"] == "aborted"
    assert aborted["output"] is None and "started_at" not in aborted


def test_generation_value_error_fails_the_prediction(sim: Simulator, token: str) -> None:
    model, field_name = model_with_uri_input()
    client = api(sim, token)
    input_ = {field_name: "https://example.com/cat.png"}
    if "prompt" in model.openapi_schema()["components"]["schemas"]["Input"]["properties"]:
        input_["prompt"] = "x"
    created = client.post(
        "/v1/predictions", json={"version": f"{model.slug}:{model.version_id}", "input": input_}
    ).json()
    failed = wait_for(client, created["id"], timeout=30)
    assert failed["status"] == "failed"
    assert "cannot fetch" in failed["error"]


# ---------------------------------------------------------------------------------------------
# list, models


def test_list_predictions_is_paginated_newest_first(sim: Simulator) -> None:
    sim.config.outcome = "aborted"  # nothing to generate: fast and cheap
    client = api(sim, "r8_paginationowner")
    ids = [
        client.post(f"/v1/models/{CHAT}/predictions", json={"input": {"prompt": f"n{i}"}}).json()[
            "id"
        ]
        for i in range(sim_server.PAGE_SIZE + 3)
    ]
    first = client.get("/v1/predictions").json()
    assert first.keys() == {"next", "previous", "results"}
    assert [p["id"] for p in first["results"]] == ids[::-1][:100]
    assert first["results"][0]["input"] == {"prompt": f"n{len(ids) - 1}"}
    assert PREDICTION_REQUIRED <= first["results"][0].keys()
    assert first["previous"] is None
    assert (
        first["next"].startswith(f"{sim.base_url}/v1/predictions?") and "cursor=" in first["next"]
    )
    second = client.get(first["next"]).json()
    assert [p["id"] for p in second["results"]] == ids[::-1][100:]
    assert second["next"] is None
    back = client.get(second["previous"]).json()
    assert [p["id"] for p in back["results"]] == [p["id"] for p in first["results"]]
    assert api(sim, "r8_someoneelse").get("/v1/predictions").json()["results"] == []
    assert client.get("/v1/predictions", params={"cursor": "!!"}).status_code == 400
    future = client.get("/v1/predictions", params={"created_after": "2999-01-01T00:00:00Z"})
    assert future.json()["results"] == []


def test_models_and_versions(sim: Simulator, token: str) -> None:
    client = api(sim, token)
    official = client.get(f"/v1/models/{CHAT}")
    assert official.status_code == 200
    body = official.json()
    for key in ("url", "owner", "name", "description", "visibility", "run_count", "is_official"):
        assert key in body
    assert body["is_official"] is True
    example = body["default_example"]
    assert example["model"] == CHAT and example["version"] == body["latest_version"]["id"]
    assert example["input"] == catalog_model(CHAT).default_example["input"]  # type: ignore[union-attr]
    latest = body["latest_version"]
    assert latest.keys() >= {"id", "created_at", "cog_version", "openapi_schema"}
    assert re.fullmatch(r"[0-9a-f]{64}", latest["id"])
    schemas = latest["openapi_schema"]["components"]["schemas"]
    assert schemas["Output"]["x-cog-array-type"] == "iterator"
    assert "prompt" in schemas["Input"]["properties"]
    assert client.get(f"/v1/models/{CHAT}/versions").status_code == 404
    assert client.get(f"/v1/models/{CHAT}/versions/{latest['id']}").status_code == 404

    community = client.get(f"/v1/models/{COMMUNITY}").json()
    assert community["is_official"] is False
    version_id = community["latest_version"]["id"]
    versions = client.get(f"/v1/models/{COMMUNITY}/versions").json()
    assert [v["id"] for v in versions["results"]] == [version_id]
    one = client.get(f"/v1/models/{COMMUNITY}/versions/{version_id}")
    assert (
        one.status_code == 200
        and one.json()["openapi_schema"] == community["latest_version"]["openapi_schema"]
    )
    assert client.get(f"/v1/models/{COMMUNITY}/versions/{'1' * 64}").status_code == 404
    missing = client.get("/v1/models/nobody/nothing")
    assert missing.status_code == 404 and missing.json()["status"] == 404


# ---------------------------------------------------------------------------------------------
# files


def test_files_create_get_list_download_delete(sim: Simulator, token: str) -> None:
    client = api(sim, token)
    content = b"hello simulator\n"
    response = client.post(
        "/v1/files",
        files={"content": ("notes.bin", content, "application/octet-stream")},
        data={"filename": "notes.txt", "type": "text/plain", "metadata": json.dumps({"k": 1})},
    )
    assert response.status_code == 201
    created = response.json()
    assert list(created) == SAMPLE_11_KEYS
    assert FILE_REQUIRED <= created.keys()
    assert created["name"] == "notes.txt" and created["content_type"] == "text/plain"
    assert created["size"] == len(content)
    assert created["checksums"] == {
        "sha256": hashlib.sha256(content).hexdigest(),
        "md5": hashlib.md5(content).hexdigest(),
    }
    assert created["etag"] == hashlib.md5(content).hexdigest()
    assert created["metadata"] == {"k": 1}
    assert created["urls"] == {"get": f"{sim.base_url}/v1/files/{created['id']}"}
    made = datetime.fromisoformat(created["created_at"].replace("Z", "+00:00"))
    expires = datetime.fromisoformat(created["expires_at"].replace("Z", "+00:00"))
    assert (expires - made).total_seconds() == 24 * 3600

    assert client.get(created["urls"]["get"]).json() == created
    assert created["id"] in [f["id"] for f in client.get("/v1/files").json()["results"]]
    download = client.get(f"/v1/files/{created['id']}/download")
    assert download.content == content and download.headers["content-type"].startswith("text/plain")
    assert api(sim, "r8_someoneelse").get(created["urls"]["get"]).status_code == 404

    plain = client.post("/v1/files", files={"content": ("a.png", b"\x89PNG", "image/png")}).json()
    assert (
        plain["name"] == "a.png"
        and plain["content_type"] == "image/png"
        and plain["metadata"] == {}
    )

    deleted = client.delete(created["urls"]["get"])
    assert deleted.status_code == 204 and deleted.content == b""
    gone = client.get(created["urls"]["get"])
    assert gone.status_code == 404 and gone.json()["detail"] == "File not found"
    assert client.delete(created["urls"]["get"]).status_code == 404
    no_content = client.post("/v1/files", files={"other": ("a", b"x")})
    assert no_content.status_code == 422


def test_files_over_the_limit_get_413(
    sim: Simulator, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(file_routes, "MAX_FILE_BYTES", 1000)  # read per request by the route
    response = api(sim, token).post("/v1/files", files={"content": ("big.bin", b"x" * 1001)})
    assert response.status_code == 413
    assert response.json()["detail"] == "Files must be less than 100MB in size"


def test_resolve_serves_data_urls_and_own_files_only(sim: Simulator, token: str) -> None:
    client = api(sim, token)
    uploaded = client.post("/v1/files", files={"content": ("a.txt", b"abc", "text/plain")}).json()
    assert sim.state.resolve(uploaded["urls"]["get"]) == b"abc"
    assert (
        sim.state.resolve("data:text/plain;base64," + base64.b64encode(b"xyz").decode()) == b"xyz"
    )
    assert sim.state.resolve("data:,a%20b") == b"a b"
    for foreign in (
        "https://example.com/a.png",
        "http://10.0.0.1/v1/files/x",
        sim.base_url + "/v1/files/nope",
    ):
        with pytest.raises(ValueError, match="cannot fetch"):
            sim.state.resolve(foreign)


# ---------------------------------------------------------------------------------------------
# SSE


def test_sse_streams_tokens_in_order_with_ids(sim: Simulator, token: str) -> None:
    client = api(sim, token)
    created = client.post(
        f"/v1/models/{CHAT}/predictions",
        json={"input": {"prompt": "tell me about llamas"}, "stream": True},
    ).json()
    assert created["stream"] is True
    sse = read_sse(created["urls"]["stream"])  # no Authorization: capability URL
    assert sse.comments[0] == ": hi"
    assert all(e["id"] for e in sse.events)
    indexes = [int(e["id"].split(":")[1]) for e in sse.events]
    assert indexes == list(range(len(sse.events)))
    assert sse.events[-1]["event"] == "done" and json.loads(sse.events[-1]["data"]) == {}
    final = wait_for(client, created["id"])
    outputs = [e["data"] for e in sse.events if e["event"] == "output"]
    assert outputs == final["output"]
    assert "".join(outputs).strip()


def test_sse_multiline_data_is_several_data_lines() -> None:
    text = format_sse("output", "\n\nFuzzy\nbeasts", "1690212292:0")
    assert text == (
        "event: output\nid: 1690212292:0\ndata: \ndata: \ndata: Fuzzy\ndata: beasts\n\n"
    )


def test_sse_file_model_streams_logs_then_url(sim: Simulator, token: str) -> None:
    client = api(sim, token)
    created = client.post(
        f"/v1/models/{IMAGE}/predictions", json={"input": FAST_IMAGE_INPUT}
    ).json()
    events = read_sse(created["urls"]["stream"]).events
    kinds = [e["event"] for e in events]
    assert kinds[-1] == "done" and kinds[-2] == "output" and "logs" in kinds
    final = wait_for(client, created["id"])
    assert events[-2]["data"] == final["output"][0]
    assert "\n".join(e["data"] for e in events if e["event"] == "logs") + "\n" == final["logs"]


def test_sse_dropped_stream_resumes_with_last_event_id(sim: Simulator, token: str) -> None:
    client = api(sim, token)
    sim.config.drop_stream_after = 3
    created = client.post(
        f"/v1/models/{CHAT}/predictions", json={"input": {"prompt": "llamas"}}
    ).json()
    first = read_sse(created["urls"]["stream"])
    assert [e["event"] for e in first.events].count("output") == 3
    assert all(e["event"] != "done" for e in first.events)
    sim.config.drop_stream_after = None
    last_id = first.events[-1]["id"]
    rest = read_sse(created["urls"]["stream"], headers={"Last-Event-ID": last_id})
    assert int(rest.events[0]["id"].split(":")[1]) == int(last_id.split(":")[1]) + 1
    assert rest.events[-1]["event"] == "done"
    final = wait_for(client, created["id"])
    streamed = [e["data"] for e in first.events + rest.events if e["event"] == "output"]
    assert streamed == final["output"]
    after_done = read_sse(
        created["urls"]["stream"], headers={"Last-Event-ID": rest.events[-1]["id"]}
    )
    assert after_done.comments == [": hi"] and after_done.events == []


def test_unknown_stream_is_404(sim: Simulator) -> None:
    assert httpx.get(sim.base_url + "/v1/streams/nope").status_code == 404


# ---------------------------------------------------------------------------------------------
# faults


def test_faults_hit_the_nth_matching_requests(sim: Simulator, token: str) -> None:
    client = api(sim, token)
    sim.config.faults = [
        Fault(method="GET", path="/v1/account", nth=2, count=2, status=429, retry_after="3")
    ]
    statuses = []
    for _ in range(4):
        response = client.get("/v1/account")
        statuses.append(response.status_code)
        if response.status_code == 429:
            assert response.headers["retry-after"] == "3"
            assert (
                response.json()["detail"] == "Request was throttled. Your rate limit resets in ~3s."
            )
    assert statuses == [200, 429, 429, 200]
    assert client.get("/v1/files").status_code == 200  # other paths untouched

    put = httpx.put(
        sim.base_url + "/_sim/config",
        json={
            "faults": [
                {
                    "method": "POST",
                    "path": "/v1/models/*/predictions",
                    "status": 503,
                    "detail": "busy",
                }
            ]
        },
    )
    assert put.status_code == 200
    response = client.post(f"/v1/models/{CHAT}/predictions", json={"input": {"prompt": "x"}})
    assert response.status_code == 503
    assert "retry-after" not in response.headers
    assert response.json() == {"title": "Service Unavailable", "detail": "busy", "status": 503}
    assert (
        client.post(f"/v1/models/{CHAT}/predictions", json={"input": {"prompt": "x"}}).status_code
        == 201
    )


# ---------------------------------------------------------------------------------------------
# delivery


def _video_output(sim: Simulator, client: httpx.Client) -> tuple[str, bytes]:
    """URL and bytes of an MP4 output: from the catalogue's text-to-video model when it has one,
    else a tiny MP4 registered for delivery directly."""
    if get_model("wan-video", "wan-2.2-t2v-fast") is not None:
        created = client.post(
            "/v1/models/wan-video/wan-2.2-t2v-fast/predictions", json={"input": {"prompt": "a cat"}}
        ).json()
        done = wait_for(client, created["id"], timeout=40)
        assert done["status"] == "succeeded", done
        assert isinstance(done["output"], str) and done["output"].endswith(".mp4")
        return done["output"], httpx.get(done["output"]).content
    data = tiny_mp4()
    item = DeliveredFile(
        "testtoken" + str(time.monotonic_ns()), OutputFile("output.mp4", "video/mp4", data)
    )
    sim.state.deliveries[item.token] = item
    return item.url(sim.base_url), data


def test_delivery_pads_mp4_inside_a_free_box(sim: Simulator, token: str) -> None:
    url, original = _video_output(sim, api(sim, token))
    assert parse_boxes(original)[-1][0] != "free"
    sim.config.output_padding = 100_000
    response = httpx.get(url)
    assert response.status_code == 200
    assert response.headers["content-type"] == "video/mp4"
    assert (
        int(response.headers["content-length"]) == len(original) + 100_000 == len(response.content)
    )
    assert response.content.startswith(original)
    boxes = parse_boxes(response.content)
    assert boxes[-1] == ("free", 100_000)
    assert "moov" in [kind for kind, _ in boxes]

    sim.config.output_padding = 5 * 1024**3  # > 4 GB: 64-bit largesize, generated lazily
    head_only = httpx.head(url)
    assert head_only.status_code == 200 and head_only.content == b""
    assert int(head_only.headers["content-length"]) == len(original) + 5 * 1024**3
    with httpx.stream("GET", url) as big:
        assert int(big.headers["content-length"]) == len(original) + 5 * 1024**3
        head = b""
        for chunk in big.iter_bytes():
            head += chunk
            if len(head) >= len(original) + 16:
                break
    size, kind, largesize = struct.unpack(">I4sQ", head[len(original) : len(original) + 16])
    assert (size, kind, largesize) == (1, b"free", 5 * 1024**3)


def test_delivery_of_images_padding_delay_and_missing(sim: Simulator, token: str) -> None:
    client = api(sim, token)
    created = client.post(
        f"/v1/models/{IMAGE}/predictions",
        json={"input": FAST_IMAGE_INPUT},
        headers={"Prefer": "wait"},
    ).json()
    url = created["output"][0]
    plain = httpx.get(url)  # no auth needed
    assert plain.status_code == 200
    assert plain.headers["content-type"] == "image/webp"
    assert plain.content[:4] == b"RIFF" and plain.content[8:12] == b"WEBP"
    assert int(plain.headers["content-length"]) == len(plain.content)

    sim.config.output_padding = 10
    padded = httpx.get(url).content
    assert padded == plain.content + bytes(10)

    sim.config.output_padding = 0
    sim.config.output_delay = 0.4
    began = time.monotonic()
    assert httpx.get(url).status_code == 200
    assert time.monotonic() - began >= 0.4

    sim.config.output_delay = 0
    sim.config.missing_outputs = True
    assert httpx.get(url).status_code == 404
    sim.config.missing_outputs = False
    assert httpx.get(url.rsplit("/", 1)[0] + "/other.webp").status_code == 404


# ---------------------------------------------------------------------------------------------
# control routes, runner


def test_control_routes_config_and_reset(sim: Simulator, token: str) -> None:
    config = httpx.get(sim.base_url + "/_sim/config").json()
    assert config["hold_sync"] is True and config["faults"] == []
    put = httpx.put(sim.base_url + "/_sim/config", json={"cold_start": 0.5, "outcome": "failed"})
    assert put.status_code == 200
    assert sim.config.cold_start == 0.5 and sim.config.outcome == "failed"
    for bad in ({"outcome": "exploded"}, {"nope": 1}, {"faults": [{"status": 200}]}):
        assert httpx.put(sim.base_url + "/_sim/config", json=bad).status_code == 422
    assert sim.config.outcome == "failed"  # a rejected update changes nothing
    created = (
        api(sim, token)
        .post(f"/v1/models/{CHAT}/predictions", json={"input": {"prompt": "x"}})
        .json()
    )
    assert httpx.post(sim.base_url + "/_sim/reset").status_code == 200
    assert sim.config.to_json() == SimulatorConfig().to_json()
    assert list(sim.requests) == []
    assert created["id"] in sim.predictions  # predictions are kept


def test_second_simulator_on_its_own_port_stops_cleanly() -> None:
    with Simulator(SimulatorConfig(cold_start=0.01)) as other:
        assert other.base_url.startswith("http://127.0.0.1:")
        assert (
            httpx.get(
                other.base_url + "/v1/account", headers={"Authorization": "Token r8_t"}
            ).status_code
            == 200
        )
        base = other.base_url
    with pytest.raises(httpx.ConnectError):
        httpx.get(base + "/v1/account", timeout=2)


# ---------------------------------------------------------------------------------------------
# the official replicate client against the simulator


@pytest.fixture(scope="module")
def tls_simulator() -> Iterator[Simulator]:
    """HTTPS: the official client wraps only `https:`/`data:` outputs as FileOutput."""
    with Simulator(tls=True) as tls_sim:
        yield tls_sim


@pytest.fixture
def tls_sim(tls_simulator: Simulator) -> Iterator[Simulator]:
    tls_simulator.reset()
    fast(tls_simulator)
    yield tls_simulator


@pytest.fixture
def replicate_client(tls_sim: Simulator, token: str) -> Any:
    import replicate

    # The client wraps its own transport around the one given, so `verify` must go there.
    transport = httpx.HTTPTransport(verify=tls_sim.ssl_context())
    return replicate.Client(api_token=token, base_url=tls_sim.base_url, transport=transport)


def tls_api(sim: Simulator, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=sim.base_url,
        headers={"Authorization": f"Bearer {token}"},
        verify=sim.ssl_context(),
    )


def test_replicate_client_runs_official_image_model(
    replicate_client: Any, tls_sim: Simulator
) -> None:
    output = replicate_client.run(IMAGE, input=FAST_IMAGE_INPUT)
    assert len(output) == 1
    assert output[0].url.startswith(f"{tls_sim.base_url}/delivery/")
    data = output[0].read()
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"


def test_replicate_client_runs_versioned_community_model(
    replicate_client: Any, tls_sim: Simulator
) -> None:
    output = replicate_client.run(f"{COMMUNITY}:{version_of(COMMUNITY)}", input={"text": "Alice"})
    assert isinstance(output, str) and "Alice" in output
    assert ("GET", f"/v1/models/{COMMUNITY}/versions/{version_of(COMMUNITY)}") in [
        (r.method, r.path) for r in tls_sim.requests
    ]


def test_replicate_client_streams_chat(
    replicate_client: Any, tls_sim: Simulator, token: str
) -> None:
    events = list(replicate_client.stream(CHAT, input={"prompt": "Write a haiku about llamas"}))
    assert events[-1].event.value == "done"
    text = "".join(str(e) for e in events)
    stream_path = next(r.path for r in tls_sim.requests if r.path.startswith("/v1/streams/"))
    final = wait_for(tls_api(tls_sim, token), stream_path.rsplit("/", 1)[1])
    assert text == "".join(final["output"]) and text.strip()


def test_replicate_client_cancels(replicate_client: Any, tls_sim: Simulator) -> None:
    tls_sim.config.cold_start = 5.0
    prediction = replicate_client.models.predictions.create(model=CHAT, input={"prompt": "x"})
    assert prediction.status == "starting"
    canceled = replicate_client.predictions.cancel(prediction.id)
    assert canceled.status == "canceled"
    assert replicate_client.predictions.get(prediction.id).status == "canceled"


def test_replicate_client_uploaded_file_as_input(replicate_client: Any, tls_sim: Simulator) -> None:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 30, 30)).save(buffer, format="PNG")
    buffer.seek(0)
    buffer.name = "red.png"
    uploaded = replicate_client.files.create(buffer)
    assert uploaded.size == len(buffer.getvalue()) and uploaded.content_type == "image/png"
    assert tls_sim.state.resolve(uploaded.urls["get"]) == buffer.getvalue()
    model, field_name = model_with_uri_input()
    input_: dict[str, Any] = {field_name: uploaded.urls["get"]}
    if "prompt" in model.openapi_schema()["components"]["schemas"]["Input"]["properties"]:
        input_["prompt"] = "make it blue"
    ref = model.slug if model.is_official else f"{model.slug}:{model.version_id}"
    output = replicate_client.run(ref, input=input_)
    files = output if isinstance(output, list) else [output]
    assert files and files[0].read()


@pytest.mark.slow  # a `python -m neurolink_ui.simulator` subprocess
def test_command_line_serves_until_interrupted() -> None:
    import signal
    import subprocess
    import sys

    process = subprocess.Popen(
        [sys.executable, "-m", "neurolink_ui.simulator", "--port", "0", "--cold-start", "0.01"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=interruptible,
    )
    try:
        assert process.stdout is not None
        base_url = process.stdout.readline().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", base_url)
        assert httpx.get(base_url + "/_sim/config").json()["cold_start"] == 0.01
        account = httpx.get(base_url + "/v1/account", headers={"Authorization": "Bearer r8_cli"})
        assert account.status_code == 200
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_end_cold_starts_boots_waiting_predictions_at_once(sim: Simulator, token: str) -> None:
    client = api(sim, token)
    sim.config.cold_start = 300.0
    created = client.post(f"/v1/models/{CHAT}/predictions", json={"input": {"prompt": "x"}}).json()
    assert client.get(f"/v1/predictions/{created['id']}").json()["status"] == "starting"
    assert sim.end_cold_starts() == 1
    done = wait_for(client, created["id"], timeout=20)
    assert done["status"] == "succeeded"
    assert sim.end_cold_starts() == 0  # nothing left booting
