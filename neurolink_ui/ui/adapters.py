"""Pure adapters from prediction events to what the page shows: testable without a server.

Like smolagents' `stream_to_gradio`, these take events and return plain values (chat message dicts,
Markdown), so handlers stay thin and every rendering rule has a unit test.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..costs import CostEstimate, cost_text
from ..modalities.chat import flatten_content, split_reasoning
from ..pipeline import RunResult, progress_phase
from ..replicate.types import Prediction, Progress
from .inert import without_html

THINKING_TITLE = "Thinking"
_FOOTER_RE = re.compile(r"\n*<sub>⏱[^<]*</sub>\s*$")
_PREDICTION_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# "Using seed: 123", "seed=123", "Random seed used: `123`": what models print when they pick one.
_SEED_RE = re.compile(r"\bseed(?: used)?\s*[:=]\s*`?(-?\d{1,20})`?", re.IGNORECASE)


def prediction_link(prediction_id: str, on_replicate: bool) -> str:
    """The prediction's id, linked to its page when it ran on Replicate (not the simulator)."""
    if not _PREDICTION_ID_RE.match(prediction_id or ""):
        return ""
    if not on_replicate:
        return f"Prediction `{prediction_id}`"
    return f"Prediction [`{prediction_id}`](https://replicate.com/p/{prediction_id})"


def seed_used(prediction: Prediction) -> int | None:
    """The seed the model actually used: from its logs (random seeds), else the one sent."""
    for text in (prediction.logs or "", str(prediction.output or "")[-2000:]):
        found = _SEED_RE.findall(text)
        if found:
            return int(found[-1])
    seed = prediction.input.get("seed")
    return seed if isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0 else None


def progress_markdown(event: Progress, on_replicate: bool = False) -> str:
    """One status block: what Replicate is doing, for how long, how far, the last log lines."""
    seconds = f"{event.elapsed:.1f} s"
    phase = progress_phase(event.status, event.elapsed, event.percent)
    if phase.doing:
        head = f"⏳ **{phase.name}** — {phase.doing} {seconds}"
    elif phase.name == "Running":
        pct = f" **{phase.percent:.0f}%**" if phase.percent is not None else ""
        head = f"⚙️ **Running**{pct} · {seconds}"
    else:
        head = f"**{phase.name}** · {seconds}"
    if event.percent is not None:
        filled = round(event.percent / 5)
        head += f"\n\n`{'█' * filled}{'░' * (20 - filled)}`"
    link = prediction_link(event.prediction_id, on_replicate)
    if link:
        head += f"\n\n<sub>{link}</sub>"
    tail = [line for line in event.log_tail if line.strip()][-4:]
    if tail:
        head += "\n\n```text\n" + "\n".join(line[-160:] for line in tail) + "\n```"
    return head


def streaming_markdown(elapsed: float, chars: int) -> str:
    """Chat's status once tokens arrive: the model is answering, no longer booting."""
    return f"✍️ **Answering** · {chars:,} characters · {elapsed:.1f} s"


def stopped_markdown(prediction: Prediction | None, on_replicate: bool = False) -> str:
    """What Stop did at Replicate, from the prediction its cancel returned."""
    if prediction is None:
        return "⏹ **Stopped** — Replicate had not started a prediction yet."
    link = prediction_link(prediction.id, on_replicate)
    suffix = f"\n\n<sub>{link}</sub>" if link else ""
    if prediction.status == "canceled":
        return f"⏹ **Stopped — canceled at Replicate.**{suffix}"
    if prediction.is_terminal:
        return (
            f"⏹ **Stopped** — the prediction had already {prediction.status} at Replicate; "
            f"its result is not shown.{suffix}"
        )
    return (
        f"⚠️ **Stopped here, but Replicate still reports it {prediction.status}** — the cancel "
        f"did not take; it may still run and bill. Cancel it on Replicate's site.{suffix}"
    )


def cancel_failed_markdown(prediction_id: str, reason: str, on_replicate: bool = False) -> str:
    link = prediction_link(prediction_id, on_replicate)
    suffix = f"\n\n<sub>{link}</sub>" if link else ""
    return (
        f"⚠️ **Stopped here, but the cancel failed at Replicate**: {reason} It may still run "
        f"and bill: cancel it on Replicate's site.{suffix}"
    )


def plain_text(message: str) -> str:
    """A message for a toast, which shows Markdown literally: `code` becomes “code”."""
    return re.sub(r"`([^`]*)`", r"“\1”", message).replace("**", "")


def cost_basis_text(cost: CostEstimate, simulated: bool) -> str:
    """How the estimate was reached (or why it is unknown), for the status's small print."""
    if cost.usd is None:
        return f"cost unknown: {without_html(cost.basis)}"
    said = f"cost {without_html(cost.basis)}"
    return said + (" (simulated: not billed)" if simulated else " (estimate)")


def boot_text(cold_boot: bool | None, starting_time: float | None) -> str:
    """How the prediction started, by the one cold-boot rule (pipeline.is_cold_boot)."""
    if cold_boot is None or starting_time is None:
        return ""
    if cold_boot:
        return f"🧊 cold boot ({starting_time:.1f} s to start)"
    return f"🔥 warm ({starting_time:.1f} s to start)"


WARNING = "⚠️"


def done_markdown(
    model: str,
    predict_time: float | None,
    wall_time: float,
    notes: list[str],
    prediction: Prediction | None = None,
    on_replicate: bool = False,
    cost: CostEstimate | None = None,
    simulated: bool = False,
    session_cost: str = "",
    boot: str = "",
) -> str:
    """The Done status: times and, beside the predict time, the run's estimated cost; below it
    the prediction, seed, how it started (`boot`: `boot_text`), how the cost was estimated and
    the session's running total. A note that warns (⚠️: the person's input was not all used)
    makes it a Done with a warning, said first; the other notes follow as information."""
    timing = f"predict {predict_time:.2f} s · " if predict_time is not None else ""
    price = f"{cost_text(cost, simulated)} · " if cost is not None else ""
    warnings = [note for note in notes if note.startswith(WARNING)]
    notes = [note for note in notes if not note.startswith(WARNING)]
    mark = (
        f"{WARNING} **Done** with `{model}`, **with a warning**"
        if warnings
        else (f"✅ **Done** with `{model}`")
    )
    text = f"{mark} — {timing}{price}total {wall_time:.2f} s"
    for warning in warnings:
        text += f"\n\n**{warning}**"
    about: list[str] = []
    if prediction is not None:
        about.append(prediction_link(prediction.id, on_replicate))
        seed = seed_used(prediction)
        if seed is not None:
            about.append(f"seed `{seed}`")
    about.append(boot)
    if cost is not None:
        about.append(cost_basis_text(cost, simulated))
    if session_cost:
        about.append(session_cost)
    if any(about):
        text += "\n\n<sub>" + " · ".join(a for a in about if a) + "</sub>"
    for note in notes:
        text += f"\n\nℹ️ {note}"
    return text


def result_markdown(
    result: RunResult,
    on_replicate: bool = False,
    cost: CostEstimate | None = None,
    simulated: bool = False,
    session_cost: str = "",
) -> str:
    """The ✅ Done status of a finished run: model, times and cost, notes, prediction id and
    seed, the session's total."""
    return done_markdown(
        result.model,
        result.predict_time,
        result.wall_time,
        result.notes,
        result.prediction,
        on_replicate,
        cost,
        simulated,
        session_cost,
        boot_text(result.cold_boot, result.starting_time),
    )


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

    def show_text(self, text: str) -> None:
        """All the text so far (the run core accumulates it once)."""
        self._chunks = [text]
        self.text = text

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
                    "content": without_html(thinking.strip()) or "…",
                    "metadata": {
                        "title": THINKING_TITLE,
                        "status": "pending" if still_thinking else "done",
                    },
                }
            )
        body = without_html(answer.strip())  # a model's text: no raw HTML, no images
        if self.footer:
            body = f"{body}\n\n{self.footer}" if body else self.footer
        if body or not out:
            out.append({"role": "assistant", "content": body or "…"})
        return out
