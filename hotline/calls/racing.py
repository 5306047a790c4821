"""Waiting for one thing unless another happens first.

A call's every wait (a prompt playing, a key, a ring) is cut short when the caller hangs up or
their RTP stops; the IVR walk and the survey caller both wait that way.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import Any, TypeVar

__all__ = ["Interrupted", "unless"]

T = TypeVar("T")


class Interrupted(Exception):
    """A watched future finished before the awaited work, which was cancelled."""


async def unless(awaitable: Awaitable[T], *watch: asyncio.Future[Any]) -> T:
    """``awaitable``'s result, or :class:`Interrupted` once any of ``watch`` is done first.

    The work is cancelled when it loses, and when this wait is itself cancelled; its own
    exception, if it finished first, is raised as it is.
    """
    task = asyncio.ensure_future(awaitable)
    try:
        await asyncio.wait([task, *watch], return_when=asyncio.FIRST_COMPLETED)
    except BaseException:
        task.cancel()
        raise
    if task.done():
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
    raise Interrupted
