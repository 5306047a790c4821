"""Calls as the layers above SIP see them: :class:`IncomingCall` and :class:`OutgoingCall`.

A call object is the asyncio face of one INVITE session
(:class:`~hotline.sip.session.InviteSession`) and its
:class:`~hotline.sip.dialog.Dialog`.  Its methods (``ringing``, ``answer``,
``reject``, ``redirect``, ``transfer``, ``hangup``) turn into responses and
requests through the endpoint that owns the call, seen here only as a
:class:`~hotline.sip.call_host.CallHost`; what the far end does arrives as
:mod:`~hotline.sip.call_events` on :meth:`_CallBase.events`, whose last event
is always :class:`~hotline.sip.call_events.Ended`.  The endpoint reaches a call
through the :class:`~hotline.sip.call_host.DialogUser` methods (``on_*`` and
``shutdown``), which are for it alone.  Media is not handled here: only SDP is
carried.

The protocol decisions are not made here either: what to answer to a request
inside the dialog (and to a re-INVITE) is :mod:`hotline.sip.uas`'s, the INVITE
we dial and the parts of our in-dialog requests are built by
:mod:`hotline.sip.uac`.  A call keeps the futures and queues call control waits
on, and its session and dialog state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from hotline.sip.call_events import (
    Answered,
    CallEvent,
    CallProgress,
    Dtmf,
    Ended,
    Refer,
    Reinvite,
    TransferProgress,
)
from hotline.sip.call_host import CallHost
from hotline.sip.dialog import Dialog, DialogId, DialogState
from hotline.sip.errors import LocalProtocolError, RemoteProtocolError
from hotline.sip.events import TransactionKey
from hotline.sip.headers import NameAddr, split_header_list
from hotline.sip.message import Request, Response, new_tag
from hotline.sip.refer_notifier import ReferNotifier
from hotline.sip.sdp import (
    Answer,
    LocalSdpSession,
    NegotiatedMedia,
    SdpError,
    SessionDescription,
    negotiate_answer,
    parse_answer,
)
from hotline.sip.session import InviteSession, SessionInput, SessionState
from hotline.sip.transport import Transport
from hotline.sip.uac import (
    NoResponse,
    build_invite,
    dtmf_info_body,
    invite_with_credentials,
    plan_dial,
    refer_headers,
    refer_target,
)
from hotline.sip.uas import (
    DtmfReceived,
    ReferAccepted,
    Reinvited,
    RemoteHangup,
    Reply,
    TransferNotified,
    answer_reinvite,
    in_dialog,
)
from hotline.sip.uri import SipUri, TelUri, Uri, is_ip_literal, parse_uri

__all__ = ["CallEnded", "CallFailed", "IncomingCall", "OutgoingCall", "TransferFailed"]

log = logging.getLogger(__name__)

_I = SessionInput
_S = SessionState
#: How long hangup() waits for the response to its BYE before calling the call over anyway.
BYE_WAIT = 4.0
#: How long transfer() waits for the final NOTIFY of its REFER.
TRANSFER_WAIT = 32.0


class CallEnded(Exception):
    """The call ended before the operation could complete; ``ended`` says how."""

    def __init__(self, ended: Ended) -> None:
        super().__init__(f"call ended: {ended.reason} {ended.status or ''}".strip())
        self.ended = ended


class CallFailed(CallEnded):
    """An outgoing leg was not answered (rejected, redirected, cancelled, timed out)."""


class TransferFailed(Exception):
    """A blind transfer did not succeed; ``status`` is the REFER's or the target's status."""

    def __init__(self, status: int, why: str) -> None:
        super().__init__(f"transfer failed: {status} {why}")
        self.status = status


def _user_of(uri: Uri) -> str:
    if isinstance(uri, SipUri):
        return uri.user or ""
    if isinstance(uri, TelUri):
        return uri.number
    return ""


def _media_of(sdp: bytes) -> tuple[str, int] | None:
    """(connection address, audio port) of an SDP we wrote."""
    try:
        desc = SessionDescription.parse(sdp)
    except SdpError:
        return None
    for media in desc.media:
        if media.media == "audio" and media.port:
            conn = desc.connection_for(media)
            if conn is not None:
                return conn.address, media.port
    return None


class _CallBase:
    """What incoming and outgoing calls share: the dialog, in-dialog requests, events."""

    role = "uas"

    def __init__(self, endpoint: CallHost, call_id: str, transport: Transport, next_hop: tuple[str, int]):
        self.endpoint = endpoint
        """The endpoint that owns the call."""
        self.call_id = call_id
        self.sip_transport = transport
        """The endpoint transport this call's messages go out on."""
        self.session = InviteSession(self.role)
        self.dialog: Dialog | None = None
        self.sdp_session = LocalSdpSession()
        self.negotiated: NegotiatedMedia | None = None
        """What audio was agreed (after the answer; updated by re-INVITEs)."""
        self.local_sdp: bytes | None = None
        self._next_hop = next_hop
        self._queue: asyncio.Queue[CallEvent] = asyncio.Queue()
        loop = asyncio.get_running_loop()
        self._ended: asyncio.Future[Ended] = loop.create_future()
        self._transfer: asyncio.Future[int] | None = None
        self._bye_sent = False

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.call_id} {self.session.state.value}>"

    # -- for the layers above ---------------------------------------------------------------

    @property
    def is_over(self) -> bool:
        """Whether the call has ended."""
        return self._ended.done()

    async def events(self) -> AsyncIterator[CallEvent]:
        """Every event of the call in order, :class:`Ended` last (one consumer only)."""
        while True:
            event = await self._queue.get()
            yield event
            if isinstance(event, Ended):
                return

    async def wait_ended(self) -> Ended:
        """Wait for the end of the call."""
        return await asyncio.shield(self._ended)

    @property
    def ended(self) -> Ended | None:
        """How the call ended, or ``None`` while it lasts."""
        return self._ended.result() if self._ended.done() else None

    async def send_dtmf_info(self, digit: str, duration_ms: int = 160) -> Response | NoResponse:
        """Send one key as SIP INFO (``application/dtmf-relay``) in the confirmed dialog."""
        body = dtmf_info_body(digit, duration_ms)
        return await self._request("INFO", body=body, content_type="application/dtmf-relay")

    async def transfer(self, target: str) -> None:
        """Blind transfer (RFC 3515): REFER the far end to ``target``, follow NOTIFY until final.

        On success the call is ended with BYE (reason ``"transferred"``);
        otherwise :class:`TransferFailed` is raised and the call stays up.
        """
        if self.session.state is not _S.CONFIRMED or self.dialog is None:
            raise LocalProtocolError(f"cannot transfer a call that is {self.session.state.value}")
        refer_to = refer_target(target, self._next_hop)
        loop = asyncio.get_running_loop()
        self._transfer = loop.create_future()
        referred_by = str(self.dialog.local_uri.uri)
        response = await self._request("REFER", headers=refer_headers(refer_to, referred_by))
        if not 200 <= response.status < 300:
            self._transfer = None
            raise TransferFailed(response.status, response.reason)
        try:
            status = await asyncio.wait_for(asyncio.shield(self._transfer), TRANSFER_WAIT)
        except TimeoutError:
            raise TransferFailed(408, "no final NOTIFY") from None
        finally:
            self._transfer = None
        if not 200 <= status < 300:
            raise TransferFailed(status, "transfer target did not answer")
        await self._bye("transferred")

    # -- internals shared by both sides ------------------------------------------------------

    def _emit(self, event: CallEvent) -> None:
        self._queue.put_nowait(event)

    def _end(self, reason: str, status: int | None = None, contact: tuple[str, ...] = ()) -> None:
        if self._ended.done():
            return
        ended = Ended(reason, status, contact)
        self._emit(ended)
        self._ended.set_result(ended)
        if self._transfer is not None and not self._transfer.done():
            self._transfer.set_result(487)
        self.endpoint.call_ended(self, reason)

    def _destination(self) -> tuple[str, int]:
        """Where in-dialog requests go: the first route, else the remote target (IP literals)."""
        assert self.dialog is not None
        uri = self.dialog.route_set[0].uri if self.dialog.route_set else self.dialog.remote_target
        if isinstance(uri, SipUri):
            host = (uri.param("maddr") or uri.host).strip("[]")
            if is_ip_literal(host):
                return host, uri.port or 5060
        return self._next_hop

    async def _request(
        self,
        method: str,
        *,
        headers: list[tuple[str, str]] | None = None,
        body: bytes = b"",
        content_type: str | None = None,
    ) -> Response | NoResponse:
        if self.dialog is None:
            raise LocalProtocolError(f"no dialog to send {method} in")
        destination = self._destination()
        request = self.dialog.create_request(
            method,
            via=self.endpoint.via(self.sip_transport, destination[0]),
            headers=headers or [],
            body=body,
            content_type=content_type,
        )
        return await self.endpoint.send_request(request, self.sip_transport, destination)

    async def _notify(
        self, headers: list[tuple[str, str]], body: bytes, content_type: str
    ) -> Response | NoResponse:
        return await self._request("NOTIFY", headers=headers, body=body, content_type=content_type)

    async def _bye(self, reason: str = "local-bye") -> None:
        """Send BYE (once) and end the call with ``reason``; waits at most :data:`BYE_WAIT`."""
        if self.session.allows(_I.LOCAL_BYE):
            self.session.fire(_I.LOCAL_BYE)
        elif self.session.state is not _S.TERMINATING or self._bye_sent:
            await self.wait_ended()
            return
        self._bye_sent = True
        with contextlib.suppress(TimeoutError, LocalProtocolError):
            await asyncio.wait_for(self._request("BYE"), BYE_WAIT)
        if self.dialog is not None:
            self.dialog.terminate()
        if self.session.allows(_I.BYE_DONE):
            self.session.fire(_I.BYE_DONE, end_reason=reason)
        self._end(reason)

    # -- what the endpoint calls (the DialogUser protocol) -----------------------------------

    def on_in_dialog_request(self, request: Request, key: TransactionKey) -> None:
        """A request in our dialog (see :class:`~hotline.sip.call_host.DialogUser`)."""
        ep = self.endpoint
        outcome = in_dialog(
            request, dialog_established=self.dialog is not None, accept_refer=ep.config.accept_refer
        )
        if self.dialog is not None:
            self.dialog.receive_request(request)
        if outcome.reply is not None:
            self._reply(key, request, outcome.reply)
        effect = outcome.effect
        if isinstance(effect, RemoteHangup):
            if self.session.state is _S.ANSWERED:
                # The BYE overtook (or replaced a lost) ACK: the far end had our 200.
                self._bye_before_ack()
            if self.session.allows(_I.REMOTE_BYE):
                transition = self.session.fire(_I.REMOTE_BYE)
                if transition.ended:
                    self._end(transition.ended)
        elif isinstance(effect, DtmfReceived):
            self._emit(Dtmf(effect.digit, effect.duration_ms, "info"))
        elif isinstance(effect, Reinvited):
            self._on_reinvite(request, key)
        elif isinstance(effect, TransferNotified):
            self._emit(TransferProgress(effect.status))
            if effect.status >= 200 and self._transfer is not None and not self._transfer.done():
                self._transfer.set_result(effect.status)
        elif isinstance(effect, ReferAccepted):
            notifier = ReferNotifier(self._notify, ep.spawn, effect.refer_cseq)
            notifier.start()  # RFC 3515 §2.4.4: NOTIFY 100 Trying at once
            self._emit(Refer(effect.target, notifier))

    def _reply(self, key: TransactionKey, request: Request, reply: Reply) -> None:
        """Send the UAS core's ``reply`` to an in-dialog ``request``."""
        self.endpoint.respond(
            key, request, reply.status, reply.reason, to_tag=new_tag() if reply.fresh_tag else None,
            headers=reply.headers, body=reply.body, content_type=reply.content_type,
        )

    def on_ack(self, request: Request) -> None:
        """The ACK of our 2xx arrived (incoming calls)."""
        return None

    def on_ack_timeout(self) -> None:
        """No ACK for our 2xx (incoming calls): BYE."""
        return None

    def on_cancel(self, invite_key: TransactionKey) -> bool:
        """A CANCEL of the INVITE ``invite_key``: whether it was ours (incoming calls)."""
        return False

    def on_stray_2xx(self, response: Response) -> None:
        """A late 2xx retransmission (outgoing calls): ACK it again."""
        return None

    async def shutdown(self) -> None:
        """The endpoint is stopping: end the call at once, whatever its state."""
        raise NotImplementedError

    # -- internals of the in-dialog requests -------------------------------------------------

    def _on_reinvite(self, request: Request, key: TransactionKey) -> None:
        outcome = answer_reinvite(
            request,
            confirmed=self.session.state is _S.CONFIRMED and self.dialog is not None,
            over=self.session.over,
            contact=str(self.dialog.local_contact) if self.dialog is not None else "",
            local_sdp=self.local_sdp,
            local_media=_media_of(self.local_sdp) if self.local_sdp else None,
            codecs=self.endpoint.codecs,
            sdp_session=self.sdp_session,
        )
        answer = outcome.answer
        if answer is not None:
            self.local_sdp = outcome.reply.body
            self.negotiated = answer.media
        self._reply(key, request, outcome.reply)
        if answer is not None:
            self._emit(Reinvite(request.body, answer.media.on_hold, answer.media))

    def _bye_before_ack(self) -> None:
        """Overridden by incoming calls: a BYE came before the ACK of our 2xx."""
        return None


class IncomingCall(_CallBase):
    """A call someone made to us: answer it, reject it, redirect or transfer it.

    Built by the endpoint when an INVITE passed the gatekeeper; the 100 Trying
    is already out.  Fields describe the INVITE as received.
    """

    role = "uas"

    def __init__(
        self,
        endpoint: CallHost,
        request: Request,
        server_key: TransactionKey,
        source: tuple[str, int],
        transport: Transport,
        remote_sdp: SessionDescription | None,
    ) -> None:
        super().__init__(endpoint, request.call_id, transport, source)
        self.request = request
        self.server_key = server_key
        from_ = request.from_
        to = request.to
        self.from_uri: str = str(from_.uri)
        self.from_display: str | None = from_.display_name
        self.p_asserted_identity: str | None = request.headers.get("P-Asserted-Identity")
        self.remote_party_id: str | None = request.headers.get("Remote-Party-ID")
        self.privacy: str | None = request.headers.get("Privacy")
        self.diversion: tuple[str, ...] = tuple(
            v for line in request.headers.get_all("Diversion") for v in split_header_list(line)
        )
        self.request_uri: str = str(request.uri)
        self.called: str = _user_of(request.uri) or _user_of(to.uri)
        """The number dialled: the user part of the Request-URI (else of To)."""
        self.to_uri: str = str(to.uri)
        self.remote_sdp = remote_sdp
        self.source = source
        self.transport: str = transport.name
        """``"UDP"`` or ``"TCP"``: the transport the INVITE came on."""
        self.to_tag = new_tag()
        self.dialog_id = DialogId(request.call_id, self.to_tag, from_.tag or "")
        self.local_contact = NameAddr.parse(f"<{endpoint.contact_uri(transport, source[0])}>")
        self._ack: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    # -- the API --------------------------------------------------------------------------

    def make_answer(self, local_address: str, local_port: int, *, direction: str | None = None) -> Answer:
        """Our SDP answer to the caller's offer, for ``answer()`` (488 ``SdpError`` if none fits)."""
        if self.remote_sdp is None:
            raise LocalProtocolError("the INVITE had no offer: answer() with an offer instead")
        return negotiate_answer(
            self.remote_sdp,
            local_address=local_address,
            local_port=local_port,
            supported_codecs=self.endpoint.codecs,
            session=self.sdp_session,
            direction=direction,
        )

    async def ringing(self, *, early_sdp: bytes | None = None) -> None:
        """Send 180 Ringing, or 183 Session Progress with ``early_sdp``."""
        self._check_alive()
        self.session.fire(_I.LOCAL_PROVISIONAL)
        if early_sdp is None:
            self._respond(180)
        else:
            self.local_sdp = early_sdp
            self._respond(183, body=early_sdp, content_type="application/sdp")

    async def answer(self, sdp: bytes | Answer) -> None:
        """Send 200 OK with ``sdp`` and wait for the ACK.

        Raises :class:`CallEnded` if the call ended first (CANCEL) or no ACK came.
        """
        self._check_alive()
        if isinstance(sdp, Answer):
            self.negotiated = sdp.media
            body = sdp.body
        else:
            body = sdp
            local = _media_of(sdp)
            if self.remote_sdp is not None and local is not None:
                with contextlib.suppress(SdpError, ValueError):
                    self.negotiated = negotiate_answer(
                        self.remote_sdp, local_address=local[0], local_port=local[1],
                        supported_codecs=self.endpoint.codecs,
                    ).media
        self.local_sdp = body
        self.session.fire(_I.LOCAL_ANSWER)
        response = self._respond(200, body=body, content_type="application/sdp")
        self.dialog = Dialog.as_uas(self.request, response, self.local_contact)
        self.endpoint.register_dialog(self.dialog_id, self)
        waiting: list[asyncio.Future[object]] = [self._ack, self._ended]  # type: ignore[list-item]
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        if self._ack.done() and not self._ack.cancelled():
            return
        raise CallEnded(await self.wait_ended())

    async def reject(self, code: int = 486, reason: str | None = None, *,
                     retry_after: int | None = None) -> None:
        """Refuse the call with a final ``code`` (400-699); ``retry_after`` seconds adds
        ``Retry-After`` (RFC 3261 §20.33: a 503 for overload says when to come back)."""
        if not 400 <= code <= 699:
            raise LocalProtocolError(f"reject needs a 4xx-6xx status, got {code}")
        if self.is_over:
            return
        self.session.fire(_I.LOCAL_REJECT)
        headers = [("Retry-After", str(int(retry_after)))] if retry_after is not None else None
        self._respond(code, reason, headers=headers)
        self._end("rejected", code)

    async def redirect(self, target: str, *, diversion: str | None = None) -> None:
        """302 Moved Temporarily to ``target`` with a Diversion header (RFC 5806).

        ``diversion`` defaults to the hotline number with ``reason=unconditional``.
        """
        self._check_alive()
        contact = target if target.startswith(("sip:", "sips:", "tel:")) else str(
            SipUri(host=self.source[0], user=target, port=self.source[1])
        )
        parse_uri(contact)  # our own argument: a bad one is our bug and raises here
        if diversion is None:
            ours = self.endpoint.contact_uri(self.sip_transport, self.source[0])
            diversion = f"<{ours}>;reason=unconditional;counter=1"
        self.session.fire(_I.LOCAL_REJECT, end_reason="redirected")
        self._respond(302, headers=[("Contact", f"<{contact}>"), ("Diversion", diversion)])
        self._end("redirected", 302, (contact,))

    async def hangup(self) -> None:
        """End the call: 487 before the answer, BYE after it.  Safe to call twice."""
        state = self.session.state
        if self.is_over:
            return
        if state in (_S.OFFERED, _S.EARLY):
            self.session.fire(_I.LOCAL_REJECT, end_reason="local-bye")
            self._respond(487)
            self._end("local-bye", 487)
        else:
            await self._bye()

    # -- internals ------------------------------------------------------------------------

    def _check_alive(self) -> None:
        if self.is_over:
            ended = self._ended.result()
            raise CallEnded(ended)

    def _respond(
        self,
        status: int,
        reason: str | None = None,
        *,
        headers: list[tuple[str, str]] | None = None,
        body: bytes = b"",
        content_type: str | None = None,
    ) -> Response:
        extra = list(headers or [])
        if 101 <= status < 300:
            extra.insert(0, ("Contact", str(self.local_contact)))
        return self.endpoint.respond(
            self.server_key, self.request, status, reason, to_tag=self.to_tag, headers=extra,
            body=body, content_type=content_type,
        )

    # -- what the endpoint calls ------------------------------------------------------------

    def on_cancel(self, invite_key: TransactionKey) -> bool:
        if invite_key != self.server_key:
            return False
        if self.session.allows(_I.REMOTE_CANCEL):
            self.session.fire(_I.REMOTE_CANCEL)
            self._respond(487)
            self._end("cancelled", 487)
        return True

    def on_ack(self, request: Request) -> None:
        if request.to_tag != self.to_tag:
            return
        if self.session.state is _S.ANSWERED:
            self.session.fire(_I.ACK)
            if self.dialog is not None:
                self.dialog.receive_request(request)
            if self.remote_sdp is None and request.body and self.local_sdp is not None:
                with contextlib.suppress(SdpError):
                    self.negotiated = parse_answer(SessionDescription.parse(self.local_sdp), request.body)
            remote = request.body if self.remote_sdp is None else self.request.body
            if not self._ack.done():
                self._ack.set_result(None)
            self._emit(Answered(self.negotiated, remote))

    def _bye_before_ack(self) -> None:
        self.session.fire(_I.ACK)
        if not self._ack.done():
            self._ack.set_result(None)
        self._emit(Answered(self.negotiated, self.request.body))

    def on_ack_timeout(self) -> None:
        if self.session.state is _S.ANSWERED:
            self.session.fire(_I.ACK_TIMEOUT)
            if not self._ack.done():
                self._ack.cancel()
            self.endpoint.spawn(self._bye("no-ack"), name=f"no-ack-{self.call_id[:12]}")

    async def handler_done(self) -> None:
        """The ``on_call`` handler returned: reject a call it left ringing (480), hang up one it left up."""
        if self.session.state in (_S.OFFERED, _S.EARLY):
            await self.reject(480)
        elif not self.is_over:
            await self.hangup()

    async def shutdown(self) -> None:
        if self.session.state in (_S.OFFERED, _S.EARLY):
            self.session.fire(_I.LOCAL_REJECT, end_reason="shutdown")
            self._respond(503)
            self._end("shutdown", 503)
        elif not self.is_over:
            await self._bye("shutdown")


class OutgoingCall(_CallBase):
    """A leg we dial (on-call forwarding).  Made by :meth:`~hotline.sip.endpoint.SipEndpoint.place_call`."""

    role = "uac"

    def __init__(
        self,
        endpoint: CallHost,
        request: Request,
        offer: SessionDescription | None,
        transport: Transport,
        next_hop: tuple[str, int],
    ) -> None:
        super().__init__(endpoint, request.call_id, transport, next_hop)
        self.request = request
        self.offer = offer
        self.target = str(request.uri)
        self.remote_sdp: bytes | None = None
        self.local_sdp = request.body
        self._key: TransactionKey | None = None
        self._ack_request: Request | None = None
        self._cancel_reason = "cancelled"
        self._timer: asyncio.TimerHandle | None = None
        self._answered: asyncio.Future[Answered] = asyncio.get_running_loop().create_future()
        self._answered.add_done_callback(lambda f: f.exception() if not f.cancelled() else None)
        self.response_observer: Callable[[Response], None] | None = None
        """Called with every response to our INVITE as received (100 Trying, reason phrases,
        Retry-After included), before the call acts on it; for tools that show the exchange."""

    @classmethod
    async def dial(
        cls,
        endpoint: CallHost,
        target: str,
        *,
        caller_id: str,
        display_name: str | None,
        sdp_offer: bytes,
        timeout: float,
        headers: tuple[tuple[str, str], ...],
    ) -> OutgoingCall:
        """Build and send the INVITE (see :meth:`~hotline.sip.endpoint.SipEndpoint.place_call`)."""
        config = endpoint.config
        plan = plan_dial(target, config.outbound.proxy)
        transport_name, destination = await endpoint.resolve(plan.next_hop)
        transport = endpoint.transport_for(transport_name, destination[0])
        request = build_invite(
            plan,
            outbound=config.outbound,
            hotline_number=config.hotline_number,
            local_host=endpoint.local_host(transport, destination[0]),
            via=endpoint.via(transport, destination[0]),
            contact=endpoint.contact_uri(transport, destination[0]),
            caller_id=caller_id,
            display_name=display_name,
            sdp_offer=sdp_offer,
            headers=headers,
        )
        offer = None
        if sdp_offer:
            with contextlib.suppress(SdpError):
                offer = SessionDescription.parse(sdp_offer)
        call = cls(endpoint, request, offer, transport, destination)
        call._send(request)
        loop = asyncio.get_running_loop()
        call._timer = loop.call_later(timeout, call._on_timeout)
        return call

    # -- the API --------------------------------------------------------------------------

    async def answered(self) -> Answered:
        """Wait for the answer; raises :class:`CallFailed` when the leg ends unanswered."""
        return await asyncio.shield(self._answered)

    async def cancel(self) -> None:
        """Give up ringing (CANCEL); the call ends ``"cancelled"`` on the 487."""
        self._send_cancel()

    async def hangup(self) -> None:
        """CANCEL before the answer, BYE after it.  Safe to call twice."""
        if self.is_over:
            return
        if self.session.state in (_S.OFFERED, _S.EARLY):
            await self.cancel()
        elif self.session.state is _S.CONFIRMED:
            await self._bye()

    # -- internals ------------------------------------------------------------------------

    def _send(self, request: Request) -> None:
        self.request = request
        self._key = self.endpoint.send_invite(request, self.sip_transport, self._next_hop, self)

    def _on_timeout(self) -> None:
        self._timer = None
        if self.session.allows(_I.LOCAL_CANCEL):
            self._cancel_reason = "timeout"
            self._send_cancel()

    def _send_cancel(self) -> None:
        if not self.session.allows(_I.LOCAL_CANCEL) or self._key is None:
            return
        self.session.fire(_I.LOCAL_CANCEL)
        self.endpoint.cancel_invite(self._key)
        # A far end that ignores our CANCEL: the layer's Timer C ends the INVITE
        # transaction 64*T1 later and the leg ends on that local 408 (on_invite_response).
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _finish(self, reason: str, status: int | None = None, contact: tuple[str, ...] = ()) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._end(reason, status, contact)
        if not self._answered.done():
            self._answered.set_exception(CallFailed(Ended(reason, status, contact)))

    # -- what the endpoint calls ------------------------------------------------------------

    def on_invite_response(self, response: Response) -> None:
        """A response to our INVITE (see :class:`~hotline.sip.call_host.InviteUser`)."""
        if self.response_observer is not None:
            self.response_observer(response)
        status = response.status
        if status < 200:
            if self.session.allows(_I.REMOTE_PROVISIONAL):
                self.session.fire(_I.REMOTE_PROVISIONAL)
                if status == 100:
                    return  # hop by hop: says nothing about the far end
                early = None
                if response.body and response.media_type == "application/sdp" and self.offer is not None:
                    with contextlib.suppress(SdpError):
                        early = parse_answer(self.offer, response.body)
                self._emit(CallProgress(status, response.reason, response.body or None, early))
            return
        if status < 300:
            self._on_2xx(response)
            return
        digest = self.endpoint.digest
        if (
            status in (401, 407)
            and digest is not None
            and self.session.state in (_S.OFFERED, _S.EARLY)
            and self._retry_with_credentials(response)
        ):
            return
        contacts: tuple[str, ...] = ()
        reason = "rejected"
        if 300 <= status < 400:
            reason = "redirected"
            with contextlib.suppress(RemoteProtocolError):
                contacts = tuple(str(c.uri) for c in response.contacts)
        self._unanswered(reason, status, contacts)

    def on_invite_failed(self, outcome: NoResponse) -> None:
        """Our INVITE got no final response (see :class:`~hotline.sip.call_host.InviteUser`)."""
        self._unanswered("timeout" if outcome.timed_out else "failed", outcome.status)

    def _unanswered(self, reason: str, status: int, contacts: tuple[str, ...] = ()) -> None:
        """The INVITE ended without an answer: end the leg ``reason`` (or as cancelled, if we were)."""
        digest = self.endpoint.digest
        if digest is not None:
            digest.reset()
        if not self.session.allows(_I.REMOTE_REJECT):
            return
        if self.session.state is _S.CANCELLING:
            self.session.fire(_I.REMOTE_REJECT, end_reason=self._cancel_reason)
            self._finish(self._cancel_reason, status)
            return
        self.session.fire(_I.REMOTE_REJECT, end_reason=reason)
        self._finish(reason, status, contacts)

    def _retry_with_credentials(self, response: Response) -> bool:
        digest = self.endpoint.digest
        assert digest is not None
        via = self.endpoint.via(self.sip_transport, self._next_hop[0])
        request = invite_with_credentials(self.request, response, digest, via)
        if request is None:
            return False
        self._send(request)
        return True

    def _on_2xx(self, response: Response) -> None:
        try:
            if self.dialog is None or self.dialog.state is DialogState.EARLY:
                self.dialog = Dialog.as_uac(self.request, response)
                self.endpoint.register_dialog(self.dialog.id, self)
            else:
                self.dialog.receive_response(response)
        except RemoteProtocolError as exc:
            log.warning("unusable 2xx on %s: %s", self.call_id, exc)
            return
        self._send_ack(response)
        digest = self.endpoint.digest
        if digest is not None:
            digest.reset()
        if not self.session.allows(_I.REMOTE_ANSWER):
            return
        transition = self.session.fire(_I.REMOTE_ANSWER)
        if transition.before is _S.CANCELLING:
            # The answer overtook our CANCEL: ACKed above, now BYE (RFC 3261 §9.1).
            self.endpoint.spawn(self._bye(self._cancel_reason))
            return
        if transition.before is _S.CONFIRMED:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.remote_sdp = response.body
        if self.offer is not None and response.body:
            try:
                self.negotiated = parse_answer(self.offer, response.body)
            except SdpError as exc:
                log.warning("outbound leg %s: unusable answer (%s); hanging up", self.call_id, exc)
                self.endpoint.spawn(self._bye("failed"))
                if not self._answered.done():
                    self._answered.set_exception(CallFailed(Ended("failed", exc.status)))
                return
        answered = Answered(self.negotiated, response.body)
        self._emit(answered)
        if not self._answered.done():
            self._answered.set_result(answered)

    def _send_ack(self, response: Response) -> None:
        assert self.dialog is not None
        if self._ack_request is None or self._ack_request.cseq.seq != response.cseq.seq:
            destination = self._destination()
            self._ack_request = self.dialog.create_ack(
                response, via=self.endpoint.via(self.sip_transport, destination[0])
            )
        self.endpoint.send_stateless(self.sip_transport, self._ack_request, self._destination())

    def on_stray_2xx(self, response: Response) -> None:
        if self.dialog is not None:
            self._send_ack(response)

    def _end(self, reason: str, status: int | None = None, contact: tuple[str, ...] = ()) -> None:
        super()._end(reason, status, contact)
        if not self._answered.done():
            self._answered.set_exception(CallFailed(Ended(reason, status, contact)))

    async def shutdown(self) -> None:
        if self.session.state in (_S.OFFERED, _S.EARLY):
            self._cancel_reason = "shutdown"
            await self.cancel()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.wait_ended(), 2.0)
        elif self.session.state is _S.CONFIRMED:
            await self._bye("shutdown")
