"""The simulator's deployments (issue 22, item 3): the configured ones every token sees, those a
token creates through the real create route, and predictions through either — each answer in
the shape of Replicate's OpenAPI spec (the copy in tests/fixtures/)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from conftest import OTHER_TOKEN, TOKEN, token_id
from openapi_check import spec_problems

from neurolink_ui.catalog import catalog_model
from neurolink_ui.simulator.config import DEPLOYMENTS, SimulatorConfig

MUSICGEN = "meta/musicgen"
MUSICGEN_VERSION = catalog_model(MUSICGEN).version  # type: ignore[union-attr]


def _client(simulator: Any, token: str = TOKEN) -> httpx.Client:
    return httpx.Client(
        base_url=simulator.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )


def _create_body(name: str = "my-music", **changes: Any) -> dict[str, Any]:
    return {
        "name": name,
        "model": MUSICGEN,
        "version": MUSICGEN_VERSION,
        "hardware": "gpu-t4",
        "min_instances": 0,
        "max_instances": 2,
        **changes,
    }


def test_configured_deployments_are_served_as_the_spec_says(simulator: Any) -> None:
    with _client(simulator) as client:
        got = client.get("/v1/deployments/acme/image-generator")
        listed = client.get("/v1/deployments")
    assert got.status_code == 200
    body = got.json()
    assert spec_problems(body, "schemas_deployment_response") == []
    release = body["current_release"]
    model = catalog_model(release["model"])
    assert (body["owner"], body["name"]) == ("acme", "image-generator")
    assert model is not None and release["version"] == model.version and release["number"] == 1
    assert release["configuration"]["hardware"] == "gpu-l40s"
    assert listed.status_code == 200 and set(listed.json()) == {"next", "previous", "results"}
    names = {f"{d['owner']}/{d['name']}" for d in listed.json()["results"]}
    assert names == set(DEPLOYMENTS)
    for item in listed.json()["results"]:
        assert spec_problems(item, "schemas_deployment_response") == []


def test_a_prediction_through_a_deployment_runs_its_release(simulator: Any) -> None:
    with _client(simulator) as client:
        created = client.post(
            "/v1/deployments/acme/music-generator/predictions",
            json={"input": {"prompt": "calm piano", "duration": 2}},
            headers={"Prefer": "wait=30", "Cancel-After": "90s"},
        )
        unknown = client.post("/v1/deployments/acme/nothing/predictions", json={"input": {}})
        no_input = client.post("/v1/deployments/acme/music-generator/predictions", json={})
    assert created.status_code == 201, created.text
    prediction = created.json()
    assert spec_problems(prediction, "schemas_prediction_response") == []
    assert prediction["deployment"] == "acme/music-generator"
    assert prediction["model"] == MUSICGEN and prediction["version"] == MUSICGEN_VERSION
    assert prediction["status"] == "succeeded" and prediction["output"]
    assert "deadline" in prediction  # Cancel-After is honoured as on the other creates
    assert unknown.status_code == 404 and unknown.json()["detail"]
    assert no_input.status_code == 422 and "input is required" in no_input.text


def test_a_token_creates_updates_and_deletes_its_own_deployment(simulator: Any) -> None:
    owner = f"sim-{token_id(TOKEN)[:6]}"  # the account /v1/account names
    with _client(simulator) as client, _client(simulator, OTHER_TOKEN) as other:
        created = client.post("/v1/deployments", json=_create_body())
        assert created.status_code == 200, created.text
        body = created.json()
        assert spec_problems(body, "schemas_deployment_response") == []
        assert (body["owner"], body["name"]) == (owner, "my-music")
        assert body["current_release"]["configuration"]["max_instances"] == 2
        path = f"/v1/deployments/{owner}/my-music"
        assert client.get(path).json() == body
        assert other.get(path).status_code == 404  # another account's: not seen
        listed = {d["name"] for d in client.get("/v1/deployments").json()["results"]}
        assert "my-music" in listed
        assert "my-music" not in {d["name"] for d in other.get("/v1/deployments").json()["results"]}
        again = client.post("/v1/deployments", json=_create_body())
        assert again.status_code == 409

        run = client.post(f"{path}/predictions", json={"input": {"prompt": "x", "duration": 1}})
        assert run.status_code == 201 and run.json()["deployment"] == f"{owner}/my-music"

        updated = client.patch(path, json={"max_instances": 4})
        assert updated.status_code == 200
        release = updated.json()["current_release"]
        assert release["number"] == 2 and release["configuration"]["max_instances"] == 4
        assert client.patch("/v1/deployments/acme/image-generator", json={}).status_code == 403
        assert client.delete(path).status_code == 204
        assert client.get(path).status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "said"),
    [
        (_create_body(version="0" * 64), 422, "Invalid version"),
        (_create_body(model="nobody/nothing"), 422, "Invalid version"),
        (_create_body(max_instances=21), 422, "max_instances"),
        ({"name": "x"}, 422, "model is required"),
        (_create_body(name="Has Spaces"), 422, "name"),
    ],
)
def test_a_bad_create_is_refused(
    simulator: Any, body: dict[str, Any], status: int, said: str
) -> None:
    with _client(simulator) as client:
        answer = client.post("/v1/deployments", json=body)
    assert answer.status_code == status and said in answer.text


def test_deployments_come_from_the_config_and_are_checked() -> None:
    config = SimulatorConfig()
    assert config.deployments == DEPLOYMENTS and config.deployments is not DEPLOYMENTS
    config.update_from_json(
        {"deployments": {"team/chat": {"model": "meta/meta-llama-3-8b-instruct"}}}
    )
    assert set(config.deployments) == {"team/chat"}
    for bad in (
        {"no-slash": {"model": MUSICGEN}},
        {"team/x": {"model": MUSICGEN, "colour": "red"}},
        {"team/x": {}},
        {"team/x": {"model": MUSICGEN, "min_instances": -1}},
    ):
        with pytest.raises(ValueError, match="deployments"):
            config.update_from_json({"deployments": bad})
