"""The pure adapters from prediction events to what the page shows, without any server."""

from __future__ import annotations

import itertools

from neurolink_ui.replicate.types import Prediction, Progress
from neurolink_ui.runs.pacing import ProgressThrottle, UpdatePacer
from neurolink_ui.snippets import curl_snippet, python_snippet
from neurolink_ui.ui.adapters import (
    THINKING_TITLE,
    ChatStreamView,
    boot_text,
    cancel_failed_markdown,
    done_markdown,
    plain_text,
    prediction_link,
    progress_markdown,
    seed_used,
    stopped_markdown,
    streaming_markdown,
    without_footers,
)


def test_cold_boot_is_named_as_such() -> None:
    text = progress_markdown(Progress("p1", "starting", elapsed=3.24))
    assert "Cold boot" in text and "3.2 s" in text


def test_a_held_create_is_not_called_a_cold_boot() -> None:
    text = progress_markdown(Progress("", "waiting", elapsed=2.0))
    assert "Waiting for Replicate" in text and "Cold boot" not in text


def test_running_shows_percent_bar_and_last_log_lines() -> None:
    logs = tuple(f"line {i}" for i in range(10))
    text = progress_markdown(Progress("p1", "processing", elapsed=5.0, percent=40.0, log_tail=logs))
    assert "**40%**" in text
    assert "████████░░░░░░░░░░░░" in text  # 8 of 20 cells
    assert "line 9" in text and "line 5" not in text  # only the last four lines


def test_done_markdown_names_model_times_and_notes() -> None:
    text = done_markdown("black-forest-labs/flux-schnell", 1.234, 2.5, ["Aspect ratio 21:9 → 16:9"])
    assert "flux-schnell" in text and "predict 1.23 s" in text and "total 2.50 s" in text
    assert "21:9 → 16:9" in text


def test_stream_view_shows_thinking_then_answer_as_it_streams() -> None:
    view = ChatStreamView(model="deepseek-ai/deepseek-r1")
    for chunk in ["<thi", "nk>", "Let me ", "count.", "</th"]:
        view.add(chunk)
    messages = view.messages()
    assert messages[0]["metadata"] == {"title": THINKING_TITLE, "status": "pending"}
    assert messages[0]["content"] == "Let me count."
    assert "</th" not in messages[0]["content"]  # a half tag is held back
    for chunk in ["ink>", "\n\nThree", " r's."]:
        view.add(chunk)
    thinking, answer = view.messages()
    assert thinking["metadata"]["status"] == "done"
    assert answer == {"role": "assistant", "content": "Three r's."}


def test_finished_view_adds_timing_footer_that_later_prompts_drop() -> None:
    view = ChatStreamView(model="meta/meta-llama-3-70b-instruct")
    view.add("Hello there.")
    view.finish(predict_time=0.42, wall_time=0.9)
    (answer,) = view.messages()
    assert answer["content"].startswith("Hello there.")
    assert "meta/meta-llama-3-70b-instruct · 0.42 s" in answer["content"]
    history = [{"role": "user", "content": "Hi"}, answer]
    assert without_footers(history)[1]["content"] == "Hello there."


def test_plain_answer_has_no_thinking_message() -> None:
    view = ChatStreamView(model="m/m")
    view.add("Just an answer")
    assert [m.get("metadata") for m in view.messages()] == [None]


def test_snippets_route_official_by_name_and_community_by_version() -> None:
    official = python_snippet("black-forest-labs/flux-schnell", {"prompt": "a cat"})
    assert "/v1/models/black-forest-labs/flux-schnell/predictions" in official
    assert "REPLICATE_API_TOKEN" in official and "r8_" not in official
    community = curl_snippet("meta/musicgen", {"prompt": "lofi"}, "a" * 64)
    assert "/v1/predictions" in community and '"version": "' + "a" * 64 in community
    pinned = curl_snippet(
        "meta/musicgen:" + "b" * 64,
        {"prompt": "x", "image": "data:image/png;,…"},
        file_fields=("image",),
    )
    assert "b" * 64 in pinned and "data:" not in pinned  # file values become a placeholder URL


def test_throttle_shows_what_a_person_can_read() -> None:
    throttle = ProgressThrottle(min_interval=1.0, min_gap=0.3, shown_at=0.0)
    shown = [
        throttle.should_show(Progress("p", status, elapsed, percent, logs))
        for status, elapsed, percent, logs in [
            ("starting", 0.05, None, ()),  # right after "Sending": not readable, not shown
            ("processing", 0.2, None, ("a",)),  # still within the gap
            ("processing", 0.4, None, ("a",)),  # a new status, past the gap: shown
            ("processing", 0.9, 25.0, ("b",)),  # new log and percent, within the second
            ("processing", 1.2, 50.0, ("c",)),  # still within it
            ("processing", 1.5, 75.0, ("d",)),  # over a second after the last: shown
            ("succeeded", 1.6, 100.0, ("e",)),  # a new status, within the gap: waits
            ("succeeded", 1.9, 100.0, ("e",)),  # past the gap: shown
        ]
    ]
    assert shown == [False, False, True, False, False, True, False, True]
    first = ProgressThrottle()
    assert first.should_show(Progress("p", "starting", 0.0))  # nothing shown yet: shown


def test_pacer_sends_at_most_ten_updates_a_second_whatever_the_token_rate() -> None:
    for tokens_per_second in (50, 1000, 20000):
        pacer = UpdatePacer(interval=0.1)
        times = [i / tokens_per_second for i in range(tokens_per_second * 4)]  # a 4 s answer
        sent = [t for t in times if pacer.ready(t)]
        assert 38 <= len(sent) <= 41  # ~10 a second, never more
        assert all(b - a >= 0.1 - 1e-9 for a, b in itertools.pairwise(sent))
    slow = UpdatePacer(interval=0.1)
    assert all(slow.ready(t * 0.5) for t in range(8))  # slow streams: every token shows


def test_seed_used_comes_from_the_logs_else_from_the_input() -> None:
    logged = Prediction("p1", "succeeded", logs="Loading\nUsing seed: 48213\n", input={"seed": -1})
    assert seed_used(logged) == 48213
    given = Prediction("p2", "succeeded", input={"seed": 7})
    assert seed_used(given) == 7
    assert seed_used(Prediction("p3", "succeeded", input={"seed": -1})) is None
    chat = Prediction("p4", "succeeded", output=["Hi. ", "Random seed used: `123`"])
    assert seed_used(chat) == 123


def test_prediction_link_only_on_replicate_and_only_for_safe_ids() -> None:
    assert prediction_link("abc123", True) == (
        "Prediction [`abc123`](https://replicate.com/p/abc123)"
    )
    assert prediction_link("abc123", False) == "Prediction `abc123`"
    assert prediction_link("x)](javascript:alert(1)", True) == ""


def test_stop_status_says_what_happened_at_replicate() -> None:
    canceled = stopped_markdown(Prediction("p1", "canceled"))
    assert "Stopped — canceled at Replicate" in canceled
    assert "already succeeded" in stopped_markdown(Prediction("p2", "succeeded"))
    assert "did not take" in stopped_markdown(Prediction("p3", "processing"))
    assert "had not started" in stopped_markdown(None)
    assert "cancel failed" in cancel_failed_markdown("p4", "HTTP 500.")


def test_toast_text_has_no_markdown() -> None:
    assert plain_text("Use `owner/name` or **this**") == "Use “owner/name” or this"


def test_chat_status_stops_saying_cold_boot_once_tokens_stream() -> None:
    assert "Cold boot" in progress_markdown(Progress("p", "starting", 3.0))
    streaming = streaming_markdown(3.2, 1200)
    assert "Answering" in streaming and "Cold boot" not in streaming


def test_a_start_is_a_cold_boot_only_past_the_one_rule() -> None:
    """pipeline.COLD_BOOT_SECONDS: a start of a moment is no cold boot (Compare: warm)."""
    quick = progress_markdown(Progress("p", "starting", 0.4))
    assert "Starting" in quick and "Cold boot" not in quick
    assert "Cold boot" in progress_markdown(Progress("p", "starting", 2.0))
    assert boot_text(False, 0.07) == "🔥 warm (0.1 s to start)"
    assert boot_text(True, 14.0) == "🧊 cold boot (14.0 s to start)"
    assert boot_text(None, None) == ""


def test_a_warning_note_makes_the_done_status_a_warning() -> None:
    warned = done_markdown(
        "owner/model", 1.0, 1.5, ["Fitted 16:9", "⚠️ Your input image was NOT sent."]
    )
    assert warned.startswith("⚠️ **Done** with `owner/model`, **with a warning**")
    assert "✅" not in warned and "ℹ️ ⚠️" not in warned
    assert warned.index("NOT sent") < warned.index("ℹ️ Fitted 16:9")  # the warning first
    assert done_markdown("owner/model", 1.0, 1.5, ["Fitted 16:9"]).startswith("✅ **Done**")
