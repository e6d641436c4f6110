"""Compare's pure parts: the request checks, each model's mapping from its own schema, and how a
cell's events become what the cell shows (blind mode included). No server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from neurolink_ui.catalog import catalog_model
from neurolink_ui.comparison import (
    CellView,
    CompareBoard,
    ComparePlan,
    cell_title,
    collect_values,
    compare_modalities,
    conceal,
    control_defaults,
    control_order,
    map_input,
    parse_models,
    parse_plan,
    parse_values,
)
from neurolink_ui.limits import MAX_ADVANCED_CHARS, MAX_JSON_DEPTH
from neurolink_ui.modalities.common import InputProblem
from neurolink_ui.pipeline import RunResult
from neurolink_ui.replicate.errors import InvalidModelRefError
from neurolink_ui.replicate.schema import ModelInfo
from neurolink_ui.replicate.types import Prediction, Progress
from neurolink_ui.runs import RunProgress, RunText
from neurolink_ui.ui.panels.compare_api import api_cell
from neurolink_ui.ui.panels.compare_cells import cell_status, chat_messages

LIMITS = {"text_limit": 20_000, "chat_limit": 200_000}


def info(ref: str) -> ModelInfo:
    """A catalogued model's info as the API serves it (its recorded openapi_schema)."""
    entry = catalog_model(ref)
    assert entry is not None, ref
    owner, name = ref.split("/")
    return ModelInfo.from_model_json(
        {
            "owner": owner,
            "name": name,
            "description": entry.description,
            "latest_version": {"id": entry.version, "openapi_schema": entry.openapi_schema},
        }
    )


def png(path: Path, size: tuple[int, int] = (64, 48)) -> str:
    Image.new("RGB", size, (10, 120, 200)).save(path)
    return str(path)


# --- the request ---------------------------------------------------------------------------


def test_models_must_be_two_to_four_distinct_ids() -> None:
    assert parse_models(["a/b", "c/d:abc123"]) == ("a/b", "c/d:abc123")
    assert parse_models("a/b, c/d") == ("a/b", "c/d")  # a typed list
    for models, said in (
        (["a/b"], "2 to 4 models; 1 were given"),
        ([f"a/m{i}" for i in range(5)], "2 to 4 models; 5 were given"),
        (["a/b", "a/b"], "listed twice"),
        (["a/b", "x" * 5000], "5,000 characters"),
        ([{"model": "a/b"}, "c/d"], "list of model ids"),
        (None, "list of model ids"),
    ):
        with pytest.raises(InputProblem, match=said):
            parse_models(models)
    with pytest.raises(InvalidModelRefError, match="not a model reference"):
        parse_models(["a/b", "../../etc/passwd"])


def test_values_are_checked_like_any_visitor_json() -> None:
    values = parse_values("image", '{"prompt": "a fox", "seed": 7}', text_limit=100)
    assert values == {**control_defaults("image"), "prompt": "a fox", "seed": 7}
    deep = "[" * (MAX_JSON_DEPTH + 5) + "]" * (MAX_JSON_DEPTH + 5)
    cases = (
        ('{"prompt": "x", "steps": 4}', "takes prompt, aspect_ratio, seed, num_outputs; not steps"),
        ('{"prompt": ' + deep + "}", "nested more than"),
        (json.dumps({"prompt": "x" * (MAX_ADVANCED_CHARS + 1)}), "characters of JSON"),
        ('{"prompt": "x", "seed": 1e999}', "too large"),
        ('{"prompt": "x", "seed": "7"}', "must be a number"),
        ('{"prompt": 7}', "must be text"),
        ('{"prompt": "' + "y" * 101 + '"}', "101 characters long; the limit is 100"),
        ('{"prompt": "   "}', "Type a prompt first"),
        ("[1, 2]", "JSON object"),
    )
    for raw, said in cases:
        with pytest.raises(InputProblem, match=said):
            parse_values("image", raw, text_limit=100)


def test_plan_checks_uploads_against_the_modality(tmp_path: Path) -> None:
    picture = png(tmp_path / "p.png")
    plan = parse_plan("video", ["a/b", "c/d"], {"prompt": "waves"}, picture, None, **LIMITS)
    assert plan.image == Path(picture) and plan.models == ("a/b", "c/d")
    with pytest.raises(InputProblem, match="music compare takes no image"):
        parse_plan("music", ["a/b", "c/d"], {"prompt": "x"}, picture, None, **LIMITS)
    with pytest.raises(InputProblem, match="takes no audio"):
        parse_plan("image", ["a/b", "c/d"], {"prompt": "x"}, None, picture, **LIMITS)
    with pytest.raises(InputProblem, match="Add narration audio"):
        parse_plan("avatar", ["a/b", "c/d"], {}, picture, None, **LIMITS)
    with pytest.raises(InputProblem, match="Unknown modality 'sculpture'"):
        parse_plan("sculpture", ["a/b", "c/d"], {}, None, None, **LIMITS)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not an image")
    with pytest.raises(InputProblem, match="could not be read as an image"):
        parse_plan("image", ["a/b", "c/d"], {"prompt": "x"}, str(broken), None, **LIMITS)


def test_blind_plans_shuffle_the_order_but_keep_every_model() -> None:
    models = ["a/one", "a/two", "a/three", "a/four"]
    orders = {
        parse_plan("chat", models, {"prompt": "hi"}, None, None, blind=True, **LIMITS).models
        for _ in range(40)
    }
    assert len(orders) > 1  # 24 orders; 40 draws all alike would be a 1-in-10^54 event
    assert all(sorted(order) == sorted(models) for order in orders)


def test_page_controls_collect_into_the_apis_values() -> None:
    controls = {name: f"v-{name}" for name in control_order()}
    values = collect_values("music", *controls.values())
    assert set(values) == set(control_defaults("music"))
    assert values["prompt"] == "v-prompt" and values["tempo"] == "v-music.tempo"
    assert collect_values("avatar", *controls.values()) == {}
    for modality in compare_modalities():
        assert set(collect_values(modality, *controls.values())) == set(control_defaults(modality))


# --- each model's own mapping --------------------------------------------------------------


def test_each_model_is_mapped_from_its_own_schema(tmp_path: Path) -> None:
    """The same shared input becomes different inputs, each the one the model's panel sends."""
    plan = parse_plan(
        "image",
        ["black-forest-labs/flux-schnell", "bytedance/seedream-4"],
        {"prompt": "a fox", "aspect_ratio": "16:9", "num_outputs": 2},
        None,
        None,
        **LIMITS,
    )
    schnell = map_input(plan, info("black-forest-labs/flux-schnell"))
    seedream = map_input(plan, info("bytedance/seedream-4"))
    assert schnell.input["aspect_ratio"] == "16:9" and schnell.input["num_outputs"] == 2
    assert seedream.input["prompt"] == "a fox"
    assert "num_outputs" not in seedream.input  # its schema names the count otherwise
    # A chat model without a system field gets the system prompt its own way, with a note.
    chat = parse_plan(
        "chat", ["meta/meta-llama-3-8b-instruct", "openai/gpt-5"], {"prompt": "hi"}, None,
        None, **LIMITS,
    )  # fmt: skip
    llama = map_input(chat, info("meta/meta-llama-3-8b-instruct"))
    gpt = map_input(chat, info("openai/gpt-5"))
    assert llama.input != gpt.input
    assert "hi" in json.dumps(llama.input) and "hi" in json.dumps(gpt.input)


def test_a_mapping_refusal_is_an_input_problem(tmp_path: Path) -> None:
    plan = parse_plan(
        "chat", ["a/b", "c/d"], {"prompt": "what is this?"}, png(tmp_path / "i.png"), None,
        **LIMITS,
    )  # fmt: skip
    with pytest.raises(InputProblem, match="image"):  # a text-only model cannot see it
        map_input(plan, info("meta/meta-llama-3-8b-instruct"))


# --- cells ---------------------------------------------------------------------------------


def _result(model: str, files: list[Path], text: str = "") -> RunResult:
    prediction = Prediction(
        id="p1abc",
        status="succeeded",
        metrics={"predict_time": 0.61, "total_time": 12.81},
        created_at="2026-01-01T00:00:00Z",
        started_at="2026-01-01T00:00:12.2Z",
    )
    return RunResult(model, prediction, text, files, {"prompt": "x"}, ["Fitted 16:9"], 13.0)


def test_events_become_a_cell_view_with_times_and_cold_boot() -> None:
    view = CellView(0, "owner/model")
    view.apply(RunProgress(Progress("p1abc", "starting", 2.5), show=True))
    assert view.state == "running" and "Cold boot" in cell_status(view, hidden=False)
    view.apply(RunText("Hello ", "Hello ", 1.5, True))
    view.apply(RunText("Hello world", "world", 1.6, True))
    view.apply(RunProgress(Progress("p1abc", "processing", 2.0), show=True))
    assert "Answering" in cell_status(view, hidden=False) and view.text == "Hello world"
    view.finish(_result("owner/model", [], "Hello world"))
    assert view.state == "done" and view.predict_time == 0.61 and view.total_time == 13.0
    assert view.starting_time == pytest.approx(12.2) and view.cold_boot is True
    status = cell_status(view, hidden=False)
    assert "predict 0.61 s · total 13.00 s" in status
    assert "cold boot (12.2 s to start)" in status and "Fitted 16:9" in status
    cell = api_cell(view)
    assert cell["status"] == "succeeded" and cell["cold_boot"] is True
    assert cell["text"] == "Hello world" and cell["error"] is None


def test_start_time_falls_back_to_timestamps_and_warm_starts_say_so() -> None:
    warm = Prediction(
        id="x", status="succeeded", created_at="2026-01-01T00:00:00.000Z",
        started_at="2026-01-01T00:00:00.300000Z",
    )  # fmt: skip
    view = CellView(1, "a/b")
    view.finish(RunResult("a/b", warm, "", [], {}, [], 1.0))
    assert view.cold_boot is False and "warm (0.3 s to start)" in cell_status(view, False)


def test_failed_refused_and_stopped_cells_say_so() -> None:
    failed = CellView(0, "a/b")
    failed.fail("Replicate refused the input: `prompt` flagged (E005).")
    assert cell_status(failed, False).startswith("❌ Replicate refused the input")
    assert api_cell(failed)["error"] == "Replicate refused the input: “prompt” flagged (E005)."
    refused = CellView(1, "a/b")
    refused.fail("Daily limit reached", "refused")
    assert api_cell(refused)["status"] == "refused" and "🎟️" in cell_status(refused, False)
    stopped = CellView(2, "a/b")
    stopped.stop(Prediction(id="p9", status="canceled"))
    assert api_cell(stopped)["status"] == "canceled"
    assert "canceled at Replicate" in cell_status(stopped, False)


def test_blind_cells_name_no_model_until_the_pick(tmp_path: Path) -> None:
    plan = ComparePlan("image", ("black-forest-labs/flux-schnell", "google/nano-banana"), {})
    board = CompareBoard()
    board.start(ComparePlan(plan.modality, plan.models, {"prompt": "x"}, blind=True))
    first = board.cells[0]
    first.on_replicate = True
    first.finish(_result(first.model, [tmp_path / "out.png"]))
    first.notes.append(f"{first.model} ran on version abc")
    board.cells[1].fail("google/nano-banana:1234 finished but returned no image file")
    assert board.hidden
    for index, view in enumerate(board.cells):
        status = cell_status(view, board.hidden) + cell_title(view, index, board.hidden, None)
        assert (
            "flux" not in status and "nano-banana" not in status and "replicate.com" not in status
        )
    assert "Model A" in cell_status(first, True) and "Model B" in cell_status(board.cells[1], True)
    assert board.pick(1) == "Pick a cell whose result is done."  # a failed cell is no pick
    assert board.hidden
    said = board.pick(0)
    assert "black-forest-labs/flux-schnell" in said and not board.hidden
    assert cell_title(first, 0, board.hidden, board.picked) == (
        "### ⭐ `black-forest-labs/flux-schnell` — your pick"
    )
    assert "replicate.com/p/p1abc" in cell_status(first, board.hidden)


def test_conceal_and_chat_messages() -> None:
    assert conceal("a/b:123 and a/b failed", "a/b:123", "Model C") == "Model C and Model C failed"
    view = CellView(0, "meta/llama")
    assert chat_messages(view, "hi", hidden=True) == [{"role": "user", "content": "hi"}]
    view.apply(RunProgress(Progress("p", "processing", 1.0), show=True))
    view.apply(RunText("<think>hmm</think>Hello", "", 1.1, True))
    dialog = chat_messages(view, "hi", hidden=True)
    assert dialog[1]["metadata"]["title"] == "Thinking" and dialog[-1]["content"] == "Hello"
    view.finish(_result("meta/llama", []))
    assert "Model A" in chat_messages(view, "hi", hidden=True)[-1]["content"]
    assert "meta/llama" in chat_messages(view, "hi", hidden=False)[-1]["content"]
