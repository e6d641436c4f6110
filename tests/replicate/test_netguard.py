"""The download address guard: pure classification, and refusals that never connect.

Non-loopback literals appear only in the pure tests; every test that opens a socket stays on
127.0.0.1.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from neurolink_ui.replicate import BlockedAddressError, ReplicateClient, classify_address
from neurolink_ui.replicate.netguard import GuardedNetworkBackend, GuardedTransport, Origin


def leftovers(directory: Path) -> list[Path]:
    return list(directory.iterdir())


@pytest.mark.parametrize(
    ("ip", "kind"),
    [
        ("8.8.8.8", "public"),
        ("1.1.1.1", "public"),
        ("2606:4700:4700::1111", "public"),
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("::1", "loopback"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("10.0.0.1", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.254", "private"),
        ("192.168.1.1", "private"),
        ("fc00::1", "private"),
        ("fdff:ffff::1", "private"),
        ("100.64.0.1", "cgnat"),
        ("100.127.255.254", "cgnat"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("febf::1", "link-local"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("255.255.255.255", "reserved"),
        ("192.0.2.10", "reserved"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.1.2.3", "private"),
        ("::ffff:169.254.1.1", "link-local"),
        ("::ffff:8.8.8.8", "public"),
        ("64:ff9b::a00:1", "private"),
        ("[::1]", "loopback"),
        ("fe80::1%eth0", "link-local"),
        ("not-an-ip", "invalid"),
        ("", "invalid"),
    ],
)
def test_classify_address(ip: str, kind: str) -> None:
    assert classify_address(ip) == kind


def test_origin_is_exact() -> None:
    assert Origin.of("http://127.0.0.1:8000/v1") == Origin("http", "127.0.0.1", 8000)
    assert Origin.of("https://API.replicate.com") == Origin("https", "api.replicate.com", 443)
    assert Origin.of("http://127.0.0.1:8000") != Origin.of("http://127.0.0.1:8001")


async def test_every_resolved_address_is_checked_without_connecting() -> None:
    async def rebinding(host: str, port: int) -> list[str]:
        return ["8.8.8.8", "10.0.0.7"]  # one public answer must not hide a private one

    async def public(host: str, port: int) -> list[str]:
        return ["8.8.4.4", "2001:4860:4860::8888"]

    async def nothing(host: str, port: int) -> list[str]:
        raise OSError("name does not resolve")

    url = "https://cdn.example/out.png"
    with pytest.raises(BlockedAddressError, match="private"):
        await GuardedNetworkBackend(None, rebinding).vetted_address("cdn.example", 443, url)
    with pytest.raises(BlockedAddressError, match="does not resolve") as info:
        await GuardedNetworkBackend(None, nothing).vetted_address("cdn.example", 443, url)
    assert url in str(info.value)
    vetted = await GuardedNetworkBackend(None, public).vetted_address("cdn.example", 443, url)
    assert vetted == "8.8.4.4"  # the address we connect to is the one we checked


class Listener:
    """A plain TCP server on 127.0.0.1 that records whether anyone connected."""

    def __init__(self, reply: bytes = b"") -> None:
        self.connections = 0
        self.reply = reply
        self.server: asyncio.Server | None = None

    async def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.connections += 1
        if self.reply:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(self.reply)
            await writer.drain()
        writer.close()

    async def __aenter__(self) -> Listener:
        self.server = await asyncio.start_server(self._on_connect, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.sockets[0].getsockname()[1]


async def test_second_listener_never_contacted(tmp_path: Path) -> None:
    async with Listener() as api, Listener() as other:
        async with ReplicateClient(f"http://127.0.0.1:{api.port}") as client:
            for url in (
                f"http://127.0.0.1:{other.port}/out.png",
                f"https://127.0.0.1:{other.port}/out.png",
                f"https://localhost:{other.port}/out.png",
                f"https://[::1]:{other.port}/out.png",
            ):
                with pytest.raises(BlockedAddressError) as info:
                    await client.download_outputs(url, tmp_path, kind="image")
                assert url in str(info.value)
        await asyncio.sleep(0.05)
        assert other.connections == 0 and api.connections == 0
    assert leftovers(tmp_path) == []


async def test_redirect_hops_are_rechecked(tmp_path: Path) -> None:
    async with Listener() as other:
        target = f"http://127.0.0.1:{other.port}/stolen.png"
        redirect = (
            f"HTTP/1.1 302 Found\r\nLocation: {target}\r\nContent-Length: 0\r\n"
            "Connection: close\r\n\r\n"
        ).encode()
        async with Listener(reply=redirect) as origin:
            async with ReplicateClient(f"http://127.0.0.1:{origin.port}") as client:
                with pytest.raises(BlockedAddressError) as info:
                    await client.download_outputs(
                        f"http://127.0.0.1:{origin.port}/out.png", tmp_path, kind="image"
                    )
            assert target in str(info.value)
            assert origin.connections == 1  # the trusted origin itself is allowed
        await asyncio.sleep(0.05)
        assert other.connections == 0


async def test_transport_refuses_plain_http_before_any_network() -> None:
    transport = GuardedTransport("http://127.0.0.1:1")
    async with httpx.AsyncClient(transport=transport) as client:
        with pytest.raises(BlockedAddressError, match="only https"):
            await client.get("http://127.0.0.1:2/file")
