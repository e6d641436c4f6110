"""Input components that refuse bad files with a message a person can act on."""

from __future__ import annotations

from typing import Any

import gradio as gr
from PIL import UnidentifiedImageError

class ImageInput(gr.Image):
    """`gr.Image` whose unreadable uploads become a clear error instead of a generic failure."""

    is_template = True  # rendered by the frontend as a plain Image

    def preprocess(self, payload: Any) -> Any:
        try:
            return super().preprocess(payload)
        except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
            name = getattr(payload, "orig_name", None) or "the file"
            raise gr.Error(
                f"{self.label or 'Image'}: {name} is not an image we can read. "
                "Upload a PNG, JPEG or WebP file.",
                title="Invalid image",
            ) from None
    from typing import Callable, Literal, Sequence, Any, TYPE_CHECKING
    from gradio.blocks import Block
    if TYPE_CHECKING:
        from gradio.components import Timer
        from gradio.components.base import Component

class GalleryOutput(gr.Gallery):
    is_template = True
    api_info = _api_info_per_class
    from typing import Callable, Literal, Sequence, Any, TYPE_CHECKING
    from gradio.blocks import Block
    if TYPE_CHECKING:
        from gradio.components import Timer
        from gradio.components.base import Component

    
class VideoOutput(gr.Video):
    is_template = True
    api_info = _api_info_per_class
    from typing import Callable, Literal, Sequence, Any, TYPE_CHECKING
    from gradio.blocks import Block
    if TYPE_CHECKING:
        from gradio.components import Timer
        from gradio.components.base import Component

    
class AudioOutput(gr.Audio):
    is_template = True
    api_info = _api_info_per_class
    from typing import Callable, Literal, Sequence, Any, TYPE_CHECKING
    from gradio.blocks import Block
    if TYPE_CHECKING:
        from gradio.components import Timer
        from gradio.components.base import Component

    