"""Who a visitor is, for counting: the Hugging Face user, else the client address, else the session.

Pure functions on what a request carries; no Gradio, no network.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

VisitorKind = Literal["user", "address", "session"]


@dataclass(frozen=True)
class Visitor:
    """One counted visitor. `key` is what the store counts by; `label` is safe to show them."""

    kind: VisitorKind
    key: str
    label: str
    network: str = ""
    """For an IPv6 visitor, the /48 their /64 lies in ("net:2001:db8:1::/48"): one holder of many
    /64s (a site, a cloud account) shares that network's limits too. Empty for anyone else."""

    @property
    def signed_in(self) -> bool:
        return self.kind == "user"


def _normalized(address: str) -> str | None:
    """An address as counted: IPv6 by its /64 (one home or phone holds a whole /64), IPv4 as is."""
    text = address.strip().strip('"')
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{ip}/64", strict=False))
    return str(ip)


def network_of(address: str) -> str:
    """The /48 an IPv6 /64 (as `_normalized` writes it) lies in; "" for an IPv4 address."""
    if ":" not in address:
        return ""
    try:
        network = ipaddress.IPv6Network(address, strict=False)
    except ValueError:
        return ""
    return str(network.supernet(new_prefix=48)) if network.prefixlen >= 48 else ""


def client_address(peer: str | None, forwarded_for: Iterable[str], proxy_hops: int) -> str | None:
    """The client's address as seen through `proxy_hops` trusted proxies.

    Each trusted proxy appends the address it received from, so the client is `proxy_hops`
    entries from the right of X-Forwarded-For (all the header's values, in order). Entries
    further left are whatever the client itself sent, which is why they are never read: a
    visitor cannot choose their own address. With 0 hops the socket peer is the client.
    """
    if proxy_hops <= 0:
        return _normalized(peer) if peer else None
    chain = [part.strip() for value in forwarded_for for part in value.split(",") if part.strip()]
    if not chain:
        return _normalized(peer) if peer else None
    # Fewer entries than proxies: nothing the client sent can be in it, so its first is real.
    entry = chain[-proxy_hops] if len(chain) >= proxy_hops else chain[0]
    return _normalized(entry)


def identify(
    *,
    hf_username: str | None,
    peer: str | None,
    forwarded_for: Iterable[str],
    proxy_hops: int,
    session_hash: str | None,
) -> Visitor:
    """The Hugging Face user when signed in, else the client address, else the session."""
    if hf_username:
        return Visitor("user", f"hf:{hf_username.lower()}", f"@{hf_username}")
    address = client_address(peer, forwarded_for, proxy_hops)
    if address:
        network = network_of(address)
        return Visitor("address", f"ip:{address}", address, f"net:{network}" if network else "")
    session = (session_hash or "").strip()[:64]
    if session:
        digest = hashlib.sha256(session.encode()).hexdigest()[:24]
        return Visitor("session", f"session:{digest}", "this session")
    return Visitor("session", "session:anonymous", "anonymous")
