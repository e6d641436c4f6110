"""Pure adapters from prediction events to what the page shows: testable without a server.

Like smolagents' `stream_to_gradio`, these take events and return plain values (chat message dicts,
Markdown), so handlers stay thin and every rendering rule has a unit test.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..modalities.chat import flatten_content, split_reasoning
from ..replicate.types import Progress

THINKING_TITLE = "Thinking"
_FOOTER_RE = re.compile(r"\n*<sub>⏱[^<]*</sub>\s*$")


def progress_markdown(event: Progress) -> str:
    """One status block: what Replicate is doing, for how long, how far, the last log lines."""
    seconds = f"{event.elapsed:.1f} s"
    if event.status == "starting":
        head = f"⏳ **Cold boot** — Replicate is starting the model… {seconds}"
    elif event.status == "waiting":
        head = f"⏳ **Waiting for Replicate** — the model is starting or running… {seconds}"
    elif event.status == "processing":
        pct = f" **{event.percent:.0f}%**" if event.percent is not None else ""
        head = f"⚙️ **Running**{pct} · {seconds}"
    else:
        head = f"**{event.status.capitalize()}** · {seconds}"
    if event.percent is not None:
        filled = round(event.percent / 5)
        head += f"\n\n`{'█' * filled}{'░' * (20 - filled)}`"
    tail = [line for line in event.log_tail if line.strip()][-4:]
    if tail:
        head += "\n\n```text\n" + "\n".join(line[-160:] for line in tail) + "\n```"
    return head


@dataclass
class ProgressThrottle:
    """Which Progress events are worth a page update.

    Every update costs the app CPU (Gradio post-processes each output), so under load the page
    gets a new status when it says something new: another status, five more percent, a new log
    line, or a second more elapsed.
    """

    min_interval: float = 1.0
    _last: Progress | None = None

    def should_show(self, event: Progress) -> bool:
        last = self._last
        if (
            last is None
            or event.status != last.status
            or event.log_tail[-1:] != last.log_tail[-1:]
            or (event.percent or 0) - (last.percent or 0) >= 5
            or event.elapsed - last.elapsed >= self.min_interval
        ):
            self._last = event
            return True
        return False


def done_markdown(
    model: str, predict_time: float | None, wall_time: float, notes: list[str]
) -> str:
    timing = f"predict {predict_time:.2f} s · " if predict_time is not None else ""
    text = f"✅ **Done** with `{model}` — {timing}total {wall_time:.2f} s"
    for note in notes:
        text += f"\n\nℹ️ {note}"
    return text


def without_footers(history: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    """The dialog minus the timing footers this panel adds to answers, ready for prompting."""
    cleaned: list[dict[str, Any]] = []
    for message in history or []:
        if message.get("role") == "assistant":
            text = _FOOTER_RE.sub("", flatten_content(message.get("content")))
            message = {**message, "content": text}
        cleaned.append(message)
    return cleaned


@dataclass
class ChatStreamView:
    """Accumulates streamed text and renders it as Chatbot messages: a Thinking trace, the answer."""

    model: str
    text: str = ""
    footer: str = ""
    finished: bool = False
    _chunks: list[str] = field(default_factory=list)

    def add(self, chunk: str) -> None:
        self._chunks.append(chunk)
        self.text = "".join(self._chunks)

    def finish(self, predict_time: float | None, wall_time: float) -> None:
        timing = f"{predict_time:.2f} s" if predict_time is not None else f"{wall_time:.2f} s"
        self.footer = f"<sub>⏱ {self.model} · {timing}</sub>"
        self.finished = True

    def messages(self) -> list[dict[str, Any]]:
        thinking, answer, still_thinking = split_reasoning(self.text, final=self.finished)
        out: list[dict[str, Any]] = []
        if thinking or still_thinking:
            out.append(
                {
                    "role": "assistant",
                    "content": thinking.strip() or "…",
                    "metadata": {
                        "title": THINKING_TITLE,
                        "status": "pending" if still_thinking else "done",
                    },
                }
            )
        body = answer.strip()
        if self.footer:
            body = f"{body}\n\n{self.footer}" if body else self.footer
        if body or not out:
            out.append({"role": "assistant", "content": body or "…"})
        return out
