"""Tabs built when a visitor first opens them, not with the page (issue 21, goal 1).

Gradio's page builds every component its config names, open tab or not: the 335 components of
seven tabs made the first visit 1.47× a bare Gradio app's time to its first button and 2.48× its
JavaScript heap, for a visitor who sees one tab. Every tab but the first is now drawn by a
`gr.render` that runs once per page, the first time its tab is selected (by a click, by Remix or
by Explore's "Open in panel": the server's choice of tab is reported as a select too).

What crosses into a tab that may not be drawn yet goes through its inbox (`Inbox`): a State of
the page that Remix and Explore write a `PanelFill` to. The drawn tab applies the fill waiting
when it is drawn, and every later one as it comes; nothing is lost to a tab not yet opened.

A tab's public endpoints (`/image`, `/search`, …) must exist from the start, for API callers
who never draw it: `api_twins` builds the tab once more, off the page, and serves each of its
named events on inputs and outputs of the same kinds, hidden. Inside the drawn tab the same
events are private (`endpoint`), so the API describes each once.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import gradio as gr
from gradio.blocks import BlockFunction
from gradio.context import Context, LocalContext, get_blocks_context
from gradio.processing_utils import move_files_to_cache
from pydantic import BaseModel

from ..results import StoredResult
from .lazy import drawn_on_demand
from .remix import Remixable, RemixTarget

_fills = itertools.count(1)


@dataclass(frozen=True, eq=False)
class PanelFill:
    """What a panel is asked to show: a kept result to remix (`result`), or a model and a
    prompt from Explore (`model`, `prompt`: None leaves that input as it is). `serial` makes
    every fill a change, so the same result remixed twice fills the panel twice."""

    serial: int
    result: StoredResult | None = None
    model: str | None = None
    prompt: str | None = None

    def __hash__(self) -> int:
        # Gradio hashes a State's value to see whether an event changed it; a kept result
        # holds dicts, which do not hash. The serial is what tells one fill from another.
        return hash(self.serial)


def opened_with(model: str, prompt: str | None) -> PanelFill:
    """Explore's "Open in panel": the model, and the prompt typed there (if any)."""
    return PanelFill(next(_fills), model=model, prompt=prompt)


@dataclass(frozen=True)
class Inbox:
    """A panel's inbox, a State of the page: Remix writes it as it would the panel's inputs
    (it is the panel's `Remixable`), Explore writes an `opened_with` fill to it."""

    panel: str
    state: gr.State

    @property
    def components(self) -> list[gr.components.Component]:
        return [self.state]

    def values(self, result: StoredResult) -> list[Any]:
        return [PanelFill(next(_fills), result=result)]


def fill_values(target: Remixable, fill: PanelFill | None) -> list[Any]:
    """The updates of `target.components` that show `fill` (all skipped for no fill)."""
    if fill is None:
        return [gr.skip()] * len(target.components)
    if fill.result is not None:
        return target.values(fill.result)
    updates: list[Any] = []
    for component in target.components:
        if isinstance(target, RemixTarget) and component is target.model and fill.model:
            updates.append(fill.model)
        elif isinstance(target, RemixTarget) and component is target.prompt:
            updates.append(fill.prompt if fill.prompt is not None else gr.skip())
        else:
            updates.append(gr.skip())
    return updates


def receive(inbox: Inbox, target: Remixable) -> None:
    """`target` shows every fill written to `inbox` from now on."""

    def show(fill: PanelFill | None) -> list[Any]:
        return fill_values(target, fill)

    quiet: dict[str, Any] = {"api_visibility": "private", "show_progress": "hidden"}
    inbox.state.change(show, [inbox.state], target.components, **quiet)


def start_with(target: Remixable, fill: PanelFill | None) -> None:
    """The components of a tab being drawn start with `fill` shown, as if built with those
    values: what loads when the tab is drawn (its Advanced form, for the remixed model and
    preset) reads them, with no later update to race."""
    for component, update in zip(target.components, fill_values(target, fill), strict=True):
        if isinstance(update, dict) and update.get("__type__") == "update":
            props = {k: v for k, v in update.items() if k != "__type__"}
        else:
            props = {"value": update}
        for name, value in props.items():
            if name != "value":
                setattr(component, name, value)
            elif component.stateful:
                component.value = value
            else:  # as the component's constructor keeps its initial value
                shown = component.postprocess(value)
                if isinstance(shown, BaseModel):
                    shown = shown.model_dump()
                component.value = move_files_to_cache(
                    shown, component, postprocess=True, keep_in_cache=True
                )


TabBuilder = Callable[[gr.State], Remixable]
"""Builds a tab's content on the session token State it is given; returns its Remix target."""


def copied_tokens(session: gr.State, count: int) -> list[gr.State]:
    """`count` States that hold the session's token, kept equal to it by one listener outside
    the tabs drawn on demand (each such tab reads and listens to its own: `built_when_opened`)."""
    tokens = [gr.State(None) for _ in range(count)]
    session.change(
        lambda value: (value,) * count if count > 1 else value, session, tokens,
        api_visibility="private", show_progress="hidden",
    )  # fmt: skip
    return tokens


def built_when_opened(tab: gr.Tab, inbox: Inbox, build: TabBuilder, token: gr.State) -> None:
    """Draw `build(token)` into this place of the page the first time `tab` is selected, once
    per page; it receives its inbox's fills from then on.

    A drawn tab listens to no event of a component outside it. Gradio's page keeps one list of
    listeners per event and a render's list replaces it: the first tab drawn that listened to
    the session's change (to reload its form for a new token) silenced every listener outside
    it (the quota meter, the first panel's form) and those of tabs drawn before it. So `token`
    is the tab's own copy of the session's token (`copied_tokens`), and its select and inbox are
    its own."""
    opened = gr.State(False)
    # Queued: Gradio reports a State's change only from a queued event.
    tab.select(lambda: True, None, opened, api_visibility="private", show_progress="hidden")

    @gr.render(inputs=[inbox.state], triggers=[opened.change], show_progress="hidden")
    def draw(waiting: PanelFill | None) -> None:
        drawing = drawn_on_demand.set(True)
        try:
            target = build(token)
            start_with(target, waiting)
            receive(inbox, target)
        finally:
            drawn_on_demand.reset(drawing)
        settle_interactivity()


def _empty(value: Any) -> bool:
    return value is None or value in ("", 0, False) or (isinstance(value, list) and not value)


def settle_interactivity() -> None:
    """Say, for each component just drawn that does not, whether a person can change it.

    Gradio's page decides it for a component that leaves `interactive` unset from the events
    of the page it first loaded: an input of one is editable; otherwise it is editable when it
    starts empty. A drawn tab's events are not among those, so its prompt and model (inputs,
    with values) came out disabled and its empty output gallery as an upload box. The same rule
    is applied here, over the events drawn with it."""
    renderable = LocalContext.renderable.get(None)
    config = get_blocks_context()
    if renderable is None or config is None:
        return
    drawn = [fn for fn in config.fns.values() if fn.rendered_in is renderable]
    read = {block._id for fn in drawn for block in fn.inputs}
    written = {block._id for fn in drawn for block in fn.outputs}
    for block in config.blocks.values():
        if (
            block.rendered_in is renderable
            and isinstance(block, gr.components.Component)
            and not block.stateful
            and getattr(block, "interactive", False) is None
        ):
            block.interactive = block._id in read or (
                block._id not in written and _empty(getattr(block, "value", None))
            )


@contextlib.contextmanager
def _off_the_page() -> Iterator[gr.Blocks]:
    """A Blocks of its own, built while a page is being built, that adds nothing to the page.

    Only its events and blocks are read, so it is never closed: closing a Blocks computes its
    config and creates its server app (0.1–0.3 s for each tab, at every start-up)."""
    saved = Context.root_block, Context.block
    Context.root_block, Context.block = None, None
    try:
        scratch = gr.Blocks()
        scratch.__enter__()
        yield scratch
    finally:
        Context.root_block, Context.block = saved


# Constructor arguments a twin does not take: it is hidden and has no place of its own.
_PLACE_ONLY = ("elem_id", "elem_classes", "key", "render", "visible", "scale", "min_width")


class _Twins:
    """Hidden components of the same kinds and settings as a drawn tab's (the API describes
    them the same), one per kind and settings across all endpoints: the page builds each
    component its config names, hidden or not. Each is itself hidden (`visible=False`), so the
    page does not load its kind's code (a Video's player, 0.5 MB of hls.js) for it."""

    def __init__(self) -> None:
        self._made: dict[str, gr.components.Component] = {}

    def of(self, component: gr.components.Component) -> gr.components.Component:
        arguments = {k: v for k, v in component.constructor_args.items() if k not in _PLACE_ONLY}
        key = f"{type(component).__qualname__}:{sorted(arguments.items(), key=str)!r}"
        if key not in self._made:
            self._made[key] = type(component)(**arguments, visible=False)
        return self._made[key]


def _named(fns: Sequence[BlockFunction]) -> list[BlockFunction]:
    return [fn for fn in fns if fn.api_name and fn.api_visibility == "public" and fn.fn]


API_ONLY = "_neurolink_api_only"  # the app's set of containers that serve API callers only


@contextlib.contextmanager
def api_only() -> Iterator[gr.Column]:
    """A hidden container for what only API callers use: the page is sent its layout without
    it (`NeuroLinkApp.get_config_file`, `light.page_without`)."""
    config = get_blocks_context()
    if config is None:
        raise RuntimeError("api_only() is for use while the page is built")
    with gr.Column(visible=False) as column:
        yield column
    root = config.root_block
    setattr(root, API_ONLY, getattr(root, API_ONLY, set()) | {column._id})


def api_twins(builds: Sequence[Callable[[], Any]]) -> None:
    """Serve the named events of what each of `builds` draws, on hidden twins of their inputs
    and outputs (States are the page's own: the builds share them), with the steps that follow
    each (History's recount)."""
    # One Blocks off the page for all of them: a Blocks costs ~0.17 s to make (its server app).
    built: list[list[BlockFunction]] = []
    with _off_the_page() as scratch:
        for build in builds:
            before = set(scratch.fns)
            build()
            built.append([fn for key, fn in scratch.fns.items() if key not in before])
    drawn = set(scratch.blocks)
    twins = _Twins()

    def twin_of(block: Any) -> Any:
        if block.stateful or block._id not in drawn:
            return block  # the page's own State (or component): shared, not twinned
        return twins.of(block)

    with api_only():
        for fns in built:
            for fn in _named(fns):
                _serve_twin(fn, [step for step in fns if step.trigger_after == fn._id], twin_of)


def _serve_twin(
    fn: BlockFunction, steps: list[BlockFunction], twin_of: Callable[[Any], Any]
) -> None:
    """`fn` served under its API name on its blocks' twins, then its `steps` (private)."""
    name = str(fn.api_name)
    if not fn.targets:  # a gr.api endpoint: no components, its types from its hints
        gr.api(fn.fn, api_name=name, api_description=fn.api_description)
        return
    event = gr.Button(name, visible=False).click(
        fn.fn,
        [twin_of(block) for block in fn.inputs],
        [twin_of(block) for block in fn.outputs],
        api_name=name,
        api_description=fn.api_description,
        concurrency_limit=fn.concurrency_limit,
        concurrency_id=fn.concurrency_id,
        queue=fn.queue,
        show_progress=fn.show_progress,
    )
    for step in steps:
        event.then(
            step.fn,
            [twin_of(block) for block in step.inputs],
            [twin_of(block) for block in step.outputs],
            api_visibility="private",
            queue=step.queue,
            show_progress=step.show_progress,
        )
