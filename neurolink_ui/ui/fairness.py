"""Fair shares of one server between its visitors (issue 20, items 1, 2 and 6).

- `FairShare`: the bounds, from NEUROLINK_* settings (docs/DEPLOY.md, "Security").
- `RateWindow`: counts per key over a sliding period (bounded memory), `AnswerCache`: answers
  shared by everyone for a while (bounded, TTL).
- `FairQueue`: Gradio's queue, with renders serialised per session instead of across every
  session, and what one session or one address may have queued at once bounded (a 429 that says
  so), new sessions per address per minute, and the owner-token lookups and sign-ins per visitor.
- (`own_tokens.OwnTokens`, the sessions that hold a visitor's own token, is its own module.)
- `LeanStateHolder`: Gradio's session store without its per-session copy of every block's
  config, bounded in count, dropping sessions that never loaded the page first.
- `UploadLimits`: an ASGI middleware bounding `/gradio_api/upload` per address and in total.
"""

from __future__ import annotations

import logging
import os
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from gradio import queueing
from gradio import route_utils as gradio_route_utils
from gradio.server_messages import ProcessCompletedMessage
from gradio.state_holder import SessionState, StateHolder

from ..quota.identity import client_address
from .api_types import ExpectedInput, expected_inputs, wrong_type

logger = logging.getLogger(__name__)

# The concurrency id every `gr.render` declares (events.RENDER_ONE_AT_A_TIME): FairQueue moves
# each render event from it to its session's own lane, one render at a time per session.
RENDER_GROUP = "render"
LANE_PREFIX = RENDER_GROUP + ":"

# Events that ask Replicate with the owner's token for catalogue answers (no run): counted per
# visitor against `lookups_per_minute`. The Advanced forms' and example prompts' loads (model
# pickers) are private and have no API name; they are recognised by their function's name.
LOOKUP_APIS = frozenset({"search", "collection", "model_card"})
LOOKUP_FUNCTIONS = frozenset({"load_form", "for_model", "collections", "open_model"})
SIGN_IN_FUNCTIONS = frozenset({"sign_in"})

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _number(env: Mapping[str, str], key: str, default: float) -> float:
    raw = env.get(key, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{key} must be a number, not {raw!r}") from None
    if value < 0:
        raise ValueError(f"{key} must be 0 or more, not {raw!r}")
    return value


@dataclass(frozen=True)
class FairShare:
    """What one visitor may take of the server; each is an environment setting (DEPLOY.md)."""

    events_per_session: int = 40  # queued or running at once (a page load queues ~20)
    events_per_address: int = 120  # all its sessions together
    new_sessions_per_minute: int = 120  # per address
    max_sessions: int = 2000  # in memory at once; page-less ones are dropped first
    pageless_ttl: float = 300.0  # seconds a session that never loaded the page is kept idle
    lookups_per_minute: int = 120  # per visitor: search, collections, model cards, pickers
    sign_ins_per_hour: int = 20  # per visitor: /sign_in checks a token with Replicate
    uploads_per_minute: int = 20  # per address
    upload_mb_per_hour: float = 300.0  # per address
    upload_total_mb_per_hour: float = 3000.0  # every address together
    cache_seconds: float = 600.0  # catalogue answers shared by everyone
    cache_entries: int = 512
    agent_calls: int = 8  # MCP tool calls running at once per visitor (agents/server.py)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> FairShare:
        env = os.environ if env is None else env
        d = cls()
        return cls(
            events_per_session=int(
                _number(env, "NEUROLINK_EVENTS_PER_SESSION", d.events_per_session)
            ),
            events_per_address=int(
                _number(env, "NEUROLINK_EVENTS_PER_ADDRESS", d.events_per_address)
            ),
            new_sessions_per_minute=int(
                _number(env, "NEUROLINK_NEW_SESSIONS_PER_MINUTE", d.new_sessions_per_minute)
            ),
            max_sessions=max(1, int(_number(env, "NEUROLINK_MAX_SESSIONS", d.max_sessions))),
            pageless_ttl=_number(env, "NEUROLINK_PAGELESS_SESSION_TTL", d.pageless_ttl),
            lookups_per_minute=int(
                _number(env, "NEUROLINK_LOOKUPS_PER_MINUTE", d.lookups_per_minute)
            ),
            sign_ins_per_hour=int(_number(env, "NEUROLINK_SIGN_INS_PER_HOUR", d.sign_ins_per_hour)),
            uploads_per_minute=int(
                _number(env, "NEUROLINK_UPLOADS_PER_MINUTE", d.uploads_per_minute)
            ),
            upload_mb_per_hour=_number(env, "NEUROLINK_UPLOAD_MB_PER_HOUR", d.upload_mb_per_hour),
            upload_total_mb_per_hour=_number(
                env, "NEUROLINK_UPLOAD_TOTAL_MB_PER_HOUR", d.upload_total_mb_per_hour
            ),
            cache_seconds=_number(env, "NEUROLINK_CATALOGUE_CACHE_SECONDS", d.cache_seconds),
            cache_entries=int(_number(env, "NEUROLINK_CATALOGUE_CACHE_ENTRIES", d.cache_entries)),
            agent_calls=int(_number(env, "NEUROLINK_MCP_CALLS_PER_ADDRESS", d.agent_calls)),
        )


def wait_text(seconds: float) -> str:
    seconds = max(1, round(seconds))
    return f"{seconds} s" if seconds < 120 else f"{round(seconds / 60)} minutes"


class RateWindow:
    """Weights counted per key over the last `period` seconds; memory bounded by `max_keys`
    (the keys idle longest go first)."""

    def __init__(self, period: float, max_keys: int = 50_000) -> None:
        self.period = period
        self.max_keys = max_keys
        self._hits: OrderedDict[str, deque[tuple[float, float]]] = OrderedDict()
        self._totals: dict[str, float] = {}

    def _expire(self, key: str, now: float) -> deque[tuple[float, float]]:
        hits = self._hits.get(key)
        if hits is None:
            hits = self._hits[key] = deque()
            self._totals[key] = 0.0
        cutoff = now - self.period
        while hits and hits[0][0] <= cutoff:
            _, weight = hits.popleft()
            self._totals[key] -= weight
        return hits

    def used(self, key: str, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        if key not in self._hits:
            return 0.0
        self._expire(key, now)
        return self._totals[key]

    def hit(self, key: str, limit: float, weight: float = 1.0, now: float | None = None) -> float:
        """Counts `weight` for `key` when it fits under `limit` and returns 0; else counts
        nothing and returns the seconds until it would fit."""
        now = time.monotonic() if now is None else now
        hits = self._expire(key, now)
        self._hits.move_to_end(key)
        if self._totals[key] + weight > limit:
            if not hits:  # heavier than the whole limit: never fits
                return self.period
            freed = self._totals[key] + weight - limit
            for at, old in hits:
                freed -= old
                if freed <= 0:
                    return max(0.0, at + self.period - now)
            return self.period
        hits.append((now, weight))
        self._totals[key] += weight
        while len(self._hits) > self.max_keys:
            old_key, _ = self._hits.popitem(last=False)
            self._totals.pop(old_key, None)
        return 0.0


T = TypeVar("T")


class AnswerCache(Generic[T]):
    """Answers kept `ttl` seconds for everyone who asks the same (at most `entries` of them)."""

    def __init__(self, ttl: float, entries: int) -> None:
        self.ttl = ttl
        self.entries = entries
        self._answers: OrderedDict[tuple[str, ...], tuple[float, T]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple[str, ...]) -> T | None:
        kept = self._answers.get(key)
        if kept is None or kept[0] <= time.monotonic():
            self._answers.pop(key, None)
            self.misses += 1
            return None
        self._answers.move_to_end(key)
        self.hits += 1
        return kept[1]

    def put(self, key: tuple[str, ...], answer: T) -> T:
        if self.ttl > 0 and self.entries > 0:
            self._answers[key] = (time.monotonic() + self.ttl, answer)
            self._answers.move_to_end(key)
            while len(self._answers) > self.entries:
                self._answers.popitem(last=False)
        return answer

    async def answer(self, key: tuple[str, ...], ask: Callable[[], Awaitable[T]]) -> T:
        kept = self.get(key)
        if kept is not None:
            return kept
        return self.put(key, await ask())


# ---- who is asking ------------------------------------------------------------------------------


def address_of(scope_client: Any, headers: Any, proxy_hops: int) -> str:
    """The client's address through `proxy_hops` trusted proxies (as ui.quota.visitor_of)."""
    peer = getattr(scope_client, "host", None)
    if peer is None and isinstance(scope_client, tuple | list) and scope_client:
        peer = str(scope_client[0])
    forwarded: list[str] = []
    getlist = getattr(headers, "getlist", None)
    if getlist is not None:
        forwarded = list(getlist("x-forwarded-for"))
    elif headers is not None and headers.get("x-forwarded-for"):
        forwarded = [str(headers["x-forwarded-for"])]
    return client_address(peer, forwarded, proxy_hops) or "unknown"


class FairHost:
    """What FairQueue, LeanStateHolder and UploadLimits read (the AppContext gives them one)."""

    def __init__(self, share: FairShare, proxy_hops: int = 0) -> None:
        self.share = share
        self.proxy_hops = proxy_hops
        self.new_sessions = RateWindow(60.0)
        self.lookups = RateWindow(60.0)
        self.sign_ins = RateWindow(3600.0)
        self.uploads = RateWindow(60.0)
        self.upload_bytes = RateWindow(3600.0)
        self.paged: OrderedDict[str, None] = OrderedDict()  # sessions that loaded the page

    def page_loaded(self, session_hash: str) -> None:
        self.paged[session_hash] = None
        self.paged.move_to_end(session_hash)
        while len(self.paged) > 4 * max(1, self.share.max_sessions):
            self.paged.popitem(last=False)

    def has_page(self, session_hash: str) -> bool:
        return session_hash in self.paged

    def forget_session(self, session_hash: str) -> None:
        self.paged.pop(session_hash, None)


class Refusal(Exception):
    """Past a fair-share bound: the event ends at once with this error, before it runs."""

    def __init__(self, title: str, message: str) -> None:
        super().__init__(message)
        self.title = title
        self.message = message


# ---- the queue ----------------------------------------------------------------------------------


def _within(window: RateWindow, key: str, limit: int, per: str, title: str, what: str) -> None:
    """Count one for `key` in `window`, or refuse: "<what> (<limit> <per>); try again in …"."""
    wait = window.hit(key, limit)
    if wait:
        raise Refusal(title, f"{what} ({limit} {per}); try again in {wait_text(wait)}.")


class FairQueue(queueing.Queue):
    """Gradio's queue with fair shares (see the module's docstring)."""

    fair: FairHost

    @classmethod
    def replacing(cls, old: queueing.Queue, fair: FairHost) -> FairQueue:
        queue = cls(
            live_updates=old.live_updates,
            concurrency_count=old.max_thread_count,
            update_intervals=old.update_intervals,
            max_size=old.max_size,
            blocks=old.blocks,
            default_concurrency_limit=old.default_concurrency_limit,
        )
        queue.fair = fair
        queue._by_session = {}
        queue._by_address = {}
        queue._expected_by_fn = {}
        return queue

    _by_session: dict[str, set[str]]
    _by_address: dict[str, set[str]]

    def _pending(self, table: dict[str, set[str]], key: str) -> int:
        ids = table.get(key)
        if not ids:
            return 0
        ids.intersection_update(self.event_ids_to_events)
        if not ids:
            del table[key]
        return len(ids)

    def pending_of_session(self, session_hash: str) -> int:
        return self._pending(self._by_session, session_hash)

    def pending_of_address(self, address: str) -> int:
        return self._pending(self._by_address, address)

    def _admit(self, body: Any, request: Any) -> tuple[str, Refusal | None]:
        """The visitor's address, and why this event is refused (None: it is not)."""
        address = address_of(
            getattr(request, "client", None), request.headers, self.fair.proxy_hops
        )
        try:
            self._check(body, request, address)
        except Refusal as refusal:
            return address, refusal
        return address, None

    def _check(self, body: Any, request: Any, address: str) -> None:
        fair = self.fair
        share = fair.share
        session = body.session_hash
        if session and self.pending_of_session(session) >= share.events_per_session:
            raise Refusal(
                "Too many requests at once",
                f"This page already has {share.events_per_session} requests waiting or running "
                "on this server; wait for them to finish, then try again.",
            )
        if self.pending_of_address(address) >= share.events_per_address:
            raise Refusal(
                "Too many requests at once",
                f"Your address already has {share.events_per_address} requests waiting or "
                "running on this server; wait for them to finish, then try again.",
            )
        holder = getattr(self.blocks, "state_holder", None)
        if session and holder is not None and session not in holder:
            _within(
                fair.new_sessions, address, share.new_sessions_per_minute, "a minute",
                "Too many new sessions", "Too many new sessions from your address",
            )  # fmt: skip
        fn = self._fn_of(body)
        from_page = request.headers.get("x-gradio-user") == "app"
        if fn is not None and not from_page:
            # The page's components send the right kinds by construction; API callers may not.
            message = wrong_type(f"/{fn.api_name or fn.name}", self._expected(fn), body.data)
            if message is not None:
                raise Refusal("Wrong parameter type", message)
        if fn is not None:
            name = getattr(fn.fn, "__name__", "")
            if fn.api_name in LOOKUP_APIS or name in LOOKUP_FUNCTIONS:
                _within(
                    fair.lookups, address, share.lookups_per_minute, "a minute",
                    "Too many look-ups", "Too many model look-ups from your address",
                )  # fmt: skip
            if name in SIGN_IN_FUNCTIONS:
                _within(
                    fair.sign_ins, address, share.sign_ins_per_hour, "an hour",
                    "Too many sign-ins", "Too many sign-in attempts from your address",
                )  # fmt: skip
        if session and from_page:
            fair.page_loaded(session)

    _expected_by_fn: dict[int, list[ExpectedInput]]
    _api_names: dict[str, list[str]] | None = None

    def _expected(self, fn: Any) -> list[ExpectedInput]:
        """An event's checked parameters, named as /gradio_api/info names them (cached)."""
        found = self._expected_by_fn.get(fn._id)
        if found is None:
            if self._api_names is None:
                try:
                    endpoints = self.blocks.get_api_info().get("named_endpoints", {})
                except Exception:  # names are a courtesy: the labels serve as well
                    endpoints = {}
                self._api_names = {
                    api: [str(p.get("parameter_name", "")) for p in info.get("parameters", [])]
                    for api, info in endpoints.items()
                }
            published = iter(self._api_names.get(f"/{fn.api_name}", []))
            names = [
                "" if getattr(block, "stateful", False) else next(published, "")
                for block in fn.inputs
            ]
            found = self._expected_by_fn[fn._id] = expected_inputs(list(fn.inputs), names)
        return found

    def _fn_of(self, body: Any) -> Any:
        try:
            return gradio_route_utils.get_fn(self.blocks, None, body)
        except Exception:  # Gradio's own push says what is wrong with it
            return None

    async def push(
        self, body: Any, request: Any, username: str | None
    ) -> tuple[
        bool,
        str | list[dict[str, Any]],
        Literal["success", "error", "queue_full", "validator_error"],
    ]:
        address, refusal = self._admit(body, request)
        success, event_id, state = await super().push(body, request, username)
        # No await since Gradio appended the event: no other task has seen it yet.
        if success and isinstance(event_id, str):
            event = self.event_ids_to_events.get(event_id)
            if event is not None and refusal is not None:
                self._fail_now(event, refusal)
            elif event is not None:
                self._by_session.setdefault(event.session_hash, set()).add(event_id)
                self._by_address.setdefault(address, set()).add(event_id)
                if event.concurrency_id == RENDER_GROUP:
                    self._to_session_lane(event)
        return success, event_id, state

    def _fail_now(self, event: queueing.Event, refusal: Refusal) -> None:
        """The event ends at once with the refusal as its error (the page shows it as a toast,
        gradio_client raises it): nothing of it runs, and it holds no place in the queue."""
        lane = self.event_queue_per_concurrency_id.get(event.concurrency_id)
        if lane is not None and event in lane.queue:
            lane.queue.remove(event)
        self.event_ids_to_events.pop(event._id, None)
        error = {
            "error": refusal.message,
            "title": refusal.title,
            "visible": True,
            "duration": None,
        }
        self.send_message(event, ProcessCompletedMessage(output=error, success=False))

    def _to_session_lane(self, event: queueing.Event) -> None:
        """Renders take turns per session (Gradio's renders of one session share a dict of
        events they iterate; see events.RENDER_ONE_AT_A_TIME), never across sessions."""
        shared = self.event_queue_per_concurrency_id.get(RENDER_GROUP)
        if shared is None or event not in shared.queue:
            return
        self._sweep_lanes()
        shared.queue.remove(event)
        lane_id = LANE_PREFIX + event.session_hash
        lane = self.event_queue_per_concurrency_id.get(lane_id)
        if lane is None:
            lane = queueing.EventQueue(lane_id, 1)
            self.event_queue_per_concurrency_id[lane_id] = lane
        event.concurrency_id = lane_id
        lane.queue.append(event)

    def _sweep_lanes(self) -> None:
        for lane_id in [
            k for k in self.event_queue_per_concurrency_id if k.startswith(LANE_PREFIX)
        ]:
            lane = self.event_queue_per_concurrency_id[lane_id]
            if not lane.queue and lane.current_concurrency <= 0 and not lane.start_times_per_fn:
                del self.event_queue_per_concurrency_id[lane_id]

    def lanes(self) -> int:
        return sum(1 for k in self.event_queue_per_concurrency_id if k.startswith(LANE_PREFIX))


# ---- session state ------------------------------------------------------------------------------


class LeanSessionState(SessionState):
    """Gradio's session state without its eager copy of every block's config (~1 MB a session
    here): a block's config is copied only once the session changes that block."""

    def __init__(self, blocks: Any) -> None:
        from copy import copy

        self.blocks_config = copy(blocks.default_config)
        self.config_values = {}
        self.state_data = {}
        self._state_ttl = {}
        self.is_closed = False
        self.STATE_TTL_WHEN_CLOSED = 1 if os.getenv("GRADIO_IS_E2E_TEST", None) else 3600


class LeanStateHolder(StateHolder):
    """At most `max_sessions` sessions; past it, the least recently used session that never
    loaded the page goes first (a page's own session only when none is left)."""

    def __init__(self, fair: FairHost, on_evict: Callable[[str], None] | None = None) -> None:
        super().__init__()
        self.fair = fair
        self.on_evict = on_evict
        self.evicted = 0

    def set_blocks(self, blocks: Any) -> None:
        super().set_blocks(blocks)
        self.capacity = self.fair.share.max_sessions

    def __getitem__(self, session_id: str) -> SessionState:
        if session_id not in self.session_data:
            self.session_data[session_id] = LeanSessionState(self.blocks)
        self.update(session_id)
        from datetime import datetime

        self.time_last_used[session_id] = datetime.now()
        return self.session_data[session_id]

    def update(self, session_id: str) -> None:
        with self.lock:
            if session_id in self.session_data:
                self.session_data.move_to_end(session_id)
            while len(self.session_data) > self.capacity:
                victim = next(
                    (s for s in self.session_data if not self.fair.has_page(s)),
                    next(iter(self.session_data)),
                )
                self.session_data.pop(victim, None)
                self.time_last_used.pop(victim, None)
                self.fair.forget_session(victim)
                self.evicted += 1
                if self.on_evict is not None:
                    self.on_evict(victim)


def install_session_store(app: Any, fair: FairHost) -> LeanStateHolder | None:
    """Gradio's server app gets the lean, bounded session store (at startup: none is in use)."""
    blocks = app.get_blocks() if hasattr(app, "get_blocks") else None
    if blocks is None or isinstance(getattr(app, "state_holder", None), LeanStateHolder):
        return None
    holder = LeanStateHolder(fair)
    holder.set_blocks(blocks)
    app.state_holder = holder
    return holder


# ---- uploads ------------------------------------------------------------------------------------


class UploadLimits:
    """Bounds `/gradio_api/upload` (no session needed to upload): files a minute and megabytes
    an hour per address, and megabytes an hour from everyone. A refusal is a 429 (too often) or
    413 (too much) whose body says which bound and when it frees."""

    def __init__(self, app: ASGIApp, fair: FairHost) -> None:
        self.app = app
        self.fair = fair

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope.get("type") != "http"
            or scope.get("method") != "POST"
            or not str(scope.get("path", "")).endswith("/gradio_api/upload")
        ):
            await self.app(scope, receive, send)
            return
        refusal = self._refusal(scope)
        if refusal is not None:
            status, detail = refusal
            await _send_json(send, status, detail)
            return
        await self.app(scope, receive, send)

    def _refusal(self, scope: Scope) -> tuple[int, str] | None:
        from starlette.datastructures import Headers

        fair = self.fair
        share = fair.share
        headers = Headers(scope=scope)
        address = address_of(scope.get("client"), headers, fair.proxy_hops)
        try:
            size = int(headers.get("content-length", ""))
        except ValueError:
            return 411, "Upload refused: send the upload's length (Content-Length)."
        if size < 0:
            return 411, "Upload refused: send the upload's length (Content-Length)."
        megabytes = size / (1024 * 1024)
        per_hour = fair.upload_bytes.used(address)
        if per_hour + megabytes > share.upload_mb_per_hour:
            return 413, (
                f"Upload refused: your address may upload {share.upload_mb_per_hour:,.0f} MB an "
                f"hour to this server and has uploaded {per_hour:,.0f} MB. Try again later."
            )
        total = fair.upload_bytes.used("*")
        if total + megabytes > share.upload_total_mb_per_hour:
            return 413, (
                "Upload refused: this server takes "
                f"{share.upload_total_mb_per_hour:,.0f} MB of uploads an hour from everyone, "
                "and that is used up. Try again later."
            )
        wait = fair.uploads.hit(address, share.uploads_per_minute)
        if wait:
            return 429, (
                f"Upload refused: {share.uploads_per_minute} uploads a minute per address; try "
                f"again in {wait_text(wait)}."
            )
        fair.upload_bytes.hit(address, float("inf"), megabytes)
        fair.upload_bytes.hit("*", float("inf"), megabytes)
        return None


async def _send_json(send: Send, status: int, detail: str) -> None:
    import json

    body = json.dumps({"detail": detail, "error": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
