"""Events the media layer hands to the call layer: small frozen dataclasses."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class DigitSource(StrEnum):
    """Where a DTMF digit came from."""

    RFC4733 = "rfc4733"
    """An RTP telephone-event."""
    INBAND = "inband"
    """Tones in the audio, found by the Goertzel detector."""
    INFO = "info"
    """A SIP INFO request (application/dtmf-relay or application/dtmf)."""


@dataclass(frozen=True, slots=True)
class DigitReceived:
    """A DTMF digit, reported once when it ended."""

    digit: str
    """One of 0–9, *, #, A–D."""
    duration_ms: int
    """How long the key was held, as the source told us (0 if unknown)."""
    source: DigitSource
    """Which signalling path carried it."""
    at: float
    """When it was reported, on the caller's clock (seconds)."""


@dataclass(frozen=True, slots=True)
class RtpTimedOut:
    """No RTP arrived on a stream for the configured time: the call layer may end the call."""

    silent_for: float
    """Seconds since the last packet (or since the stream started)."""
    at: float
    """When the timeout was noticed (seconds, caller's clock)."""


@dataclass(frozen=True, slots=True)
class PlaybackEnded:
    """An item of a playlist stopped playing."""

    item: str
    """The item's name (a prompt's file name, a tone's name, "silence")."""
    interrupted: bool
    """True if barge-in or `stop()` cut it short."""
    playlist_done: bool
    """True if nothing is left to play after it."""
