"""The equivalent Python (httpx) and curl call for a run, so a prototype can move into code.

The token is always the `REPLICATE_API_TOKEN` variable, never a value.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Collection
from typing import Any

from .replicate.schema import InputSchema
from .replicate.types import ModelRef

_FILE_PLACEHOLDER = "https://example.com/your-file"


def file_field_names(schema: InputSchema) -> tuple[str, ...]:
    """The inputs that take files: a `uri` field, or an array of them (the schema says so)."""
    return tuple(f.name for f in schema.fields if f.is_file or f.item_type == "file")


def _portable_input(model_input: dict[str, Any], file_fields: Collection[str]) -> dict[str, Any]:
    """The input as sent, except file fields: a local upload becomes a URL the reader replaces.

    File-ness comes from the schema only: a Llama prompt starting `<|begin_of_text|>` is text.
    """
    portable: dict[str, Any] = {}
    for name, value in model_input.items():
        if name in file_fields and isinstance(value, list):
            value = [_FILE_PLACEHOLDER for _ in value]
        elif name in file_fields and value is not None:
            value = _FILE_PLACEHOLDER
        portable[name] = value
    return portable


def request_for(
    ref: str,
    model_input: dict[str, Any],
    version_id: str | None = None,
    file_fields: Collection[str] = (),
) -> tuple[str, dict]:
    """The create call: official models by name, pinned or community models by version, a
    deployment by its own route (its release pins the version)."""
    parsed = ModelRef.parse(ref)
    body: dict[str, Any] = {"input": _portable_input(model_input, file_fields)}
    if parsed.deployment:
        return f"https://api.replicate.com/v1/deployments/{parsed.slug}/predictions", body
    version = parsed.version or version_id
    if version:
        body = {"version": version, **body}
        return "https://api.replicate.com/v1/predictions", body
    return f"https://api.replicate.com/v1/models/{parsed.slug}/predictions", body


def python_snippet(
    ref: str,
    model_input: dict[str, Any],
    version_id: str | None = None,
    file_fields: Collection[str] = (),
) -> str:
    url, body = request_for(ref, model_input, version_id, file_fields)
    return (
        "import os\n\nimport httpx\n\n"
        "response = httpx.post(\n"
        f"    {url!r},\n"
        "    headers={\n"
        '        "Authorization": f"Bearer {os.environ[\'REPLICATE_API_TOKEN\']}",\n'
        '        "Prefer": "wait=60",\n'
        "    },\n"
        f"    json={json.dumps(body, indent=4, ensure_ascii=False).replace(chr(10), chr(10) + '    ')},\n"
        "    timeout=70,\n"
        ")\n"
        "response.raise_for_status()\n"
        "prediction = response.json()\n"
        'print(prediction["status"], prediction["output"])\n'
    )


def curl_snippet(
    ref: str,
    model_input: dict[str, Any],
    version_id: str | None = None,
    file_fields: Collection[str] = (),
) -> str:
    url, body = request_for(ref, model_input, version_id, file_fields)
    return (
        f"curl -s -X POST {url} \\\n"
        '  -H "Authorization: Bearer $REPLICATE_API_TOKEN" \\\n'
        '  -H "Content-Type: application/json" \\\n'
        '  -H "Prefer: wait=60" \\\n'
        f"  -d {shlex.quote(json.dumps(body, ensure_ascii=False))}\n"
    )
