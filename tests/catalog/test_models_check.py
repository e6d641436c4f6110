"""`python -m neurolink_ui models check`: recorded schemas against a live API (the simulator)."""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest

from neurolink_ui import cli
from neurolink_ui.catalog import catalog_model, load_catalog
from neurolink_ui.catalog.drift import compare_fields
from neurolink_ui.replicate.schema import InputSchema
from neurolink_ui.simulator.runner import Simulator


def _check(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    sim: Simulator,
    token: str,
    *args: str,
) -> tuple[int, str]:
    monkeypatch.setenv("REPLICATE_BASE_URL", sim.base_url)
    monkeypatch.setenv("REPLICATE_API_TOKEN", token)
    code = cli.main(["models", "check", *args])
    return code, capsys.readouterr().out


def test_unchanged_catalogue_exits_0(
    simulator: Simulator, token: str, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    code, out = _check(monkeypatch, capsys, simulator, token, "--today", "2026-05-01")
    assert code == 0, out
    lines = out.splitlines()
    # nothing drifted: the report is the evidence-age list and the summary
    assert lines[-1].startswith(f"{len(load_catalog())} unchanged; evidence: ")
    assert lines[-1].endswith(f", {UNDATED} undated")
    assert not [line for line in lines if line.endswith((": changed", "(404 Not Found)"))]
    fetched = {r.path for r in simulator.requests if r.method == "GET"}
    assert {f"/v1/models/{m.model}" for m in load_catalog()} <= fetched


def test_drifted_schema_version_and_gone_model_are_reported_and_exit_1(
    simulator: Simulator, token: str, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    entry = catalog_model("meta/musicgen")
    assert entry is not None
    drifted = copy.deepcopy(entry.openapi_schema)
    schemas = drifted["components"]["schemas"]
    props = schemas["Input"]["properties"]
    props["duration"]["maximum"] = 30
    props["duration"]["default"] = 10
    del props["multi_band_diffusion"]
    props["bpm"] = {"type": "integer", "title": "Bpm", "x-order": 99, "description": "Tempo"}
    schemas["output_format"]["enum"] = ["wav", "mp3", "flac"]
    new_version = "cd" * 32
    overrides = {
        "meta/musicgen": {"openapi_schema": drifted, "version": new_version},
        "google/lyria-2": {"gone": True},
    }
    put = httpx.put(f"{simulator.base_url}/_sim/config", json={"model_overrides": overrides})
    assert put.status_code == 200, put.text

    code, out = _check(monkeypatch, capsys, simulator, token, "--today", "2026-05-01")
    assert code == 1
    lines = out.splitlines()
    block = lines[lines.index("meta/musicgen: changed") :]
    assert f"  ~ version: {entry.version} -> {new_version}" in block
    assert "  ~ duration.default: 8 -> 10" in block
    assert "  ~ duration.maximum: none -> 30" in block
    assert "  + field bpm (integer)" in block
    assert "  - field multi_band_diffusion" in block
    assert "  ~ output_format.choices: ['wav', 'mp3'] -> ['wav', 'mp3', 'flac']" in block
    assert "google/lyria-2: gone (404 Not Found)" in lines
    assert lines[-1].startswith(f"{len(load_catalog()) - 2} unchanged, 1 changed, 1 gone; ")

    code, out = _check(
        monkeypatch,
        capsys,
        simulator,
        token,
        "--model",
        "meta/meta-llama-3-8b-instruct",
        "--today",
        "2026-05-01",
    )  # only the models asked for
    assert (code, out.strip()) == (0, "1 unchanged; evidence: 0 older than 6 months, 0 undated")


UNDATED = sum(1 for m in load_catalog() if m.evidence_dated is None)


def test_old_and_undated_evidence_is_listed_relative_to_today(
    simulator: Simulator, token: str, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.delenv("REPLICATE_API_TOKEN", raising=False)  # --evidence-only needs none
    assert cli.main(["models", "check", "--evidence-only", "--today", "2026-12-06"]) == 0
    lines = capsys.readouterr().out.splitlines()
    # the generated schemas of 2026-04-23 are over six months old on 2026-12-06 ...
    assert lines[0] == "evidence older than 6 months (before 2026-06-06):"
    assert "  meta/musicgen: newest evidence 2026-04-23 (read 2026-11-30)" in lines
    # ... oldest first; pages that say no date are listed apart
    assert lines[1] == "  nightmareai/real-esrgan: newest evidence 2024-07-24 (read 2026-11-30)"
    assert "  cjwbw/sadtalker: undated (read 2026-11-30)" in lines
    old = sum(1 for m in load_catalog() if m.evidence_dated is not None)
    assert lines[-1] == f"evidence: {old} older than 6 months, {UNDATED} undated"

    # on 2026-08-01 the April evidence is three months old: not listed
    cli.main(["models", "check", "--evidence-only", "--today", "2026-08-01"])
    lines = capsys.readouterr().out.splitlines()
    assert not any(line.startswith("  meta/musicgen") for line in lines)
    assert "  nightmareai/real-esrgan: newest evidence 2024-07-24 (read 2026-11-30)" in lines
    assert not [r for r in simulator.requests if r.path.startswith("/v1/")]  # nothing fetched
    with pytest.raises(SystemExit) as exited:
        cli.main(["models", "check", "--evidence-only", "--today", "yesterday"])
    assert exited.value.code == 2


def test_usage_errors_exit_2(
    simulator: Simulator, token: str, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.setenv("REPLICATE_BASE_URL", simulator.base_url)
    monkeypatch.setenv("REPLICATE_API_TOKEN", token)
    for args in (
        ["models"],
        ["models", "list"],
        ["models", "check", "--model", "nobody/nothing"],
    ):
        with pytest.raises(SystemExit) as exited:
            cli.main(args)
        assert exited.value.code == 2, args
    assert "not in the catalogue: nobody/nothing" in capsys.readouterr().err
    monkeypatch.delenv("REPLICATE_API_TOKEN")
    with pytest.raises(SystemExit) as exited:
        cli.main(["models", "check"])
    assert exited.value.code == 2
    assert "REPLICATE_API_TOKEN" in capsys.readouterr().err
    assert not [r for r in simulator.requests if r.path.startswith("/v1/")]  # nothing was sent


def test_compare_fields_reports_type_required_and_min_changes() -> None:
    def schema(props: dict[str, Any], required: list[str]) -> InputSchema:
        for order, prop in enumerate(props.values()):
            prop["x-order"] = order
        return InputSchema.from_openapi(
            {
                "components": {
                    "schemas": {
                        "Input": {"type": "object", "properties": props, "required": required}
                    }
                }
            }
        )

    before = schema(
        {"prompt": {"type": "string"}, "steps": {"type": "integer", "minimum": 1, "default": 4}},
        [],
    )
    after = schema(
        {"prompt": {"type": "string"}, "steps": {"type": "number", "minimum": 2, "default": 4}},
        ["prompt"],
    )
    assert compare_fields(before, after) == [
        "~ prompt.required: False -> True",
        "~ steps.type: 'integer' -> 'number'",
        "~ steps.minimum: 1 -> 2",
    ]
    assert compare_fields(before, before) == []
