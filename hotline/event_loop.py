"""Which asyncio event loop the server runs on: uvloop where it is installed, else the standard one.

uvloop does a datagram transport's reads and writes in C (libuv), which is
what lets one core relay hundreds of bridged calls; the standard loop stays
available (`hotline serve --loop asyncio`) to rule the loop out when chasing
a problem, and is the only choice where uvloop does not build (Windows).
"""

from __future__ import annotations

import asyncio
import importlib.util

__all__ = ["LOOPS", "LoopError", "default_loop", "loop_name", "new_event_loop", "uvloop_available"]

LOOPS = ("uvloop", "asyncio")
"""The loops `hotline serve --loop` accepts, the preferred first."""


class LoopError(ValueError):
    """An unknown loop name, or uvloop asked for where it is not installed."""


def uvloop_available() -> bool:
    """Whether uvloop can be imported here."""
    return importlib.util.find_spec("uvloop") is not None


def default_loop() -> str:
    """uvloop when importable, else asyncio."""
    return "uvloop" if uvloop_available() else "asyncio"


def new_event_loop(name: str) -> asyncio.AbstractEventLoop:
    """A new, not yet running event loop of the named kind."""
    if name == "asyncio":
        return asyncio.new_event_loop()
    if name == "uvloop":
        if not uvloop_available():
            raise LoopError("uvloop is not installed (pip install uvloop), or use --loop asyncio")
        import uvloop

        return uvloop.new_event_loop()
    raise LoopError(f"unknown event loop {name!r}: one of {', '.join(LOOPS)}")


def loop_name(loop: asyncio.AbstractEventLoop) -> str:
    """"uvloop" or "asyncio" (or the class name of a loop we did not make), for logs and /healthz."""
    module = type(loop).__module__
    if module.startswith("uvloop"):
        return "uvloop"
    if module.startswith("asyncio"):
        return "asyncio"
    return f"{module}.{type(loop).__qualname__}"
