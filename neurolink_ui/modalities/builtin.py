"""The five built-in modalities, registered in the order their tabs show. No Gradio.

Each entry says once what its panel, Compare, the API and the command line need: its controls and
their defaults, its uploads' roles, its suggested models and how a person's values become a
model's input (the modality module's own builder, reading the schema, never a model name).
"""

from __future__ import annotations

import functools
from typing import Any

from ..catalog import Panel, suggested_models
from ..replicate.schema import ModelInfo
from . import avatar, chat, image, music, video
from .common import MappedInput
from .spec import Control, Modality, ModalityValues

MODEL_DEFAULT_TOKENS = 0  # 0 = the model's own default limit (reasoning models need thousands)
IMAGE_RATIO_CHOICES = (
    # What "auto" does: the input image's shape if one is given, else the model's default.
    ("Auto (the model's, or the input image's)", image.AUTO_RATIO),
    *((ratio, ratio) for ratio in image.ASPECT_RATIOS),
)
VIDEO_ASPECT_RATIOS = ("16:9", "9:16", "1:1")
# The default is what the model does by itself (the start image's shape for image-to-video):
# a fixed 16:9 was ignored, with a note, by the default model (issue 23, item 7).
VIDEO_RATIO_CHOICES = (
    ("Auto (the model's, or the start image's)", image.AUTO_RATIO),
    *((ratio, ratio) for ratio in VIDEO_ASPECT_RATIOS),
)
# The default model's own clip: 81 frames at 16 fps (5.1 s); 4 s was mapped to 81 with a note.
VIDEO_DEFAULT_SECONDS = 5
MUSIC_MODEL_VERSIONS = ("stereo-melody-large", "stereo-large", "melody-large", "large")
MUSIC_FORMATS = ("mp3", "wav")


def _whole(value: Any) -> int | None:
    return int(value) if value else None


def _number(value: Any) -> float | None:
    return float(value) if value else None


def _text(value: Any) -> str | None:
    return str(value) if value else None


def _ratio(value: Any) -> str | None:
    """An aspect ratio to ask for; "auto" (or none) leaves the shape to the model."""
    text = _text(value)
    return None if text == image.AUTO_RATIO else text


def map_chat(info: ModelInfo, values: ModalityValues) -> MappedInput:
    controls = values.controls
    return chat.build_chat_input(
        info.input_schema,
        system_prompt=controls.get("system_prompt"),
        history=controls.get("history"),
        message=values.prompt,
        max_tokens=_whole(controls.get("max_tokens")),
        temperature=controls.get("temperature"),
        image=values.image,
        model_description=info.description,
        advanced=values.advanced,
    )


def map_image(info: ModelInfo, values: ModalityValues) -> MappedInput:
    controls = values.controls
    seed = controls.get("seed")
    return image.build_image_input(
        info.input_schema,
        prompt=values.prompt,
        aspect_ratio=_text(controls.get("aspect_ratio")),
        seed=int(seed) if seed is not None and seed >= 0 else None,
        num_outputs=_whole(controls.get("num_outputs")),
        image=values.image,
        advanced=values.advanced,
    )


def map_video(info: ModelInfo, values: ModalityValues) -> MappedInput:
    controls = values.controls
    return video.build_video_input(
        info.input_schema,
        prompt=values.prompt,
        start_image=values.image,
        length_seconds=_number(controls.get("length")),
        aspect_ratio=_ratio(controls.get("aspect_ratio")),
        last_frame=values.more_images.get("last_frame"),
        advanced=values.advanced,
    )


def map_avatar(info: ModelInfo, values: ModalityValues) -> MappedInput:
    mapped = avatar.build_avatar_input(
        info.input_schema, portrait=values.image, audio=values.audio, advanced=values.advanced
    )
    if values.prompt:
        mapped.notes.append("An avatar speaks the audio it is given; the prompt was not used.")
    return mapped


def map_music(info: ModelInfo, values: ModalityValues) -> MappedInput:
    controls = values.controls
    return music.build_music_input(
        info.input_schema,
        prompt=values.prompt,
        duration=_number(controls.get("duration")),
        tempo=_number(controls.get("tempo")),
        model_version=_text(controls.get("model_version")),
        output_format=_text(controls.get("output_format")),
        lyrics=_text(controls.get("lyrics")),
        advanced=values.advanced,
    )


def _suggested(panel: Panel) -> list[str]:
    return suggested_models(panel)


CHAT = Modality(
    name="chat",
    title="Chat",
    icon="💬",
    output="text",
    map_input=map_chat,
    filled_fields=chat.filled_fields,
    suggested_models=functools.partial(_suggested, "chat"),
    controls=(
        Control("prompt", "Message", ""),
        Control("system_prompt", "System prompt", chat.DEFAULT_SYSTEM_PROMPT),
        Control(
            "max_tokens",
            "Max tokens (0 = the model's default)",
            MODEL_DEFAULT_TOKENS,
            "slider",
            minimum=0,
            maximum=16384,
            step=16,
        ),
        Control("temperature", "Temperature", 0.6, "slider", minimum=0, maximum=2, step=0.05),
    ),
    image_role="image (for models that see images)",
    noun="answer",
    panel_module="neurolink_ui.ui.panels.chat",
    usual_run=(10.0, 300.0),  # an answer in seconds; a reasoning model's can take minutes
)
IMAGE = Modality(
    name="image",
    title="Image",
    icon="🖼️",
    output="image",
    map_input=map_image,
    filled_fields=image.filled_fields,
    suggested_models=functools.partial(_suggested, "image"),
    controls=(
        Control("prompt", "Prompt", ""),
        Control("aspect_ratio", "Aspect ratio", image.AUTO_RATIO, "dropdown", IMAGE_RATIO_CHOICES),
        Control("seed", "Seed (-1 = random)", -1, "number", minimum=-1),
        Control("num_outputs", "Images", 1, "slider", minimum=1, maximum=4, step=1),
    ),
    image_role="input image (image-to-image)",
    noun="image",
    panel_module="neurolink_ui.ui.panels.image",
    usual_run=(10.0, 120.0),
)
VIDEO = Modality(
    name="video",
    title="Video",
    icon="🎬",
    output="video",
    map_input=map_video,
    filled_fields=video.filled_fields,
    suggested_models=functools.partial(_suggested, "video"),
    controls=(
        Control("prompt", "Prompt", ""),
        Control(
            "length",
            "Length (seconds)",
            VIDEO_DEFAULT_SECONDS,
            "slider",
            minimum=1,
            maximum=10,
            step=1,
        ),
        Control("aspect_ratio", "Aspect ratio", image.AUTO_RATIO, "dropdown", VIDEO_RATIO_CHOICES),
    ),
    image_role="start frame",
    noun="video",
    panel_module="neurolink_ui.ui.panels.video",
    usual_run=(90.0, 600.0),  # clips take minutes (catalogued: Veo, Kling 1-3 min)
)
AVATAR = Modality(
    name="avatar",
    title="Avatar",
    icon="🗣️",
    output="video",
    map_input=map_avatar,
    filled_fields=avatar.filled_fields,
    suggested_models=functools.partial(_suggested, "avatar"),
    image_role="portrait",
    audio_role="narration",
    needs_prompt=False,
    noun="video",
    panel_module="neurolink_ui.ui.panels.avatar",
    usual_run=(120.0, 600.0),  # lip-sync takes minutes (catalogued: MuseTalk 8, OmniHuman 3-10)
)
MUSIC = Modality(
    name="music",
    title="Music",
    icon="🎵",
    output="audio",
    map_input=map_music,
    filled_fields=music.filled_fields,
    suggested_models=functools.partial(_suggested, "music"),
    controls=(
        Control("prompt", "Prompt", ""),
        Control("duration", "Duration (seconds)", 8, "slider", minimum=1, maximum=30, step=1),
        Control("tempo", "Tempo (BPM)", 90, "slider", minimum=40, maximum=200, step=1),
        Control("model_version", "Model version", "stereo-large", "dropdown", MUSIC_MODEL_VERSIONS),
        Control("output_format", "Format", "mp3", "radio", MUSIC_FORMATS),
        Control("lyrics", "Lyrics (for models that sing them)", ""),
    ),
    noun="track",
    panel_module="neurolink_ui.ui.panels.music",
    usual_run=(30.0, 300.0),
)

# The built-in modalities, in the order their tabs show (the registry starts from these).
BUILTIN: tuple[Modality, ...] = (CHAT, IMAGE, VIDEO, AVATAR, MUSIC)
