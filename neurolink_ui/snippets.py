"""The equivalent Python (httpx) and curl call for a run, so a prototype can move into code.

The token is always the `REPLICATE_API_TOKEN` variable, never a value.
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from .replicate.types import ModelRef

_FILE_PLACEHOLDER = "https://example.com/your-file"


def _portable_input(value: Any) -> Any:
    """File placeholders recorded by the pipeline become a URL the reader replaces."""
    if isinstance(value, dict):
        return {k: _portable_input(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_portable_input(v) for v in value]
    if isinstance(value, str) and (value.startswith("data:") or value.startswith("<")):
        return _FILE_PLACEHOLDER
    return value


def request_for(
    ref: str, model_input: dict[str, Any], version_id: str | None = None
) -> tuple[str, dict]:
    """The create call: official models by name, pinned or community models by version."""
    parsed = ModelRef.parse(ref)
    body: dict[str, Any] = {"input": _portable_input(model_input)}
    version = parsed.version or version_id
    if version:
        body = {"version": version, **body}
        return "https://api.replicate.com/v1/predictions", body
    return f"https://api.replicate.com/v1/models/{parsed.slug}/predictions", body


def python_snippet(ref: str, model_input: dict[str, Any], version_id: str | None = None) -> str:
    url, body = request_for(ref, model_input, version_id)
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


def curl_snippet(ref: str, model_input: dict[str, Any], version_id: str | None = None) -> str:
    url, body = request_for(ref, model_input, version_id)
    return (
        f"curl -s -X POST {url} \\\n"
        '  -H "Authorization: Bearer $REPLICATE_API_TOKEN" \\\n'
        '  -H "Content-Type: application/json" \\\n'
        '  -H "Prefer: wait=60" \\\n'
        f"  -d {shlex.quote(json.dumps(body, ensure_ascii=False))}\n"
    )
