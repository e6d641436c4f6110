"""Issue 8 as a hostile visitor plays it: the launched app against the simulator, driven through
gradio_client with chosen session ids, oversized and malformed inputs. After every attack the app
must still serve, and nothing may be written outside its outputs folder."""

from __future__ import annotations

import re
import struct
import uuid
import zlib
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import httpx
import pytest
from conftest import TOKEN
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from launched import LaunchedApp
from PIL import Image

from neurolink_ui.config import Settings

FAST_IMAGE = "black-forest-labs/flux-schnell"

pytestmark = pytest.mark.slow  # launches the whole app


class RunningApp(LaunchedApp):
    def __init__(self, settings: Settings, base: Path) -> None:
        super().__init__(settings, base / "a" / "b" / "c" / "outputs")
        self.base = base  # the outputs root is base/a/b/c/outputs: `..` has room to climb

    def still_serves(self) -> None:
        with closing(self.client()) as c:
            gallery, status, *_ = c.predict("still serving", model=FAST_IMAGE, api_name="/image")
        assert gallery and "Done" in status


@pytest.fixture(scope="module")
def app(simulator_session, tmp_path_factory) -> Iterator[RunningApp]:  # type: ignore[no-untyped-def]
    settings = Settings(api_token=TOKEN, base_url=simulator_session.base_url, poll_cap=60)
    running = RunningApp(settings, tmp_path_factory.mktemp("climb"))
    yield running
    running.close()


def _tree(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")} if root.exists() else set()


# ---- 1. a client-chosen session id must not choose where files go -----------------------------


def _hostile_ids(tag: str) -> dict[str, str]:
    return {
        "absolute": f"/tmp/nl-escape-{tag}",  # ≤ 32 characters: the old cut kept all of it
        "dotdot": "../../..",
        "long": "x" * 5000,
        "non-ascii": "séssion-✓-日本語-\u202e-/\\..",
    }


@pytest.mark.parametrize("kind", ["absolute", "dotdot", "long", "non-ascii"])
def test_session_id_cannot_choose_where_outputs_go(app: RunningApp, simulator, kind: str) -> None:  # type: ignore[no-untyped-def]
    tag = uuid.uuid4().hex[:8]
    session_hash = _hostile_ids(tag)[kind]
    escape = Path(f"/tmp/nl-escape-{tag}")
    outputs = app.ctx.outputs_dir.resolve()
    before = {p for p in _tree(app.base) if not p.resolve().is_relative_to(outputs)}
    try:
        with closing(app.client(session_hash)) as c:
            gallery, status, *_ = c.predict("a quiet harbour", model=FAST_IMAGE, api_name="/image")
        assert gallery and "Done" in status
        after = {p for p in _tree(app.base) if not p.resolve().is_relative_to(outputs)}
        assert after == before, f"created outside the outputs root: {sorted(after - before)}"
        assert not escape.exists()
        # The session's files are in a folder named by a digest, never by the raw id.
        written = [p for p in _tree(outputs) if p.is_file() and p.suffix != ".tmp"]
        assert written and all(len(p.relative_to(outputs).parts) == 2 for p in written)
        assert all(p.parent.name.isalnum() and p.parent.name.isascii() for p in written)
    finally:
        if escape.exists():
            for path in sorted(_tree(escape), reverse=True):
                path.unlink() if path.is_file() else path.rmdir()
            escape.rmdir()
    app.still_serves()


# ---- 5a. images are refused above 40 megapixels from their header -----------------------------


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG that declares width × height pixels but carries one tiny compressed row: its header
    is all a reader needs to see the size, and nothing of that size is ever allocated here."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grey
    pixels = zlib.compress(b"\x00" * 64)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", pixels)
        + _png_chunk(b"IEND", b"")
    )
    return path


@pytest.fixture(scope="module")
def huge_png(tmp_path_factory) -> Path:  # type: ignore[no-untyped-def]
    """A real 12000 × 12000 PNG of one colour: ~420 KB on disk, 432 MB decoded."""
    path = tmp_path_factory.mktemp("huge") / "huge.png"
    Image.new("RGB", (12000, 12000), (20, 40, 60)).save(path, optimize=False, compress_level=9)
    return path


@pytest.mark.parametrize("panel", ["image", "video"])
def test_huge_input_images_are_refused_from_their_header(
    app: RunningApp, simulator, huge_png: Path, tmp_path: Path, panel: str
) -> None:  # type: ignore[no-untyped-def]
    bomb = _png_header_only(tmp_path / "bomb.png", 40_000, 40_000)  # 1.6 gigapixels
    before = len(simulator.predictions)
    with closing(app.client()) as c:
        for picture in (huge_png, bomb):
            with pytest.raises(AppError, match=r"megapixels") as info:
                if panel == "image":
                    c.predict(
                        "x",
                        model=FAST_IMAGE,
                        input_image=handle_file(str(picture)),
                        api_name="/image",
                    )
                else:
                    c.predict("x", handle_file(str(picture)), api_name="/video")
            assert "40" in str(info.value)
    assert len(simulator.predictions) == before  # refused before anything was paid for
    app.still_serves()


# ---- 5b. prompts are capped --------------------------------------------------------------------


def test_oversized_prompts_are_refused_with_the_limit(app: RunningApp, simulator) -> None:  # type: ignore[no-untyped-def]
    before = len(simulator.predictions)
    with closing(app.client()) as c:
        with pytest.raises(AppError, match=r"20,000 characters"):
            c.predict("y" * 20_001, model=FAST_IMAGE, api_name="/image")
        with pytest.raises(AppError, match=r"20,000 characters"):
            c.predict("y" * 20_001, duration=3, api_name="/music")
        with pytest.raises(AppError, match=r"200,000 characters"):
            c.predict("y" * 200_001, api_name="/chat")
    assert len(simulator.predictions) == before
    app.still_serves()


# ---- 6. hostile API input gets the app's own message, one warning line, no traceback ----------


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def _raw_join(app: RunningApp, api_name: str, data_json: str) -> str:
    """Join Gradio's queue with a body written by hand (a 5,000-digit number cannot even be
    produced by Python's json.dumps), then read the session's event stream to its end."""
    base = app.url.rstrip("/")
    session = uuid.uuid4().hex
    with httpx.Client(timeout=60, trust_env=False) as http:
        config = http.get(f"{base}/config").json()
        fn_index = next(
            dep["id"] for dep in config["dependencies"] if dep.get("api_name") == api_name
        )
        body = (
            f'{{"fn_index": {fn_index}, "session_hash": "{session}", "trigger_id": null, '
            f'"event_data": null, "data": {data_json}}}'
        )
        joined = http.post(
            f"{base}/gradio_api/queue/join",
            content=body,
            headers={"content-type": "application/json"},
        )
        if joined.status_code != 200:
            return f"HTTP {joined.status_code}: {joined.text}"
        with http.stream(
            "GET", f"{base}/gradio_api/queue/data", params={"session_hash": session}
        ) as sse:
            lines = []
            for line in sse.iter_lines():
                lines.append(line)
                if "process_completed" in line:
                    break
        return "\n".join(lines)


HISTORY_5000 = [{"role": ("user", "assistant")[i % 2], "content": "x"} for i in range(5000)]

DIGITS_5000 = "9" * 5000

HOSTILE_CALLS = {
    "deep-advanced": (
        "/image",
        {"prompt": "x", "model": FAST_IMAGE, "advanced": _nested(50_000)},
        r"nested more than 32 levels",
    ),
    "5000-digit-seed-in-advanced": (
        "/image",
        {"prompt": "x", "model": FAST_IMAGE, "advanced": '{"seed": ' + DIGITS_5000 + "}"},
        r"5,000 digits\) is too large",
    ),
    "huge-seed": ("/image", {"prompt": "x", "model": FAST_IMAGE, "seed": 10**300}, "too large"),
    "bogus-history": ("/chat", {"message": "hi", "history": [{"bogus": 1}]}, r"history.*role"),
    "long-history": ("/chat", {"message": "hi", "history": HISTORY_5000}, r"5,000 messages"),
}


@pytest.mark.parametrize("case", list(HOSTILE_CALLS))
def test_hostile_api_input_gets_a_clear_message(
    app: RunningApp, simulator, capfd: pytest.CaptureFixture[str], case: str
) -> None:  # type: ignore[no-untyped-def]
    api_name, kwargs, needle = HOSTILE_CALLS[case]
    with closing(app.client()) as c:
        capfd.readouterr()
        with pytest.raises(AppError) as info:
            c.predict(api_name=api_name, **kwargs)
    message = str(info.value)
    assert "upstream Gradio app has raised an exception" not in message
    assert re.search(needle, message, re.IGNORECASE), message
    _, err = capfd.readouterr()
    assert "Traceback" not in err, err[-3000:]
    app.still_serves()


# gradio_client refuses to send NaN or infinities; any other client can. A raw call sends every
# input, the States (token, History, running predictions) as null.
RAW_CALLS = {
    "infinite-seed": (
        "image",
        f'["x", "{FAST_IMAGE}", "1:1", Infinity, 1, null, "{{}}", null, null, null]',
    ),
    "nan-seed": ("image", f'["x", "{FAST_IMAGE}", "1:1", NaN, 1, null, "{{}}", null, null, null]'),
    "nan-max-tokens": (
        "chat",
        '["hi", [], "sys", "meta/meta-llama-3-70b-instruct", NaN, 0.6, "{}", null, null, null, null]',
    ),
}


@pytest.mark.parametrize("case", list(RAW_CALLS))
def test_non_finite_numbers_get_a_clear_message(
    app: RunningApp, simulator, capfd: pytest.CaptureFixture[str], case: str
) -> None:  # type: ignore[no-untyped-def]
    api_name, data = RAW_CALLS[case]
    before = len(simulator.predictions)
    capfd.readouterr()
    outcome = _raw_join(app, api_name, data)
    assert "process_completed" in outcome, outcome[-800:]
    assert "finite number" in outcome, outcome[-800:]
    assert "upstream Gradio app" not in outcome
    assert len(simulator.predictions) == before
    _, err = capfd.readouterr()
    assert "Traceback" not in err, err[-3000:]
    app.still_serves()


def test_a_raw_5000_digit_number_is_refused_by_the_body_parser(
    app: RunningApp, simulator, capfd: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    before = len(simulator.predictions)
    capfd.readouterr()
    data = f'["x", "{FAST_IMAGE}", "1:1", {DIGITS_5000}, 1, null, "{{}}", null, null, null]'
    outcome = _raw_join(app, "image", data)
    # Gradio's body parser refuses it before the app sees it: a plain 400, nothing run.
    assert outcome.startswith("HTTP 400"), outcome[-800:]
    assert len(simulator.predictions) == before
    _, err = capfd.readouterr()
    assert "Traceback" not in err, err[-3000:]
    app.still_serves()
