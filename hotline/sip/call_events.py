"""What happens to a call, as the call-control layer sees it: small frozen dataclasses.

:class:`~hotline.sip.call.IncomingCall` and :class:`~hotline.sip.call.OutgoingCall`
publish these on their ``events`` iterators, in the order they happen.  Every
call's last event is :class:`Ended`.  (The transaction layer's own events live
in :mod:`hotline.sip.events`; these sit one layer up, RFC 3261 §5's transaction user.)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from hotline.sip.errors import LocalProtocolError
from hotline.sip.sdp import NegotiatedMedia

__all__ = [
    "Answered",
    "CallEvent",
    "CallProgress",
    "Dtmf",
    "Ended",
    "Refer",
    "ReferSubscription",
    "Reinvite",
    "TransferProgress",
]


@dataclass(frozen=True)
class CallProgress:
    """A provisional response to our INVITE (outgoing legs): 180 ringing, 183 early media."""

    status: int
    """The 1xx status code."""
    reason: str
    """Its reason phrase."""
    early_sdp: bytes | None = None
    """The SDP of a 183 Session Progress (early media), if any."""
    early_media: NegotiatedMedia | None = None
    """``early_sdp`` checked against our offer, when it was acceptable."""


@dataclass(frozen=True)
class Answered:
    """The call is established: our 200 OK was ACKed, or the far end answered ours."""

    media: NegotiatedMedia | None
    """What was agreed for audio (``None`` when no SDP could be agreed)."""
    remote_sdp: bytes = b""
    """The far end's SDP (the offer of an incoming call, the answer of an outgoing one)."""


@dataclass(frozen=True)
class Ended:
    """The call is over.  Always the last event of a call.

    ``reason`` is one of: ``"remote-bye"``, ``"local-bye"``, ``"cancelled"``
    (the caller gave up before the answer, or we cancelled our outgoing leg),
    ``"rejected"`` (a final error response either way), ``"redirected"``
    (a 3xx either way), ``"transferred"``, ``"no-ack"`` (our 200 OK was never
    ACKed), ``"timeout"`` (no answer in time / no response at all),
    ``"failed"`` (transport failure, unusable SDP), ``"shutdown"``.
    """

    reason: str
    status: int | None = None
    """The SIP status that ended it, when one did (486, 487, 302...)."""
    contact: tuple[str, ...] = ()
    """The Contact URIs of a 3xx, for the caller to follow if it wants."""


@dataclass(frozen=True)
class Dtmf:
    """A DTMF key pressed by the far end."""

    digit: str
    """``0``-``9``, ``*``, ``#`` or ``A``-``D``."""
    duration_ms: int
    """How long it was held, as the far end says (0 if unknown)."""
    source: str = "info"
    """``"info"`` (SIP INFO) or ``"rtp"`` (RFC 4733, reported by the media layer)."""


@dataclass(frozen=True)
class Reinvite:
    """The far end sent a new offer in the dialog (hold, unhold, new address) and we answered it."""

    sdp: bytes
    """The new remote offer."""
    on_hold: bool
    """Whether the far end has put us on hold (sendonly/inactive or c=0.0.0.0)."""
    media: NegotiatedMedia
    """What is now agreed."""


class ReferSubscription(Protocol):
    """The NOTIFYs owed for an accepted REFER (:class:`hotline.sip.refer_notifier.ReferNotifier`)."""

    async def progress(self, status: int, reason: str | None = None) -> int | None:
        """NOTIFY a 1xx of the call to the target; the referrer's answer, or None if unsent."""
        ...

    async def finish(self, status: int, reason: str | None = None) -> int | None:
        """NOTIFY the final status (200-699), ending the subscription; the referrer's answer."""
        ...


@dataclass(frozen=True)
class Refer:
    """The far end asked us to transfer the call (incoming REFER, only with ``accept_refer``).

    The REFER has been answered 202 and a NOTIFY ``100 Trying`` is on its way
    (RFC 3515).  The layer above decides whether ``target`` may be dialled (only
    configured targets: nothing a caller sends may make us dial) and reports the
    outcome with :meth:`progress` and, exactly once, :meth:`finish` -- e.g.
    ``await refer.finish(603)`` to decline, ``await refer.progress(180)`` then
    ``await refer.finish(200)`` for a target that rang and answered.
    """

    target: str
    """The Refer-To URI, as sent.  Nothing dials it on its own."""
    notifier: ReferSubscription | None = field(default=None, compare=False, repr=False)
    """Sends the NOTIFYs (``None`` only for events made up in tests)."""

    async def progress(self, status: int, reason: str | None = None) -> int | None:
        """NOTIFY a provisional status (1xx) of the call to the target; returns the NOTIFY's answer."""
        return await self._notifier().progress(status, reason)

    async def finish(self, status: int, reason: str | None = None) -> int | None:
        """NOTIFY the final status (200-699) and end the REFER's subscription."""
        return await self._notifier().finish(status, reason)

    def _notifier(self) -> ReferSubscription:
        if self.notifier is None:
            raise LocalProtocolError("this Refer event has no subscription to notify")
        return self.notifier


@dataclass(frozen=True)
class TransferProgress:
    """A NOTIFY about the REFER we sent (RFC 3515): the status of the transfer target's call."""

    status: int
    """The status line carried in the message/sipfrag body."""


CallEvent = CallProgress | Answered | Ended | Dtmf | Reinvite | Refer | TransferProgress
