"""Deployments: list, create, get, update, delete, and create a prediction through one.

A deployment runs one version of a catalogue model (its current release) and is served as the
spec's `schemas_deployment_response`. Two kinds: those in `SimulatorConfig.deployments`, which
every token sees and runs (read-only: update and delete answer 403), and those a token creates
with `POST /v1/deployments`, owned by its account (`sim-<6 hex>`, as `/v1/account` says) and seen
by it alone. A prediction through a deployment is created as any other (`Prefer`, `Cancel-After`,
the model's schema), runs its release's version, and says `"deployment": "owner/name"`.

Choices where Replicate's behaviour is unverified: a second deployment of the same name is a 409;
a model or version the simulator does not serve is a 422 `Invalid version or not permitted`
(as the predictions create); unknown keys of a create or update body are ignored.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..catalog import SimModel, get_model, invalid_field
from ..state import SimDeployment, SimState
from .common import (
    ProblemError,
    invalid_body,
    not_found,
    problem,
    require_credit,
    require_token,
    sim_state,
)
from .predictions import _INVALID_VERSION, CREATE_KEYS, create_with_model, read_create_body

_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,99}")
_LIMITS = {"min_instances": 5, "max_instances": 20}  # the spec's maxima (minimum 0)
_CREATE_REQUIRED = ("name", "model", "version", "hardware", "min_instances", "max_instances")


def account_of(token_id: str) -> str:
    """The username of the token's account, as `/v1/account` gives it."""
    return f"sim-{token_id[:6]}"


def _model(state: SimState, slug: str) -> SimModel | None:
    owner, _, name = slug.partition("/")
    return get_model(owner, name, state.config.model_overrides) if owner and name else None


def configured(state: SimState, slug: str) -> SimDeployment | None:
    """A deployment of the config (every token sees it); None when there is none, or its model
    is not one the simulator serves."""
    spec = state.config.deployments.get(slug)
    if spec is None:
        return None
    model = _model(state, spec["model"])
    if model is None:
        return None
    owner, name = slug.split("/")
    return SimDeployment(
        owner=owner,
        name=name,
        model=model.slug,
        version=spec.get("version") or model.version_id,
        hardware=spec.get("hardware", "gpu-t4"),
        min_instances=spec.get("min_instances", 0),
        max_instances=spec.get("max_instances", 1),
    )


def find(state: SimState, owner: str, name: str, token_id: str) -> SimDeployment | None:
    slug = f"{owner}/{name}"
    created = state.deployments.get(slug)
    if created is not None:
        return created if created.token_id == token_id else None
    return configured(state, slug)


def _existing(request: Request, token_id: str) -> SimDeployment:
    owner, name = request.path_params["owner"], request.path_params["name"]
    found = find(sim_state(request), owner, name, token_id)
    if found is None:
        raise not_found(f"Deployment {owner}/{name} not found.")
    return found


def _own(request: Request, token_id: str) -> SimDeployment:
    found = _existing(request, token_id)
    if found.token_id is None:
        raise problem(
            403,
            f"Deployment {found.slug} is configured in the simulator (SimulatorConfig."
            "deployments): change it there.",
            "Forbidden",
        )
    return found


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise problem(400, f"Request body is not valid JSON: {exc}", "Invalid JSON") from exc
    if not isinstance(body, dict):
        raise invalid_body([invalid_field("type", "(root)", "Invalid type. Expected: object")])
    return body


def _check_fields(body: dict[str, Any], required: tuple[str, ...]) -> None:
    fields = [
        invalid_field("required", "(root)", f"{k} is required") for k in required if k not in body
    ]
    for key in ("name", "model", "version", "hardware"):
        if key in body and not isinstance(body[key], str):
            fields.append(invalid_field("invalid_type", key, "Invalid type. Expected: string"))
    for key, most in _LIMITS.items():
        value = body.get(key, 0)
        if not isinstance(value, int) or isinstance(value, bool):
            fields.append(invalid_field("invalid_type", key, "Invalid type. Expected: integer"))
        elif not 0 <= value <= most:
            fields.append(invalid_field("number_lte", key, f"Must be between 0 and {most}"))
    if fields:
        raise invalid_body(fields)


def _checked_version(state: SimState, model_slug: str, version: str) -> SimModel:
    model = _model(state, model_slug)
    if model is None or version != model.version_id:
        raise ProblemError(422, dict(_INVALID_VERSION))
    return model


async def list_deployments(request: Request) -> Response:
    token_id = require_token(request)
    state = sim_state(request)
    own = sorted(
        (d for d in state.deployments.values() if d.token_id == token_id),
        key=lambda d: d.created_at,
        reverse=True,
    )
    shared = [d for slug in state.config.deployments if (d := configured(state, slug))]
    results = [d.to_json() for d in [*own, *shared]]
    return JSONResponse({"next": None, "previous": None, "results": results})


async def create_deployment(request: Request) -> Response:
    token_id = require_token(request)
    body = await _json_object(request)
    _check_fields(body, _CREATE_REQUIRED)
    state = sim_state(request)
    if not _NAME.fullmatch(body["name"]):
        raise invalid_body(
            [invalid_field("pattern", "name", "lowercase letters, digits, '.', '_' and '-'")]
        )
    model = _checked_version(state, body["model"], body["version"])
    owner = account_of(token_id)
    slug = f"{owner}/{body['name']}"
    if slug in state.deployments or slug in state.config.deployments:
        raise problem(409, f"A deployment named {slug} already exists.", "Conflict")
    deployment = SimDeployment(
        owner=owner,
        name=body["name"],
        model=model.slug,
        version=body["version"],
        hardware=body["hardware"],
        min_instances=body["min_instances"],
        max_instances=body["max_instances"],
        created_at=time.time(),
        token_id=token_id,
    )
    state.deployments[slug] = deployment
    return JSONResponse(deployment.to_json())


async def get_deployment(request: Request) -> Response:
    return JSONResponse(_existing(request, require_token(request)).to_json())


async def update_deployment(request: Request) -> Response:
    deployment = _own(request, require_token(request))
    body = await _json_object(request)
    _check_fields(body, ())
    if "version" in body:
        _checked_version(sim_state(request), deployment.model, body["version"])
        deployment.version = body["version"]
    for key in ("hardware", "min_instances", "max_instances"):
        if key in body:
            setattr(deployment, key, body[key])
    deployment.release += 1  # any change makes a new release (spec)
    deployment.created_at = time.time()
    return JSONResponse(deployment.to_json())


async def delete_deployment(request: Request) -> Response:
    deployment = _own(request, require_token(request))
    sim_state(request).deployments.pop(deployment.slug, None)
    return Response(status_code=204)


async def create_deployment_prediction(request: Request) -> Response:
    token_id = require_token(request)
    deployment = _existing(request, token_id)
    require_credit(request)
    body = await read_create_body(request, CREATE_KEYS)
    model = _model(sim_state(request), deployment.model)
    if model is None:  # its model went away (model_overrides: gone) after it was made
        raise ProblemError(422, dict(_INVALID_VERSION))
    return await create_with_model(
        request, model, body, token_id, deployment=deployment.slug, version=deployment.version
    )


routes = [
    Route("/v1/deployments", list_deployments, methods=["GET"]),
    Route("/v1/deployments", create_deployment, methods=["POST"]),
    Route("/v1/deployments/{owner}/{name}", get_deployment, methods=["GET"]),
    Route("/v1/deployments/{owner}/{name}", update_deployment, methods=["PATCH"]),
    Route("/v1/deployments/{owner}/{name}", delete_deployment, methods=["DELETE"]),
    Route(
        "/v1/deployments/{owner}/{name}/predictions",
        create_deployment_prediction,
        methods=["POST"],
    ),
]
