"""The mapping rules for the inputs 2026 models take, each proven on schemas built from the evidence
(`fixtures/schemas-2026.json`, wrapped in Cog's openapi shape) through InputSchema. No rule looks at
a model's name: the fixtures are keyed by name only so a failure says which model broke."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from helpers import FIXTURES
from PIL import Image
from test_modalities import (
    DEEPSEEK_R1,
    FLUX_11_PRO,
    FLUX_SCHNELL,
    HISTORY,
    LLAMA3_70B,
    SD35_LARGE,
    TOKENS_OUTPUT,
    URI,
    URI_LIST_OUTPUT,
    URI_OUTPUT,
    WAN_ALPHA,
    _str,
    cog,
)

from neurolink_ui.modalities import InputProblem, avatar, chat, image, music, video
from neurolink_ui.modalities.avatar import build_avatar_input
from neurolink_ui.modalities.chat import build_chat_input, format_llama3_prompt
from neurolink_ui.modalities.common import find_image_input
from neurolink_ui.modalities.forms import form_fields
from neurolink_ui.modalities.image import AUTO_RATIO, build_image_input
from neurolink_ui.modalities.music import build_music_input
from neurolink_ui.modalities.video import build_video_input
from neurolink_ui.replicate.schema import InputSchema

FIXTURE = FIXTURES / "schemas-2026.json"
OUTPUTS = {"tokens": TOKENS_OUTPUT, "uri": URI_OUTPUT, "uri_list": URI_LIST_OUTPUT}
URIS: dict[str, Any] = {"type": "array", "items": URI}


def model(slug: str) -> InputSchema:
    """The recorded fields of one model as Replicate's openapi_schema would serve them."""
    record = json.loads(FIXTURE.read_text())["models"][slug]
    openapi = cog(record["fields"], tuple(record["required"]), OUTPUTS[record["output"]])
    return InputSchema.from_openapi(openapi)


def png(size: tuple[int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (90, 140, 200)).save(buffer, format="PNG")
    return buffer.getvalue()


def wav(path: Path, seconds: float, rate: int = 16000) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    sf.write(path, (0.2 * np.sin(2 * np.pi * 220 * t)).astype("float32"), rate)
    return path


def advanced_names(schema: InputSchema, filled: Any) -> set[str]:
    return {f.name for f in form_fields(schema, exclude=filled(schema))}


# ---- 1. image inputs: single or list, decided from the schema -------------------------------


@pytest.mark.parametrize(
    ("slug", "field", "as_list"),
    [
        ("google/nano-banana", "image_input", True),
        ("bytedance/seedream-4", "image_input", True),
        ("openai/gpt-image-1.5", "input_images", True),
        ("black-forest-labs/flux-kontext-pro", "input_image", False),
    ],
)
def test_edit_models_get_the_image_in_their_own_single_or_list_field(
    slug: str, field: str, as_list: bool
) -> None:
    start = png((64, 48))
    mapped = build_image_input(model(slug), prompt="make it snowy", image=start)
    assert mapped.input[field] == ([start] if as_list else start)
    assert not any("NOT sent" in note for note in mapped.notes)


def test_image_field_priority_file_fields_by_names_then_words_then_descriptions() -> None:
    names = ("image", "image_input")
    # 1. a known name wins over an earlier image-word field; masks and style references never.
    ranked = InputSchema.from_openapi(
        cog(
            {
                "mask_image": URI,
                "style_reference_images": URIS,
                "photo": URI,
                "image_input": URIS,
            }
        )
    )
    found = find_image_input(ranked, names, exclude_words=("mask", "style"))
    assert found is not None and found.name == "image_input"
    # 2. no known name: the first file field whose name has an image word.
    worded = InputSchema.from_openapi(cog({"audio": URI, "portrait_photo": URI}))
    found = find_image_input(worded, names)
    assert found is not None and found.name == "portrait_photo"
    # 3. no word in any name: the description decides.
    described = InputSchema.from_openapi(
        cog({"song": URI, "source": {**URI, "description": "The picture to edit"}})
    )
    found = find_image_input(described, names)
    assert found is not None and found.name == "source"
    # The uri signal comes first: a plain-text `image` never counts, whatever its name.
    texty = InputSchema.from_openapi(cog({"image": _str(), "init_photo": URI}))
    found = find_image_input(texty, names)
    assert found is not None and found.name == "init_photo"
    only_text = InputSchema.from_openapi(cog({"prompt": _str(), "image": _str()}))
    assert find_image_input(only_text, names) is None
    assert find_image_input(InputSchema.from_openapi(cog({"voice": URI})), names) is None


def test_match_input_image_when_an_image_is_given_and_no_ratio_picked() -> None:
    kontext = model("black-forest-labs/flux-kontext-pro")
    start = png((640, 480))
    auto = build_image_input(kontext, prompt="p", aspect_ratio=AUTO_RATIO, image=start)
    assert auto.input["aspect_ratio"] == "match_input_image"
    unset = build_image_input(kontext, prompt="p", aspect_ratio=None, image=start)
    assert unset.input["aspect_ratio"] == "match_input_image"
    picked = build_image_input(kontext, prompt="p", aspect_ratio="16:9", image=start)
    assert picked.input["aspect_ratio"] == "16:9"  # the person's choice wins
    text_only = build_image_input(kontext, prompt="p", aspect_ratio=AUTO_RATIO)
    assert "aspect_ratio" not in text_only.input  # no image, no pick: the model's default


def test_auto_ratio_without_match_input_image_takes_the_input_images_shape() -> None:
    start = png((640, 480))  # 4:3
    sd = build_image_input(model_schema(SD35_LARGE), prompt="p", image=start)
    assert sd.input["aspect_ratio"] == "5:4"  # SD 3.5's preset nearest 4:3
    assert any("Shape taken from the input image (640×480): 5:4" in n for n in sd.notes)
    flux = build_image_input(model_schema(FLUX_11_PRO), prompt="p", image=start)
    assert flux.input["aspect_ratio"] == "4:3" and flux.input["image_prompt"] == start


def model_schema(openapi: dict[str, Any]) -> InputSchema:
    return InputSchema.from_openapi(openapi)


def test_an_image_the_model_cannot_take_is_never_dropped_silently() -> None:
    mapped = build_image_input(model_schema(FLUX_SCHNELL), prompt="x", image=png((8, 8)))
    assert not any(isinstance(v, bytes | list) for v in mapped.input.values())
    assert any("no image input; your input image was NOT sent" in n for n in mapped.notes)
    with pytest.raises(InputProblem, match="has no image input") as caught:
        build_chat_input(
            model_schema(LLAMA3_70B), system_prompt="", history=[], message="?", image=b"x"
        )
    assert caught.value.field == "image"


# ---- 2. chat ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("slug", "limit"),
    [
        ("openai/gpt-5", "max_completion_tokens"),
        ("google/gemini-3-flash", "max_output_tokens"),
        ("anthropic/claude-4-sonnet", "max_tokens"),
    ],
)
def test_chat_sends_the_token_limit_field_the_schema_has(slug: str, limit: str) -> None:
    mapped = build_chat_input(
        model(slug), system_prompt="", history=[], message="Hi", max_tokens=70000
    )
    others = set(chat.TOKEN_LIMIT_FIELDS) - {limit}
    assert limit in mapped.input and not others & set(mapped.input)


def test_chat_token_limit_is_clamped_to_the_fields_bounds() -> None:
    claude = model("anthropic/claude-4-sonnet")  # max_tokens 1024–64000
    low = build_chat_input(claude, system_prompt="", history=[], message="Hi", max_tokens=512)
    assert low.input["max_tokens"] == 1024
    assert any("between 1024 and 64000" in note and "sent 1024" in note for note in low.notes)
    high = build_chat_input(claude, system_prompt="", history=[], message="Hi", max_tokens=99999)
    assert high.input["max_tokens"] == 64000
    unset = build_chat_input(claude, system_prompt="", history=[], message="Hi")
    assert "max_tokens" not in unset.input  # no value: the model's own default


@pytest.mark.parametrize(
    ("slug", "system_name"),
    [
        ("anthropic/claude-4-sonnet", "system_prompt"),
        ("google/gemini-3-flash", "system_instruction"),
        ("openai/gpt-5", "system_prompt"),
    ],
)
def test_chat_sends_the_system_field_the_schema_has(slug: str, system_name: str) -> None:
    mapped = build_chat_input(model(slug), system_prompt="Be terse.", history=[], message="Hi")
    assert mapped.input == {"prompt": "Hi", system_name: "Be terse."}
    bare = InputSchema.from_openapi(cog({"prompt": _str(), "system": _str()}))
    plain = build_chat_input(bare, system_prompt="Be terse.", history=[], message="Hi")
    assert plain.input == {"prompt": "Hi", "system": "Be terse."}


def test_chat_multi_turn_goes_in_the_messages_array_where_the_schema_has_one() -> None:
    gpt5 = model("openai/gpt-5")
    mapped = build_chat_input(gpt5, system_prompt="Be terse.", history=HISTORY, message="And?")
    assert mapped.input == {
        "messages": [
            {"role": "system", "content": "Be terse."},
            {"role": "user", "content": "Hi there"},
            {"role": "assistant", "content": "Hello! How can I help?"},  # reasoning stripped
            {"role": "user", "content": "And?"},
        ]
    }  # prompt and system_prompt are ignored beside messages, so neither is sent
    first = build_chat_input(gpt5, system_prompt="Be terse.", history=[], message="Hi")
    assert first.input == {"prompt": "Hi", "system_prompt": "Be terse."}


def test_chat_without_system_field_or_messages_uses_the_template_or_a_transcript() -> None:
    llama = build_chat_input(
        model_schema(LLAMA3_70B), system_prompt="Be terse.", history=HISTORY, message="And?"
    )
    assert llama.input["prompt"] == format_llama3_prompt("Be terse.", HISTORY, "And?")
    assert "<|start_header_id|>system<|end_header_id|>\n\nBe terse." in llama.input["prompt"]
    r1 = build_chat_input(
        model_schema(DEEPSEEK_R1), system_prompt="Be terse.", history=HISTORY, message="And?"
    )
    assert r1.input["prompt"].startswith("Be terse.\n\nUser: Hi there\n")


@pytest.mark.parametrize(
    ("slug", "field", "as_list"),
    [
        ("anthropic/claude-4-sonnet", "image", False),
        ("openai/gpt-5", "image_input", True),
        ("google/gemini-3-flash", "images", True),
    ],
)
def test_vision_chat_sends_the_image_to_the_models_image_input(
    slug: str, field: str, as_list: bool, tmp_path: Path
) -> None:
    picture = tmp_path / "chart.png"
    picture.write_bytes(png((32, 32)))
    mapped = build_chat_input(
        model(slug), system_prompt="", history=[], message="What is this?", image=picture
    )
    assert mapped.input[field] == ([picture] if as_list else picture)
    assert mapped.input["prompt"] == "What is this?"


def test_reasoning_models_never_get_less_than_the_schemas_default_budget() -> None:
    r1 = model_schema(DEEPSEEK_R1)  # max_tokens default 2048; nothing else in the schema says so
    described = build_chat_input(
        r1,
        system_prompt="",
        history=[],
        message="Count the r's",
        max_tokens=512,
        model_description="A reasoning model trained with reinforcement learning, on par with o1",
    )
    assert described.input["max_tokens"] == 2048
    assert any("raised from 512 to its default 2048" in note for note in described.notes)
    plain = build_chat_input(r1, system_prompt="", history=[], message="Hi", max_tokens=512)
    assert plain.input["max_tokens"] == 512  # not described as reasoning: the person's value
    gemini = build_chat_input(
        model("google/gemini-3-flash"), system_prompt="", history=[], message="Hi", max_tokens=900
    )
    assert gemini.input["max_output_tokens"] == 65535  # thinking_level: a reasoning model
    claude = model("anthropic/claude-4-sonnet")
    thinking = build_chat_input(
        claude,
        system_prompt="",
        history=[],
        message="Hi",
        max_tokens=2000,
        advanced={"extended_thinking": True},
    )
    assert thinking.input["max_tokens"] == 8192 and thinking.input["extended_thinking"] is True
    off = build_chat_input(claude, system_prompt="", history=[], message="Hi", max_tokens=2000)
    assert off.input["max_tokens"] == 2000  # extended thinking off: no floor


@pytest.mark.parametrize(
    ("slug", "in_advanced", "filled"),
    [
        (
            "openai/gpt-5",
            {"reasoning_effort", "verbosity"},
            {"prompt", "messages", "system_prompt", "image_input", "max_completion_tokens"},
        ),
        (
            "anthropic/claude-4-sonnet",
            {"extended_thinking", "thinking_budget_tokens", "max_image_resolution"},
            {"prompt", "system_prompt", "image", "max_tokens"},
        ),
        (
            "google/gemini-3-flash",
            {"thinking_level", "top_p", "audio", "videos"},
            {"prompt", "system_instruction", "images", "max_output_tokens", "temperature"},
        ),
    ],
)
def test_reasoning_switches_appear_in_advanced_and_filled_fields_do_not(
    slug: str, in_advanced: set[str], filled: set[str]
) -> None:
    schema = model(slug)
    assert chat.filled_fields(schema) == filled
    assert advanced_names(schema, chat.filled_fields) == set(schema.names) - filled
    assert in_advanced <= advanced_names(schema, chat.filled_fields)


# ---- 3. avatar, music and video lengths ------------------------------------------------------


def test_avatar_enum_duration_covers_the_narration_with_a_note(tmp_path: Path) -> None:
    talking = model("lucataco/talking-avatar")  # duration enum {5, 10}
    portrait = tmp_path / "face.png"
    portrait.write_bytes(png((64, 80)))
    seven = build_avatar_input(talking, portrait=portrait, audio=wav(tmp_path / "7.wav", 7.0))
    assert seven.input == {"image": portrait, "audio": tmp_path / "7.wav", "duration": 10}
    assert any("5, 10 s only; 7 s became 10 s" in note for note in seven.notes)
    short = build_avatar_input(talking, portrait=portrait, audio=wav(tmp_path / "3.wav", 3.0))
    assert short.input["duration"] == 5
    long = build_avatar_input(talking, portrait=portrait, audio=wav(tmp_path / "12.wav", 12.0))
    assert long.input["duration"] == 10
    assert any("would be cut at 10 s" in note for note in long.notes)


def test_avatar_portrait_field_from_the_schema(tmp_path: Path) -> None:
    portrait = tmp_path / "face.png"
    portrait.write_bytes(png((64, 80)))
    voice = wav(tmp_path / "v.wav", 1.0)
    omni = build_avatar_input(model("bytedance/omni-human-1.5"), portrait=portrait, audio=voice)
    assert omni.input == {"image": portrait, "audio": voice}
    listed = InputSchema.from_openapi(
        cog(
            {"reference_images": URIS, "ref_pose": URI, "speech": URI},
            required=("reference_images", "speech"),
        )
    )
    mapped = build_avatar_input(listed, portrait=portrait, audio=voice)
    assert mapped.input == {"reference_images": [portrait], "speech": voice}
    assert avatar.filled_fields(model("lucataco/talking-avatar")) == {"image", "audio", "duration"}
    # A face *video* field is never taken for the still: the portrait becomes a video for it.
    face_video = InputSchema.from_openapi(
        cog({"face_video": URI, "audio": URI}, required=("face_video", "audio"))
    )
    assert avatar.needs_face_video(face_video)
    as_video = build_avatar_input(face_video, portrait=portrait, audio=voice)
    assert isinstance(as_video.input["face_video"], bytes)  # an MP4 made from the still
    assert any("still video" in note for note in as_video.notes)


@pytest.mark.parametrize(
    ("slug", "seconds", "sent", "note"),
    [
        ("google/veo-3.1", 5, 6, "4, 6, 8 s only; 5 s became 6 s"),  # a tie goes to the longer
        ("kwaivgi/kling-v2.1", 7, 5, "5, 10 s only; 7 s became 5 s"),
        ("minimax/hailuo-02", 8, 10, "6, 10 s only; 8 s became 10 s"),
        ("google/veo-3.1", 8, 8, None),
    ],
)
def test_video_enum_durations_nearest_with_a_note(
    slug: str, seconds: float, sent: int, note: str | None
) -> None:
    mapped = build_video_input(model(slug), prompt="p", start_image=b"x", length_seconds=seconds)
    assert mapped.input["duration"] == sent
    if note:
        assert any(note in n for n in mapped.notes)
    else:
        assert not any("became" in n for n in mapped.notes)


def test_video_bounded_frames_with_a_note() -> None:
    mapped = build_video_input(model_schema(WAN_ALPHA), prompt="p", length_seconds=60)
    assert mapped.input["num_frames"] == 121  # the field's maximum, as 4n+1
    assert any("121 frames" in note for note in mapped.notes)


@pytest.mark.parametrize(
    ("slug", "field"),
    [
        ("google/veo-3.1", "image"),
        ("kwaivgi/kling-v2.1", "start_image"),
        ("minimax/hailuo-02", "first_frame_image"),
        ("minimax/video-01", "first_frame_image"),  # not subject_reference
    ],
)
def test_video_start_frame_goes_to_the_first_frame_field(slug: str, field: str) -> None:
    schema = model(slug)
    mapped = build_video_input(schema, prompt="p", start_image=b"frame")
    assert mapped.input[field] == b"frame"
    assert field in video.filled_fields(schema)
    others = {"last_frame", "end_image", "last_frame_image", "reference_images"}
    assert not others & set(mapped.input)


def test_video_reference_images_only_when_there_is_no_first_frame() -> None:
    refs_only = InputSchema.from_openapi(cog({"prompt": _str(), "reference_images": URIS}))
    mapped = build_video_input(refs_only, prompt="p", start_image=b"x")
    assert mapped.input["reference_images"] == [b"x"]
    assert any("as a subject reference" in note for note in mapped.notes)
    text_only = build_video_input(model_schema(WAN_ALPHA), prompt="p", start_image=b"x")
    assert any("start image was NOT sent" in note for note in text_only.notes)


def test_music_lengths_from_bounds_and_enums() -> None:
    stable = build_music_input(
        model("stability-ai/stable-audio-2.5"), prompt="ambient", duration=200
    )
    assert stable.input["duration"] == 190
    assert any("between 1 and 190 s; 200 s became 190 s" in n for n in stable.notes)
    lyria = build_music_input(model("google/lyria-2"), prompt="ambient", duration=30)
    assert lyria.input == {"prompt": "ambient"}
    assert any("no length input" in note for note in lyria.notes)
    enum = InputSchema.from_openapi(
        cog({"prompt": _str(), "duration": {"enum": [10, 30, 60], "type": "integer"}})
    )
    mapped = build_music_input(enum, prompt="x", duration=20)
    assert mapped.input["duration"] == 30
    assert any("10, 30, 60 s only; 20 s became 30 s" in note for note in mapped.notes)


def test_music_model_without_a_description_is_refused_naming_what_it_takes() -> None:
    lyrics_model = model("minimax/music-01")
    with pytest.raises(InputProblem) as caught:
        build_music_input(lyrics_model, prompt="A lo-fi beat", duration=30)
    message = caught.value.message
    assert "makes music from lyrics, not from a description" in message
    assert "lyrics, bitrate, voice_id, song_file" in message and "the Lyrics box" in message
    # Lyrics are not a description: given as lyrics (Advanced), they run; the prompt is not sent.
    mapped = build_music_input(
        lyrics_model, prompt="A lo-fi beat", advanced={"lyrics": "## la la la ##"}
    )
    assert mapped.input == {"lyrics": "## la la la ##"}
    assert any("prompt was not sent" in note for note in mapped.notes)
    # the panel's Lyrics box fills it (not the Advanced form), and runs it too
    assert "lyrics" not in advanced_names(lyrics_model, music.filled_fields)
    sung = build_music_input(lyrics_model, prompt="", lyrics="## la la la ##")
    assert sung.input == {"lyrics": "## la la la ##"}


# ---- 4. one source for what a panel fills ----------------------------------------------------


@pytest.mark.parametrize(
    ("filled", "openapi_or_slug", "expected"),
    [
        (image.filled_fields, "google/nano-banana", {"prompt", "aspect_ratio", "image_input"}),
        (
            image.filled_fields,
            "openai/gpt-image-1.5",
            {"prompt", "aspect_ratio", "input_images", "number_of_images"},
        ),
        (
            image.filled_fields,
            FLUX_11_PRO,
            {"prompt", "aspect_ratio", "width", "height", "seed", "image_prompt"},
        ),
        (
            video.filled_fields,
            "google/veo-3.1",
            {"prompt", "image", "last_frame", "duration", "aspect_ratio"},
        ),
        (video.filled_fields, WAN_ALPHA, {"prompt", "num_frames", "resolution"}),
        (music.filled_fields, "stability-ai/stable-audio-2.5", {"prompt", "duration"}),
        (avatar.filled_fields, "bytedance/omni-human-1.5", {"image", "audio"}),
    ],
)
def test_advanced_form_excludes_exactly_the_filled_fields(
    filled: Any, openapi_or_slug: Any, expected: set[str]
) -> None:
    schema = (
        model(openapi_or_slug)
        if isinstance(openapi_or_slug, str)
        else model_schema(openapi_or_slug)
    )
    assert filled(schema) == expected
    assert advanced_names(schema, filled) == set(schema.names) - expected


def test_an_advanced_value_for_a_filled_field_keeps_the_panels_value() -> None:
    mapped = build_image_input(
        model("google/nano-banana"),
        prompt="p",
        aspect_ratio="16:9",
        advanced={"aspect_ratio": "1:1", "output_format": "jpg"},
    )
    assert mapped.input["aspect_ratio"] == "16:9" and mapped.input["output_format"] == "jpg"
    assert any("comes from the main controls" in note for note in mapped.notes)
