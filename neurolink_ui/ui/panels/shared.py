"""Share links: the read-only view of one kept result at `/?result=<share id>`, its Remix, and
the meta tags (title, preview image) a chat app reads from the link.

The view shows what was asked and what came back — prompt, input as sent, model, times, outputs —
and nothing else: no token, no server paths, no other entries. Remix loads the inputs into the
panel that made it (`RemixTarget`, one per panel) and opens that tab.
"""

from __future__ import annotations

import html
import json
import mimetypes
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import gradio as gr
from starlette.responses import FileResponse, PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ...costs import recorded_cost_text
from ...modalities.generic import ResultViews, file_category, result_views, sniff_file
from ...modalities.registry import result_kind
from ...results import ResultStore, StoredResult, valid_share_id
from ...runs.work import offload
from ..components import described
from ..inert import as_text, without_html
from ..remix import Remixable
from ..retention import duration_text

SHARED_TAB = "shared"
PREVIEW_PATH = "/shared-preview/"


# ---- the view ------------------------------------------------------------------------------------


def not_found_markdown(reason: str) -> str:
    return f"### 🔗 Shared result\n\n{reason}"


MALFORMED = (
    "This link's result id is not valid: check that the whole link was copied "
    "(it ends with `?result=` and a long id)."
)
SHARING_OFF = "Sharing is turned off on this server, so shared results cannot be opened."


def unknown_text(ttl: float) -> str:
    kept = f"Results are kept {duration_text(ttl)}; " if ttl > 0 else ""
    return (
        "No shared result has this id. It may have been deleted by the person who shared it, "
        f"or it has expired. {kept}ask them for a new link."
    )


def result_markdown(result: StoredResult) -> str:
    """The view's text: what was asked, of which model, how long it took, and the answer."""
    title = result_kind(result.kind).title
    times = [f"total {result.wall_time:.2f} s"]
    cost = recorded_cost_text(result.cost_usd, result.cost_basis, result.simulated)
    if cost:
        basis = without_html(result.cost_basis)
        times.insert(0, f"{cost} ({basis})" if basis else cost)
    if result.predict_time is not None:
        times.insert(0, f"predict {result.predict_time:.2f} s")
    if result.cold_boot:
        times.append("cold boot")
    version = (
        f" · version `{result.version[:12]}…`" if result.version not in (None, "hidden") else ""
    )
    compare = result.kind == "compare"
    lines = [
        "### 🔗 Shared comparison" if compare else f"### 🔗 Shared {title.lower()} result",
        f"**{'Models' if compare else 'Model'}** `{result.model}`{version} · {' · '.join(times)}",
    ]
    if result.prompt:
        lines.append("**Prompt**\n\n" + _quote(result.prompt))
    if result.text:  # a model wrote it: Markdown, but no raw HTML nor images
        lines.append(
            ("**Cells**" if compare else "**Answer**") + "\n\n" + without_html(result.text)
        )
    params = json.dumps(result.input, ensure_ascii=False, indent=1)
    if len(params) > 8000:
        params = params[:8000] + "…"
    lines.append(f"<details><summary>Input as sent</summary>\n\n```json\n{params}\n```\n</details>")
    if result.notes:
        lines.append("\n".join(f"- {without_html(note)}" for note in result.notes))
    return "\n\n".join(lines)


def _quote(text: str) -> str:
    """A visitor's text as a quote, shown exactly as written (no Markdown, no HTML of theirs)."""
    return "\n".join(f"> {as_text(line)}" if line else ">" for line in text.splitlines())


MAX_PLAYERS = 4  # video and audio players: one per cell of the largest compare
MEDIA_COUNT = 3 + 2 * MAX_PLAYERS  # SharedView.media: input files and audio, gallery, players


@dataclass(frozen=True)
class SharedView:
    """The components of the Shared tab."""

    tab: gr.Tab
    text: gr.Markdown
    inputs: gr.Gallery  # the pictures (and videos) the input was given
    input_audio: gr.Audio  # and its audio (a narration, a melody)
    gallery: gr.Gallery
    videos: tuple[gr.Video, ...]
    audios: tuple[gr.Audio, ...]
    remix: gr.Button
    shown: gr.State  # the share id on display (what Remix loads)

    @property
    def media(self) -> list[Any]:
        """What `shared_media` fills, in its order."""
        return [self.inputs, self.input_audio, self.gallery, *self.videos, *self.audios]

    @property
    def outputs(self) -> list[Any]:
        return [self.tab, self.text, *self.media, self.remix, self.shown]


def build_shared_tab() -> SharedView:
    """The Shared tab (hidden until a link opens it): read-only text, the input's files, the
    outputs, Remix."""
    with gr.Tab("🔗 Shared result", id=SHARED_TAB, visible=False) as tab:
        text = gr.Markdown()
        with gr.Row(equal_height=False):
            inputs = gr.Gallery(
                label="Input files",
                columns=4,
                height="auto",
                object_fit="contain",
                visible=False,
                scale=2,
                elem_classes=["nl-inputs"],  # thumbnails, not a lone picture blown up (app.CSS)
            )
            input_audio = gr.Audio(label="Input audio", visible=False, interactive=False)
        gallery = gr.Gallery(
            label="Images",
            columns=2,
            height=520,
            object_fit="contain",
            elem_classes=["nl-gallery"],  # a lone image shows whole (see app.CSS)
            visible=False,
        )
        with gr.Row(equal_height=False):
            videos = tuple(
                gr.Video(label="Video", visible=False, interactive=False, min_width=300)
                for _ in range(MAX_PLAYERS)
            )
        with gr.Row(equal_height=False):
            audios = tuple(
                gr.Audio(label="Audio", visible=False, interactive=False, min_width=300)
                for _ in range(MAX_PLAYERS)
            )
        remix = gr.Button("🎛️ Remix: load these inputs into the panel", visible=False)
        shown = gr.State(None)
    return SharedView(tab, text, inputs, input_audio, gallery, videos, audios, remix, shown)


def _media_of(paths: Sequence[Path]) -> ResultViews:
    """The existing files among `paths`, sorted by what their bytes say they are (the sorting
    Explore's outputs go through)."""
    sniffed = [(path, sniff_file(path)) for path in paths if path.is_file()]
    return result_views("files", sniffed, text=None, data=None)


def shared_media(result: StoredResult) -> list[Any]:
    """The Shared tab's media updates, in `SharedView.media` order: the input's files, then the
    outputs, each shown by what its bytes are (every video and audio, up to MAX_PLAYERS each;
    a compare's files captioned with their cell's model). Unused players are hidden."""
    given = _media_of([path for paths in result.input_files.values() for path in paths])
    pictures = [str(p) for p in (*given.images, *given.videos)]
    outputs = _media_of(result.files)
    label = {path: result.file_label(i) for i, path in enumerate(result.files)}

    def players(found: Sequence[Path], player: type[gr.Video | gr.Audio]) -> list[Any]:
        fallback = "Video" if player is gr.Video else "Audio"
        shown = [
            player(value=str(path), label=label[path] or fallback, visible=True)
            for path in found[:MAX_PLAYERS]
        ]
        return shown + [player(visible=False) for _ in range(MAX_PLAYERS - len(shown))]

    return [
        gr.Gallery(value=pictures, visible=True) if pictures else gr.Gallery(visible=False),
        gr.Audio(value=str(given.audios[0]), visible=True)
        if given.audios
        else gr.Audio(visible=False),
        _pictures(outputs.images, label, result),
        *players(outputs.videos, gr.Video),
        *players(outputs.audios, gr.Audio),
    ]


def _pictures(images: Sequence[Path], label: dict[Path, str | None], result: StoredResult) -> Any:
    """The shared outputs' gallery: a comparison's pictures captioned with their cell's model
    (shown, as its alt text too), another result's with its prompt as alt text only."""
    if not images:
        return gr.Gallery(value=None, visible=False)
    if any(label[path] for path in images):
        captioned = [(str(path), label[path] or "") for path in images]
        return gr.Gallery(value=captioned, visible=True, elem_classes=["nl-gallery"])
    pictures = described(images, result.prompt, f"An output of {result.model}")
    return gr.Gallery(value=pictures, visible=True, elem_classes=["nl-gallery", "nl-alt"])


def make_open_shared(
    store: ResultStore, sharing: bool, remixable: set[str]
) -> Callable[[gr.Request], tuple[Any, ...]]:
    """The page-load step: a `result` in the address opens the Shared tab with that result, or
    with a clear reason it cannot (sharing off, a malformed or unknown id). Without one, nothing
    changes."""

    def open_shared(request: gr.Request) -> tuple[Any, ...]:
        params = getattr(request, "query_params", None) or {}
        raw = params.get("result") if hasattr(params, "get") else None
        if raw is None:
            return (gr.skip(),) * (5 + MEDIA_COUNT)

        def message(text: str) -> tuple[Any, ...]:
            return (
                gr.Tab(visible=True),
                not_found_markdown(text),
                *(gr.skip(),) * MEDIA_COUNT,
                gr.Button(visible=False),
                None,
                gr.Tabs(selected=SHARED_TAB),
            )

        if not sharing:
            return message(SHARING_OFF)
        share_id = valid_share_id(raw)
        if share_id is None:
            return message(MALFORMED)
        result = store.shared(share_id)
        if result is None:
            return message(unknown_text(store.ttl))
        return (
            gr.Tab(visible=True),
            result_markdown(result),
            *shared_media(result),
            gr.Button(visible=result.kind in remixable),
            share_id,
            gr.Tabs(selected=SHARED_TAB),
        )

    return open_shared


def wire_shared(
    demo: gr.Blocks,
    tabs: gr.Tabs,
    view: SharedView,
    store: ResultStore,
    sharing: bool,
    targets: Sequence[Remixable],
) -> None:
    """Page load opens a linked result; Remix fills its panel's inputs and opens that tab."""
    demo.load(
        make_open_shared(store, sharing, {t.panel for t in targets}),
        None,
        [*view.outputs, tabs],
        api_visibility="private",
        show_progress="hidden",
    )
    outputs = [tabs, *(c for t in targets for c in t.components)]

    def remix(share_id: str | None) -> list[Any]:
        result = store.shared(share_id) if sharing else None
        updates: list[Any] = [gr.skip()]
        for target in targets:
            if result is not None and target.panel == result.kind:
                updates[0] = gr.Tabs(selected=target.panel)
                updates += target.values(result)
            else:
                updates += [gr.skip()] * len(target.components)
        return updates

    # Queued: a queued event reports the States it changed, whose `change` loads the Advanced form.
    view.remix.click(remix, [view.shown], outputs, api_visibility="private")


# ---- meta tags and the preview image -------------------------------------------------------------

_SOCIAL_META = re.compile(r"<meta\s+(?:property|name)=\"(?:og|twitter):[^>]*>\s*", re.S)


def meta_tags(
    result: StoredResult, page_url: str | None, preview_url: str | None, site: str
) -> str:
    """The head of a shared result's page: its title, description and (for an image) preview.
    Every value escaped; no og:url without a page URL."""
    title = f"{result_kind(result.kind).title} by {result.model} — {site}"
    description = " ".join(result.prompt.split())[:200] or f"A result of {result.model}"
    esc = html.escape
    tags = [
        f"<title>{esc(title)}</title>",
        f'<meta property="og:title" content="{esc(title, quote=True)}" />',
        f'<meta property="og:description" content="{esc(description, quote=True)}" />',
        '<meta property="og:type" content="website" />',
        f'<meta name="twitter:title" content="{esc(title, quote=True)}" />',
        f'<meta name="twitter:description" content="{esc(description, quote=True)}" />',
    ]
    if page_url:
        tags.append(f'<meta property="og:url" content="{esc(page_url, quote=True)}" />')
    if preview_url:
        tags += [
            f'<meta property="og:image" content="{esc(preview_url, quote=True)}" />',
            f'<meta name="twitter:image" content="{esc(preview_url, quote=True)}" />',
            '<meta name="twitter:card" content="summary_large_image" />',
        ]
    return "\n".join(tags) + "\n"


def preview_file(result: StoredResult) -> Path | None:
    """The image a link card shows: an image result's (or comparison's) first picture."""
    if result.kind not in ("image", "compare"):
        return None
    for path in result.files:
        if file_category(path) == "image":  # by its bytes, as every view decides it
            return path
    return None


class SharedPageMeta:
    """ASGI middleware: the page at `/?result=<share id>` gets the result's meta tags (Gradio's
    `head` is the same for every page), and `/shared-preview/<share id>` serves its preview
    image — only for a shared image result, only while sharing is on.

    Absolute addresses come from `public_url` (the configured one) only, never from a request's
    `Host` or `X-Forwarded-Host` (anyone may send those); without it the preview's address is
    relative and og:url is left out."""

    def __init__(
        self,
        app: ASGIApp,
        store: ResultStore,
        sharing: bool,
        site: str = "NeuroLink UI",
        public_url: str | None = None,
    ) -> None:
        self.app = app
        self.store = store
        self.sharing = sharing
        self.site = site
        self.public_url = public_url.rstrip("/") if public_url else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD") or not self.sharing:
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if PREVIEW_PATH in path and "/gradio_api/" not in path:  # never one of Gradio's routes
            await self._preview(path.rsplit(PREVIEW_PATH, 1)[1], scope, receive, send)
            return
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        share_id = valid_share_id((query.get("result") or [None])[0])
        # A database read (PostgreSQL's over the network): in a worker thread, off the loop.
        result = await offload(self.store.shared, share_id) if share_id else None
        if result is None or not path.endswith("/"):
            await self.app(scope, receive, send)
            return
        await self._with_meta(result, share_id or "", scope, receive, send)

    async def _preview(self, raw_id: str, scope: Scope, receive: Receive, send: Send) -> None:
        result = await offload(self.store.shared, raw_id.strip("/"))
        # preview_file reads the file's first bytes (and shared() checks its digest): off the loop
        image = await offload(preview_file, result) if result is not None else None
        if image is None:
            response: Any = PlainTextResponse("No preview for this link.", status_code=404)
        else:
            media_type = mimetypes.guess_type(image.name)[0] or "application/octet-stream"
            response = FileResponse(
                image, media_type=media_type, headers={"Cache-Control": "public, max-age=3600"}
            )
        await response(scope, receive, send)

    async def _with_meta(
        self, result: StoredResult, share_id: str, scope: Scope, receive: Receive, send: Send
    ) -> None:
        root = self.public_url or str(scope.get("root_path") or "").rstrip("/")
        page_url = f"{root}/?result={share_id}" if self.public_url else None
        preview = f"{root}{PREVIEW_PATH}{share_id}" if preview_file(result) else None
        head = meta_tags(result, page_url, preview, self.site)
        start: Message | None = None
        chunks: list[bytes] = []

        async def buffered(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] != "http.response.body" or start is None:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = b"".join(chunks)
            headers = [
                (k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"
            ]
            is_html = any(
                k.lower() == b"content-type" and v.startswith(b"text/html") for k, v in headers
            )
            if is_html and b"<head>" in body:
                page = _SOCIAL_META.sub("", body.decode("utf-8"))
                body = page.replace("<head>", "<head>\n" + head, 1).encode("utf-8")
            headers.append((b"content-length", str(len(body)).encode()))
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": body, "more_body": False})

        await self.app(scope, receive, buffered)
