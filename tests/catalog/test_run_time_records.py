"""The catalogue's optional `run_time` records (issue 22, item 1): typical and worst-case seconds
of a run, each with its evidence's source and the evidence's own date, only where evidence gives
them; a malformed record fails loudly with the model it names."""

from __future__ import annotations

import copy
import datetime as dt
import json
from typing import Any

import pytest
from helpers import REPO

from neurolink_ui.catalog import CatalogModel, catalog_model, load_catalog

MODELS_DIR = REPO / "neurolink_ui" / "catalog" / "models"
RECORDED = [m for m in load_catalog() if m.run_time is not None]
KEYS = {"typical_seconds", "worst_seconds", "source", "dated", "checked", "note"}


def _data(model: CatalogModel) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((MODELS_DIR / model.file_name).read_text(encoding="utf-8"))
    return data


def _date(text: str) -> dt.date:
    """The earliest day a `YYYY[-MM[-DD]]` date may mean."""
    parts = [int(part) for part in text.split("-")] + [1, 1]
    return dt.date(parts[0], parts[1], parts[2])


@pytest.mark.parametrize("model", RECORDED, ids=[m.model for m in RECORDED])
def test_each_record_names_its_evidence_and_its_date(model: CatalogModel) -> None:
    record = _data(model)["run_time"]
    assert set(record) == KEYS and record["note"]
    assert 0 < record["typical_seconds"] <= record["worst_seconds"] <= 30 * 60
    assert record["source"].startswith("https://") or len(record["source"]) > 40
    assert _date(record["dated"]) <= dt.date.fromisoformat(record["checked"])


def test_the_long_models_of_the_issue_are_recorded_as_long() -> None:
    musetalk = catalog_model("douwantech/musetalk")
    omni = catalog_model("bytedance/omni-human")
    assert musetalk is not None and musetalk.run_time is not None
    assert omni is not None and omni.run_time is not None
    assert musetalk.run_time.typical_seconds == 8 * 60  # about 8 minutes a run
    assert (omni.run_time.typical_seconds, omni.run_time.worst_seconds) == (5 * 60, 10 * 60)
    assert all(m.run_time.worst_seconds > 300 for m in (musetalk, omni))  # past the old cap
    # Only where evidence gives one: most entries have none, and their panels' usual run applies.
    assert len(RECORDED) < len(load_catalog()) and catalog_model("meta/musicgen").run_time is None  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"typical_seconds": 900, "worst_seconds": 60}, "typical_seconds <= worst_seconds"),
        ({"typical_seconds": "8 min"}, "numbers"),
        ({"source": ""}, "source"),
        ({"dated": "April 2024"}, "evidence's own date"),
        ({"checked": "2026-12"}, "the date it was read"),
    ],
)
def test_a_malformed_record_fails_naming_the_model(change: dict[str, Any], said: str) -> None:
    entry = catalog_model("douwantech/musetalk")
    assert entry is not None
    data = copy.deepcopy(_data(entry))
    data["run_time"].update(change)
    with pytest.raises(ValueError, match="douwantech/musetalk") as info:
        CatalogModel.from_json(data)
    assert said in str(info.value)
    data["run_time"] = None  # an entry without one is fine
    assert CatalogModel.from_json(data).run_time is None
