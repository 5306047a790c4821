"""What one call run knows about its caller and what the call came to; shared by its parts."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["CallerFacts", "CallerGone", "Outcome", "shielded"]

T = TypeVar("T")


class CallerGone(Exception):
    """The caller hung up, or their RTP stopped, while we were waiting for something."""


async def shielded(write: Awaitable[T]) -> T:
    """Run a store write to its end even if the call's task is cancelled meanwhile."""
    return await asyncio.shield(write)


@dataclass(frozen=True, slots=True)
class CallerFacts:
    """Who is calling, as the directory knows it."""

    number: str
    """The key (E.164 when valid), or the presented digits; "" when withheld."""
    display: str
    """How the number is shown (national format), "" when withheld."""
    name: str | None
    department: str | None
    employee_id: str | None
    withheld: bool = False


@dataclass
class Outcome:
    """What the call came to, for the record."""

    answered_by: str | None = None
    answered_at: float | None = None
    route: str | None = None
    talk_seconds: float = 0.0
    voicemail: Path | None = None
    routed: bool = False
    recording: Path | None = None
    disposition: str | None = None
    relay: dict[str, Any] = field(default_factory=dict)
