"""Retransmission of a 2xx to INVITE until its ACK arrives (RFC 3261 §13.3.1.4).

The INVITE server transaction ends when the 2xx is sent; from then on the
UAS core owns the response.  :class:`AckWait` resends it at T1, 2*T1, 4*T1...
(capped at T2) on unreliable transports and gives up 64*T1 after the first
send, reporting :class:`~hotline.sip.events.AckTimeout` so that the dialog is
torn down with a BYE.  On reliable transports it only waits.
"""

from __future__ import annotations

from hotline.sip.events import AckTimeout, Action, Address, Transmit
from hotline.sip.message import Response
from hotline.sip.timers import TimerConfig

__all__ = ["AckWait"]


class AckWait:
    """Waits for the ACK of one 2xx response, retransmitting it meanwhile.

    ``now`` is when the 2xx was first sent (by the server transaction).
    """

    def __init__(
        self,
        response: Response,
        destination: Address | None,
        now: float,
        *,
        reliable: bool = False,
        timers: TimerConfig | None = None,
    ) -> None:
        if timers is None:
            timers = TimerConfig()
        self.response = response
        self.destination = destination
        self.timers = timers
        self.reliable = reliable
        cseq = response.cseq
        self.ident: tuple[str, int] = (response.call_id, cseq.seq)
        self._give_up = now + 64 * timers.t1
        self._interval = timers.t1
        self._retransmit: float | None = None if reliable else now + timers.t1
        self.done = False
        self.acked = False

    def next_deadline(self) -> float | None:
        """When :meth:`handle_timer` must next be called, or ``None`` once done."""
        if self.done:
            return None
        if self._retransmit is None:
            return self._give_up
        return min(self._retransmit, self._give_up)

    def handle_ack(self) -> None:
        """The ACK arrived: stop."""
        self.done = True
        self.acked = True

    def handle_timer(self, now: float) -> list[Action]:
        """Retransmit if due; report :class:`AckTimeout` after 64*T1."""
        if self.done:
            return []
        if now >= self._give_up:
            self.done = True
            return [AckTimeout(self.ident[0], self.ident[1], self.response)]
        out: list[Action] = []
        if self._retransmit is not None and now >= self._retransmit:
            out.append(Transmit(self.response, self.destination, None))
            self._interval = min(2 * self._interval, self.timers.t2)
            self._retransmit = now + self._interval
        return out
