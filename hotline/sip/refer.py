"""The REFER recipient's half of RFC 3515: NOTIFYs with ``message/sipfrag`` progress.

A REFER we accept (``sip.accept_refer``) creates an implicit subscription: we
owe the referrer NOTIFYs in the dialog, each carrying the status line of the
call we make to the Refer-To target -- ``SIP/2.0 100 Trying`` at once, then
whatever progress the layer above reports, and a final status that ends the
subscription (``Subscription-State: terminated``).  Nothing here dials: the
layer above decides whether the target may be called at all and reports what
happened through :class:`ReferNotifier` (reached as
:meth:`hotline.sip.call_events.Refer.progress` / ``finish``).

This is an asyncio helper of :mod:`hotline.sip.call`: it sends through a
coroutine it is given (a request in the call's dialog) and keeps the NOTIFYs in
order, one at a time, each in a task owned by the endpoint.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from hotline.sip.errors import LocalProtocolError
from hotline.sip.message import Response, reason_phrase

__all__ = ["SUBSCRIPTION_SECONDS", "ReferNotifier", "notify_headers", "sipfrag"]

log = logging.getLogger(__name__)

#: Expiry announced in the NOTIFYs of an active subscription (RFC 3515 §2.4.4).
SUBSCRIPTION_SECONDS = 60

#: Sends one NOTIFY in the dialog: (headers, body, content type) -> its final response.
SendNotify = Callable[[list[tuple[str, str]], bytes, str], Awaitable[Response]]
#: Starts a task the endpoint owns.
Spawn = Callable[[Awaitable[None]], object]


def sipfrag(status: int, reason: str | None = None) -> bytes:
    """The ``message/sipfrag`` body for ``status``: ``SIP/2.0 180 Ringing\\r\\n``."""
    if not 100 <= status <= 699:
        raise LocalProtocolError(f"sipfrag status {status} out of range")
    text = reason if reason is not None else reason_phrase(status)
    text = text.replace("\r", " ").replace("\n", " ")
    return f"SIP/2.0 {status} {text}".rstrip().encode("utf-8") + b"\r\n"


def notify_headers(refer_cseq: int, final: bool) -> list[tuple[str, str]]:
    """Event and Subscription-State of a NOTIFY for the REFER with CSeq ``refer_cseq``.

    The ``id`` parameter names the REFER, so that several REFERs in one dialog
    keep their subscriptions apart (RFC 3515 §2.4.6).
    """
    state = "terminated;reason=noresource" if final else f"active;expires={SUBSCRIPTION_SECONDS}"
    return [("Event", f"refer;id={refer_cseq}"), ("Subscription-State", state)]


class ReferNotifier:
    """Sends the NOTIFYs of one accepted REFER, in order, until a final status.

    ``send`` carries one NOTIFY in the dialog; ``spawn`` starts a task the
    endpoint owns.  :meth:`start` queues the initial ``100 Trying``.
    """

    def __init__(self, send: SendNotify, spawn: Spawn, refer_cseq: int) -> None:
        self._send = send
        self._spawn = spawn
        self.refer_cseq = refer_cseq
        self.final_status: int | None = None
        """The final status reported with :meth:`finish`, once it was."""
        self._tail: asyncio.Future[int | None] | None = None

    @property
    def finished(self) -> bool:
        """Whether the final NOTIFY has been queued (the subscription is over)."""
        return self.final_status is not None

    def start(self) -> None:
        """Queue the initial NOTIFY (``100 Trying``), owed as soon as the REFER is accepted."""
        self._queue(100, None, final=False)

    async def progress(self, status: int, reason: str | None = None) -> int | None:
        """Report a provisional status (1xx) of the call to the target.

        Returns the status of the referrer's answer to the NOTIFY (``None`` if
        it could not be sent).
        """
        if not 100 <= status < 200:
            raise LocalProtocolError(f"progress takes a 1xx status, not {status}")
        return await asyncio.shield(self._queue(status, reason, final=False))

    async def finish(self, status: int, reason: str | None = None) -> int | None:
        """Report the final status (200-699) of the call to the target; ends the subscription."""
        if not 200 <= status <= 699:
            raise LocalProtocolError(f"finish takes a final status, not {status}")
        return await asyncio.shield(self._queue(status, reason, final=True))

    def _queue(self, status: int, reason: str | None, *, final: bool) -> asyncio.Future[int | None]:
        if self.finished:
            raise LocalProtocolError("the REFER subscription is already terminated")
        if final:
            self.final_status = status
        previous = self._tail
        done: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self._tail = done
        self._spawn(self._send_after(previous, done, status, reason, final))
        return done

    async def _send_after(
        self,
        previous: asyncio.Future[int | None] | None,
        done: asyncio.Future[int | None],
        status: int,
        reason: str | None,
        final: bool,
    ) -> None:
        try:
            if previous is not None:
                await asyncio.wait([previous])  # in order; its outcome does not matter
            response = await self._send(
                notify_headers(self.refer_cseq, final), sipfrag(status, reason),
                "message/sipfrag;version=2.0",
            )  # fmt: skip
            if not done.done():
                done.set_result(response.status)
        except Exception as exc:  # the dialog ended, the far end went away...
            log.info("NOTIFY %d for REFER %d not sent: %s", status, self.refer_cseq, exc)
            if not done.done():
                done.set_result(None)
        finally:
            if not done.done():
                done.cancel()
