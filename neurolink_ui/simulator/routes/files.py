"""Files: upload (multipart, < 100 MB), list, get, download and delete, scoped to the token."""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..catalog import invalid_field
from ..state import StoredFile
from .common import (
    ProblemError,
    base_of,
    invalid_body,
    not_found,
    problem,
    require_token,
    sim_state,
)

MAX_FILE_BYTES = 100 * 1024 * 1024
"""`POST /v1/files` limit (spec: "Files must be less than 100MB in size")."""


async def create_file(request: Request) -> Response:
    token_id = require_token(request)
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_FILE_BYTES + 1024 * 1024:
        raise _too_large()
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise problem(
            400, "Expected a multipart/form-data body with a 'content' part", "Bad request"
        )
    async with request.form(max_files=4, max_fields=16) as form:
        content = form.get("content")
        if not isinstance(content, UploadFile):
            raise invalid_body([invalid_field("required", "content", "content is required")])
        data = await content.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            raise _too_large()
        name_field = form.get("filename")
        type_field = form.get("type")
        metadata_field = form.get("metadata")
        filename = (
            (name_field if isinstance(name_field, str) and name_field else None)
            or content.filename
            or "file"
        )
        content_type = (
            (type_field if isinstance(type_field, str) and type_field else None)
            or content.content_type
            or "application/octet-stream"
        )
    if len(filename.encode()) > 255:
        raise invalid_body([invalid_field("string_lte", "filename", "at most 255 bytes")])
    metadata: Any = {}
    if isinstance(metadata_field, str) and metadata_field:
        try:
            metadata = json.loads(metadata_field)
        except json.JSONDecodeError as exc:
            problem_ = invalid_field("invalid_type", "metadata", f"must be valid JSON: {exc}")
            raise invalid_body([problem_]) from exc
        if not isinstance(metadata, dict):
            raise invalid_body([invalid_field("invalid_type", "metadata", "must be an object")])
    file_id = base64.b64encode(str(uuid.uuid4()).encode()).decode()  # shaped like sample 11
    stored = StoredFile(file_id, filename, content_type, data, metadata, time.time(), token_id)
    sim_state(request).files[file_id] = stored
    return JSONResponse(stored.to_json(base_of(request)), status_code=201)


def own_file(request: Request, token_id: str) -> StoredFile:
    stored = sim_state(request).files.get(request.path_params["id"])
    if stored is None or stored.token_id != token_id:
        raise not_found("File not found")
    return stored


async def list_files(request: Request) -> Response:
    token_id = require_token(request)
    base = base_of(request)
    mine = [f for f in sim_state(request).files.values() if f.token_id == token_id]
    mine.sort(key=lambda f: f.created_at, reverse=True)
    return JSONResponse(
        {"next": None, "previous": None, "results": [f.to_json(base) for f in mine]}
    )


async def get_file(request: Request) -> Response:
    stored = own_file(request, require_token(request))
    return JSONResponse(stored.to_json(base_of(request)))


async def download_file(request: Request) -> Response:
    stored = own_file(request, require_token(request))
    return Response(stored.data, media_type=stored.content_type)


async def delete_file(request: Request) -> Response:
    stored = own_file(request, require_token(request))
    del sim_state(request).files[stored.id]
    return Response(status_code=204)


def _too_large() -> ProblemError:
    return problem(413, "Files must be less than 100MB in size", "Content Too Large")


routes = [
    Route("/v1/files", create_file, methods=["POST"]),
    Route("/v1/files", list_files, methods=["GET"]),
    Route("/v1/files/{id}", get_file, methods=["GET"]),
    Route("/v1/files/{id}", delete_file, methods=["DELETE"]),
    Route("/v1/files/{id}/download", download_file, methods=["GET"]),
]
