"""Agents: the playground as an MCP server (issue 24). `server.AgentServer` is the server,
`tools` what its tools are and how their arguments are checked, `content` how a run becomes MCP
content. `mcp_enabled()` decides whether an app serves it (NEUROLINK_MCP)."""

from __future__ import annotations

from ..config import Settings
from ..quota.settings import QuotaSettings


def guarded(quota: QuotaSettings) -> bool:
    """Something limits runs on the owner's token: counts or a dollar budget, or an allow-list."""
    return quota.enabled and (quota.counts or quota.allowed is not None)


def mcp_enabled(settings: Settings) -> bool:
    """NEUROLINK_MCP: `on`, `off`, or `auto` (the default) — served where it is safe: with no
    owner token (the built-in simulator, or agents' own tokens), or with the owner's token
    limited by guarded demo mode (the same limits as the page). An owner's token that nothing
    limits is not offered to agents unless the owner says `on`."""
    if settings.mcp != "auto":
        return settings.mcp == "on"
    return not settings.api_token or guarded(settings.quota)
