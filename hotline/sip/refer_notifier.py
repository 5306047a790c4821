"""Sends the NOTIFYs of an accepted REFER in order: the asyncio half of :mod:`hotline.sip.refer`.

A call that accepts a REFER (:mod:`hotline.sip.call`) makes one
:class:`ReferNotifier`; the layer above reports the progress of the call to
the Refer-To target through it (:meth:`hotline.sip.call_events.Refer.progress`
/ ``finish``).  It sends through a coroutine it is given (a request in the
call's dialog) and keeps the NOTIFYs in order, one at a time, each in a task
owned by the endpoint.  What each NOTIFY carries is :mod:`hotline.sip.refer`'s.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from hotline.sip.errors import LocalProtocolError
from hotline.sip.message import Response
from hotline.sip.refer import notify_headers, sipfrag
from hotline.sip.uac import NoResponse

__all__ = ["ReferNotifier", "SendNotify", "Spawn"]

log = logging.getLogger(__name__)

#: Sends one NOTIFY in the dialog: (headers, body, content type) -> its final response (or none).
SendNotify = Callable[[list[tuple[str, str]], bytes, str], Awaitable[Response | NoResponse]]
#: Starts a task the endpoint owns.
Spawn = Callable[[Awaitable[None]], object]


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
