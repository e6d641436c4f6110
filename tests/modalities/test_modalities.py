"""Modalities against the catalogue models' schemas, written in Cog's shape from MODELS.md
(enums behind allOf/$ref, x-order), checked field by field."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from neurolink_ui.modalities import InputProblem, MappedInput
from neurolink_ui.modalities.avatar import (
    audio_duration,
    build_avatar_input,
    needs_face_video,
    still_to_video,
)
from neurolink_ui.modalities.chat import (
    TOKEN_LIMIT_FIELDS,
    Turn,
    build_chat_input,
    chat_image_field,
    flatten_content,
    format_llama3_prompt,
    history_turns,
    split_reasoning,
    strip_reasoning,
)
from neurolink_ui.modalities.forms import collect_advanced, form_fields
from neurolink_ui.modalities.image import (
    ASPECT_RATIOS,
    AUTO_RATIO,
    build_image_input,
    panel_defaults,
)
from neurolink_ui.modalities.music import build_music_input
from neurolink_ui.modalities.music import lyrics_field as music_lyrics_field
from neurolink_ui.modalities.music import prompt_field as music_prompt_field
from neurolink_ui.modalities.video import build_video_input
from neurolink_ui.replicate.schema import InputSchema

TOKENS_OUTPUT = {
    "type": "array",
    "items": {"type": "string"},
    "title": "Output",
    "x-cog-array-type": "iterator",
    "x-cog-array-display": "concatenate",
}
URI_OUTPUT = {"type": "string", "format": "uri", "title": "Output"}
URI_LIST_OUTPUT = {"type": "array", "items": {"type": "string", "format": "uri"}, "title": "Output"}
LLAMA31_DEFAULT_TEMPLATE = (
    "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\n{system_prompt}<|eot_id|>"
    "<|start_header_id|>user<|end_header_id|>\n\n{prompt}<|eot_id|>"
    "<|start_header_id|>assistant<|end_header_id|>\n\n"
)


def cog(
    fields: dict[str, dict[str, Any]],
    required: tuple[str, ...] = (),
    output: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An openapi_schema as Cog writes it: x-order by position, enums behind allOf/$ref."""
    properties: dict[str, Any] = {}
    components: dict[str, Any] = {}
    for order, (name, raw) in enumerate(fields.items()):
        spec = dict(raw)
        enum = spec.pop("enum", None)
        if enum is not None:
            components[name] = {
                "enum": enum,
                "type": spec.pop("type", "string"),
                "title": name,
                "description": "An enumeration.",
            }
            prop: dict[str, Any] = {"allOf": [{"$ref": f"#/components/schemas/{name}"}], **spec}
        else:
            prop = spec
        prop["x-order"] = order
        prop.setdefault("title", name.replace("_", " ").title())
        properties[name] = prop
    return {
        "openapi": "3.0.2",
        "info": {"title": "Cog", "version": "0.1.0"},
        "components": {
            "schemas": {
                "Input": {
                    "type": "object",
                    "title": "Input",
                    "required": list(required),
                    "properties": properties,
                },
                "Output": output or URI_OUTPUT,
                **components,
            }
        },
    }


def _int(default: Any = None, lo: float | None = None, hi: float | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"type": "integer"}
    if default is not None:
        spec["default"] = default
    if lo is not None:
        spec["minimum"] = lo
    if hi is not None:
        spec["maximum"] = hi
    return spec


def _num(default: Any = None, lo: float | None = None, hi: float | None = None) -> dict[str, Any]:
    return {**_int(default, lo, hi), "type": "number"}


def _str(default: Any = None, description: str = "") -> dict[str, Any]:
    spec: dict[str, Any] = {"type": "string"}
    if default is not None:
        spec["default"] = default
    if description:
        spec["description"] = description
    return spec


URI: dict[str, Any] = {"type": "string", "format": "uri"}
SEED = {"type": "integer", "description": "Random seed. Set for reproducible generation"}

LLAMA31_405B = cog(
    {
        "prompt": _str(""),
        "system_prompt": _str("You are a helpful assistant."),
        "min_tokens": _int(0, 0),
        "max_tokens": _int(512, 1),
        "temperature": _num(0.6, 0, 5),
        "top_p": _num(0.9, 0, 1),
        "top_k": _int(50, 0),
        "presence_penalty": _num(0),
        "frequency_penalty": _num(0),
        "stop_sequences": _str("", "A comma-separated list of sequences to stop generation at."),
        "prompt_template": _str(LLAMA31_DEFAULT_TEMPLATE, "A template to format the prompt with."),
    },
    output=TOKENS_OUTPUT,
)

LLAMA3_70B = cog(
    {
        "prompt": _str(),
        "min_tokens": _int(0, 0),
        "max_tokens": _int(512, 1),
        "temperature": _num(0.6, 0, 5),
        "top_p": _num(0.9, 0, 1),
        "top_k": _int(50, 0),
        "presence_penalty": _num(1.15),
        "frequency_penalty": _num(0.2),
        "prompt_template": _str("{prompt}"),
    },
    required=("prompt",),
    output=TOKENS_OUTPUT,
)

DEEPSEEK_R1 = cog(
    {
        "prompt": _str(""),
        "max_tokens": _int(2048, 1),
        "temperature": _num(0.1, 0, 2),
        "top_p": _num(1, 0, 1),
        "presence_penalty": _num(0),
        "frequency_penalty": _num(0),
    },
    output=TOKENS_OUTPUT,
)

# A Llama-2-era chat model: system_prompt beside prompt, max_new_tokens, no template.
LLAMA2_CHAT = cog(
    {
        "prompt": _str(),
        "system_prompt": _str("You are a helpful assistant."),
        "max_new_tokens": _int(128, 1),
        "temperature": _num(0.75, 0.01, 5),
        "top_p": _num(1, 0, 1),
    },
    required=("prompt",),
    output=TOKENS_OUTPUT,
)

FLUX_SCHNELL = cog(
    {
        "prompt": _str(),
        "aspect_ratio": {
            "enum": [
                "1:1",
                "16:9",
                "21:9",
                "3:2",
                "2:3",
                "4:5",
                "5:4",
                "3:4",
                "4:3",
                "9:16",
                "9:21",
            ],
            "default": "1:1",
        },
        "num_outputs": _int(1, 1, 4),
        "num_inference_steps": _int(4, 1, 4),
        "seed": SEED,
        "output_format": {"enum": ["webp", "jpg", "png"], "default": "webp"},
        "output_quality": _int(80, 0, 100),
        "disable_safety_checker": {"type": "boolean", "default": False},
        "go_fast": {"type": "boolean", "default": True},
        "megapixels": {"enum": ["1", "0.25"], "default": "1"},
    },
    required=("prompt",),
    output=URI_LIST_OUTPUT,
)

FLUX_11_PRO = cog(
    {
        "prompt": _str(),
        "image_prompt": {**URI, "description": "Image to use with Flux Redux."},
        "aspect_ratio": {
            "enum": ["custom", "1:1", "16:9", "3:2", "2:3", "4:5", "5:4", "9:16", "3:4", "4:3"],
            "default": "1:1",
        },
        "width": {
            **_int(None, 256, 1440),
            "description": "Width of the generated image in text-to-image mode. Only used when "
            "aspect_ratio=custom. Must be a multiple of 32 (if it's not, it will be rounded).",
        },
        "height": {
            **_int(None, 256, 1440),
            "description": "Height of the generated image. Only used when aspect_ratio=custom. "
            "Must be a multiple of 32 (if it's not, it will be rounded).",
        },
        "safety_tolerance": _int(2, 1, 6),
        "seed": SEED,
        "prompt_upsampling": {"type": "boolean", "default": False},
        "output_format": {"enum": ["webp", "jpg", "png"], "default": "webp"},
        "output_quality": _int(80, 0, 100),
    },
    output=URI_OUTPUT,
)

SD35_LARGE = cog(
    {
        "prompt": _str(),
        "aspect_ratio": {
            "enum": ["16:9", "1:1", "21:9", "2:3", "3:2", "4:5", "5:4", "9:16", "9:21"],
            "default": "1:1",
        },
        "cfg": _num(5, 1, 10),
        "image": {**URI, "description": "Input image for image to image mode."},
        "prompt_strength": _num(0.85, 0, 1),
        "seed": SEED,
        "output_format": {"enum": ["webp", "jpg", "png"], "default": "webp"},
        "negative_prompt": _str(""),
    },
    required=("prompt",),
    output=URI_OUTPUT,
)

PLAYGROUND_V25 = cog(
    {
        "mask": {**URI, "description": "Input mask for inpaint mode. Black kept, white repainted."},
        "seed": SEED,
        "image": {**URI, "description": "Input image for img2img or inpaint mode"},
        "width": _int(1024, 256, 1536),
        "height": _int(1024, 256, 1536),
        "prompt": _str("Astronaut in a jungle"),
        "scheduler": {
            "enum": [
                "DDIM",
                "DPMSolverMultistep",
                "HeunDiscrete",
                "K_EULER_ANCESTRAL",
                "K_EULER",
                "PNDM",
                "DPM++2MKarras",
                "DPMSolver++",
            ],
            "default": "DPMSolver++",
        },
        "num_outputs": _int(1, 1, 4),
        "guidance_scale": _num(3, 0.1, 20),
        "apply_watermark": {"type": "boolean", "default": True},
        "negative_prompt": _str("ugly, deformed, noisy, blurry, distorted"),
        "prompt_strength": _num(0.8, 0, 1),
        "num_inference_steps": _int(25, 1, 60),
        "disable_safety_checker": {"type": "boolean", "default": False},
    },
    output=URI_LIST_OUTPUT,
)

WAN_ALPHA = cog(
    {
        "prompt": _str(),
        "negative_prompt": _str(""),
        "resolution": {
            "enum": ["832*480", "480*832", "1280*720", "720*1280", "512*512"],
            "default": "832*480",
        },
        "num_frames": {
            **_int(81, 5, 121),
            "description": "Number of frames (rounded to 4n+1).",
        },
        "sample_steps": _int(4, 1, 50),
        "guidance_scale": _num(1.0, 0, 20),
        "solver": {"enum": ["unipc", "dpm++"], "default": "unipc"},
        "seed": _int(-1),
        "output_format": {"enum": ["webm", "webp"], "default": "webm"},
        "fps": _int(16, 5, 30),
        "output_quality": _int(85, 1, 100),
        "remove_first_frame": {"type": "boolean", "default": False},
        "remove_last_frame": {"type": "boolean", "default": False},
    },
    required=("prompt",),
    output=URI_OUTPUT,
)

WAN_22_I2V_FAST = cog(
    {
        "image": {**URI, "description": "Input image to generate video from."},
        "prompt": _str(),
        "seed": SEED,
        "go_fast": {"type": "boolean", "default": True},
        "last_image": {**URI, "description": "Optional last image to condition the video."},
        "num_frames": _int(81, 81, 121),
        "resolution": {"enum": ["480p", "720p"], "default": "480p"},
        "frames_per_second": _int(16, 5, 30),
        "interpolate_output": {"type": "boolean", "default": False},
    },
    required=("image", "prompt"),
    output=URI_OUTPUT,
)

MUSETALK = cog(
    {
        "video_input": {**URI, "description": "Input video file"},
        "audio_input": {**URI, "description": "Input audio file"},
        "bbox_shift": _int(0),
        "fps": _int(25),
    },
    required=("video_input", "audio_input"),
    output=URI_OUTPUT,
)

SADTALKER = cog(
    {
        "source_image": {
            **URI,
            "description": "Upload the source image, it can be video.mp4 or picture.png",
        },
        "driven_audio": {
            **URI,
            "description": "Upload the driven audio, accepts .wav and .mp4 file",
        },
        "enhancer": {"enum": ["gfpgan", "RestoreFormer"], "default": "gfpgan"},
        "preprocess": {"enum": ["crop", "resize", "full", "extcrop", "extfull"], "default": "full"},
        "ref_eyeblink": URI,
        "ref_pose": URI,
        "still": {"type": "boolean", "default": True},
    },
    required=("source_image", "driven_audio"),
    output=URI_OUTPUT,
)

MUSICGEN = cog(
    {
        "model_version": {
            "enum": ["stereo-melody-large", "stereo-large", "melody-large", "large"],
            "default": "stereo-melody-large",
        },
        "prompt": _str(None, "A description of the music you want to generate."),
        "input_audio": {**URI, "description": "An audio file that will influence the music."},
        "duration": _int(8),
        "continuation": {"type": "boolean", "default": False},
        "continuation_start": _int(0, 0),
        "continuation_end": _int(None, 0),
        "multi_band_diffusion": {"type": "boolean", "default": False},
        "normalization_strategy": {
            "enum": ["loudness", "clip", "peak", "rms"],
            "default": "loudness",
        },
        "top_k": _int(250),
        "top_p": _num(0),
        "temperature": _num(1),
        "classifier_free_guidance": _int(3),
        "output_format": {"enum": ["wav", "mp3"], "default": "wav"},
        "seed": SEED,
    },
    output=URI_OUTPUT,
)


def schema(openapi: dict[str, Any]) -> InputSchema:
    return InputSchema.from_openapi(openapi)


# ---- chat ------------------------------------------------------------------------------------

HISTORY: list[dict[str, Any]] = [
    {"role": "user", "content": [{"type": "text", "text": "Hi there"}], "metadata": None},
    {
        "role": "assistant",
        "content": [{"type": "text", "text": "<think>greet back</think>Hello! How can I help?"}],
    },
    {"role": "assistant", "content": "pondering…", "metadata": {"title": "Thinking"}},
]


def test_flatten_and_history_turns_strip_reasoning_and_thought_messages() -> None:
    assert flatten_content([{"type": "text", "text": "a"}, {"type": "file", "file": {}}]) == "a"
    assert flatten_content(None) == "" and flatten_content("plain") == "plain"
    assert history_turns(HISTORY) == [
        Turn("user", "Hi there"),
        Turn("assistant", "Hello! How can I help?"),
    ]


def test_llama3_prompt_is_byte_exact_meta_format() -> None:
    prompt = format_llama3_prompt("Be brief.", HISTORY, "What is 2+2?")
    assert prompt == (
        "<|begin_of_text|>"
        "<|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\nHello! How can I help?<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )
    no_system = format_llama3_prompt("", [], "Hi")
    assert no_system == (
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )


def test_chat_llama3_70b_sends_whole_dialog_with_passthrough_template() -> None:
    mapped = build_chat_input(
        schema(LLAMA3_70B),
        system_prompt="Be brief.",
        history=HISTORY,
        message="What is 2+2?",
        max_tokens=300,
        temperature=0.7,
        top_p=0.95,
    )
    assert mapped.input == {
        "prompt": format_llama3_prompt("Be brief.", HISTORY, "What is 2+2?"),
        "prompt_template": "{prompt}",
        "max_tokens": 300,
        "temperature": 0.7,
        "top_p": 0.95,
    }
    assert "system_prompt" not in mapped.input and "max_new_tokens" not in mapped.input
    assert mapped.notes == []


def test_chat_llama31_405b_keeps_system_inside_template_only() -> None:
    mapped = build_chat_input(
        schema(LLAMA31_405B),
        system_prompt="You are a pirate.",
        history=[],
        message="Hello",
        max_tokens=64,
        advanced={"top_k": 40, "system_prompt": "ignored"},
    )
    assert mapped.input["prompt_template"] == "{prompt}"
    assert mapped.input["prompt"].startswith(
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a pirate.<|eot_id|>"
    )
    assert "system_prompt" not in mapped.input
    assert mapped.input["max_tokens"] == 64 and mapped.input["top_k"] == 40
    assert any("system prompt" in note for note in mapped.notes)


def test_chat_r1_concatenates_plain_transcript_without_reasoning() -> None:
    mapped = build_chat_input(
        schema(DEEPSEEK_R1),
        system_prompt="Answer in French.",
        history=HISTORY,
        message="And you?",
        max_tokens=4000,
    )
    assert mapped.input == {
        "prompt": "Answer in French.\n\nUser: Hi there\nAssistant: Hello! How can I help?\n"
        "User: And you?\nAssistant:",
        "max_tokens": 4000,
    }
    first_turn = build_chat_input(schema(DEEPSEEK_R1), system_prompt="", history=[], message="Hi")
    assert first_turn.input == {"prompt": "Hi"}


def test_chat_system_prompt_model_uses_max_new_tokens_only() -> None:
    mapped = build_chat_input(
        schema(LLAMA2_CHAT),
        system_prompt="Be kind.",
        history=[],
        message="Hello",
        max_tokens=100,
        advanced={"max_tokens": 50},
    )
    assert mapped.input == {"system_prompt": "Be kind.", "prompt": "Hello", "max_new_tokens": 100}


def test_chat_token_limit_never_sent_when_schema_lacks_it() -> None:
    no_limit = cog({"prompt": _str()}, required=("prompt",), output=TOKENS_OUTPUT)
    mapped = build_chat_input(
        schema(no_limit), system_prompt=None, history=None, message="Hi", max_tokens=99
    )
    assert mapped.input == {"prompt": "Hi"}
    assert any("token-limit" in note for note in mapped.notes)
    r1 = build_chat_input(
        schema(DEEPSEEK_R1), system_prompt="", history=[], message="x", max_tokens=5
    )
    assert "max_new_tokens" not in r1.input and r1.input["max_tokens"] == 5


def test_chat_rejects_empty_message_and_out_of_range_values() -> None:
    with pytest.raises(InputProblem, match="message"):
        build_chat_input(schema(LLAMA3_70B), system_prompt="", history=[], message="   ")
    with pytest.raises(InputProblem, match=r"top_p must be between 0 and 1 \(got 1.5\)"):
        build_chat_input(schema(LLAMA3_70B), system_prompt="", history=[], message="hi", top_p=1.5)
    with pytest.raises(InputProblem, match="not an input of this model") as caught:
        build_chat_input(
            schema(DEEPSEEK_R1), system_prompt="", history=[], message="hi", advanced={"top_k": 5}
        )
    assert caught.value.field == "top_k"


def test_split_reasoning_complete_and_streaming_with_partial_tags() -> None:
    assert split_reasoning("<think>\nplan\n</think>\n\nAnswer") == ("plan", "Answer", False)
    assert split_reasoning("Just an answer") == ("", "Just an answer", False)
    # Streaming: the text grows token by token.
    assert split_reasoning("<thi") == ("", "", True)
    assert split_reasoning("<think>let me") == ("let me", "", True)
    assert split_reasoning("<think>let me see</th") == ("let me see", "", True)
    assert split_reasoning("<think>let me see</think>Fo") == ("let me see", "Fo", False)
    # Final text keeps a lone partial tag as text rather than losing it.
    assert split_reasoning("<thi", final=True) == ("", "<thi", False)
    # R1 prompts that open <think> themselves: the output only closes it.
    assert split_reasoning("plan first</think>The answer") == ("plan first", "The answer", False)
    assert strip_reasoning("<think>x</think>\n\nDone.") == "Done."


# ---- image -----------------------------------------------------------------------------------


def test_image_flux_schnell_enum_aspect_count_seed_png() -> None:
    mapped = build_image_input(
        schema(FLUX_SCHNELL), prompt=" a red panda ", aspect_ratio="16:9", seed=7, num_outputs=3
    )
    assert mapped.input == {
        "prompt": "a red panda",
        "aspect_ratio": "16:9",
        "seed": 7,
        "num_outputs": 3,
        "output_format": "png",
    }
    assert mapped.notes == []


def test_the_image_panels_png_is_its_own_default_unless_the_model_has_no_png() -> None:
    """What the panel sends where the model's default differs is one function, read by the
    mapping and shown by the Advanced form as the field's default."""
    assert panel_defaults(schema(FLUX_SCHNELL)) == {"output_format": "png"}
    no_png = cog({"prompt": _str(), "output_format": {"enum": ["webp", "jpg"], "default": "webp"}})
    assert panel_defaults(schema(no_png)) == {}
    assert panel_defaults(schema(cog({"prompt": _str()}))) == {}
    mapped = build_image_input(schema(no_png), prompt="x")
    assert "output_format" not in mapped.input


def test_image_flux_pro_unknown_ratio_becomes_custom_size_in_multiples_of_32() -> None:
    mapped = build_image_input(schema(FLUX_11_PRO), prompt="a lake", aspect_ratio="21:9")
    assert mapped.input["aspect_ratio"] == "custom"
    width, height = mapped.input["width"], mapped.input["height"]
    assert width % 32 == 0 and height % 32 == 0
    assert 256 <= height <= width <= 1440
    assert abs(width / height - 21 / 9) < 0.1
    assert any("custom" in note for note in mapped.notes)


def test_image_flux_pro_image_prompt_and_chosen_format_kept() -> None:
    start = b"\x89PNG fake bytes"
    mapped = build_image_input(
        schema(FLUX_11_PRO),
        prompt="a lake",
        aspect_ratio="1:1",
        num_outputs=2,
        image=start,
        advanced={"output_format": "jpg"},
    )
    assert mapped.input == {
        "prompt": "a lake",
        "aspect_ratio": "1:1",
        "image_prompt": start,
        "output_format": "jpg",
    }
    assert any("one image per run" in note for note in mapped.notes)


def test_image_sd35_closest_ratio_and_img2img_field() -> None:
    start = Path("/tmp/start.png")
    mapped = build_image_input(
        schema(SD35_LARGE), prompt="castle", aspect_ratio="4:3", image=start, advanced={"cfg": 7}
    )
    assert mapped.input["aspect_ratio"] == "5:4"  # nearest of SD 3.5's presets to 4:3
    assert mapped.input["image"] is start
    assert mapped.input["cfg"] == 7 and mapped.input["output_format"] == "png"
    assert any("closest ratio" in note for note in mapped.notes)
    with pytest.raises(InputProblem, match=r"cfg must be between 1 and 10 \(got 12\)") as caught:
        build_image_input(schema(SD35_LARGE), prompt="castle", advanced={"cfg": 12})
    assert caught.value.field == "cfg"


def test_image_playground_width_height_within_bounds() -> None:
    wide = build_image_input(schema(PLAYGROUND_V25), prompt="p", aspect_ratio="16:9")
    assert wide.input["width"] == 1368 and wide.input["height"] == 768
    assert "aspect_ratio" not in wide.input and "output_format" not in wide.input
    tall = build_image_input(schema(PLAYGROUND_V25), prompt="p", aspect_ratio="9:21")
    assert tall.input["height"] <= 1536 and tall.input["width"] >= 256
    assert tall.input["width"] % 8 == 0 and tall.input["height"] % 8 == 0


def test_image_text_only_model_notes_ignored_image() -> None:
    mapped = build_image_input(schema(FLUX_SCHNELL), prompt="x", image=b"img")
    assert all(not isinstance(v, bytes) for v in mapped.input.values())
    assert any("no image input" in note for note in mapped.notes)
    with pytest.raises(InputProblem, match="prompt"):
        build_image_input(schema(FLUX_SCHNELL), prompt="")
    with pytest.raises(InputProblem, match="num_outputs must be between 1 and 4"):
        build_image_input(schema(FLUX_SCHNELL), prompt="x", num_outputs=9)
    assert set(ASPECT_RATIOS) >= {"1:1", "16:9", "9:16"}


# ---- video -----------------------------------------------------------------------------------


def test_video_wan_alpha_frames_and_resolution() -> None:
    mapped = build_video_input(
        schema(WAN_ALPHA), prompt="a glowing jellyfish", length_seconds=4, aspect_ratio="9:16"
    )
    # 4 s × 16 fps = 64 frames → 4n+1 → 65
    assert mapped.input == {
        "prompt": "a glowing jellyfish",
        "num_frames": 65,
        "resolution": "480*832",
    }
    wide = build_video_input(schema(WAN_ALPHA), prompt="p", length_seconds=30, aspect_ratio="16:9")
    assert wide.input["resolution"] == "832*480" and wide.input["num_frames"] == 121
    assert any("121 frames" in note for note in wide.notes)
    square = build_video_input(schema(WAN_ALPHA), prompt="p", aspect_ratio="1:1")
    assert square.input["resolution"] == "512*512"


def test_video_wan_alpha_text_only_notes_start_image_and_uses_advanced_fps() -> None:
    mapped = build_video_input(
        schema(WAN_ALPHA),
        prompt="p",
        start_image=b"jpeg",
        length_seconds=2,
        advanced={"fps": 24},
    )
    assert mapped.input == {"prompt": "p", "num_frames": 49, "fps": 24}
    assert any("text only" in note for note in mapped.notes)


def test_video_wan_22_i2v_requires_start_image_and_bounds_frames() -> None:
    with pytest.raises(InputProblem, match="start image") as caught:
        build_video_input(schema(WAN_22_I2V_FAST), prompt="zoom out", length_seconds=5)
    assert caught.value.field == "image"
    start = Path("/tmp/start.jpg")
    mapped = build_video_input(
        schema(WAN_22_I2V_FAST),
        prompt="zoom out",
        start_image=start,
        length_seconds=6,
        aspect_ratio="16:9",
    )
    assert mapped.input == {"prompt": "zoom out", "image": start, "num_frames": 97}
    assert "last_image" not in mapped.input and "aspect_ratio" not in mapped.input
    assert any("shape from the start image" in note for note in mapped.notes)
    short = build_video_input(
        schema(WAN_22_I2V_FAST), prompt="p", start_image=start, length_seconds=2
    )
    assert short.input["num_frames"] == 81


def test_video_other_image_keys_and_durations() -> None:
    hailuo = cog(
        {
            "prompt": _str(),
            "first_frame_image": URI,
            "duration": {"enum": [6, 10], "type": "integer", "default": 6},
        },
        required=("prompt",),
    )
    mapped = build_video_input(schema(hailuo), prompt="p", start_image=b"x", length_seconds=9)
    assert mapped.input == {"prompt": "p", "first_frame_image": b"x", "duration": 10}
    kling = cog(
        {"prompt": _str(), "start_image": URI, "aspect_ratio": {"enum": ["16:9", "9:16", "1:1"]}}
    )
    mapped = build_video_input(schema(kling), prompt="p", start_image=b"x", aspect_ratio="4:3")
    assert mapped.input == {"prompt": "p", "start_image": b"x", "aspect_ratio": "16:9"}


# ---- avatar ----------------------------------------------------------------------------------


def _png_bytes(size: tuple[int, int] = (101, 77)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 120, 90)).save(buffer, format="PNG")
    return buffer.getvalue()


def _wav(path: Path, seconds: float, rate: int = 16000) -> Path:
    samples = (0.2 * np.sin(2 * np.pi * 220 * np.arange(int(seconds * rate)) / rate)).astype(
        "float32"
    )
    sf.write(path, samples, rate)
    return path


def _video_duration(data: bytes) -> tuple[float, int, int, str, str]:
    """Decode every frame with PyAV; the length is the stream's own duration."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(stream))
        assert stream.duration is not None and stream.time_base is not None
        seconds = float(stream.duration * stream.time_base)
        assert len(frames) == round(seconds * float(stream.average_rate or 1))
        return (
            seconds,
            stream.width,
            stream.height,
            stream.codec_context.name,
            frames[0].format.name,
        )


def test_still_to_video_is_h264_yuv420p_even_and_right_length() -> None:
    data = still_to_video(_png_bytes((101, 77)), 2.0, fps=25)
    seconds, width, height, codec, pix_fmt = _video_duration(data)
    assert codec == "h264" and pix_fmt == "yuv420p"
    assert (width, height) == (100, 76)
    assert seconds == pytest.approx(2.0, abs=0.05)


def test_audio_duration_and_bad_audio(tmp_path: Path) -> None:
    wav = _wav(tmp_path / "voice.wav", 1.5)
    assert audio_duration(wav) == pytest.approx(1.5, abs=0.01)
    assert audio_duration(wav.read_bytes()) == pytest.approx(1.5, abs=0.01)
    assert audio_duration((16000, np.zeros(8000))) == pytest.approx(0.5)
    with pytest.raises(InputProblem, match="empty"):
        audio_duration(_wav(tmp_path / "silent.wav", 0))
    with pytest.raises(InputProblem, match="audio"):
        audio_duration(b"this is not audio at all")
    with pytest.raises(InputProblem, match=r"no audio track|could not be read"):
        audio_duration(_png_bytes())


def test_avatar_musetalk_gets_still_video_of_audio_length(tmp_path: Path) -> None:
    s = schema(MUSETALK)
    assert needs_face_video(s)
    voice = _wav(tmp_path / "voice.wav", 1.2)
    mapped = build_avatar_input(s, portrait=_png_bytes((64, 64)), audio=voice)
    assert set(mapped.input) == {"video_input", "audio_input"}
    assert mapped.input["audio_input"] == voice
    seconds, width, height, codec, _ = _video_duration(mapped.input["video_input"])
    assert codec == "h264" and (width, height) == (64, 64)
    assert seconds == pytest.approx(1.2, abs=0.05)
    assert any("still video" in note for note in mapped.notes)
    assert mapped.made_from == {}  # bytes: no file of the person's to keep
    portrait = tmp_path / "face.png"
    portrait.write_bytes(_png_bytes((64, 64)))
    from_file = build_avatar_input(s, portrait=portrait, audio=voice)
    # The still video was made from the portrait file: that file is what a result keeps.
    assert from_file.made_from == {"video_input": [portrait]}


def test_avatar_sadtalker_takes_the_still_directly(tmp_path: Path) -> None:
    s = schema(SADTALKER)
    assert not needs_face_video(s)
    portrait = tmp_path / "face.png"
    portrait.write_bytes(_png_bytes())
    voice = _wav(tmp_path / "voice.wav", 0.5)
    mapped = build_avatar_input(s, portrait=portrait, audio=voice, advanced={"still": False})
    assert mapped.input == {"source_image": portrait, "driven_audio": voice, "still": False}
    with pytest.raises(InputProblem, match="portrait could not be read"):
        build_avatar_input(s, portrait=b"not an image", audio=voice)
    with pytest.raises(InputProblem, match="audio"):
        build_avatar_input(s, portrait=portrait, audio=None)
    with pytest.raises(InputProblem, match="empty"):
        build_avatar_input(s, portrait=portrait, audio=_wav(tmp_path / "zero.wav", 0))


# ---- music -----------------------------------------------------------------------------------


def test_music_tempo_into_prompt_once_and_valid_choices_only() -> None:
    mapped = build_music_input(
        schema(MUSICGEN),
        prompt="Lo-fi beat with vinyl crackle",
        duration=12,
        tempo=80,
        model_version="stereo-large",
        output_format="mp3",
    )
    assert mapped.input == {
        "prompt": "Lo-fi beat with vinyl crackle. 80 BPM",
        "duration": 12,
        "model_version": "stereo-large",
        "output_format": "mp3",
    }
    assert "bpm" not in mapped.input
    twice = build_music_input(schema(MUSICGEN), prompt="Techno at 128 bpm", tempo=128)
    assert twice.input["prompt"] == "Techno at 128 bpm"
    wrong = build_music_input(
        schema(MUSICGEN), prompt="x", model_version="small", output_format="ogg"
    )
    assert wrong.input == {"prompt": "x"} and len(wrong.notes) == 2


def test_music_tempo_field_and_duration_bounds() -> None:
    with_bpm = cog({"prompt": _str(), "bpm": _int(120, 40, 200), "duration": _int(8, 1, 30)})
    mapped = build_music_input(schema(with_bpm), prompt="house", tempo=124, duration=45)
    assert mapped.input == {"prompt": "house", "bpm": 124, "duration": 30}
    assert any("30 s" in note for note in mapped.notes)
    with pytest.raises(InputProblem, match="Tempo"):
        build_music_input(schema(MUSICGEN), prompt="x", tempo=5)
    with pytest.raises(InputProblem, match=r"prompt|description"):
        build_music_input(schema(MUSICGEN), prompt=" ")


# ---- forms -----------------------------------------------------------------------------------


def test_form_fields_kinds_and_exclusions() -> None:
    fields = {f.name: f for f in form_fields(schema(PLAYGROUND_V25), exclude=("prompt", "image"))}
    assert "prompt" not in fields and "image" not in fields
    assert fields["scheduler"].kind == "dropdown" and fields["scheduler"].default == "DPMSolver++"
    assert fields["scheduler"].choices is not None and "DDIM" in fields["scheduler"].choices
    steps = fields["num_inference_steps"]
    assert (steps.kind, steps.minimum, steps.maximum, steps.step) == ("slider", 1, 60, 1)
    guidance = fields["guidance_scale"]
    assert guidance.kind == "slider" and guidance.step == pytest.approx(0.1)
    assert fields["seed"].kind == "number" and fields["seed"].integer
    assert (
        fields["apply_watermark"].kind == "checkbox" and fields["apply_watermark"].default is True
    )
    assert fields["mask"].kind == "file"
    assert fields["negative_prompt"].kind == "text" and fields["negative_prompt"].multiline
    assert fields["negative_prompt"].label == "Negative Prompt"
    llm = {f.name: f for f in form_fields(schema(LLAMA31_405B))}
    assert llm["prompt_template"].multiline and not llm["stop_sequences"].multiline
    assert llm["presence_penalty"].kind == "number"


def test_collect_advanced_keeps_only_changes() -> None:
    fields = form_fields(schema(PLAYGROUND_V25), exclude=("prompt", "image", "mask"))
    values = {f.name: f.default for f in fields}
    assert collect_advanced(fields, values) == {}
    values.update(
        {
            "num_inference_steps": 30.0,
            "seed": None,
            "negative_prompt": "  ",
            "apply_watermark": False,
        }
    )
    changed = collect_advanced(fields, values)
    assert changed == {"num_inference_steps": 30, "apply_watermark": False}
    assert isinstance(changed["num_inference_steps"], int)
    positional = [values[f.name] for f in fields]
    assert collect_advanced(fields, positional) == changed
    mapped = build_image_input(schema(PLAYGROUND_V25), prompt="p", advanced=changed)
    assert mapped.input == {"prompt": "p", "num_inference_steps": 30, "apply_watermark": False}


def test_numbers_without_default_stay_empty_and_are_read_from_text() -> None:
    """musicgen's Seed and Continuation End have no default: an empty box, nothing sent."""
    fields = {f.name: f for f in form_fields(schema(MUSICGEN))}
    seed = fields["seed"]
    assert seed.kind == "number" and seed.default is None and seed.integer
    assert collect_advanced([seed], [""]) == {}
    assert collect_advanced([seed], ["  "]) == {}
    assert collect_advanced([seed], ["42"]) == {"seed": 42}
    assert collect_advanced([seed], ["-1"]) == {"seed": -1}
    for bad in ("abc", "1.5", "nan", "1e999"):
        with pytest.raises(InputProblem, match="Seed must be a whole number"):
            collect_advanced([seed], [bad])
    # A bounded field with no default cannot be a slider: a slider always holds a value.
    bounded = cog({"prompt": _str(), "strength": {"type": "number", "minimum": 0, "maximum": 1}})
    strength = {f.name: f for f in form_fields(schema(bounded))}["strength"]
    assert strength.kind == "number"
    assert collect_advanced([strength], ["0.25"]) == {"strength": 0.25}


# ---- every catalogue model: mapped inputs pass the simulator's own validation ----------------


def _as_data_url(value: Any) -> Any:
    """What the predictions module does to file values, done locally (no upload)."""
    if isinstance(value, list):
        return [_as_data_url(item) for item in value]
    if isinstance(value, Path):
        value = value.read_bytes()
    if isinstance(value, Image.Image):
        buffer = io.BytesIO()
        value.save(buffer, format="PNG")
        value = buffer.getvalue()
    if isinstance(value, bytes):
        return "data:application/octet-stream;base64," + base64.b64encode(value).decode()
    return value


def _map_for(model: Any, voice: Path) -> list[MappedInput]:
    s = InputSchema.from_openapi(model.openapi_schema())
    if model.kind == "chat":
        picture = _png_bytes((32, 32))
        history = [
            {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
            {"role": "assistant", "content": "<think>hm</think>Hello!"},
        ]
        return [
            build_chat_input(
                s,
                system_prompt="Be brief.",
                history=history,
                message="What is 2+2?",
                max_tokens=128,
                temperature=0.5,
                top_p=0.9,
            ),
            build_chat_input(s, system_prompt="", history=[], message="Hi"),
            *(
                [build_chat_input(s, system_prompt="", history=[], message="?", image=picture)]
                if chat_image_field(s) is not None
                else []
            ),
        ]
    if model.kind == "image":
        return [
            build_image_input(
                s,
                prompt="a red panda",
                aspect_ratio=ratio,
                seed=42,
                num_outputs=2,
                image=_png_bytes((64, 48)),
            )
            for ratio in (*ASPECT_RATIOS, AUTO_RATIO)
        ]
    if model.kind == "video":
        start = _png_bytes((64, 48))
        return [
            build_video_input(
                s, prompt="waves", start_image=start, length_seconds=seconds, aspect_ratio=ratio
            )
            for ratio in ASPECT_RATIOS
            for seconds in (1, 5, 12)
        ]
    if model.kind == "avatar":
        return [build_avatar_input(s, portrait=_png_bytes((64, 64)), audio=voice)]
    assert model.kind == "music"
    lyrics: dict[str, Any] = {}
    sung = None
    if music_prompt_field(s) is None:  # a lyrics-to-song model: refused until its text is given
        with pytest.raises(InputProblem, match="not from a description"):
            build_music_input(s, prompt="lo-fi")
        text = next(f for f in s.fields if f.type == "string" and f.choices is None)
        lyrics = {text.name: "## la la la ##"}
    else:
        sings = music_lyrics_field(s)
        if sings is not None and sings.required:  # a description and lyrics (MiniMax 1.5)
            with pytest.raises(InputProblem, match="Lyrics box"):
                build_music_input(s, prompt="lo-fi")
            sung = "[verse] la la la"
    return [
        build_music_input(
            s,
            prompt="lo-fi",
            duration=10,
            tempo=90,
            model_version="stereo-large",
            output_format="mp3",
            lyrics=sung,
            advanced=lyrics,
        )
    ]


def test_every_catalogue_model_accepts_its_mapped_inputs(tmp_path: Path) -> None:
    from neurolink_ui.simulator.catalog import all_models, get_model

    voice = _wav(tmp_path / "voice.wav", 0.6)
    # "other": no panel maps it
    models = [m for m in all_models() if m.kind != "other"]
    assert {m.kind for m in models} == {"chat", "image", "video", "avatar", "music"}
    for model in models:
        assert get_model(model.owner, model.name) is model
        schema_now = InputSchema.from_openapi(model.openapi_schema())
        for mapped in _map_for(model, voice):
            sent = {name: _as_data_url(value) for name, value in mapped.input.items()}
            assert schema_now.validate(sent) == [], (model.slug, sent)
            _, invalid_fields = model.validate(sent)
            assert invalid_fields == [], (model.slug, sent, invalid_fields)
            limits = set(TOKEN_LIMIT_FIELDS) & set(sent)
            assert len(limits) <= 1, model.slug


def test_schema_validate_agrees_with_simulator_on_bad_inputs() -> None:
    from neurolink_ui.simulator.catalog import get_model

    model = get_model("stability-ai", "stable-diffusion-3.5-large")
    assert model is not None
    s = InputSchema.from_openapi(model.openapi_schema())
    bad = {"prompt": "x", "cfg": 12, "aspect_ratio": "7:3", "bogus": 1}
    ours = s.validate(bad)
    _, theirs = model.validate(bad)
    assert {p["field"] for p in theirs} == {"cfg", "aspect_ratio", "bogus"}
    assert len(ours) == 3 and all(
        any(f in p for p in ours) for f in ("cfg", "aspect_ratio", "bogus")
    )


def test_image_inpaint_only_field_is_not_a_start_image() -> None:
    ideogram = cog(
        {
            "prompt": _str(),
            "aspect_ratio": {"enum": ["1:1", "16:9", "2:1"], "default": "1:1"},
            "image": {
                **URI,
                "description": "An image file to use for inpainting. You must also use a mask.",
            },
            "mask": {**URI, "description": "A black and white image."},
        },
        required=("prompt",),
    )
    mapped = build_image_input(schema(ideogram), prompt="p", aspect_ratio="21:9", image=b"x")
    assert mapped.input == {"prompt": "p", "aspect_ratio": "2:1"}
    assert any("inpainting with a mask" in note for note in mapped.notes)
    playground = build_image_input(schema(PLAYGROUND_V25), prompt="p", image=b"x")
    assert playground.input["image"] == b"x" and "mask" not in playground.input


def test_a_form_of_array_fields_with_list_defaults_can_sit_in_gradio_state() -> None:
    """Gradio hashes a session's state after each event: fields whose default is a list
    (`default: []`, as Replicate's array inputs have) must hash, and equal ones alike."""
    from gradio.utils import deep_hash

    from neurolink_ui.catalog import catalog_model
    from neurolink_ui.modalities.forms import form_fields
    from neurolink_ui.replicate.schema import InputSchema

    schema = InputSchema.from_openapi(catalog_model("openai/gpt-5-mini").openapi_schema)
    listed = [f for f in schema.fields if isinstance(f.default, list)]
    assert listed  # the entry keeps its array fields' `default: []`
    fields = form_fields(schema)
    assert deep_hash({"fields": list(fields), "schema": list(schema.fields)})
    again = form_fields(InputSchema.from_openapi(catalog_model("openai/gpt-5-mini").openapi_schema))
    assert [hash(f) for f in again] == [hash(f) for f in fields] and list(again) == list(fields)
