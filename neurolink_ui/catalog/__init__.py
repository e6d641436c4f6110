"""The model catalogue: one JSON file per model in `models/`, with its evidence and recorded schema.

Each file holds what public evidence says about one Replicate model: each piece of evidence with the
date it was read (`checked`) and the date of the evidence itself (`dated`: a commit's date, a page's
"updated" date; null when the evidence does not say), its panel, whether it is confirmed alive,
whether it is official, its latest version id when known, its `openapi_schema` exactly as
Replicate's `latest_version.openapi_schema` would have it, and, where public evidence gives one,
how long a run takes (`run_time`: typical and worst seconds, with the evidence and its own date;
`neurolink_ui.deadlines` makes each run's deadline of it). The
simulator serves these schemas, the panels take their defaults and suggestions from here, and
`python -m neurolink_ui models check` compares them with the live API. No Gradio.

Beside the models: `collections.json` (curated lists, each a rule over the catalogue: a panel,
whether the schema takes a file input, official, or named models) and `readmes/<owner>__<name>.md`
(a model's README where one was written; the simulator writes the others from the entry),
`examples.json` (extra example inputs besides each model's `default_example`), `constraints.json`
(rules between fields a schema cannot express, e.g. Hailuo 02's 10 s only at 768p, with their
evidence; the simulator enforces them).
Models of panel `other` fit no panel: no picker offers them, only Explore runs them.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Literal

Panel = Literal["chat", "image", "video", "avatar", "music", "other"]
Status = Literal["confirmed", "unconfirmed"]
PANELS: tuple[Panel, ...] = ("chat", "image", "video", "avatar", "music", "other")

# Each panel's default: a confirmed model whose schema fits the panel best (a live Llama 3 model
# that streams; the official image-to-video Wan 2.2, which takes the panel's start frame; …).
PANEL_DEFAULTS: dict[Panel, str] = {
    "chat": "meta/meta-llama-3-70b-instruct",
    "image": "black-forest-labs/flux-1.1-pro",
    "video": "wan-video/wan-2.2-i2v-fast",
    "avatar": "douwantech/musetalk",
    "music": "meta/musicgen",
}

_HEX64 = re.compile(r"[0-9a-f]{64}")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_PARTIAL_DATE = re.compile(r"\d{4}(?:-\d{2}(?:-\d{2})?)?")
_REF = re.compile(r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*")


@dataclass(frozen=True)
class Evidence:
    source: str  # a URL or `owner/repo@commit:path`
    checked: str  # ISO date it was read
    note: str
    dated: str | None = None  # ISO date of the evidence itself (commit, page update); None: unknown

    @classmethod
    def from_json(cls, data: dict[str, Any], ref: str = "") -> Evidence:
        dated = data.get("dated")
        for when in (data["checked"], dated):
            if when is not None:
                try:
                    dt.date.fromisoformat(str(when))
                except ValueError:
                    raise ValueError(
                        f"{ref}: evidence dates must be ISO dates, not {when!r}"
                    ) from None
        return cls(data["source"], data["checked"], data.get("note", ""), dated)


@dataclass(frozen=True)
class RunTime:
    """How long one run of a model takes, as public evidence says (the `run_time` of an entry).

    `typical_seconds` is what a run usually takes, created → completed (queue and boot included
    where the evidence counts them); `worst_seconds` the longest the evidence reports or allows
    for. `source` is where it is said (a URL, `owner/repo@commit:path`, or public code described
    when the index names no repository), `dated` the evidence's own date (`YYYY`, `YYYY-MM` or
    `YYYY-MM-DD`: as precisely as the evidence dates itself), `checked` when it was read."""

    typical_seconds: float
    worst_seconds: float
    source: str
    dated: str
    checked: str
    note: str = ""

    @classmethod
    def from_json(cls, ref: str, data: Any) -> RunTime:
        if not isinstance(data, dict):
            raise ValueError(f"{ref}: run_time must be an object")
        numbers = [data.get("typical_seconds"), data.get("worst_seconds")]
        seconds = [
            float(n) for n in numbers if isinstance(n, int | float) and not isinstance(n, bool)
        ]
        if len(seconds) != 2:
            raise ValueError(f"{ref}: run_time needs typical_seconds and worst_seconds (numbers)")
        typical, worst = seconds
        if not 0 < typical <= worst:
            raise ValueError(f"{ref}: run_time needs 0 < typical_seconds <= worst_seconds")
        source, dated, checked = data.get("source"), data.get("dated"), data.get("checked")
        if not isinstance(source, str) or not source.strip():
            raise ValueError(f"{ref}: run_time needs its evidence's source")
        if not isinstance(dated, str) or not _PARTIAL_DATE.fullmatch(dated):
            raise ValueError(f"{ref}: run_time.dated is the evidence's own date (YYYY[-MM[-DD]])")
        if not isinstance(checked, str) or not _DATE.fullmatch(checked):
            raise ValueError(f"{ref}: run_time.checked is the date it was read (YYYY-MM-DD)")
        return cls(
            typical,
            worst,
            source,
            dated,
            checked,
            str(data.get("note") or ""),
        )


@dataclass(frozen=True, eq=False)
class CatalogModel:
    model: str  # "owner/name"
    panel: Panel
    status: Status
    official: bool
    version: str | None  # latest version id (64 hex) when the evidence records it
    description: str
    evidence: tuple[Evidence, ...]
    default_example: dict[str, Any] | None  # {"input": {...}}
    openapi_schema: dict[str, Any]
    # How long a run takes, where public evidence says (None: the panel's usual time applies).
    run_time: RunTime | None = None

    @property
    def owner(self) -> str:
        return self.model.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.model.split("/", 1)[1]

    @property
    def confirmed(self) -> bool:
        return self.status == "confirmed"

    @property
    def file_name(self) -> str:
        return f"{self.owner}__{self.name}.json"

    @property
    def evidence_dated(self) -> dt.date | None:
        """The date of the newest evidence that says when it is from; None when none does."""
        dates = [dt.date.fromisoformat(e.dated) for e in self.evidence if e.dated]
        return max(dates, default=None)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CatalogModel:
        """Parse one catalogue file; a malformed one fails loudly with the model it names."""
        ref = str(data.get("model", ""))
        if not _REF.fullmatch(ref):
            raise ValueError(f"catalogue entry has a bad model reference: {ref!r}")
        if data.get("panel") not in PANELS:
            raise ValueError(f"{ref}: panel must be one of {PANELS}")
        if data.get("status") not in ("confirmed", "unconfirmed"):
            raise ValueError(f"{ref}: status must be confirmed or unconfirmed")
        version = data.get("version")
        if version is not None and not _HEX64.fullmatch(str(version)):
            raise ValueError(f"{ref}: version must be 64 lowercase hex or null")
        schemas = data.get("openapi_schema", {}).get("components", {}).get("schemas", {})
        if "Input" not in schemas or "Output" not in schemas:
            raise ValueError(f"{ref}: openapi_schema needs components.schemas.Input and Output")
        evidence = tuple(Evidence.from_json(e, ref) for e in data["evidence"])
        if not evidence:
            raise ValueError(f"{ref}: at least one evidence entry is required")
        example = data.get("default_example")
        run_time = data.get("run_time")
        return cls(
            model=ref,
            panel=data["panel"],
            status=data["status"],
            official=bool(data["official"]),
            version=version,
            description=str(data.get("description") or ""),
            evidence=evidence,
            default_example=example if isinstance(example, dict) else None,
            openapi_schema=data["openapi_schema"],
            run_time=RunTime.from_json(ref, run_time) if run_time is not None else None,
        )


@cache
def load_catalog() -> tuple[CatalogModel, ...]:
    """Every catalogued model, in file-name order (read once per process)."""
    folder = resources.files(__package__).joinpath("models")
    entries = sorted(
        (item for item in folder.iterdir() if item.name.endswith(".json")), key=lambda i: i.name
    )
    models = []
    for item in entries:
        model = CatalogModel.from_json(json.loads(item.read_text(encoding="utf-8")))
        if model.file_name != item.name:
            raise ValueError(f"{item.name} holds {model.model}; name it {model.file_name}")
        models.append(model)
    return tuple(models)


@cache
def _by_ref() -> dict[str, CatalogModel]:
    return {m.model: m for m in load_catalog()}


@dataclass(frozen=True)
class RetiredModel:
    """A model the evidence says is gone (404): never offered, kept only to explain why."""

    model: str
    evidence: tuple[Evidence, ...]


@cache
def retired_models() -> tuple[RetiredModel, ...]:
    text = resources.files(__package__).joinpath("retired.json").read_text(encoding="utf-8")
    return tuple(
        RetiredModel(
            str(item["model"]),
            tuple(Evidence.from_json(e, str(item["model"])) for e in item["evidence"]),
        )
        for item in json.loads(text)
    )


def catalog_model(ref: str) -> CatalogModel | None:
    """The entry for `owner/name` (a `:version` suffix is ignored), or None."""
    return _by_ref().get(ref.strip().split(":", 1)[0])


def default_model(panel: Panel) -> str:
    """The panel's default model; always a confirmed catalogue entry of that panel."""
    ref = PANEL_DEFAULTS[panel]
    model = catalog_model(ref)
    if model is None or not model.confirmed or model.panel != panel:
        raise LookupError(f"the {panel} default {ref} is not a confirmed {panel} model")
    return ref


def suggested_models(panel: Panel) -> list[str]:
    """The panel's picker suggestions: its default first, then the other confirmed models."""
    first = default_model(panel)
    rest = [
        m.model for m in load_catalog() if m.panel == panel and m.confirmed and m.model != first
    ]
    return [first, *rest]


# ---- collections and READMEs ------------------------------------------------------------------


@dataclass(frozen=True)
class CatalogCollection:
    """A curated list of catalogued models, as Replicate's collections are."""

    slug: str
    name: str
    description: str
    full_description: str | None
    models: tuple[str, ...]  # confirmed models matching the rule, in catalogue order


def _takes_file(model: CatalogModel, required_only: bool) -> bool:
    node = model.openapi_schema["components"]["schemas"]["Input"]
    required = set(node.get("required") or [])
    for name, prop in (node.get("properties") or {}).items():
        items = prop.get("items") if isinstance(prop.get("items"), dict) else {}
        if (prop.get("format") == "uri" or items.get("format") == "uri") and (
            name in required or not required_only
        ):
            return True
    return False


def _matches(model: CatalogModel, rule: dict[str, Any]) -> bool:
    if "models" in rule:
        return model.model in rule["models"]
    if "panel" in rule and model.panel != rule["panel"]:
        return False
    if "official" in rule and model.official != rule["official"]:
        return False
    file_input = rule.get("file_input")
    if file_input == "any" and not _takes_file(model, required_only=False):
        return False
    return not (file_input == "optional" and _takes_file(model, required_only=True))


@cache
def collections() -> tuple[CatalogCollection, ...]:
    """The curated collections, each listing the confirmed models its rule picks."""
    text = resources.files(__package__).joinpath("collections.json").read_text(encoding="utf-8")
    found = []
    for item in json.loads(text):
        rule = item["rule"]
        for ref in rule.get("models", []):
            if catalog_model(ref) is None:
                raise ValueError(f"collection {item['slug']} names {ref}, which is not catalogued")
        models = tuple(m.model for m in load_catalog() if m.confirmed and _matches(m, rule))
        found.append(
            CatalogCollection(
                item["slug"], item["name"], item["description"], item["full_description"], models
            )
        )
    return tuple(found)


def readme(ref: str) -> str | None:
    """The README written for a model (`readmes/<owner>__<name>.md`), None when there is none."""
    model = catalog_model(ref)
    if model is None:
        return None
    item = resources.files(__package__).joinpath("readmes", model.file_name[:-5] + ".md")
    return item.read_text(encoding="utf-8") if item.is_file() else None


@cache
def recorded_examples() -> dict[str, tuple[dict[str, Any], ...]]:
    """Each model's extra example inputs (`examples.json`), besides its `default_example`."""
    text = resources.files(__package__).joinpath("examples.json").read_text(encoding="utf-8")
    found: dict[str, tuple[dict[str, Any], ...]] = {}
    for ref, items in json.loads(text).items():
        if ref.startswith("_"):
            continue
        if catalog_model(ref) is None:
            raise ValueError(f"examples.json names {ref}, which is not catalogued")
        found[ref] = tuple(item for item in items if isinstance(item.get("input"), dict))
    return found


# ---- rules between fields ---------------------------------------------------------------------


@dataclass(frozen=True)
class InputConstraint:
    """A rule between fields that a schema cannot express: when the input has every `when`
    value (defaults applied), each `require` field must be one of its values, else the model
    fails the prediction with `error`."""

    when: dict[str, Any]
    require: dict[str, tuple[Any, ...]]
    error: str
    evidence: tuple[Evidence, ...]

    def broken_by(self, input: dict[str, Any]) -> bool:
        if any(input.get(name) != value for name, value in self.when.items()):
            return False
        return any(input.get(name) not in allowed for name, allowed in self.require.items())


@cache
def input_constraints() -> dict[str, tuple[InputConstraint, ...]]:
    """Each catalogued model's cross-field rules (`constraints.json`), with their evidence."""
    text = resources.files(__package__).joinpath("constraints.json").read_text(encoding="utf-8")
    found: dict[str, tuple[InputConstraint, ...]] = {}
    for ref, rules in json.loads(text).items():
        if ref.startswith("_"):
            continue
        if catalog_model(ref) is None:
            raise ValueError(f"constraints.json names {ref}, which is not catalogued")
        found[ref] = tuple(
            InputConstraint(
                dict(rule["when"]),
                {name: tuple(values) for name, values in rule["require"].items()},
                str(rule["error"]),
                tuple(Evidence.from_json(e, ref) for e in rule["evidence"]),
            )
            for rule in rules
        )
    return found
