"""Pure per-modality logic: schema-driven input mapping, prompts, outputs. No Gradio, no HTTP."""

from .common import InputProblem, MappedInput

__all__ = ["InputProblem", "MappedInput"]
