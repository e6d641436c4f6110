"""A light first page: what Gradio sends every visitor, made smaller (issue 21).

- `slim_config()`: Gradio puts every component's API schemas (`api_info`, `api_info_as_input`,
  `api_info_as_output`, `example_inputs`) into the config it embeds in the page and serves at
  /config — ~16 KB for each Chatbot, three quarters of the whole config — though the page's own
  code reads none of them. Only the API description (`Blocks.get_api_info`, behind /info) reads
  them, and only for the inputs and outputs of endpoints a client may call; gradio_client reads
  `api_info` of those same components (is it a file?). So the schemas of every other component
  are dropped, and the API description is unchanged.
- `page_without()`: the page's own view of the config (`config["page"][""]`, what Gradio
  embeds in `/`) leaves out what serves API callers only (the hidden twins of the tabs drawn on
  demand, the Compare API's inputs): the page never triggers them, and every component it is
  handed costs its memory and time to build. `/config`, which gradio_client reads to call them,
  keeps them.
- `CompressPages`: gzip for the page and its JSON (the page embeds the config; Gradio serves
  both uncompressed), and nothing else: the static assets are cached by the browser after the
  first visit, and compressing megabytes of JavaScript per visit would cost the app's CPU more
  than it saves.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

API_SCHEMA_KEYS = ("api_info", "api_info_as_input", "api_info_as_output", "example_inputs")
# Paths under the app's root whose answers are compressed: the page, its config, the API info.
COMPRESSED_PATHS = frozenset({"/", "/config", "/config/", "/gradio_api/info", "/gradio_api/info/"})
COMPRESS_LEVEL = 6  # zlib's default: ~7× smaller config, a few ms of CPU for 200 KB


def api_component_ids(fns: Iterable[Any]) -> set[int]:
    """Ids of the components that are an input or output of an endpoint a client may call."""
    ids: set[int] = set()
    for fn in fns:
        if getattr(fn, "api_visibility", "private") == "private" or not getattr(fn, "fn", None):
            continue
        ids.update(block._id for block in (*fn.inputs, *fn.outputs))
    return ids


def slim_config(components: list[dict[str, Any]], keep: set[int]) -> int:
    """Drop the API schemas of every component not in `keep`, in place; how many keys went.

    Those in `keep` lose only what is read nowhere or read with a fallback to the same value:
    `example_inputs` (the API description takes them from the component itself) and an
    `api_info_as_input`/`api_info_as_output` equal to `api_info` (read as
    `get("api_info_as_input", api_info)`)."""
    dropped = 0
    for component in components:
        if component.get("id") in keep:
            keys = ["example_inputs"]
            info = component.get("api_info")
            keys += [k for k in API_SCHEMA_KEYS[1:3] if k in component and component[k] == info]
        else:
            keys = list(API_SCHEMA_KEYS)
        for key in keys:
            if key in component:
                del component[key]
                dropped += 1
    return dropped


def page_without(config: dict[str, Any], roots: set[int]) -> int:
    """Leave the blocks under `roots` (and they themselves) out of the page's view of `config`,
    with the events they trigger or serve, and the steps after those; in place. Returns how
    many components went. `config["components"]` and `config["dependencies"]` (behind /config)
    are untouched."""
    page = config.get("page", {}).get("")
    if page is None:
        return 0
    removed: set[int] = set()

    def prune(node: dict[str, Any]) -> bool:  # True: the node goes
        if node.get("id") in roots:
            collect(node)
            return True
        node["children"] = [child for child in node.get("children", []) if not prune(child)]
        if not node["children"]:
            del node["children"]
        return False

    def collect(node: dict[str, Any]) -> None:
        removed.add(node["id"])
        for child in node.get("children", []):
            collect(child)

    layout = page["layout"]
    layout["children"] = [child for child in layout.get("children", []) if not prune(child)]
    gone: set[int] = set()
    for dependency in config.get("dependencies", []):  # in id order: a step after its event
        targets = {target[0] for target in dependency.get("targets", [])}
        blocks = set(dependency.get("inputs", [])) | set(dependency.get("outputs", []))
        if (
            (targets and targets <= removed)
            or (not targets and blocks and blocks <= removed)
            or dependency.get("trigger_after") in gone
        ):
            gone.add(dependency["id"])
    page["components"] = [i for i in page["components"] if i not in removed]
    page["dependencies"] = [i for i in page["dependencies"] if i not in gone]
    return len(removed)


class CompressPages:
    """ASGI middleware: Starlette's GZip for COMPRESSED_PATHS only (relative to `root_path`)."""

    def __init__(self, app: ASGIApp, minimum_size: int = 1000) -> None:
        self.app = app
        self.gzip = GZipMiddleware(app, minimum_size=minimum_size, compresslevel=COMPRESS_LEVEL)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.compressed(scope):
            await self.gzip(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    @staticmethod
    def compressed(scope: Scope) -> bool:
        path: str = scope.get("path", "")
        root: str = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :] or "/"
        return path in COMPRESSED_PATHS
