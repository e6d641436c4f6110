"""Models: get a model, its versions, and create a prediction by model name (official models)."""

from __future__ import annotations

import copy
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..catalog import SimModel, get_model
from .common import base_of, not_found, require_credit, require_token, sim_state
from .predictions import CREATE_KEYS, create_with_model, read_create_body


async def get_model_route(request: Request) -> Response:
    require_token(request)
    return JSONResponse(model_json(request, existing_model(request)))


def model_json(request: Request, model: SimModel) -> dict[str, Any]:
    """The model object (`schemas_model_response`), as `GET /v1/models/{o}/{n}` and search give
    it: its run count is the one the evidence recorded plus the simulator's predictions of it,
    its cover an image it serves."""
    predictions = sim_state(request).predictions.values()
    runs = model.recorded_runs + sum(1 for p in predictions if p.model.slug == model.slug)
    return {
        "url": f"https://replicate.com/{model.slug}",
        "owner": model.owner,
        "name": model.name,
        "description": model.description,
        "visibility": "public",
        "github_url": None,
        "paper_url": None,
        "license_url": None,
        "run_count": runs,
        "cover_image_url": f"{base_of(request)}/covers/{model.owner}/{model.name}.webp",
        "default_example": _default_example(model),
        "is_official": model.is_official,
        "latest_version": _version_json(model),
    }


async def list_versions(request: Request) -> Response:
    require_token(request)
    model = _versioned_model(request)
    return JSONResponse({"next": None, "previous": None, "results": [_version_json(model)]})


async def get_version(request: Request) -> Response:
    require_token(request)
    model = _versioned_model(request)
    if request.path_params["version"] != model.version_id:
        raise not_found("Version not found.")
    return JSONResponse(_version_json(model))


async def create_model_prediction(request: Request) -> Response:
    token_id = require_token(request)
    model = existing_model(request)
    if not model.is_official:
        raise not_found(
            f"The model {model.slug} is not an official model, so it cannot be run by name. "
            f'Run a version of it instead: POST /v1/predictions with "version": '
            f'"{model.version_id}".'
        )
    require_credit(request)
    body = await read_create_body(request, CREATE_KEYS)
    return await create_with_model(request, model, body, token_id)


def existing_model(request: Request) -> SimModel:
    owner, name = request.path_params["owner"], request.path_params["name"]
    model = get_model(owner, name, sim_state(request).config.model_overrides)
    if model is None:
        raise not_found(f"Model {owner}/{name} not found.")
    return model


def _versioned_model(request: Request) -> SimModel:
    model = existing_model(request)
    if model.is_official:  # official models expose no versions (MODELS.md)
        raise not_found(f"Model {model.slug} is an official model and has no public versions.")
    return model


def _default_example(model: SimModel) -> dict[str, Any] | None:
    """The catalogue's example input as the prediction object Replicate shows on the model; its
    id is the first of `/examples` (which lists the default example first, with its output)."""
    if model.default_example is None:
        return None
    return {
        "id": model.example_id(0, model.default_example["input"]),
        "model": model.slug,
        "version": model.version_id,
        "status": "succeeded",
        **copy.deepcopy(model.default_example),
    }


def _version_json(model: SimModel) -> dict[str, Any]:
    return {
        "id": model.version_id,
        "created_at": "2024-06-01T12:00:00.000000Z",
        "cog_version": "0.9.9",
        "openapi_schema": model.openapi_schema(),
    }


routes = [
    Route("/v1/models/{owner}/{name}", get_model_route, methods=["GET"]),
    Route("/v1/models/{owner}/{name}/predictions", create_model_prediction, methods=["POST"]),
    Route("/v1/models/{owner}/{name}/versions", list_versions, methods=["GET"]),
    Route("/v1/models/{owner}/{name}/versions/{version}", get_version, methods=["GET"]),
]
