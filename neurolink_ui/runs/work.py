"""Slow work off the event loop: encoding, image probing, schema work, SQLite and file copies run
in a small pool of worker threads, each job bounded in time. No Gradio.

One visitor's slow job never makes another visitor wait: the event loop only awaits it, and the
pool is the app's own (Gradio's sync handlers use another), so a burst of encodes queues here.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

WORKERS = 4
# A job that takes longer is abandoned: the run fails with a message instead of hanging. (A thread
# cannot be killed; the inputs that reach a job are bounded so that it ends soon after anyway.)
DEFAULT_TIMEOUT = 60.0

_pool = concurrent.futures.ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="nl-work")


class WorkTimeout(Exception):
    """A worker job ran past its time limit."""

    def __init__(self, what: str, seconds: float) -> None:
        super().__init__(f"{what} took longer than {seconds:.0f} s and was abandoned.")
        self.what = what
        self.seconds = seconds


async def offload(
    func: Callable[P, T],
    *args: P.args,
    **kwargs: P.kwargs,
) -> T:
    """`func(*args, **kwargs)` in a worker thread, within DEFAULT_TIMEOUT seconds."""
    return await offload_within(
        DEFAULT_TIMEOUT, getattr(func, "__name__", "work"), func, *args, **kwargs
    )


async def offload_within(
    seconds: float,
    what: str,
    func: Callable[P, T],
    *args: P.args,
    **kwargs: P.kwargs,
) -> T:
    """`func` in a worker thread; WorkTimeout after `seconds` (the job itself runs on)."""
    loop = asyncio.get_running_loop()
    call = functools.partial(contextvars.copy_context().run, func, *args, **kwargs)
    future = loop.run_in_executor(_pool, call)
    try:
        return await asyncio.wait_for(future, seconds)
    except TimeoutError:
        raise WorkTimeout(what, seconds) from None
