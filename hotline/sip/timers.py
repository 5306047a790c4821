"""The timer values of RFC 3261 (Table 4), shared by the transaction layer and the UA core.

A pure settings module with no imports from the rest of :mod:`hotline.sip`:
:mod:`hotline.sip.transaction` runs timers A-K from it and
:mod:`hotline.sip.ack_wait` retransmits a 2xx at T1, 2*T1, ... capped at T2.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["TimerConfig"]


@dataclass(frozen=True)
class TimerConfig:
    """Timer values of RFC 3261 Table 4, in seconds."""

    t1: float = 0.5
    """Round-trip estimate; A, E and G start at T1; B, F, H and J last 64*T1."""
    t2: float = 4.0
    """Cap of the non-INVITE request and INVITE response retransmission interval."""
    t4: float = 5.0
    """Longest time a message stays in the network; timers I and K."""
    timer_d: float = 32.0
    """Wait for response retransmissions after a non-2xx final to an INVITE (UDP)."""
    timer_c: float = 181.0
    """Longest an INVITE client transaction stays Proceeding without a new provisional
    (RFC 3261 §16.6: more than 3 minutes); after our CANCEL it is cut to 64*T1 (§9.1)."""
