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

import base64
import contextlib
import hashlib
import hmac
import json
import logging
import re
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, MutableMapping
from typing import Any

import gradio as gr
import mcp_types as types
from mcp.server import Server, ServerRequestContext
from mcp.server.sse import SseServerTransport
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from .. import __version__
from ..config import BUILTIN_SIMULATOR_TOKEN
from ..modalities.common import InputProblem
from ..quota.identity import Visitor, identify
from ..replicate.errors import ReplicateError
from ..replicate.schema import InputField
from ..results import valid_history_id
from ..ui.context import AppContext
from ..ui.fairness import wait_text
from ..ui.panels.explore import ExploreHandlers
from .content import error_result
from .runner import Agent, AgentRefused, Reporter, ToolRunner
from .tools import (
    MAX_SEARCH_RESULTS,
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
        self.runner = ToolRunner(ctx)
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
            return await self.runner.compare(args, agent, reporter)
        if spec.name == "run_model":
            return await self.runner.run_any(args, agent, reporter)
        return await self.runner.run_modality(spec, args, agent, reporter)

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
