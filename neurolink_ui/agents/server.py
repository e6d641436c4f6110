"""The playground as an MCP server (issue 24): tools an agent calls, guarded like the page.

Built with the `mcp` SDK's low-level `Server` and mounted inside the app's own ASGI app (an ASGI
middleware, `AgentEndpoint`, in front of Gradio's routes) at `/gradio_api/mcp/` — Streamable
HTTP, both the handshake era (2024-11-05 … 2025-11-25, sessions) and the 2026-07-28 per-request
era — and the older HTTP+SSE transport at `/gradio_api/mcp/sse`. Gradio's own MCP server
(`launch(mcp_server=True)`) is never started: its queued tool calls go through one shared
`gradio_client` session (every agent in one fair-queue lane, counted as one loopback visitor),
report only queue steps as progress, and leave the prediction running when an agent cancels;
docs/ARCHITECTURE.md, "Agents", says more.

Each tool call is a thin renderer of the run core's typed events (`runs.run`), exactly as a panel
is: the same admission, allow-list, cost clamps, deadline, downloads and results store. Who asks
is worked out as the page does (`quota.identity.identify`: a signed-in Hugging Face user, else the
address behind NEUROLINK_PROXY_HOPS), and an agent may bring its own Replicate token in a request
header (`X-Replicate-Token`, or `Authorization: Bearer r8_…`): its runs go to its account, the
owner's limits do not apply, and the token is used for that call only — never logged, stored or
written into a result.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import hashlib
import hmac
import json
import logging
import re
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr
import mcp_types as types
from mcp.server import Server, ServerRequestContext
from mcp.server.sse import SseServerTransport
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from .. import __version__
from ..comparison import CellView, CompareBoard, ComparePlan, cell_key, parse_plan
from ..config import BUILTIN_SIMULATOR_TOKEN
from ..modalities.common import InputProblem
from ..modalities.registry import get_modality
from ..modalities.spec import ModalityValues
from ..pipeline import progress_phase
from ..quota.identity import Visitor, identify
from ..replicate.errors import ReplicateError
from ..replicate.schema import InputField
from ..replicate.types import Progress
from ..results import valid_history_id
from ..runs import (
    Caller,
    RunFailed,
    RunFinished,
    RunProgress,
    RunRequest,
    RunStarted,
    RunStopped,
    RunText,
    run,
)
from ..runs.work import offload
from ..ui.common import image_check, mapper
from ..ui.context import AppContext
from ..ui.fairness import wait_text
from ..ui.history_log import HistoryLog, share_url
from ..ui.panels.compare import compare_record
from ..ui.panels.compare_cells import run_cell
from ..ui.panels.explore import ExploreHandlers, explore_output, fitted_input
from .content import RunReport, compare_result, error_result, run_result
from .tools import (
    MAX_DATA_URL_CHARS,
    MAX_SEARCH_RESULTS,
    MAX_URL_CHARS,
    Limits,
    ToolSpec,
    checked_arguments,
    tool_specs,
)

log = logging.getLogger("neurolink_ui.agents")

MCP_PATH = "/gradio_api/mcp"  # where Gradio serves its own: Spaces' MCP addresses stay the same
SSE_PATH = MCP_PATH + "/sse"
MESSAGES_PATH = MCP_PATH + "/messages/"
MAX_BODY_BYTES = 16 * 1024 * 1024  # one MCP message (a data: URL of ~10 MB fits)
MAX_INPUT_FILE_BYTES = 32 * 1024 * 1024  # an input file fetched from an agent's address
TOKEN_HEADER = "x-replicate-token"
BACKEND_HEADER = "x-neurolink-backend"  # "simulator": the free built-in simulator
_TOKEN = re.compile(r"r8_[A-Za-z0-9]{1,200}")

INSTRUCTIONS = (
    "NeuroLink UI runs Replicate's hosted models: chat, images, video, talking avatars, music, "
    "any model from its inputs, and side-by-side comparisons. Each tool waits for its result "
    "and returns its text and files with a lasting share link. Send your own Replicate token in "
    "the X-Replicate-Token header to run on your account without this app's limits, or "
    "X-NeuroLink-Backend: simulator for free synthetic outputs."
)

AGENT_WAYS = (
    "To go on now: send your own Replicate token in the X-Replicate-Token header (your account "
    "pays, no limits here), send X-NeuroLink-Backend: simulator (free, synthetic outputs), or "
    "run your own copy of this app with your own token."
)


class AgentRefused(Exception):
    """A call refused before it runs (a fair-share bound, a malformed header)."""

    def __init__(self, message: str, title: str = "Refused") -> None:
        super().__init__(message)
        self.message = message
        self.title = title


@dataclass(frozen=True)
class Agent:
    """Who a tool call is from: the token its runs use (its own, the simulator's, or None: the
    app's default backend), how it is counted, and the app's address as it reached it."""

    token: str | None = field(repr=False)
    visitor: Visitor
    base: str  # the app's public address: share and file links
    history_id: str  # where its results are kept (derived from the visitor, never sent)
    room: str  # its outputs folder's session name

    @property
    def own_token(self) -> bool:
        return self.token is not None and self.token != BUILTIN_SIMULATOR_TOKEN


def _token_of(request: Request) -> str | None:
    """The agent's own Replicate token from the request's headers (None: it brought none).
    AgentRefused for a header that is not a token — without repeating what it held."""
    raw = request.headers.get(TOKEN_HEADER)
    if raw is None:
        bearer = request.headers.get("authorization", "")
        scheme, _, value = bearer.partition(" ")
        # A Bearer that is not Replicate's (a Hugging Face token reaching a private Space) is
        # not meant for us: ignored, never refused.
        if scheme.lower() == "bearer" and value.strip().startswith("r8_"):
            raw = value
    if raw is None:
        backend = request.headers.get(BACKEND_HEADER, "").strip().lower()
        if backend in ("", "default"):
            return None
        if backend == "simulator":
            return BUILTIN_SIMULATOR_TOKEN
        raise AgentRefused(
            "The X-NeuroLink-Backend header takes `simulator` (or `default`).", "Bad header"
        )
    token = raw.strip()
    if not _TOKEN.fullmatch(token):
        raise AgentRefused(
            "The X-Replicate-Token header does not hold a Replicate API token (r8_ followed by "
            "letters and digits). Copy it again from replicate.com/account/api-tokens.",
            "Bad token header",
        )
    return token


def _signed_in(scope: MutableMapping[str, Any]) -> str | None:
    """The Hugging Face user signed in through the app's OAuth (its session cookie), if any."""
    session = scope.get("session")
    if not isinstance(session, dict):
        return None
    info = session.get("oauth_info")
    if not isinstance(info, dict):
        return None
    expires = info.get("expires_at")
    if isinstance(expires, int | float) and expires < time.time():
        return None
    user = info.get("userinfo")
    name = user.get("preferred_username") if isinstance(user, dict) else None
    return name if isinstance(name, str) and name else None


class Reporter:
    """MCP progress notifications for one call: status, percent and log lines, the value
    increasing with every notification (as the protocol asks)."""

    def __init__(self, context: ServerRequestContext[Any, Any]) -> None:
        self.context = context
        self.value = 0.0

    async def say(self, message: str, percent: float | None = None) -> None:
        value = self.value + 0.1 if percent is None else max(self.value + 0.1, min(percent, 99.9))
        self.value = min(value, 99.9)
        with contextlib.suppress(Exception):  # a client gone is the run's cancellation, not this
            await self.context.session.report_progress(self.value, 100.0, message[:2000])

    async def progress(self, event: Progress, prefix: str = "") -> None:
        await self.say(prefix + progress_line(event), event.percent)


def progress_line(event: Progress) -> str:
    """One progress message: what Replicate does, for how long, how far, the last log lines."""
    phase = progress_phase(event.status, event.elapsed, event.percent)
    pct = f" {phase.percent:.0f}%" if phase.percent is not None else ""
    doing = f" — {phase.doing}" if phase.doing else ""
    head = f"{phase.name}{pct}{doing} · {event.elapsed:.1f} s"
    tail = [line.strip()[-200:] for line in event.log_tail if line.strip()][-3:]
    return head + ("\n" + "\n".join(tail) if tail else "")


def describe_field(spec: InputField) -> dict[str, Any]:
    described: dict[str, Any] = {"name": spec.name, "type": spec.type}
    for key in ("format", "description", "default", "minimum", "maximum"):
        value = getattr(spec, key, None)
        if value is not None and value != "":
            described[key] = value
    if spec.choices:
        described["choices"] = list(spec.choices)
    if spec.required:
        described["required"] = True
    return described


class AgentServer:
    """The MCP server of one app: its tools, its transports, and what one agent may take."""

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        settings = ctx.settings
        self.limits = Limits(settings.max_prompt_chars, settings.max_chat_chars)
        defaults = {
            name: settings.model_for(name) for name in ("chat", "image", "video", "avatar", "music")
        }
        self.specs = {spec.name: spec for spec in tool_specs(defaults, self.limits)}
        self.explore = ExploreHandlers(ctx)
        self.secret = secrets.token_bytes(32)  # agents' History ids: per process, never sent
        self.calls: dict[str, int] = {}  # tool calls running per visitor
        self.streams: dict[str, int] = {}  # open SSE streams per visitor
        self.server: Server[Any] = Server(
            "neurolink-ui",
            version=__version__,
            title="NeuroLink UI",
            instructions=INSTRUCTIONS,
            on_list_tools=self.list_tools,
            on_call_tool=self.call_tool,
        )
        self.manager: StreamableHTTPSessionManager | None = None
        self.sse = SseServerTransport(MESSAGES_PATH, max_request_body_size=MAX_BODY_BYTES)

    # ---- serving --------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """The server's life, inside the app's lifespan (a manager serves one run of the app)."""
        share = self.ctx.fair.share
        self.manager = StreamableHTTPSessionManager(
            app=self.server,
            max_request_body_size=MAX_BODY_BYTES,
            session_idle_timeout=min(1800.0, max(60.0, self.ctx.settings.session_ttl)),
            max_sessions=max(1, share.max_sessions),
        )
        async with self.manager.run():
            try:
                yield
            finally:
                self.manager = None

    async def handle(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> bool:
        """Serve `scope` when it is an MCP request (True), else leave it to the app (False)."""
        path = str(scope.get("path", ""))
        trimmed = path.rstrip("/")
        if trimmed.endswith(MCP_PATH):
            await self._streamable(scope, receive, send)
        elif trimmed.endswith(SSE_PATH):
            await self._sse_stream(scope, receive, send)
        elif trimmed.endswith(MESSAGES_PATH.rstrip("/")):
            await self.sse.handle_post_message(scope, receive, send)
        else:
            return False
        return True

    async def _streamable(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope.get("method") == "GET" and b"text/event-stream" not in dict(
            scope.get("headers") or []
        ).get(b"accept", b""):
            await PlainTextResponse(self.landing(scope))(scope, receive, send)
            return
        if self.manager is None:
            await PlainTextResponse("The MCP server is starting.", status_code=503)(
                scope, receive, send
            )
            return
        await self.manager.handle_request(scope, receive, send)

    async def _sse_stream(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        """The HTTP+SSE transport (clients of the 2024-11-05 protocol): one stream, bounded
        per visitor and in all."""
        if scope.get("method") != "GET":
            await Response(status_code=405, headers={"Allow": "GET"})(scope, receive, send)
            return
        key = self._visitor(Request(scope)).key
        share = self.ctx.fair.share
        if self.streams.get(key, 0) >= 2 * share.agent_calls or sum(self.streams.values()) >= max(
            1, share.max_sessions
        ):
            await PlainTextResponse(
                "Too many open MCP streams from your address; close one, or use the Streamable "
                f"HTTP address ({MCP_PATH}/).",
                status_code=429,
            )(scope, receive, send)
            return
        self.streams[key] = self.streams.get(key, 0) + 1
        try:
            with contextlib.suppress(ValueError):  # refused by the transport: it answered
                async with self.sse.connect_sse(scope, receive, send) as (reader, writer):
                    await self.server.run(
                        reader, writer, self.server.create_initialization_options()
                    )
        finally:
            left = self.streams.get(key, 1) - 1
            if left > 0:
                self.streams[key] = left
            else:
                self.streams.pop(key, None)

    def landing(self, scope: MutableMapping[str, Any]) -> str:
        base = self._base(Request(scope))
        tools = "\n".join(f"  {spec.name}: {spec.title}" for spec in self.specs.values())
        return (
            "NeuroLink UI's MCP server (Streamable HTTP).\n\n"
            f"Add it to an MCP client as {base}{MCP_PATH}/ — for example:\n\n"
            + json.dumps({"mcpServers": {"neurolink": {"url": f"{base}{MCP_PATH}/"}}}, indent=2)
            + f"\n\nOlder clients (HTTP+SSE): {base}{SSE_PATH}\n"
            "Your own Replicate token (optional): header X-Replicate-Token: r8_…\n\n"
            f"Tools:\n{tools}\n"
        )

    # ---- who asks -------------------------------------------------------------------------

    def _visitor(self, request: Request) -> Visitor:
        client = request.client
        return identify(
            hf_username=_signed_in(request.scope),
            peer=client.host if client is not None else None,
            forwarded_for=request.headers.getlist("x-forwarded-for"),
            proxy_hops=self.ctx.fair.proxy_hops,
            session_hash=request.headers.get("mcp-session-id"),
        )

    def _base(self, request: Request) -> str:
        """The app's address for links: NEUROLINK_PUBLIC_URL (or the Space's), else as this
        request reached it (the links go back to the agent that asked, no one else)."""
        if self.ctx.settings.public_url:
            return self.ctx.settings.public_url
        from gradio import route_utils

        path = request.url.path
        route = path[path.find("/gradio_api/") :] if "/gradio_api/" in path else path
        try:
            return route_utils.get_root_url(
                request=request, route_path=route, root_path=request.scope.get("root_path")
            ).rstrip("/")
        except (ValueError, AttributeError):
            return str(request.base_url).rstrip("/")

    def _derived(self, purpose: str, key: str) -> str:
        digest = hmac.new(self.secret, f"{purpose}:{key}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")[:32]

    def agent_of(self, context: ServerRequestContext[Any, Any]) -> Agent:
        request = context.request
        if not isinstance(request, Request):
            raise AgentRefused("This server answers MCP over HTTP only.")
        token = _token_of(request)
        visitor = self._visitor(request)
        # One History per visitor (and per own token: its results are not the address's):
        # the results store's per-History caps bound what one agent keeps.
        owner = visitor.key + (":" + hashlib.sha256(token.encode()).hexdigest() if token else "")
        history_id = self._derived("history", owner)
        assert valid_history_id(history_id) is not None
        return Agent(
            token, visitor, self._base(request), history_id, "agent-" + self._derived("room", owner)
        )

    @contextlib.contextmanager
    def _slot(self, agent: Agent) -> Iterator[None]:
        """At most `NEUROLINK_MCP_CALLS_PER_ADDRESS` tool calls at once per visitor."""
        limit = self.ctx.fair.share.agent_calls
        key = agent.visitor.key
        if limit and self.calls.get(key, 0) >= limit:
            raise AgentRefused(
                f"Your address already has {limit} tool calls running on this server; wait for "
                "one to finish, then call again.",
                "Too many calls at once",
            )
        self.calls[key] = self.calls.get(key, 0) + 1
        try:
            yield
        finally:
            left = self.calls.get(key, 1) - 1
            if left > 0:
                self.calls[key] = left
            else:
                self.calls.pop(key, None)

    def _lookup_allowed(self, agent: Agent) -> None:
        """Search and model cards on the app's token count against the look-ups bound."""
        backend = self.ctx.backend(agent.token)
        if not (backend.owner_paid or backend.simulated):
            return
        share = self.ctx.fair.share
        wait = self.ctx.fair.lookups.hit(agent.visitor.key, share.lookups_per_minute)
        if wait:
            raise AgentRefused(
                f"Too many model look-ups from your address ({share.lookups_per_minute} a "
                f"minute); try again in {wait_text(wait)}.",
                "Too many look-ups",
            )

    # ---- the protocol ---------------------------------------------------------------------

    async def list_tools(
        self, context: ServerRequestContext[Any, Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(
            tools=[
                types.Tool(
                    name=spec.name,
                    title=spec.title,
                    description=spec.description,
                    input_schema=spec.input_schema,
                    annotations=types.ToolAnnotations(
                        title=spec.title,
                        read_only_hint=not spec.runs,
                        destructive_hint=False,
                        idempotent_hint=not spec.runs,
                        open_world_hint=True,
                    ),
                )
                for spec in self.specs.values()
            ]
        )

    async def call_tool(
        self, context: ServerRequestContext[Any, Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        spec = self.specs.get(params.name)
        if spec is None:
            return error_result(
                f"No tool called {params.name[:60]!r}; this server has {', '.join(self.specs)}.",
                "Unknown tool",
            )
        try:
            agent = self.agent_of(context)
            arguments = checked_arguments(spec, params.arguments, self.limits)
            with self._slot(agent):
                return await self._dispatch(spec, arguments, agent, Reporter(context))
        except AgentRefused as exc:
            log.warning("agent refused: %s", exc.message[:300])
            return error_result(exc.message, exc.title)
        except InputProblem as exc:
            log.warning("agent refused: %s", " ".join(str(exc).split())[:300])
            return error_result(str(exc), getattr(exc, "title", "Invalid input"))
        except gr.Error as exc:  # a shared handler's refusal (search, model cards)
            return error_result(str(exc.message), str(exc.title or "Refused"))
        except ReplicateError as exc:
            return error_result(str(exc), exc.title)

    async def _dispatch(
        self, spec: ToolSpec, args: dict[str, Any], agent: Agent, reporter: Reporter
    ) -> types.CallToolResult:
        if spec.name == "search_models":
            return await self._search(args, agent)
        if spec.name == "describe_model":
            return await self._describe(args, agent)
        if spec.name == "compare_models":
            return await self._compare(args, agent, reporter)
        if spec.name == "run_model":
            return await self._run_any(args, agent, reporter)
        return await self._run_modality(spec, args, agent, reporter)

    # ---- look-ups -------------------------------------------------------------------------

    async def _search(self, args: dict[str, Any], agent: Agent) -> types.CallToolResult:
        self._lookup_allowed(agent)
        limit = int(args.get("limit") or 10)
        found: list[dict[str, Any]] = []
        status = ""
        async for results, said in self.explore.search(args["query"], agent.token):
            found, status = list(results)[: min(limit, MAX_SEARCH_RESULTS)], said
        found = [{k: v for k, v in model.items() if k != "cover_image_url"} for model in found]
        lines = [f"- {m['model']}: {m.get('description') or ''}"[:400] for m in found]
        text = "\n".join([status.replace("“", '"').replace("”", '"'), *lines])
        return types.CallToolResult(
            content=[types.TextContent(text=text)], structured_content={"models": found}
        )

    async def _describe(self, args: dict[str, Any], agent: Agent) -> types.CallToolResult:
        self._lookup_allowed(agent)
        card, info, examples, _ = await self.explore.model_card(args["model"], agent.token)
        described = {
            **card.api_json(),
            "inputs": [describe_field(spec) for spec in info.input_schema.fields],
            "examples": len(examples),
        }
        return types.CallToolResult(
            content=[types.TextContent(text=json.dumps(described, indent=1, default=str))],
            structured_content=described,
        )

    # ---- input files ----------------------------------------------------------------------

    async def fetch(self, agent: Agent, value: str | None, kind: str, role: str) -> Path | None:
        """An input file from an agent's https:// address or data: URL, fetched under the app's
        one URL policy (netguard: public https hosts only) and size caps, its bytes checked to
        be of `kind`; counted against the address's upload allowance."""
        if not value:
            return None
        if value.startswith("data:"):
            if len(value) > MAX_DATA_URL_CHARS:
                raise InputProblem(
                    f"'{role}' is a data: URL over {MAX_DATA_URL_CHARS:,} characters."
                )
        elif not value.startswith(("https://", "http://")):
            raise InputProblem(f"'{role}' must be an https:// address or a data: URL.")
        elif len(value) > MAX_URL_CHARS:
            raise InputProblem(f"'{role}' is an address over {MAX_URL_CHARS:,} characters.")
        fair = self.ctx.fair
        key = agent.visitor.key
        used = fair.upload_bytes.used(key)
        if used >= fair.share.upload_mb_per_hour:
            raise AgentRefused(
                f"Your address may send {fair.share.upload_mb_per_hour:,.0f} MB of input files "
                "an hour to this server, and has. Try again later.",
                "Too many uploads",
            )
        backend = self.ctx.backend(agent.token)
        folder = self.ctx.session_dir(agent.room) / f"input-{uuid.uuid4().hex[:12]}"
        folder.mkdir(parents=True, exist_ok=True)
        try:
            files = await backend.client.download_outputs(
                value, folder, kind=kind, max_files=1, max_bytes=MAX_INPUT_FILE_BYTES
            )
        except ReplicateError as exc:
            raise InputProblem(f"'{role}' could not be read: {exc}") from None
        if not files:
            raise InputProblem(f"'{role}' could not be read: {files.note or 'no file'}")
        size = files[0].stat().st_size
        fair.upload_bytes.hit(key, float("inf"), size / (1024 * 1024))
        return files[0]

    # ---- runs -----------------------------------------------------------------------------

    def _caller(self, agent: Agent) -> tuple[Caller, HistoryLog]:
        history = HistoryLog(store=self.ctx.results, history_id=agent.history_id)
        visitor = agent.visitor if self.ctx.quota is not None else None
        return Caller(agent.token, agent.room, visitor, history), history

    async def _run_modality(
        self, spec: ToolSpec, args: dict[str, Any], agent: Agent, reporter: Reporter
    ) -> types.CallToolResult:
        name = spec.modality or spec.name
        modality = get_modality(name)
        model = args.get("model") or self.ctx.settings.model_for(name)
        advanced = dict(args.get("advanced") or {})
        image: Path | None = None
        audio: Path | None = None
        more: dict[str, Path] = {}
        prompt = str(args.get("prompt") or args.get("message") or "")
        checks: list[Callable[[], None]] = []
        if name == "chat":
            image = await self.fetch(agent, args.get("image"), "image", "image")
            history = [
                {"role": m["role"], "content": m["content"]} for m in args.get("history") or []
            ]
            controls: dict[str, Any] = {
                "system_prompt": args.get(
                    "system_prompt", modality.control_defaults["system_prompt"]
                ),
                "history": history,
                "max_tokens": args.get("max_tokens", modality.control_defaults["max_tokens"]),
                "temperature": args.get("temperature", modality.control_defaults["temperature"]),
            }
        elif name == "image":
            image = await self.fetch(agent, args.get("image"), "image", "image")
            controls = {
                "aspect_ratio": args.get("aspect_ratio", "auto"),
                "seed": args.get("seed", -1),
                "num_outputs": args.get("num_outputs", 1),
            }
        elif name == "video":
            image = await self.fetch(agent, args.get("start_image"), "image", "start_image")
            last = await self.fetch(agent, args.get("last_frame"), "image", "last_frame")
            if last is not None:
                more["last_frame"] = last
                checks.append(functools.partial(_open_image, last, "last frame"))
            controls = {
                "length": args.get("length", modality.control_defaults["length"]),
                "aspect_ratio": args.get("aspect_ratio", "16:9"),
            }
        elif name == "avatar":
            image = await self.fetch(agent, args.get("portrait"), "image", "portrait")
            audio = await self.fetch(agent, args.get("narration"), "audio", "narration")
            prompt = audio.name if audio is not None else ""
            controls = {}
        else:  # music
            controls = {
                key: args.get(key, modality.control_defaults[key])
                for key in ("duration", "tempo", "model_version", "output_format", "lyrics")
            }
        check = image_check(image, modality.image_role or "image")
        if check is not None:
            checks.insert(0, check)
        values = ModalityValues(
            "" if name == "avatar" else prompt,
            controls,
            image=image,
            audio=audio,
            advanced=advanced,
            more_images=more,
        )

        def precheck() -> None:
            for one in checks:
                one()

        request = RunRequest(
            name,
            str(model),
            prompt,
            mapper(modality, values),
            modality.output,
            precheck=precheck if checks else None,
        )
        return await self._drive(request, agent, reporter)

    async def _run_any(
        self, args: dict[str, Any], agent: Agent, reporter: Reporter
    ) -> types.CallToolResult:
        values = dict(args["input"])
        prompt = next(
            (str(v) for k, v in values.items() if "prompt" in k and isinstance(v, str)), ""
        )
        request = RunRequest(
            "explore",
            args["model"],
            prompt or args["model"],
            functools.partial(fitted_input, values),
            explore_output,
        )
        return await self._drive(request, agent, reporter)

    async def _drive(
        self, request: RunRequest, agent: Agent, reporter: Reporter
    ) -> types.CallToolResult:
        """One run of the core, rendered for an agent: progress notifications while it runs,
        then its result (or why it did not finish)."""
        caller, history = self._caller(agent)
        outcome: types.CallToolResult | None = None
        async with contextlib.aclosing(run(self.ctx, request, caller)) as events:
            async for event in events:
                if isinstance(event, RunStarted):
                    notes = "".join(f"\n{note}" for note in event.notes)
                    await reporter.say(f"sending to Replicate: {event.model}{notes}")
                elif isinstance(event, RunProgress):
                    if event.show:
                        await reporter.progress(event.progress)
                elif isinstance(event, RunText):
                    if event.show:
                        await reporter.say(
                            f"answering · {len(event.text):,} characters · {event.elapsed:.1f} s"
                        )
                elif isinstance(event, RunFinished):
                    report = await self._report(event, agent, history)
                    # Small images are read and encoded inline: off the event loop.
                    outcome = await offload(run_result, agent.base, report)
                elif isinstance(event, RunStopped):
                    outcome = error_result("The prediction was canceled at Replicate.", "Canceled")
                elif isinstance(event, RunFailed):
                    outcome = error_result(self._failure(event), event.title)
        return outcome or error_result("The run ended without a result.", "No result")

    def _failure(self, failed: RunFailed) -> str:
        """A failure's message for an agent: a quota refusal names the limit and when it resets
        (the guard's words), then the ways on an agent has."""
        message = failed.message
        quota = self.ctx.quota
        if failed.reason == "quota" and quota is not None:
            message = message.removesuffix(quota.ways_on()).rstrip() + " " + AGENT_WAYS
        return message

    async def _report(self, event: RunFinished, agent: Agent, history: HistoryLog) -> RunReport:
        result = event.result
        files = list(result.files)
        share, note = None, ""
        if event.kept_id is not None:
            kept = await offload(self.ctx.results.get, agent.history_id, event.kept_id)
            if kept is not None:
                files = list(kept.files)  # the kept copies: they last as long as the result
            if self.ctx.settings.sharing:
                share_id = await offload(history.share, event.kept_id)
                share = share_url(agent.base, share_id) if share_id else None
            else:
                note = "Share links are turned off on this app (NEUROLINK_SHARING=off)."
        else:
            note = "This result could not be kept (the results store is full): no share link."
        return RunReport(
            model=result.model,
            version=result.prediction.version,
            text=result.text,
            files=files,
            notes=list(result.notes),
            predict_time=result.predict_time,
            total_time=round(result.wall_time, 3),
            prediction_id=result.prediction.id,
            share_url=share,
            share_note=note,
            cost=event.cost,
            simulated=event.simulated,
        )

    # ---- compare --------------------------------------------------------------------------

    async def _compare(
        self, args: dict[str, Any], agent: Agent, reporter: Reporter
    ) -> types.CallToolResult:
        modality = args["modality"]
        role = get_modality(modality).image_role
        image = await self.fetch(agent, args.get("image"), "image", "image") if role else None
        if args.get("image") and not role:
            raise InputProblem(f"The {modality} compare takes no image; leave `image` out.")
        audio = await self.fetch(agent, args.get("audio"), "audio", "audio")
        settings = self.ctx.settings
        plan: ComparePlan = await offload(
            functools.partial(
                parse_plan,
                modality,
                list(args["models"]),
                dict(args.get("input") or {}),
                str(image) if image else None,
                str(audio) if audio else None,
                text_limit=settings.max_prompt_chars,
                chat_limit=settings.max_chat_chars,
            )
        )
        caller, history = self._caller(agent)
        views = [CellView(index, model) for index, model in enumerate(plan.models)]
        changed: asyncio.Queue[int | None] = asyncio.Queue()

        async def drive(index: int) -> None:
            try:
                async for view in run_cell(self.ctx, plan, index, caller):
                    views[index] = view
                    changed.put_nowait(index)
            finally:
                changed.put_nowait(None)

        tasks = [
            asyncio.create_task(drive(index), name=cell_key(index)) for index in range(len(views))
        ]
        try:
            running = len(tasks)
            while running:
                index = await changed.get()
                if index is None:
                    running -= 1
                    continue
                view = views[index]
                line: str = view.state
                if view.progress is not None and view.state == "running":
                    line = progress_line(view.progress).split("\n", 1)[0]
                elif view.text and view.state == "running":
                    line = f"answering · {len(view.text):,} characters"
                await reporter.say(f"{view.label} · {view.model}: {line}", None)
            await asyncio.gather(*tasks)
        finally:  # the agent canceled: every cell's prediction is canceled by its client
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        board = CompareBoard()
        board.start(plan)
        board.cells = views
        reports: list[RunReport] = []
        failures: list[str] = []
        for view in views:
            if view.state == "done":
                reports.append(
                    RunReport(
                        model=view.model,
                        version=view.prediction.version if view.prediction else None,
                        text=view.text,
                        files=list(view.files),
                        notes=list(view.notes),
                        predict_time=view.predict_time,
                        total_time=view.total_time,
                        prediction_id=view.prediction_id,
                        cost=view.cost,
                        simulated=view.simulated,
                        label=view.label,
                    )
                )
            else:
                error = (
                    self._failure(
                        RunFailed("quota" if view.state == "refused" else "replicate", view.error)
                    )
                    if view.error
                    else view.state
                )
                failures.append(f"❌ {view.label} · {view.model}: {error}")
        share, note = None, "Nothing finished: no share link."
        if reports:
            if settings.sharing:
                kept = await offload(history.add, compare_record(board))
                share_id = await offload(history.share, kept) if kept else None
                share = share_url(agent.base, share_id) if share_id else None
                if share is None:
                    note = "The comparison could not be kept: no share link."
            else:
                note = "Share links are turned off on this app (NEUROLINK_SHARING=off)."
        return await offload(compare_result, agent.base, reports, failures, share, note)


def _open_image(path: Path, role: str) -> None:
    from ..modalities.common import open_image

    open_image(path, role)


# ---- mounting -----------------------------------------------------------------------------------


class AgentEndpoint:
    """ASGI middleware: MCP requests to the agents' server, everything else to the app."""

    def __init__(self, app: Callable[..., Awaitable[None]], agents: AgentServer) -> None:
        self.app = app
        self.agents = agents

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") == "http" and await self.agents.handle(scope, receive, send):
            return
        await self.app(scope, receive, send)
