"""What every panel shares for the app's lifetime: settings, the pooled clients, the output folder.

Built once by `build_app()` and passed to each panel, never kept in a module global.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import threading
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..config import BUILTIN_SIMULATOR_TOKEN, Settings
from ..quota.guard import QuotaGuard
from ..replicate.client import ReplicateClient
from ..results import ResultStore
from ..runs import Backend
from .fairness import AnswerCache, FairHost, FairShare
from .own_tokens import OwnTokens
from .retention import CLOSED_SESSION_GRACE, OutputStore, SessionReaper

if TYPE_CHECKING:  # started only when no token is set, so imported there, not here
    from ..simulator.runner import Simulator

log = logging.getLogger("neurolink_ui.ui")


@dataclass
class AppContext:
    """The app's services: what every panel shares, and the run core's host (runs.RunHost)."""

    settings: Settings
    client: ReplicateClient
    outputs: OutputStore
    sessions: SessionReaper
    results: ResultStore  # kept generations: History across reloads and restarts, share links
    simulator: Simulator | None = None  # the built-in simulator, when no token is set
    simulator_client: ReplicateClient | None = None
    quota: QuotaGuard | None = None  # limits on owner-paid runs (None: the owner's token is unset)
    # What one visitor may take of the server (queue, sessions, uploads, look-ups: issue 20).
    fair: FairHost = field(default_factory=lambda: FairHost(FairShare()))
    # Sessions that hold a visitor's own token: never moved onto the owner's when it is gone.
    own_tokens: OwnTokens = field(default_factory=OwnTokens)
    # Catalogue answers on the owner's token (search, collections, READMEs, examples), shared.
    catalogue: AnswerCache[Any] = field(default_factory=lambda: AnswerCache(600.0, 512))
    _closed: bool = field(default=False, repr=False)
    _simulator_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def create(cls, settings: Settings, *, outputs_dir: Path | None = None) -> AppContext:
        outputs = outputs_dir or Path(tempfile.gettempdir()) / "neurolink_ui" / uuid.uuid4().hex[:8]
        data_dir = settings.data_dir
        if settings.database_url and data_dir is None:
            # Rows every replica reads, files in this process's temporary folder: links to
            # results whose files no other replica (nor this one, after a restart) has.
            raise ValueError(
                "NEUROLINK_DATABASE_URL needs NEUROLINK_DATA_DIR: the results' files go there, "
                "on a volume every replica shares"
            )
        results_root = (
            data_dir / "results"
            if data_dir
            else Path(tempfile.mkdtemp(prefix="neurolink-results-"))
        )
        output_store = OutputStore(outputs, settings.output_ttl, settings.session_disk_bytes)
        share = FairShare.from_env()
        fair = FairHost(share, proxy_hops=settings.quota.proxy_hops)
        ctx = cls(
            settings=settings,
            client=ReplicateClient.from_settings(settings),
            outputs=output_store,
            sessions=SessionReaper(
                settings.session_ttl,
                grace=min(CLOSED_SESSION_GRACE, settings.session_ttl),
                pageless_ttl=min(share.pageless_ttl, settings.session_ttl),
                has_page=fair.has_page,
                on_release=fair.forget_session,
            ),
            results=ResultStore(
                results_root,
                ttl=settings.result_ttl,
                disk_cap=settings.results_disk_bytes,
                max_bytes_per_history=int(settings.results_history_mb * 1024 * 1024),
                simulated_disk_cap=int(settings.results_simulator_mb * 1024 * 1024),
                temporary=data_dir is None,
                # Every replica given this URL (and the same data folder) keeps one set of results.
                database_url=settings.database_url,
                on_remove=output_store.forget,  # a deleted result's outputs and cached copies
            ),
            fair=fair,
            own_tokens=OwnTokens(
                ttl=max(settings.session_ttl, 7 * 86400.0),
                # Kept with the results: a restart must not move an open page that signed in
                # onto the owner's token (None: a temporary data folder, memory only).
                path=data_dir / "own_token_sessions.db" if data_dir else None,
            ),
            catalogue=AnswerCache(share.cache_seconds, share.cache_entries),
        )
        limits = settings.quota
        if settings.api_token and limits.enabled:
            # Owner-paid runs' deadlines are bounded by the run core (QuotaGuard.limit_run_time).
            ctx.quota = QuotaGuard.open(limits)
        if not settings.api_token:
            # No token anywhere: newcomers meet the product on synthetic outputs.
            ctx.start_simulator()
            log.info("no REPLICATE_API_TOKEN: using the built-in simulator")
        return ctx

    def start_simulator(self) -> ReplicateClient:
        """The built-in simulator's client, started on first use (once, whoever asks first)."""
        with self._simulator_lock:
            if self.simulator_client is None:
                from ..simulator.runner import Simulator

                sim = Simulator()
                sim.start()
                self.simulator = sim
                self.simulator_client = ReplicateClient.from_settings(
                    self.settings, base_url=sim.base_url
                )
            return self.simulator_client

    @property
    def simulated_by_default(self) -> bool:
        """True when no token is set and visitors without their own use the built-in simulator."""
        return not self.settings.api_token

    def backend(self, session_token: str | None) -> Backend:
        """A visitor's own token wins, then the Space owner's, then the built-in simulator
        (also chosen by a visitor whose session holds BUILTIN_SIMULATOR_TOKEN: "Use the simulator")."""
        if session_token == BUILTIN_SIMULATOR_TOKEN or not (
            session_token or self.settings.api_token
        ):
            return Backend(self.start_simulator(), BUILTIN_SIMULATOR_TOKEN)
        if session_token:
            return Backend(self.client, session_token)
        assert self.settings.api_token is not None
        return Backend(self.client, self.settings.api_token, owner_paid=True)

    @property
    def outputs_dir(self) -> Path:
        return self.outputs.root

    def session_dir(self, session_hash: str | None) -> Path:
        """This session's outputs folder: named by a digest of the id, always under the root."""
        return self.outputs.session_dir(session_hash)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        await asyncio.to_thread(self.results.close)  # a PostgreSQL pool joins its threads
        await asyncio.to_thread(self.own_tokens.close)  # pending sign-ins reach the file
        await self.client.aclose()
        if self.quota is not None:
            self.quota.close()
        if self.simulator_client is not None:
            await self.simulator_client.aclose()
        if self.simulator is not None:
            self.simulator.stop()
