"""2 and 4. The app in this process against a simulator: whole path per panel, streaming.

A person's request goes gradio_client → the app's queue → the handler → ReplicateClient → the
simulator, and the output comes back the same way; each figure is set against the simulator's own
recorded time for the same prediction (or its configured latency), measured in the same run.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile
from PIL import Image

from neurolink_ui.modalities.chat import flatten_content
from neurolink_ui.ui.context import AppContext

from .common import (
    Figure,
    Spread,
    backend_seconds,
    gradio_client,
    launched_app,
    ms,
    new_predictions,
    wait_until,
)

IMAGE_MODEL = "black-forest-labs/flux-schnell"
CHAT_PROMPT = "Tell me about llamas"
# 0.25 MP images: the simulator's own drawing (CPU on the same 2 cores) stays small next to ours.
SMALL_IMAGE = '{"megapixels": "0.25"}'


# ---- inputs --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Inputs:
    portrait: Path
    narration: Path


def make_inputs(folder: Path) -> Inputs:
    portrait = folder / "portrait.png"
    Image.new("RGB", (256, 320), (200, 170, 150)).save(portrait)
    narration = folder / "narration.wav"
    t = np.linspace(0, 1.5, int(16000 * 1.5), endpoint=False)
    soundfile.write(narration, 0.3 * np.sin(2 * np.pi * 220 * t), 16000)
    return Inputs(portrait, narration)


@dataclass(frozen=True)
class PanelCall:
    api_name: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]


def panel_calls(inputs: Inputs) -> list[PanelCall]:
    from gradio_client import handle_file

    return [
        PanelCall("/chat", (CHAT_PROMPT,), {}),
        PanelCall("/image", ("A red panda reading a map",), {"model": IMAGE_MODEL}),
        PanelCall(
            "/video",
            ("smooth zoom out", handle_file(str(inputs.portrait))),
            {"model": "wan-video/wan-2.2-i2v-fast", "length": 2},
        ),
        PanelCall(
            "/avatar", (handle_file(str(inputs.portrait)), handle_file(str(inputs.narration))), {}
        ),
        PanelCall("/music", ("Lo-fi beat",), {"duration": 3, "tempo": 80, "output_format": "wav"}),
    ]


# ---- 2. the whole path ---------------------------------------------------------------------


def run_whole_path(sim: Any, runs: int, quick: bool, workdir: Path) -> list[Figure]:
    sim.reset()
    latencies = {
        "cold_start": 0.05 if quick else 0.2,
        "run_time": 0.1 if quick else 1.0,
        "token_interval": 0.005 if quick else 0.01,
    }
    sim.config.update_from_json(latencies)
    inputs = make_inputs(workdir)
    figures: list[Figure] = []
    with launched_app(sim.base_url, workdir / "outputs") as app:
        client = gradio_client(app.url)
        try:
            for call in panel_calls(inputs):
                client.predict(*call.args, api_name=call.api_name, **call.kwargs)  # warm-up
                over: list[float] = []
                ratio: list[float] = []
                backend: list[float] = []
                for _ in range(runs):
                    before = set(sim.predictions)
                    started = time.perf_counter()
                    client.predict(*call.args, api_name=call.api_name, **call.kwargs)
                    wall = time.perf_counter() - started
                    (state,) = new_predictions(sim, before)
                    wait_until(lambda s=state: s.completed_at is not None, 5.0, 0.005)
                    spent = backend_seconds(state)
                    over.append(ms(wall - spent))
                    ratio.append(wall / spent)
                    backend.append(ms(spent))
                figures.append(
                    Figure(
                        f"path{call.api_name.replace('/', '.')}.over_backend",
                        f"Whole path {call.api_name}: gradio_client → app → simulator → back",
                        "(context: ours + Gradio + output handling)",
                        " ms",
                        Spread.of(over),
                        None,
                        f"client.predict wall time minus the simulator's created→completed time; "
                        f"sim {latencies}; median ratio wall/backend "
                        f"{Spread.of(ratio).median:.2f}×",
                        context={
                            "wall_over_backend": Spread.of(ratio).__dict__,
                            "backend_ms": Spread.of(backend).__dict__,
                        },
                    )
                )
        finally:
            client.close()
    sim.reset()
    return figures


# ---- 4. streaming --------------------------------------------------------------------------


class FirstTokenClock:
    """When the simulator emitted each prediction's first token (wall clock, same process).

    The simulator records no per-token times, so `PredictionState.add_token` is wrapped for the
    duration of this benchmark only.
    """

    def __init__(self) -> None:
        self.first: dict[str, float] = {}
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def installed(self) -> Iterator[FirstTokenClock]:
        from neurolink_ui.simulator.state import PredictionState

        original: Callable[..., None] = PredictionState.add_token
        clock = self

        def add_token(state: Any, token: str) -> None:
            with clock._lock:
                clock.first.setdefault(state.id, time.time())
            original(state, token)

        PredictionState.add_token = add_token  # type: ignore[method-assign]
        try:
            yield self
        finally:
            PredictionState.add_token = original  # type: ignore[method-assign]


def _shows_text(history: Any) -> bool:
    """Whether the Chatbot value holds any answer text yet (the placeholder is '…')."""
    if not isinstance(history, list) or len(history) < 2:
        return False
    last = history[-1]
    if not isinstance(last, dict) or last.get("role") != "assistant":
        return False
    # Gradio 6 sends content as a list of blocks through the API; the handler yields strings.
    return flatten_content(last.get("content")).strip() not in ("", "…")


async def _handler_first_text(ctx: Any) -> tuple[float, float]:
    """Run the chat handler directly; wall-clock times of its first text and its last update."""
    from neurolink_ui.ui.panels.chat import make_chat_handler

    handler = make_chat_handler(ctx)
    first: float | None = None
    async for update in handler(CHAT_PROMPT):
        if first is None and _shows_text(update[0]):
            first = time.time()
    if first is None:
        raise RuntimeError("the chat handler never showed text")
    return first, time.time()


def _client_first_text(client: Any) -> tuple[float, float]:
    """Through the app: the first partial output a gradio_client job sees with text."""
    job = client.submit(CHAT_PROMPT, api_name="/chat")
    first: float | None = None
    deadline = time.monotonic() + 60
    for update in job:
        if first is None and _shows_text(update[0]):
            first = time.time()
        if time.monotonic() > deadline:
            job.cancel()
            raise RuntimeError("the chat job ran past 60 s")
    job.result(timeout=60)
    if first is None:
        raise RuntimeError("the chat job never showed text")
    return first, time.time()


@dataclass(frozen=True)
class StreamCase:
    key: str
    title: str
    config: dict[str, Any]


def run_streaming(sim: Any, runs: int, quick: bool, workdir: Path) -> list[Figure]:
    base = {
        "cold_start": 0.05 if quick else 0.3,
        "first_token_delay": 0.1 if quick else 0.5,
        "token_interval": 0.005 if quick else 0.05,
    }
    stream_cases = [
        StreamCase("streamed", "streaming model (SSE)", {**base, "drop_stream_after": None}),
        StreamCase(
            "fallback",
            "same model, stream drops at once → polled single chunk",
            {**base, "drop_stream_after": 0},
        ),
    ]
    figures: list[Figure] = []
    clock = FirstTokenClock()
    with clock.installed(), launched_app(sim.base_url, workdir / "outputs-stream") as app:
        client = gradio_client(app.url)
        # The handler measured on its own: its own loop, so its own client pool.
        loop = asyncio.new_event_loop()
        handler_ctx = AppContext.create(app.ctx.settings, outputs_dir=workdir / "outputs-handler")
        try:
            for number, case in enumerate(stream_cases):
                sim.reset()
                sim.config.update_from_json(case.config)
                if number == 0:  # warm-up: schema caches and connections, once
                    _client_first_text(client)
                    loop.run_until_complete(_handler_first_text(handler_ctx))
                handler_ms: list[float] = []
                client_ms: list[float] = []
                generation_ms: list[float] = []
                for _ in range(runs):
                    for where, samples in (("handler", handler_ms), ("client", client_ms)):
                        before = set(sim.predictions)
                        if where == "handler":
                            shown, _ = loop.run_until_complete(_handler_first_text(handler_ctx))
                        else:
                            shown, _ = _client_first_text(client)
                        (state,) = new_predictions(sim, before)
                        wait_until(lambda s=state: s.completed_at is not None, 5.0, 0.005)
                        sent = clock.first[state.id]
                        samples.append(ms(shown - sent))
                        generation_ms.append(ms(state.completed_at - sent))
                for where, samples in (("handler", handler_ms), ("client", client_ms)):
                    spread = Spread.of(samples)
                    figures.append(
                        Figure(
                            f"streaming.{case.key}.{where}",
                            f"First token on screen, {case.title}, at the "
                            + ("chat handler's output" if where == "handler" else "gradio_client"),
                            "≤ 100 ms after the server sends it"
                            if case.key == "streamed"
                            else "(reference)",
                            " ms",
                            spread,
                            spread.median <= 100 if case.key == "streamed" else None,
                            "first update whose answer has text, minus the simulator's "
                            f"first-token time (same clock); sim {case.config}",
                            context={
                                "server_first_to_last_token_ms": Spread.of(generation_ms).__dict__
                            },
                        )
                    )
        finally:
            loop.run_until_complete(handler_ctx.aclose())
            loop.close()
            client.close()
    sim.reset()
    return figures
