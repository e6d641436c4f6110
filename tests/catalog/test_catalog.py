"""The model catalogue: its data contract, the panel defaults, and the simulator serving it exactly."""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
from typing import Any

import httpx
import pytest
from helpers import REPO

from neurolink_ui.catalog import (
    PANELS,
    CatalogModel,
    catalog_model,
    default_model,
    load_catalog,
    retired_models,
    suggested_models,
)
from neurolink_ui.simulator.runner import Simulator

CATALOG = load_catalog()
IDS = [m.model for m in CATALOG]
MODELS_DIR = REPO / "neurolink_ui" / "catalog" / "models"
FILE_KEYS = {
    "model",
    "panel",
    "status",
    "official",
    "version",
    "description",
    "evidence",
    "default_example",
    "openapi_schema",
}
# Keys an entry has only where its evidence gives them (test_run_time_records.py: run_time).
OPTIONAL_KEYS = {"run_time"}


def _file(model: CatalogModel) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((MODELS_DIR / model.file_name).read_text(encoding="utf-8"))
    return data


def _resolved(schema: dict[str, Any], prop: dict[str, Any]) -> dict[str, Any]:
    merged = {k: v for k, v in prop.items() if k != "allOf"}
    for part in prop.get("allOf", []):
        merged = {**schema["components"]["schemas"][part["$ref"].rsplit("/", 1)[1]], **merged}
    return merged


@pytest.mark.parametrize("model", CATALOG, ids=IDS)
def test_each_file_keeps_the_shared_contract(model: CatalogModel) -> None:
    data = _file(model)
    assert set(data) - OPTIONAL_KEYS == FILE_KEYS
    assert data["panel"] in PANELS and data["status"] in ("confirmed", "unconfirmed")
    assert isinstance(data["official"], bool)
    assert data["version"] is None or re.fullmatch(r"[0-9a-f]{64}", data["version"])
    assert data["description"]
    assert data["evidence"], "every model names its evidence"
    for item in data["evidence"]:
        assert set(item) == {"source", "checked", "dated", "note"} and item["note"]
        assert re.match(r"https://|[\w.-]+/[\w.-]+@[0-9a-f]{7,40}(:|$)", item["source"]), item
        checked = dt.date.fromisoformat(item["checked"])
        assert checked <= dt.date.today()
        # the evidence's own date (a commit's, a page's update), never after it was read
        assert item["dated"] is None or dt.date.fromisoformat(item["dated"]) <= checked, item
    assert data["default_example"] is None or set(data["default_example"]) == {"input"}
    schema = data["openapi_schema"]
    schemas = schema["components"]["schemas"]
    assert {"Input", "Output"} <= set(schemas)
    props = schemas["Input"]["properties"]
    assert [p["x-order"] for p in props.values()] == list(range(len(props)))
    for name in schemas["Input"].get("required", []):
        assert name in props and "default" not in props[name], name
    for name, prop in props.items():  # defaults within bounds: test_sim_catalog validates them
        if "allOf" in prop:
            full = _resolved(schema, prop)
            assert full["enum"] and full["type"] in ("string", "integer"), name
    example = (data["default_example"] or {}).get("input", {})
    assert set(example) <= set(props), "the example uses the schema's own fields"


def test_panel_defaults_are_the_evidenced_live_models() -> None:
    assert default_model("chat") == "meta/meta-llama-3-70b-instruct"
    assert default_model("image") == "black-forest-labs/flux-1.1-pro"
    assert default_model("video") == "wan-video/wan-2.2-i2v-fast"
    assert default_model("avatar") == "douwantech/musetalk"
    assert default_model("music") == "meta/musicgen"
    choices = {
        "chat": suggested_models("chat"),
        "image": suggested_models("image"),
        "video": suggested_models("video"),
        "avatar": suggested_models("avatar"),
        "music": suggested_models("music"),
    }
    for panel, listed in choices.items():
        assert listed[0] == default_model(panel)  # type: ignore[arg-type]
        assert listed == suggested_models(panel)  # type: ignore[arg-type]
        assert len(listed) == len(set(listed)) >= 3
        for ref in listed:
            entry = catalog_model(ref)
            assert entry is not None and entry.panel == panel and entry.confirmed, ref
    # the video default takes the panel's start frame
    video = catalog_model(default_model("video"))
    assert (
        video is not None
        and "image" in video.openapi_schema["components"]["schemas"]["Input"]["required"]
    )


def test_unconfirmed_models_are_never_offered() -> None:
    unconfirmed = [m.model for m in CATALOG if not m.confirmed]
    assert unconfirmed  # the catalogue records what it could not confirm
    offered = {ref for panel in PANELS if panel != "other" for ref in suggested_models(panel)}
    assert not offered & set(unconfirmed)


def test_catalogue_covers_the_modern_models_of_each_panel() -> None:
    confirmed = {m.model for m in CATALOG if m.confirmed}
    assert {
        "deepseek-ai/deepseek-r1",
        "openai/gpt-5",
        "anthropic/claude-4-sonnet",
        "google/gemini-2.5-flash",
        "black-forest-labs/flux-schnell",
        "black-forest-labs/flux-kontext-pro",
        "google/nano-banana",
        "bytedance/seedream-4",
        "google/veo-3.1",
        "kwaivgi/kling-v2.1",
        "minimax/hailuo-02",
        "cjwbw/sadtalker",
        "stability-ai/stable-audio-2.5",
        "google/lyria-2",
    } <= confirmed


# The families of late 2026 (issue 22), each confirmed by its evidence (README's model table).
NEW_FAMILIES = {
    "chat": [
        "google/gemini-3-flash",
        "openai/gpt-5.1",
        "openai/gpt-5-nano",
        "anthropic/claude-4.5-haiku",
        "deepseek-ai/deepseek-v3.1",
        "moonshotai/kimi-k2.5",
    ],
    "image": [
        "black-forest-labs/flux-2-pro",
        "black-forest-labs/flux-2-max",
        "black-forest-labs/flux-2-flex",
        "black-forest-labs/flux-2-klein-4b",
        "bytedance/seedream-4.5",
        "google/nano-banana-2",
        "google/nano-banana-pro",
        "openai/gpt-image-1.5",
        "google/imagen-4-fast",
        "qwen/qwen-image",
    ],
    "video": [
        "openai/sora-2",
        "openai/sora-2-pro",
        "bytedance/seedance-2.0",
        "minimax/hailuo-2.3",
    ],
    "avatar": ["bytedance/omni-human-1.5", "sync/lipsync-2-pro"],
    "music": ["minimax/music-1.5", "elevenlabs/music", "google/lyria-3"],
}


@pytest.mark.parametrize("panel", sorted(NEW_FAMILIES))
def test_the_newest_families_are_offered_on_their_panels(panel: str) -> None:
    for ref in NEW_FAMILIES[panel]:
        entry = catalog_model(ref)
        assert entry is not None and entry.panel == panel and entry.confirmed, ref
        assert ref in suggested_models(panel)  # type: ignore[arg-type]
        # dated evidence where any exists, and the evidence of each names what it gives
        assert all(e.note for e in entry.evidence)
    # a family found only in a third-party dump stays catalogued but unconfirmed
    kling = catalog_model("kwaivgi/kling-v2.5-turbo-pro")
    assert kling is not None and not kling.confirmed


def test_weak_or_contradicted_entries_are_unconfirmed_and_stable_audio_is_official() -> None:
    for ref in ("lucataco/sadtalker", "atonamy/wan-alpha", "lucataco/talking-avatar"):
        entry = catalog_model(ref)
        assert entry is not None and not entry.confirmed, ref
        assert ref not in suggested_models(entry.panel)  # type: ignore[arg-type]
    audio = catalog_model("stability-ai/stable-audio-2.5")
    assert audio is not None and audio.official and audio.confirmed


def test_array_fields_keep_their_evidenced_empty_default() -> None:
    for ref, name in (
        ("openai/gpt-5", "image_input"),
        ("openai/gpt-5", "messages"),
        ("google/nano-banana", "image_input"),
        ("google/gemini-2.5-flash", "images"),
        ("black-forest-labs/flux-2-pro", "input_images"),
        ("google/nano-banana-2", "image_input"),
        ("black-forest-labs/flux-2-klein-4b", "images"),
    ):
        entry = catalog_model(ref)
        assert entry is not None
        prop = entry.openapi_schema["components"]["schemas"]["Input"]["properties"][name]
        assert prop["type"] == "array" and prop["default"] == [], (ref, name)


def test_evidence_keeps_its_own_date_beside_the_day_it_was_read() -> None:
    musicgen = catalog_model("meta/musicgen")
    assert musicgen is not None
    generated = musicgen.evidence[0]
    assert generated.source.startswith("nodetool-ai/nodetool-replicate@d21aa02")
    assert (generated.checked, generated.dated) == ("2026-11-30", "2026-04-23")
    assert musicgen.evidence_dated == dt.date(2026, 4, 23)
    # a page that does not say when it is from has no date, and an entry of such pages none
    assert all(e.dated is None for e in musicgen.evidence[1:])
    sadtalker = catalog_model("cjwbw/sadtalker")
    assert sadtalker is not None and sadtalker.evidence_dated is None


def test_corrected_schemas_match_the_evidence() -> None:
    def props(ref: str) -> tuple[dict[str, Any], dict[str, Any]]:
        entry = catalog_model(ref)
        assert entry is not None
        schema = entry.openapi_schema
        return schema, schema["components"]["schemas"]["Input"]["properties"]

    schema, avatar = props("lucataco/talking-avatar")
    duration = _resolved(schema, avatar["duration"])
    assert duration["enum"] == [5, 10] and duration["default"] == 10
    assert avatar["captions"]["default"] is True and avatar["resolution"]["default"] == "720p"
    schema, alpha = props("atonamy/wan-alpha")
    assert _resolved(schema, alpha["resolution"])["enum"] == [
        "1280*720",
        "480*832",
        "720*1280",
        "832*480",
        "512*512 (fit vertical)",
        "512*512 (fit horizontal)",
    ]
    assert _resolved(schema, alpha["output_format"])["enum"] == ["webm", "webp"]
    assert not any(p.get("format") == "uri" for p in alpha.values())  # text-to-video only
    _, llama = props("meta/meta-llama-3-70b-instruct")
    assert "system_prompt" not in llama and "stop_sequences" not in llama
    _, claude = props("anthropic/claude-4-sonnet")
    assert claude["max_tokens"]["minimum"] == 1024
    _, banana = props("google/nano-banana")
    assert banana["image_input"]["items"] == {"type": "string", "format": "uri"}


def test_retired_models_appear_nowhere_but_their_evidence() -> None:
    retired = {r.model for r in retired_models()}
    # the three the evidence says are gone (the two Llama 3.1 models, lucataco's MuseTalk) and
    # each with its evidence; named nowhere else, so not here either
    assert len(retired) >= 3 and all(r.evidence for r in retired_models())
    assert not retired & {m.model for m in CATALOG}
    root = REPO
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True
    ).stdout.split(b"\0")
    allowed = {"neurolink_ui/catalog/retired.json"}
    offenders = []
    for name in (t.decode() for t in tracked if t):
        path = root / name
        if name in allowed or not path.is_file() or path.suffix in {".png", ".jpg", ".webp"}:
            continue
        text = path.read_text(encoding="utf-8", errors="ignore")
        offenders += [f"{name}: {ref}" for ref in retired if ref in text]
    assert offenders == []


# ---------------------------------------------------------------------------------------------
# the simulator serves the recorded data exactly


def test_simulator_serves_every_recorded_schema_exactly(simulator: Simulator, token: str) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=simulator.base_url, headers=headers, timeout=30) as http:
        for model in CATALOG:
            data = _file(model)
            body = http.get(f"/v1/models/{model.model}").json()
            latest = body["latest_version"]
            assert latest["openapi_schema"] == data["openapi_schema"], model.model
            assert body["is_official"] is data["official"]
            assert body["description"] == data["description"]
            if data["version"]:
                assert latest["id"] == data["version"], model.model
            if data["default_example"]:
                assert body["default_example"]["input"] == data["default_example"]["input"]
            else:
                assert body["default_example"] is None
            version = http.get(f"/v1/models/{model.model}/versions/{latest['id']}")
            if data["official"]:
                assert version.status_code == 404  # official models expose no versions
            else:
                assert version.json()["openapi_schema"] == data["openapi_schema"], model.model
        for retired in retired_models():
            assert http.get(f"/v1/models/{retired.model}").status_code == 404


def test_simulator_model_overrides_alter_what_it_serves(simulator: Simulator, token: str) -> None:
    entry = catalog_model("meta/musicgen")
    assert entry is not None
    drifted = json.loads(json.dumps(entry.openapi_schema))
    drifted["components"]["schemas"]["Input"]["properties"]["duration"]["maximum"] = 30
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=simulator.base_url, headers=headers, timeout=30) as http:
        answer = http.put(
            "/_sim/config",
            json={
                "model_overrides": {
                    "meta/musicgen": {"openapi_schema": drifted, "version": "ab" * 32},
                    "google/lyria-2": {"gone": True},
                }
            },
        )
        assert answer.status_code == 200, answer.text
        served = http.get("/v1/models/meta/musicgen").json()["latest_version"]
        assert served["openapi_schema"] == drifted and served["id"] == "ab" * 32
        assert http.get("/v1/models/google/lyria-2").status_code == 404
        create = http.post("/v1/models/google/lyria-2/predictions", json={"input": {"prompt": "x"}})
        assert create.status_code == 404
        too_long = http.post(
            "/v1/predictions",
            json={"version": f"meta/musicgen:{'ab' * 32}", "input": {"duration": 31}},
        )
        assert too_long.status_code == 422, too_long.text  # the altered schema validates
        assert [f["field"] for f in too_long.json()["invalid_fields"]] == ["duration"]
        bad = http.put("/_sim/config", json={"model_overrides": {"x": {"gone": True}}})
        assert bad.status_code == 422 and "owner/name" in bad.text
        http.post("/_sim/reset")
        restored = http.get("/v1/models/meta/musicgen").json()["latest_version"]
        assert restored["openapi_schema"] == entry.openapi_schema
        assert restored["id"] == entry.version
