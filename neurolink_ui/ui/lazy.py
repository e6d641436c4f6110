"""What a panel's code needs to know about being drawn on demand (on_demand.py builds every tab
but the first when it is first opened): when to load what it shows, and whether its events are
the API's. No Gradio state of its own; the ContextVar is set while a tab is being drawn."""

from __future__ import annotations

from collections.abc import Sequence
from contextvars import ContextVar
from typing import Any

from gradio.context import get_blocks_context

drawn_on_demand: ContextVar[bool] = ContextVar("neurolink_drawn_on_demand", default=False)


def when_drawn() -> Any:
    """The trigger of work to do when the page shows its content: the page's load, which for
    content drawn on demand is when it has been drawn."""
    config = get_blocks_context()
    if config is None:
        raise RuntimeError("when_drawn() is for use while the page is built")
    return config.root_block.load


def load_triggers(inputs: Sequence[Any]) -> list[Any]:
    """The triggers of a load that reads `inputs`: the content drawn, then every change of
    one of them (a panel's Advanced form and example prompts)."""
    return [when_drawn(), *(component.change for component in inputs)]


def serves_api() -> bool:
    """Whether the events built here are the API's: not inside a tab drawn on demand, whose
    twins (`on_demand.api_twins`) serve its endpoints from the start."""
    return not drawn_on_demand.get()


def endpoint(name: str) -> dict[str, Any]:
    """An event's API keywords: named `name`, or private inside a tab drawn on demand."""
    return {"api_name": name} if serves_api() else {"api_visibility": "private"}
