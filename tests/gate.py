"""Whether a test may skip: outside CI a missing tool skips with the reason; in CI it fails.

``.ci/run`` exports ``CI=true``, so a CI run cannot turn green by skipping what it should have
tested (a missing package, no raw socket for sipp's RTP, no IPv6 loopback).
"""

from __future__ import annotations

import os
import socket

import pytest

__all__ = ["has_ipv6", "in_ci", "require"]


def in_ci() -> bool:
    return bool(os.environ.get("CI"))


def require(ok: bool, message: str) -> None:
    """Go on if ``ok``; otherwise skip (locally) or fail (in CI) with ``message``."""
    if ok:
        return
    if in_ci():
        pytest.fail(f"{message}; CI is set, so this is an error, not a skip")
    pytest.skip(message)


def has_ipv6() -> bool:
    """Whether ::1 can be bound here (some containers have IPv6 off)."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True
