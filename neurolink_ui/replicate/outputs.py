"""Prediction outputs: one normal form for every shape, and guarded streaming downloads."""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import os
import re
import tempfile
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx

from .errors import BlockedAddressError, DownloadBudgetError, DownloadError, OutputTooLargeError
from .retry import RetryPolicy, retry_after_seconds, should_retry_error, should_retry_status

log = logging.getLogger("neurolink_ui.replicate")

OutputKind = Literal["image", "video", "audio", "file"]  # a download's kind: its cap and check
# What a run's outputs are: files of a kind to download, or "text" (nothing to download).
RunOutput = Literal["text", "image", "video", "audio", "file"]
MiB = 1024 * 1024
DEFAULT_SIZE_CAPS: dict[str, int] = {
    "image": 25 * MiB,
    "audio": 50 * MiB,
    "video": 512 * MiB,
    "file": 100 * MiB,
}
# Per prediction: files downloaded (the rest come back as links) and bytes written to disk.
DEFAULT_MAX_FILES = 16
DEFAULT_MAX_BYTES = 512 * MiB
LINKS_IN_NOTE = 20  # links a note spells out; `DownloadedFiles.links` has them all
MAX_REDIRECTS = 5
_CHUNK = 64 * 1024
_REDIRECTS = {301, 302, 303, 307, 308}


# ---- normal form ---------------------------------------------------------------------------


@dataclass(frozen=True)
class NormalizedOutput:
    """`text` for text outputs (tokens joined), `file_urls` in order, `data` the JSON as given."""

    text: str | None
    file_urls: list[str] = field(default_factory=list)
    data: Any = None


def is_file_url(value: Any) -> bool:
    return isinstance(value, str) and value.strip().startswith(("https://", "http://", "data:"))


def _collect_urls(value: Any) -> Iterator[str]:
    if is_file_url(value):
        yield value.strip()
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _collect_urls(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _collect_urls(item)


def normalize_output(output: Any) -> NormalizedOutput:
    """Every output shape Replicate returns, as text and/or file URLs.

    - a string: a URL or data URI is a file, anything else is text;
    - a list of strings: all non-empty items URLs → files, else tokens joined into text;
    - anything else (nested lists/dicts, numbers): the URLs found inside, data kept as given.
    """
    if output is None:
        return NormalizedOutput(text=None, file_urls=[], data=None)
    if isinstance(output, str):
        if is_file_url(output):
            return NormalizedOutput(text=None, file_urls=[output.strip()], data=output)
        return NormalizedOutput(text=output, file_urls=[], data=output)
    if isinstance(output, list) and all(isinstance(item, str) for item in output):
        filled = [item for item in output if item.strip()]
        if filled and all(is_file_url(item) for item in filled):
            return NormalizedOutput(text=None, file_urls=[i.strip() for i in filled], data=output)
        return NormalizedOutput(text="".join(output), file_urls=[], data=output)
    return NormalizedOutput(text=None, file_urls=list(_collect_urls(output)), data=output)


# ---- what the bytes are --------------------------------------------------------------------


@dataclass(frozen=True)
class SniffedType:
    category: str  # image | video | audio | other
    extension: str  # with the dot
    mime: str


def sniff_type(head: bytes) -> SniffedType | None:
    """Identify media from its first bytes (magic numbers); None when unknown."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return SniffedType("image", ".png", "image/png")
    if head.startswith(b"\xff\xd8\xff"):
        return SniffedType("image", ".jpg", "image/jpeg")
    if head.startswith((b"GIF87a", b"GIF89a")):
        return SniffedType("image", ".gif", "image/gif")
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return SniffedType("image", ".webp", "image/webp")
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return SniffedType("audio", ".wav", "audio/wav")
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return SniffedType("video", ".avi", "video/x-msvideo")
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"M4A ", b"M4B ", b"M4P "):
            return SniffedType("audio", ".m4a", "audio/mp4")
        if brand == b"qt  ":
            return SniffedType("video", ".mov", "video/quicktime")
        return SniffedType("video", ".mp4", "video/mp4")
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return SniffedType("video", ".webm", "video/webm")
    if head.startswith(b"OggS"):
        return SniffedType("audio", ".ogg", "audio/ogg")
    if head.startswith(b"fLaC"):
        return SniffedType("audio", ".flac", "audio/flac")
    if head.startswith(b"ID3") or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0):
        return SniffedType("audio", ".mp3", "audio/mpeg")
    if head.startswith(b"%PDF"):
        return SniffedType("other", ".pdf", "application/pdf")
    if head.startswith(b"PK\x03\x04"):
        return SniffedType("other", ".zip", "application/zip")
    return None


def accepts(kind: str, sniffed: SniffedType | None) -> bool:
    """Whether bytes of this type may stand for an output of this kind."""
    if kind == "file":
        return True
    if sniffed is None:
        return False
    if kind == "video":
        # Animated GIF/WebP are what some video models return.
        return sniffed.category == "video" or sniffed.extension in (".gif", ".webp")
    if kind == "audio":
        # An audio-only WebM/MP4 sniffs as video by its container.
        return sniffed.category == "audio" or sniffed.extension in (".webm", ".mp4")
    return sniffed.category == kind


# ---- downloads -----------------------------------------------------------------------------


def _redact(url: str) -> str:
    """A data: URI is shown by its type only (it may be megabytes)."""
    if url.startswith("data:"):
        return url.split(",", 1)[0][:80] + ",…"
    return url


def _safe_stem(url: str, index: int) -> str:
    if url.startswith("data:"):
        return f"output-{index}"
    name = Path(urllib.parse.urlsplit(url).path).name
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(name).stem).strip("._")[:80]
    return stem or f"output-{index}"


def _unique_path(dest_dir: Path, stem: str, extension: str, taken: set[Path]) -> Path:
    candidate = dest_dir / f"{stem}{extension}"
    counter = 1
    while candidate in taken or candidate.exists():
        candidate = dest_dir / f"{stem}-{counter}{extension}"
        counter += 1
    taken.add(candidate)
    return candidate


def _extension_from_url(url: str) -> str:
    suffix = Path(urllib.parse.urlsplit(url).path).suffix.lower()
    return suffix if re.fullmatch(r"\.[a-z0-9]{1,5}", suffix) else ".bin"


def _finish(temp: Path, url: str, directory: Path, kind: str, index: int, taken: set[Path]) -> Path:
    """Check what the downloaded bytes really are, then give them their final name."""
    with temp.open("rb") as handle:
        head = handle.read(64)
    sniffed = sniff_type(head)
    if not accepts(kind, sniffed):
        what = sniffed.mime if sniffed else "unrecognised data"
        raise DownloadError(
            f"Download of {_redact(url)} is not a valid {kind}: the bytes are {what}.",
            url=_redact(url),
        )
    extension = sniffed.extension if sniffed else _extension_from_url(url)
    final = _unique_path(directory, _safe_stem(url, index), extension, taken)
    temp.replace(final)
    return final


def _discard(temp: Path) -> None:
    temp.unlink(missing_ok=True)


class _TooLarge(Exception):
    pass


class _OverBudget(Exception):
    """The file would pass what is left of the prediction's byte budget."""


class DownloadedFiles(list[Path]):
    """The files saved, in order; `links` are the outputs not downloaded because a cap was
    reached, and `note` says which cap (None when everything was downloaded)."""

    def __init__(
        self,
        paths: list[Path] | None = None,
        links: list[str] | None = None,
        note: str | None = None,
    ) -> None:
        super().__init__(paths or [])
        self.links = list(links or [])
        self.note = note


def _megabytes(size: int) -> str:
    return f"{round(size / MiB, 2):g} MB"


def _links_note(links: list[str]) -> str:
    shown = [_redact(url) for url in links[:LINKS_IN_NOTE]]
    more = f" and {len(links) - LINKS_IN_NOTE} more" if len(links) > LINKS_IN_NOTE else ""
    return "The rest, as links: " + ", ".join(shown) + more + "."


class Downloader:
    """Fetches output files through a guarded client, streaming to disk under a size cap."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        *,
        size_caps: dict[str, int] | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 120.0,
        max_files: int = DEFAULT_MAX_FILES,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self._client = client
        self.size_caps = {**DEFAULT_SIZE_CAPS, **(size_caps or {})}
        self._retry = retry or RetryPolicy()
        self._timeout = timeout
        self.max_files = max_files
        self.max_bytes = max_bytes

    async def download_outputs(
        self,
        output: Any,
        dest_dir: str | os.PathLike[str],
        kind: str = "file",
        *,
        max_files: int | None = None,
        max_bytes: int | None = None,
    ) -> DownloadedFiles:
        """The file URLs in `output` saved under `dest_dir`, in order, within the caps.

        Past `max_files` or `max_bytes` (this call's, else the downloader's) the rest are
        returned as links with a note and the files already saved are kept; a first file that
        alone passes the byte budget is a DownloadError.
        """
        if kind not in self.size_caps:
            raise ValueError(f"kind must be one of {sorted(self.size_caps)}, got {kind!r}")
        file_cap = self.max_files if max_files is None else max(int(max_files), 0)
        budget = self.max_bytes if max_bytes is None else max(int(max_bytes), 0)
        directory = Path(dest_dir)
        await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
        urls = normalize_output(output).file_urls
        taken: set[Path] = set()
        paths: list[Path] = []
        used = 0
        for index, url in enumerate(urls[:file_cap]):
            try:
                path = await self.download(
                    url, directory, kind, index=index, taken=taken, budget=budget - used
                )
            except _OverBudget:
                limit = _megabytes(budget)
                if not paths:
                    raise DownloadBudgetError(
                        f"Download of {_redact(url)} refused: it would pass the {limit} "
                        "download limit for this prediction.",
                        budget=budget,
                        url=_redact(url),
                    ) from None
                rest = urls[index:]
                return DownloadedFiles(
                    paths, rest,
                    f"Downloaded {len(paths)} of {len(urls)} files: the next would pass the "
                    f"{limit} download limit for one prediction. " + _links_note(rest),
                )  # fmt: skip
            used += path.stat().st_size
            paths.append(path)
        if len(urls) > file_cap:
            rest = urls[file_cap:]
            return DownloadedFiles(
                paths, rest,
                f"Downloaded the first {file_cap} of {len(urls)} files (the limit per "
                "prediction). " + _links_note(rest),
            )  # fmt: skip
        return DownloadedFiles(paths)

    async def download(
        self,
        url: str,
        directory: Path,
        kind: str,
        *,
        index: int = 0,
        taken: set[Path] | None = None,
        budget: int | None = None,
    ) -> Path:
        """One file, under the kind's size cap and within `budget` bytes (then _OverBudget)."""
        taken = set() if taken is None else taken
        kind_cap = self.size_caps[kind]
        cap = kind_cap if budget is None else min(kind_cap, budget)
        if cap <= 0:
            raise _OverBudget
        fd, temp_name = tempfile.mkstemp(prefix=".download-", suffix=".part", dir=directory)
        os.close(fd)
        temp = Path(temp_name)
        try:
            if url.startswith("data:"):
                self._write_data_uri(url, temp, cap)
            else:
                await self._fetch_with_retries(url, temp, cap)
            return _finish(temp, url, directory, kind, index, taken)
        except _TooLarge:
            if cap < kind_cap:
                raise _OverBudget from None
            raise self._too_large(url, cap, kind) from None
        finally:
            _discard(temp)

    def _write_data_uri(self, url: str, temp: Path, cap: int) -> None:
        header, _, payload = url.partition(",")
        if len(payload) * 3 // 4 > cap:
            raise _TooLarge
        try:
            if header.endswith(";base64"):
                data = base64.b64decode(payload, validate=False)
            else:
                data = urllib.parse.unquote_to_bytes(payload)
        except (binascii.Error, ValueError) as exc:
            shown = _redact(url)
            raise DownloadError(f"Malformed data URI {shown}: {exc}", url=shown) from None
        if len(data) > cap:
            raise _TooLarge
        temp.write_bytes(data)

    def _too_large(self, url: str, cap: int, kind: str) -> DownloadError:
        return OutputTooLargeError(
            f"Download of {_redact(url)} refused: larger than the {cap // MiB} MiB limit for "
            f"{kind} outputs.",
            url=_redact(url),
        )

    async def _fetch_with_retries(self, url: str, temp: Path, cap: int) -> None:
        attempt = 0
        while True:
            retry_after: float | None = None
            try:
                status, headers = await asyncio.wait_for(
                    self._fetch(url, temp, cap), timeout=self._timeout
                )
            except BlockedAddressError:
                raise
            except TimeoutError:
                raise DownloadError(
                    f"Download of {url} timed out after {self._timeout:.0f} s.", url=url
                ) from None
            except httpx.HTTPError as exc:
                if attempt >= self._retry.max_retries or not should_retry_error("read", exc):
                    raise DownloadError(
                        f"Download of {url} failed: {type(exc).__name__}.", url=url
                    ) from None
            else:
                if status < 400:
                    return
                if attempt >= self._retry.max_retries or not should_retry_status("read", status):
                    raise DownloadError(
                        f"Download of {url} failed: HTTP {status}.", url=url, status=status
                    )
                retry_after = retry_after_seconds(headers)
            delay = self._retry.delay(attempt, retry_after)
            log.info("retrying download of %s in %.2f s (attempt %d)", url, delay, attempt + 1)
            await asyncio.sleep(delay)
            attempt += 1

    async def _fetch(self, url: str, temp: Path, cap: int) -> tuple[int, httpx.Headers]:
        """One attempt, redirects followed by hand (each hop goes through the guard)."""
        current = url
        for _hop in range(MAX_REDIRECTS + 1):
            async with self._client.stream("GET", current) as response:
                if response.status_code in _REDIRECTS and "location" in response.headers:
                    current = str(response.url.join(response.headers["location"]))
                    continue
                if response.status_code >= 400:
                    return response.status_code, response.headers
                declared = response.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > cap:
                    raise _TooLarge
                received = 0
                with temp.open("wb") as handle:
                    async for chunk in response.aiter_bytes(_CHUNK):
                        received += len(chunk)
                        if received > cap:
                            raise _TooLarge
                        handle.write(chunk)
                return response.status_code, response.headers
        raise DownloadError(f"Download of {url} redirected over {MAX_REDIRECTS} times.", url=url)
