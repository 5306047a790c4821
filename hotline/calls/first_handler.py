"""The first call handler: every accepted call leaves a call record and an issue.

``hotline serve`` runs the flow-driven :class:`~hotline.calls.controller.CallController`;
this minimal handler stays as the smallest complete one, which the endpoint's interop tests
use (in-band DTMF, REFER, RTP time-outs) without IVR flows or prompts. With a call it:

1. normalise the caller (P-Asserted-Identity, Remote-Party-ID, From, Privacy)
   with the site's numbering plan;
2. commit the call and issue rows (:meth:`IssueService.create_issue_for_call`)
   BEFORE ringing, so even a caller who hangs up at once is on record;
3. ring for ``sip.ring_seconds``;
4. answer: with the media engine, an RTP stream that plays ``greeting.wav`` and
   collects DTMF (RFC 4733, in-band and INFO merged); without one, an SDP
   answer on a port of the configured RTP range and no media;
5. hold the call until the caller hangs up or ``sip.max_call_seconds`` pass;
6. record how it ended (``answered``, ``abandoned`` when the caller gave up
   while it rang, ``cancelled`` when the INVITE was CANCELled, ``failed`` when
   the answer was never ACKed), the answer time and the digits.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from hotline.callerid import caller_from_headers
from hotline.config import Config
from hotline.issues import IssueService
from hotline.services import numbering_plan
from hotline.sip.call import CallEnded, IncomingCall
from hotline.sip.call_events import Dtmf, Ended, Refer, Reinvite
from hotline.sip.protection import PeerAllowList
from hotline.sip.sdp import SdpError, negotiate_answer
from hotline.store import Store
from hotline.store.records import NewCall

if TYPE_CHECKING:
    from hotline.media.engine import MediaEngine
    from hotline.media.stream import RtpStream

__all__ = ["FirstCallHandler", "disposition_for"]

log = logging.getLogger(__name__)
T = TypeVar("T")


async def _shielded(write: Awaitable[T]) -> T:
    """Run a store write to its end even if this handler is cancelled meanwhile.

    A write cancelled half-way (e.g. between BEGIN and COMMIT) would leave the
    shared writer connection inside a transaction; the digit task is cancelled
    when the call ends and ``SipEndpoint.stop`` cancels slow handlers.
    """
    return await asyncio.shield(write)


def disposition_for(ended: Ended | None, answered: bool) -> str:
    """The call record's disposition from how the call ended and whether we answered."""
    if answered:
        return "answered"
    if ended is None:
        return "failed"
    if ended.reason == "cancelled":
        return "cancelled"
    if ended.reason in ("remote-bye", "rejected", "local-bye", "timeout"):
        return "abandoned"
    if ended.reason == "no-ack":
        return "failed"
    return ended.reason


class FirstCallHandler:
    """``on_call`` handler for :class:`~hotline.sip.endpoint.SipEndpoint` (see the module doc)."""

    def __init__(
        self,
        config: Config,
        store: Store,
        issues: IssueService,
        *,
        media: MediaEngine | None = None,
        local_address: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.config = config
        self.store = store
        self.issues = issues
        self.media = media
        self.local_address = local_address
        self.plan = numbering_plan(config)
        self._clock = clock
        lo, hi = config.media.rtp_port_min, config.media.rtp_port_max
        self._port_range = (lo + lo % 2, hi)
        self._next_port = self._port_range[0]
        self._prompts: object | None = None
        self._inband_peers = PeerAllowList(config.media.inband_dtmf_peers)

    async def __call__(self, call: IncomingCall) -> None:
        started = self._clock()
        caller = caller_from_headers(
            p_asserted_identity=call.p_asserted_identity,
            from_=call.request.headers.get("From"),
            remote_party_id=call.remote_party_id,
            privacy=call.privacy,
            plan=self.plan,
        )
        record, issue = await _shielded(self.issues.create_issue_for_call(
            NewCall(
                sip_call_id=call.call_id,
                started_at=started,
                from_uri=call.from_uri,
                from_display=caller.display_name or call.from_display,
                caller_raw=caller.raw,
                caller_key=caller.key or None,
                to_uri=call.to_uri,
                direction="in",
            )
        ))
        log.info("call %s from %r: call #%d, issue #%d", call.call_id, caller.key, record.id, issue.id)
        answered = False
        stream: RtpStream | None = None
        try:
            await call.ringing()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(call.wait_ended(), self.config.sip.ring_seconds)
            if call.is_over:
                return
            stream = await self._answer(call)
            answered = True
            await _shielded(self.store.calls.update(record.id, answered_at=self._clock()))
            await self._hold(call, record.id, stream)
        except CallEnded:
            pass
        except SdpError as exc:
            log.info("call %s: cannot answer the offer (%s)", call.call_id, exc)
            await call.reject(exc.status)
        finally:
            if stream is not None:
                stats = await stream.close("hangup")
                with contextlib.suppress(Exception):
                    await _shielded(self.store.calls.set_media_stats(record.id, stats))
            if not call.is_over:
                await call.hangup()
            disposition = disposition_for(call.ended, answered)
            await _shielded(self.store.calls.end(record.id, self._clock(), disposition))

    # -- answering -----------------------------------------------------------------------

    def _media_address(self, call: IncomingCall) -> str:
        if self.local_address:
            return self.local_address
        host = call.endpoint.local_host(call.sip_transport, call.source[0])
        return host.strip("[]")

    def _take_port(self) -> int:
        port = self._next_port
        self._next_port += 2
        if self._next_port + 1 > self._port_range[1]:
            self._next_port = self._port_range[0]
        return port

    async def _answer(self, call: IncomingCall) -> RtpStream | None:
        address = self._media_address(call)
        if call.remote_sdp is None:
            # A late-offer INVITE: offer what we take; the ACK carries the answer.
            from hotline.sip.sdp import make_offer

            sdp = make_offer(address, self._take_port(), self.config.media.codecs,
                             session=call.sdp_session)
            await call.answer(sdp.serialize())
            return None
        if self.media is None:
            await call.answer(call.make_answer(address, self._take_port()))
            return None
        from hotline.media.player import PromptItem
        from hotline.media.prompt import PromptCache
        from hotline.media.session import StreamConfig

        probe = negotiate_answer(
            call.remote_sdp, local_address=address, local_port=9,
            supported_codecs=self.config.media.codecs,
        )
        stream = await self.media.open_stream(
            StreamConfig.from_negotiated(
                probe.media,
                symmetric_rtp=self.config.media.symmetric_rtp,
                rtp_timeout=self.config.media.rtp_timeout,
                inband_dtmf=self._inband_peers.allows(*call.source),
            )
        )
        try:
            await call.answer(call.make_answer(address, stream.port))
        except BaseException:
            await stream.close("not answered")
            raise
        if self._prompts is None:
            self._prompts = PromptCache()
        assert isinstance(self._prompts, PromptCache)
        greeting = Path(self.config.media.prompts_dir) / "greeting.wav"
        try:
            prompt = self._prompts.get(greeting, stream.session.config.codec, probe.media.ptime_ms)
        except Exception as exc:  # a missing prompt must not drop the call
            log.warning("cannot play %s: %s", greeting, exc)
        else:
            stream.play([PromptItem(prompt)])
        return stream

    # -- holding ---------------------------------------------------------------------------

    async def _hold(self, call: IncomingCall, record_id: int, stream: RtpStream | None) -> None:
        deadline = asyncio.get_running_loop().time() + self.config.sip.max_call_seconds
        digit_task: asyncio.Task[None] | None = None
        if stream is not None:
            digit_task = asyncio.ensure_future(self._media_digits(stream, record_id))
        rtp_watch: asyncio.Task[object] | None = None
        if stream is not None:
            rtp_watch = asyncio.ensure_future(stream.wait_timed_out())
        try:
            async with asyncio.timeout_at(deadline):
                signalling = asyncio.ensure_future(self._follow(call, record_id, stream))
                waiting = {signalling} | ({rtp_watch} if rtp_watch else set())
                done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
                if rtp_watch in done:
                    # The caller's RTP stopped (network gone, phone crashed): no BYE will come.
                    log.info("call %s: no RTP for %.0f s; hanging up", call.call_id,
                             self.config.media.rtp_timeout)
                    signalling.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await signalling
                    await call.hangup()
                else:
                    signalling.result()
        except TimeoutError:
            log.info("call %s reached max_call_seconds; hanging up", call.call_id)
            await call.hangup()
        finally:
            if rtp_watch is not None:
                rtp_watch.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await rtp_watch
            if digit_task is not None and stream is not None:
                digit_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await digit_task
                late = ""
                while not stream.digits.empty():  # pressed just before the hang-up
                    late += stream.digits.get_nowait().digit
                if late:
                    await _shielded(self.store.calls.add_digits(record_id, late))

    async def _follow(self, call: IncomingCall, record_id: int, stream: RtpStream | None) -> None:
        """Follow the call's signalling until it ends: INFO digits, re-INVITEs (hold)."""
        async for event in call.events():
            if isinstance(event, Dtmf):
                if stream is not None:
                    stream.digit_from_info(event.digit, event.duration_ms)
                else:
                    await _shielded(self.store.calls.add_digits(record_id, event.digit))
            elif isinstance(event, Reinvite) and stream is not None:
                media = event.media
                stream.set_remote((media.remote_address, media.remote_port),
                                  (media.remote_address, media.rtcp_port))
            elif isinstance(event, Refer):
                # This handler transfers nowhere; end the REFER's subscription at once.
                await event.finish(603, "Decline")

    async def _media_digits(self, stream: RtpStream, record_id: int) -> None:
        while True:
            digit = await stream.digits.get()
            await _shielded(self.store.calls.add_digits(record_id, digit.digit))
