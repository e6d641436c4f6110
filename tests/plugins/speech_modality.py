"""A sixth modality, text to speech, added the way any new one is: its registry entry and its own
modules (this one and `speech_panel`), registered when NEUROLINK_MODALITIES names this module.
Nothing else in the package is edited for it: its tab, History cards, Compare's choices and the
command line's `--outputMode speech` all come from the entry.
"""

from __future__ import annotations

from neurolink_ui.modalities.common import InputProblem, MappedInput, require_text
from neurolink_ui.modalities.registry import register
from neurolink_ui.modalities.spec import Control, Modality, ModalityValues
from neurolink_ui.replicate.schema import InputSchema, ModelInfo

TEXT_FIELDS = ("text", "prompt", "input")
# The simulator's catalogue has no speech model; a text-to-audio one stands in, by its schema.
SPEECH_MODELS = ["meta/musicgen", "stability-ai/stable-audio-2.5"]


def filled_fields(schema: InputSchema) -> frozenset[str]:
    return frozenset(name for name in TEXT_FIELDS if schema.has(name))


def map_speech(info: ModelInfo, values: ModalityValues) -> MappedInput:
    """The text to speak into the model's text field, read from its schema."""
    field = info.input_schema.first(*TEXT_FIELDS)
    if field is None:
        raise InputProblem(f"{info.ref} takes no text to speak; pick a text-to-speech model.")
    return MappedInput({field.name: require_text(values.prompt, "text")}, [])


SPEECH = register(
    Modality(
        name="speech",
        title="Speech",
        icon="🔊",
        output="audio",
        map_input=map_speech,
        filled_fields=filled_fields,
        suggested_models=lambda: list(SPEECH_MODELS),
        controls=(Control("prompt", "Text to speak", ""),),
        noun="speech",
        panel_module="plugins.speech_panel",
    )
)
