"""Every catalogued model runs through its panel's mapping and the shared pipeline, against the
simulator serving its recorded schema, and returns a real output of its kind. The cases are the
catalogue itself: a new entry is covered by adding its file.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from neurolink_ui.catalog import CatalogModel, load_catalog
from neurolink_ui.modalities.avatar import build_avatar_input
from neurolink_ui.modalities.chat import build_chat_input, is_reasoning_model
from neurolink_ui.modalities.common import MappedInput
from neurolink_ui.modalities.image import build_image_input
from neurolink_ui.modalities.music import build_music_input, length_field, lyrics_field
from neurolink_ui.modalities.video import build_video_input, last_frame_field
from neurolink_ui.pipeline import RunResult, run_model
from neurolink_ui.replicate.client import ReplicateClient
from neurolink_ui.replicate.outputs import RunOutput
from neurolink_ui.replicate.schema import InputSchema
from neurolink_ui.simulator.runner import Simulator

# A sweep: every catalogued model generates real media end to end (the full run has it).
pytestmark = pytest.mark.slow

PANEL_KIND: dict[str, RunOutput] = {
    "chat": "text",
    "image": "image",
    "video": "video",
    "avatar": "video",
    "music": "audio",
}
QUESTION = "What is the capital of France?"
SYSTEM_FIELDS = ("system_prompt", "system_instruction", "system")
TOKEN_LIMIT_FIELDS = ("max_tokens", "max_new_tokens", "max_completion_tokens", "max_output_tokens")
SYSTEM = "Answer in one short paragraph."


def _image_inputs(schema: InputSchema) -> list[str]:
    """The schema's image inputs, single (`image`) or arrays (`image_input`, `images`, …)."""
    return [
        f.name
        for f in schema.fields
        if "image" in f.name and (f.is_file or f.item_type == "file") and f.name != "mask"
    ]


def _holds_photo(value: Any) -> bool:
    """The mapped value carries the person's image (the client uploads it when it runs)."""
    if isinstance(value, list | tuple):
        return any(_holds_photo(v) for v in value)
    return isinstance(value, bytes | Path) or value.__class__.__module__.startswith("PIL.")


def _cases() -> list[Any]:
    cases = []
    for model in load_catalog():
        if model.panel == "other":
            continue  # no panel maps it (Replicate's hello-world)
        marks = []
        cases.append(pytest.param(model, id=model.model, marks=marks))
    return cases


def _png(size: tuple[int, int] = (160, 120)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 120, 90)).save(buffer, format="PNG")
    return buffer.getvalue()


def _voice(path: Path, seconds: float = 1.2, rate: int = 16000) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    sf.write(path, (0.2 * np.sin(2 * np.pi * 220 * t)).astype("float32"), rate)
    return path


def _typical_input(
    model: CatalogModel, schema: InputSchema, description: str, tmp_path: Path
) -> MappedInput:
    """What a person leaves in the panel: its default values, a prompt, a photo, a voice clip."""
    if model.panel == "chat":
        return build_chat_input(
            schema,
            system_prompt=SYSTEM,
            history=[],
            message=QUESTION,
            max_tokens=512,
            temperature=0.6,
            model_description=description,
        )
    if model.panel == "image":
        # a photo to work from when the model takes one (edit models), else text-to-image
        photo = _png() if _image_inputs(schema) else None
        return build_image_input(
            schema,
            prompt="a red panda reading a map",
            aspect_ratio="1:1",
            seed=None,
            num_outputs=1,
            image=photo,
        )
    if model.panel == "video":
        return build_video_input(
            schema,
            prompt="a paper boat drifting down a stream",
            start_image=_png(),
            length_seconds=4,
            aspect_ratio="16:9",
            # the panel's last frame, where the model has one (Hailuo 02, Seedance 2.0, Wan 2.2)
            last_frame=_png() if last_frame_field(schema) is not None else None,
        )
    if model.panel == "avatar":
        return build_avatar_input(
            schema, portrait=_png((128, 128)), audio=_voice(tmp_path / "v.wav")
        )
    return build_music_input(
        schema,
        prompt="calm lo-fi beat with soft piano",
        duration=8,
        lyrics=LYRICS if lyrics_field(schema) is not None else None,
    )


LYRICS = "[verse]\nSunlight on the water\n[chorus]\nWe sing along"


def _assert_output(
    model: CatalogModel,
    schema: InputSchema,
    description: str,
    mapped: MappedInput,
    result: RunResult,
) -> None:
    if model.panel == "chat":
        assert QUESTION in result.text  # the simulated model quotes what it was asked
        assert SYSTEM in result.text  # ... and the system prompt it followed
        system_field = schema.first(*SYSTEM_FIELDS)
        if system_field is not None:  # in the schema's own system field
            assert mapped.input.get(system_field.name) == SYSTEM, mapped
        reasoning = is_reasoning_model(schema, description)
        for limit in (f for f in schema.fields if f.name in TOKEN_LIMIT_FIELDS):
            sent = mapped.input.get(limit.name, limit.default)
            if sent is None:
                continue
            # within the field's own bounds (Claude's minimum is 1024) ...
            assert limit.minimum is None or sent >= limit.minimum, mapped
            assert limit.maximum is None or sent <= limit.maximum, mapped
            # ... and a budget that never cuts a reasoning trace below the model's default
            if reasoning and limit.default is not None:
                assert sent >= limit.default, mapped
        return
    if model.panel in ("image", "video") and _image_inputs(schema):
        # the person's photo / start frame reached one of the model's image inputs, unless the
        # only one is for inpainting with a mask, which the mapping says
        reached = any(_holds_photo(mapped.input.get(name)) for name in _image_inputs(schema))
        assert reached or any("mask" in note for note in mapped.notes), mapped
    ending = last_frame_field(schema) if model.panel == "video" else None
    if ending is not None:  # the panel's last frame reached the model's own field
        assert _holds_photo(mapped.input.get(ending.name)), mapped
    assert result.files, result.prediction.output
    data = result.files[0].read_bytes()
    if model.panel == "image":
        with Image.open(io.BytesIO(data)) as image:
            assert image.width >= 64 and image.height >= 64
    elif model.panel == "music":
        info = sf.info(io.BytesIO(data))
        if length_field(schema) is not None:  # seconds or milliseconds
            assert info.duration == pytest.approx(8.0, abs=0.5)  # the length asked for
        else:
            assert info.duration > 1.0
        lyrics = lyrics_field(schema)
        if lyrics is not None:  # the Lyrics box reached the model's own field
            assert mapped.input[lyrics.name] == LYRICS
    else:
        with av.open(io.BytesIO(data)) as container:
            assert sum(1 for _ in container.decode(video=0)) >= 2
            if model.panel == "avatar":
                assert container.streams.audio  # the narration is in the video


@pytest.mark.parametrize("model", _cases())
async def test_model_runs_through_its_panel(
    model: CatalogModel, simulator: Simulator, token: str, tmp_path: Path
) -> None:
    simulator.config.run_time = 0.0
    async with ReplicateClient(simulator.base_url, retry_base_delay=0.01) as client:
        info = await client.get_model(model.model, token=token)
        assert info.version_id and info.input_schema.fields
        mapped = _typical_input(model, info.input_schema, info.description, tmp_path)
        assert info.input_schema.validate(mapped.input) == []
        result: RunResult | None = None
        events = run_model(
            client,
            model.model,
            mapped.input,
            token=token,
            kind=PANEL_KIND[model.panel],
            dest_dir=tmp_path,
            notes=mapped.notes,
        )
        async for event in events:
            if isinstance(event, RunResult):
                result = event
    assert result is not None and result.prediction.status == "succeeded"
    _assert_output(model, info.input_schema, info.description, mapped, result)
    created = [r for r in simulator.requests if r.method == "POST" and "predictions" in r.path]
    assert created and all(r.status in (200, 201) for r in created)
