"""What every panel shares for the app's lifetime: settings, the pooled clients, the output folder.

Built once by `build_app()` and passed to each panel, never kept in a module global.
"""

from __future__ import annotations

import logging
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import Settings
from ..replicate.client import ReplicateClient
from .retention import CLOSED_SESSION_GRACE, OutputStore, SessionReaper

if TYPE_CHECKING:  # started only when no token is set, so imported there, not here
    from ..simulator.runner import Simulator

log = logging.getLogger("neurolink_ui.ui")

# The built-in simulator accepts any well-formed token; this one never leaves the machine.
SIMULATOR_TOKEN = "r8_builtinsimulatortoken"


@dataclass
class Backend:
    """Where one request goes and with which token."""

    client: ReplicateClient
    token: str


@dataclass
class AppContext:
    settings: Settings
    client: ReplicateClient
    outputs: OutputStore
    sessions: SessionReaper
    simulator: Simulator | None = None  # the built-in simulator, when no token is set
    simulator_client: ReplicateClient | None = None
    _closed: bool = field(default=False, repr=False)

    @classmethod
    def create(cls, settings: Settings, *, outputs_dir: Path | None = None) -> AppContext:
        outputs = outputs_dir or Path(tempfile.gettempdir()) / "neurolink_ui" / uuid.uuid4().hex[:8]
        ctx = cls(
            settings=settings,
            client=ReplicateClient.from_settings(settings),
            outputs=OutputStore(outputs, settings.output_ttl, settings.session_disk_bytes),
            sessions=SessionReaper(
                settings.session_ttl, grace=min(CLOSED_SESSION_GRACE, settings.session_ttl)
            ),
        )
        if not settings.api_token:
            # No token anywhere: newcomers meet the product on synthetic outputs.
            from ..simulator.runner import Simulator

            sim = Simulator()
            sim.start()
            ctx.simulator = sim
            ctx.simulator_client = ReplicateClient.from_settings(settings, base_url=sim.base_url)
            log.info("no REPLICATE_API_TOKEN: using the built-in simulator at %s", sim.base_url)
        return ctx

    @property
    def simulated_by_default(self) -> bool:
        """True when no token is set and visitors without their own use the built-in simulator."""
        return self.simulator_client is not None

    def backend(self, session_token: str | None) -> Backend:
        """A visitor's own token wins, then the Space owner's, then the built-in simulator."""
        if session_token:
            return Backend(self.client, session_token)
        if self.settings.api_token:
            return Backend(self.client, self.settings.api_token)
        assert self.simulator_client is not None
        return Backend(self.simulator_client, SIMULATOR_TOKEN)

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
        await self.client.aclose()
        if self.simulator_client is not None:
            await self.simulator_client.aclose()
        if self.simulator is not None:
            self.simulator.stop()
