"""Any model, from its schema alone: what its output is, which panel it fits, what a form shows.

The Explore tab runs models no panel was written for. Everything here reads the model's input and
output schema (and the bytes of the files it returned), never its name. No Gradio.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from neurolink_ui.replicate.outputs import SniffedType, sniff_type
from neurolink_ui.replicate.schema import InputField, InputSchema, output_is_file, output_streams

from .avatar import audio_field, portrait_field
from .common import takes_files
from .forms import FormField, form_field

# ---- outputs --------------------------------------------------------------------------------

OutputPlan = Literal["text", "files", "json"]
"""How a run is read: streamed/plain text, files to download, or JSON data shown as code."""

OutputView = Literal["text", "images", "video", "audio", "files", "json"]


def output_plan(output_schema: Mapping[str, Any]) -> OutputPlan:
    """What the model's OUTPUT schema says it returns.

    A URI or a list of URIs is files; a string or a list of strings (streamed or not) is text;
    an object, a number, a list of objects… is JSON. An empty or unknown schema is read as JSON:
    whatever comes back is shown as it is (text stays text, see `result_views`).
    """
    schema = dict(output_schema)
    if output_is_file(schema, schema):
        return "files"
    if output_streams(schema):
        return "text"
    kind = schema.get("type")
    items = schema.get("items") if isinstance(schema.get("items"), dict) else {}
    if kind == "string":
        return "text"
    if kind == "array" and isinstance(items, dict) and items.get("type") == "string":
        return "text"
    return "json"


@dataclass(frozen=True)
class ResultViews:
    """Which views show a run's outputs, and which files go to each."""

    views: tuple[OutputView, ...]
    images: tuple[Path, ...] = ()
    videos: tuple[Path, ...] = ()
    audios: tuple[Path, ...] = ()
    others: tuple[Path, ...] = ()


def sniff_file(path: Path) -> SniffedType | None:
    with path.open("rb") as handle:
        return sniff_type(handle.read(64))


def file_category(path: Path) -> str | None:
    """image / video / audio / other, from the file's first bytes; None when it is unknown or
    cannot be read (a kept file may have expired): a model of any kind says nothing by name."""
    try:
        sniffed = sniff_file(path)
    except OSError:
        return None
    return sniffed.category if sniffed is not None else None


def result_views(
    plan: OutputPlan,
    files: Sequence[tuple[Path, SniffedType | None]],
    *,
    text: str | None,
    data: Any,
) -> ResultViews:
    """The views of one finished run, from its plan and its files' sniffed types.

    Images go to a gallery (one or many), the first video and audio to their players; every file
    that is neither, and every video or audio past the first, is a download. Text shows as text;
    JSON data (or text the plan expected as JSON) as code.
    """
    images = tuple(path for path, kind in files if kind is not None and kind.category == "image")
    videos = tuple(path for path, kind in files if kind is not None and kind.category == "video")
    audios = tuple(path for path, kind in files if kind is not None and kind.category == "audio")
    shown = {*images, *videos[:1], *audios[:1]}
    others = tuple(path for path, _ in files if path not in shown)
    views: list[OutputView] = []
    if plan == "text" and text is not None:
        views.append("text")
    if images:
        views.append("images")
    if videos:
        views.append("video")
    if audios:
        views.append("audio")
    if others:
        views.append("files")
    if plan == "json" and data is not None:
        views.append("json")
    if not views and text:
        views.append("text")
    return ResultViews(tuple(views), images, videos, audios, others)


# ---- which panel fits ---------------------------------------------------------------------

# A registered modality whose panel a model fits (the heuristic below knows the built-in five).
PanelName = str
PROMPT_NAMES = ("prompt", "messages")
_VIDEO_WORDS = re.compile(
    r"\b(video|videos|clip|frames?|fps|frames_per_second|num_frames|mp4|webm|last_frame|"
    r"first_frame|end_image|start_image|first_frame_image|last_frame_image|last_image)\b",
    re.IGNORECASE,
)
_AUDIO_WORDS = re.compile(
    r"\b(music|musical|song|songs|melody|audio|sound|soundtrack|instrumental|mp3|wav|bpm|"
    r"tempo)\b",
    re.IGNORECASE,
)


def _field_text(spec: InputField) -> str:
    choices = " ".join(str(c) for c in spec.choices or ())
    return f"{spec.name} {spec.description} {choices}"


def fitting_panel(
    schema: InputSchema, output_schema: Mapping[str, Any], description: str = ""
) -> PanelName | None:
    """The panel whose controls can drive this model, decided from its schema (and, for a
    media model whose fields don't say which medium, its description); None when none can.

    - chat: text output and a `prompt` or `messages` input;
    - avatar: a file output, an audio file input and a face (image or video) file input, and
      no prompt unless the audio is required;
    - video / music / image: a file output and a text prompt; the fields (and then the
      description) name frames, clips and durations (video) or sound (music), else image.
    An upscaler (an image in, no prompt) or a JSON-output model fits none.
    """
    plan = output_plan(output_schema)
    prompt = schema.first(*PROMPT_NAMES)
    if plan == "text":
        return "chat" if prompt is not None else None
    if plan != "files":
        return None
    audio, face = audio_field(schema), portrait_field(schema)
    # a face and the speech it says; a prompt, if any, only steers it (OmniHuman 1.5's is
    # optional beside its required audio), unlike a video model's optional soundtrack
    speaks = audio is not None and (prompt is None or audio.required)
    if speaks and audio is not None and takes_files(audio) and face is not None:
        return "avatar"
    if prompt is None or prompt.type != "string":
        return None
    fields_text = " ".join(_field_text(spec) for spec in schema.fields)
    for text in (fields_text.replace("_", " ") + " " + fields_text, description):
        video = len(_VIDEO_WORDS.findall(text))
        audio_words = len(_AUDIO_WORDS.findall(text))
        if video > audio_words:
            return "video"
        if audio_words > video:
            return "music"
    return "image"


# ---- the run form ----------------------------------------------------------------------------

MAX_FORM_FIELDS = 60


@dataclass(frozen=True)
class RunForm:
    """A model's whole input as form controls, required fields first, at most `MAX_FORM_FIELDS`."""

    fields: tuple[FormField, ...]
    left_out: tuple[str, ...] = ()  # field names past the cap, in order

    @property
    def note(self) -> str:
        if not self.left_out:
            return ""
        names = ", ".join(self.left_out[:10]) + (" …" if len(self.left_out) > 10 else "")
        return (
            f"⚠️ This model has {len(self.fields) + len(self.left_out):,} inputs; the form shows "
            f"the first {len(self.fields)} (required ones first). Left out: {names}. Set them in "
            "the “Input JSON” box."
        )


def run_form(schema: InputSchema, limit: int = MAX_FORM_FIELDS) -> RunForm:
    """Every input of the model as a control, required first (then in x-order), capped."""
    ordered = sorted(schema.fields, key=lambda spec: not spec.required)
    shown = [form_field(spec) for spec in ordered[:limit]]
    return RunForm(tuple(shown), tuple(spec.name for spec in ordered[limit:]))


@dataclass(frozen=True)
class FittedExample:
    """An example's inputs that fit the schema now, and what was left out and why."""

    input: dict[str, Any]
    problems: tuple[str, ...] = field(default_factory=tuple)

    @property
    def note(self) -> str:
        if not self.problems:
            return ""
        return (
            "⚠️ This example no longer fits the model's current inputs; loaded what fits. "
            + "; ".join(self.problems[:8])
            + ("…" if len(self.problems) > 8 else "")
            + "."
        )


def fit_example(schema: InputSchema, example_input: Mapping[str, Any]) -> FittedExample:
    """The example's values the current schema accepts; each one it refuses is named."""
    kept: dict[str, Any] = {}
    problems: list[str] = []
    for name, value in example_input.items():
        problem = schema.check(str(name), value)
        if problem is None:
            kept[str(name)] = value
        else:
            problems.append(problem if len(problem) <= 200 else problem[:200] + "…")
    return FittedExample(kept, tuple(problems))
