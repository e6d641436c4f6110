"""NeuroLink UI: a Gradio playground for Replicate's hosted models."""

__version__ = "0.1.0"
