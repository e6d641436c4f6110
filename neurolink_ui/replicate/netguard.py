"""Where the client may connect besides the API: https to public addresses, or the API's own origin.

One policy for every URL the API hands back (output files, `urls.stream`, uploaded-file URLs).
`classify_address` is pure. `GuardedTransport` enforces the policy for every request and every
redirect hop before connecting (`vet_url` applies it to a URL that is passed on, not fetched): the scheme/origin check happens per request, and the network
backend resolves the host once, refuses if *any* resolved address is not public, then connects to
the vetted IP (TLS still verifies the certificate for the original host name), so DNS cannot
answer differently between the check and the connect.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable, Iterable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from .errors import BlockedAddressError

Resolver = Callable[[str, int], Awaitable[list[str]]]

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_PRIVATE_V4 = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
)
_PRIVATE_V6 = ipaddress.ip_network("fc00::/7")

PUBLIC = "public"


def classify_address(ip: str) -> str:
    """Classify a literal IP: `public`, or why it is refused.

    One of: public, unspecified, loopback, private, link-local, cgnat, multicast, reserved, invalid.
    IPv4-mapped (::ffff:a.b.c.d) and NAT64 (64:ff9b::a.b.c.d) addresses are judged by the IPv4
    address inside them.
    """
    try:
        address = ipaddress.ip_address(ip.strip().strip("[]").split("%", 1)[0])
    except ValueError:
        return "invalid"
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            return classify_address(str(embedded))
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if isinstance(address, ipaddress.IPv4Address) and address in _CGNAT:
        return "cgnat"
    if address.is_multicast:
        return "multicast"
    if any(address in net for net in _PRIVATE_V4) or address in _PRIVATE_V6:
        return "private"
    if address.is_reserved or address.is_private or not address.is_global:
        # 0/8, 240/4, broadcast, documentation and benchmark ranges, site-local, …
        return "reserved"
    return PUBLIC


@dataclass(frozen=True)
class Origin:
    scheme: str
    host: str
    port: int

    @classmethod
    def of(cls, url: str | httpx.URL) -> Origin:
        parsed = httpx.URL(url) if isinstance(url, str) else url
        default = 443 if parsed.scheme == "https" else 80
        return cls(parsed.scheme.lower(), parsed.host.lower(), parsed.port or default)


@dataclass(frozen=True)
class _GuardContext:
    url: str
    trusted: bool


# Set by GuardedTransport for the request in flight; httpcore connects in the same task.
_CURRENT: ContextVar[_GuardContext | None] = ContextVar("netguard_request", default=None)


async def system_resolver(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def _ip_literal(host: str) -> str | None:
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return None


class GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    """Resolves, classifies every address, connects to the vetted one; trusted origin passes."""

    def __init__(
        self,
        trusted: Origin | None,
        resolver: Resolver | None = None,
        inner: httpcore.AsyncNetworkBackend | None = None,
    ) -> None:
        self._trusted = trusted
        self._resolve = resolver or system_resolver
        self._inner = inner or httpcore.AnyIOBackend()

    async def vetted_address(self, host: str, port: int, url: str) -> str:
        literal = _ip_literal(host)
        if literal is not None:
            addresses = [literal]
        else:
            try:
                addresses = await self._resolve(host, port)
            except OSError:
                addresses = []
        if not addresses:
            raise BlockedAddressError(
                f"Refused to fetch {url}: its host {host!r} does not resolve.", url=url
            )
        for address in addresses:
            kind = classify_address(address)
            if kind != PUBLIC:
                raise BlockedAddressError(
                    f"Refused to fetch {url}: {host} is a {kind} address ({address}); only "
                    "public https hosts (or the API's own origin) are contacted.",
                    url=url,
                )
        return addresses[0]

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        context = _CURRENT.get()
        url = context.url if context else f"//{host}:{port}"
        trusted = (
            context is not None
            and context.trusted
            and self._trusted is not None
            and (host.lower(), port) == (self._trusted.host, self._trusted.port)
        )
        target = host if trusted else await self.vetted_address(host, port, url)
        return await self._inner.connect_tcp(
            target, port, timeout=timeout, local_address=local_address,
            socket_options=socket_options,
        )  # fmt: skip

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise BlockedAddressError(f"Refused to connect to a unix socket ({path}).", url=path)

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """An httpx transport whose connections all go through `GuardedNetworkBackend`.

    No proxies (trust_env off): a proxy would connect on our behalf to anything.
    """

    def __init__(
        self,
        trusted_origin: str | None,
        resolver: Resolver | None = None,
        limits: httpx.Limits | None = None,
    ) -> None:
        # Every user's downloads share this pool: room for many at once, idle ones expiring
        # before a typical server's 5 s keep-alive.
        limits = limits or httpx.Limits(
            max_connections=256, max_keepalive_connections=32, keepalive_expiry=4.0
        )
        super().__init__(trust_env=False, limits=limits)
        self._trusted = Origin.of(trusted_origin) if trusted_origin else None
        # httpx does not expose a network_backend option; the pool it builds is replaced by the
        # same pool with our backend (attribute stable across httpx 0.2x).
        self._backend = GuardedNetworkBackend(self._trusted, resolver)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=self._backend,
        )

    def check_url(self, url: httpx.URL) -> bool:
        """Raise BlockedAddressError unless the URL may be fetched; True if it is trusted."""
        origin = Origin.of(url)
        if self._trusted is not None and origin == self._trusted:
            return True
        if origin.scheme != "https":
            raise BlockedAddressError(
                f"Refused to fetch {url}: only https URLs (or the API's own origin) are followed.",
                url=str(url),
            )
        return False

    def refusal(self, url: str) -> str | None:
        """Why the policy refuses `url` before any lookup (not a URL, not https, a literal
        non-public address), or None: then a fetch may be tried, and is still vetted on connect."""
        try:
            parsed = httpx.URL(url)
            if self.check_url(parsed):
                return None
        except (httpx.InvalidURL, BlockedAddressError) as exc:
            return str(exc) if isinstance(exc, BlockedAddressError) else f"{url!r} is not a URL."
        literal = _ip_literal(parsed.host)
        if not parsed.host:
            return f"{url!r} names no host."
        if literal is not None and classify_address(literal) != PUBLIC:
            return f"{url} points at a {classify_address(literal)} address."
        return None

    async def vet_url(self, url: str) -> None:
        """The whole policy for a URL that is handed on rather than fetched (no connection)."""
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL:
            raise BlockedAddressError(f"Refused to use {url!r}: not a URL.", url=url) from None
        if not self.check_url(parsed):
            origin = Origin.of(parsed)
            await self._backend.vetted_address(origin.host, origin.port, url)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        trusted = self.check_url(request.url)
        reset = _CURRENT.set(_GuardContext(str(request.url), trusted))
        try:
            return await super().handle_async_request(request)
        finally:
            _CURRENT.reset(reset)
