"""SIP message trace: every message in and out, switchable by an operator.

The trace goes to the logger ``hotline.sip.trace`` at INFO level.  It is off
by default (the logger's level is WARNING) whatever the root logger says, so
turning on DEBUG logging for the application does not flood the log with SIP
text; :func:`set_enabled` (from config ``sip.trace`` or at run time, e.g. from
the console) switches it.  Each record holds the direction, transport, local
and remote address, a UTC timestamp and the full message text, body included,
decoded as UTF-8 with replacement characters so a broken message still shows.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

__all__ = ["LOGGER_NAME", "is_enabled", "set_enabled", "trace"]

LOGGER_NAME = "hotline.sip.trace"
_log = logging.getLogger(LOGGER_NAME)
_log.setLevel(logging.WARNING)

Address = tuple[str, int]


def set_enabled(enabled: bool) -> None:
    """Switch the SIP trace on or off (takes effect for the next message)."""
    _log.setLevel(logging.INFO if enabled else logging.WARNING)


def is_enabled() -> bool:
    """Whether messages are being traced now."""
    return _log.isEnabledFor(logging.INFO)


def format_address(address: Address | None) -> str:
    """``host:port``, with IPv6 hosts in brackets; ``-`` when unknown."""
    if address is None:
        return "-"
    host, port = address[0], address[1]
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{host}:{port}"


def trace(
    direction: str,
    transport: str,
    local: Address | None,
    remote: Address | None,
    data: bytes,
    *,
    when: float | None = None,
) -> None:
    """Log one message: ``direction`` is ``"in"`` or ``"out"``; ``when`` a Unix time (default now).

    Costs one level check when the trace is off.
    """
    if not _log.isEnabledFor(logging.INFO):
        return
    stamp = datetime.fromtimestamp(time.time() if when is None else when, UTC)
    arrow = "<-" if direction == "in" else "->"
    _log.info(
        "%s %s %s %s %s %s (%d bytes)\n%s",
        stamp.isoformat(timespec="microseconds").replace("+00:00", "Z"),
        direction.upper(),
        transport,
        format_address(local),
        arrow,
        format_address(remote),
        len(data),
        data.decode("utf-8", "replace"),
    )
