"""A call driven through the CallHost / DialogUser contract alone: no endpoint, no sockets.

:mod:`hotline.sip.call_host` claims that a fake :class:`CallHost` is all a call
needs; these tests hold it to that, and check that the real endpoint and calls
provide every member of the Protocols under the names the Protocols give.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass, field

from hotline.sip.auth import DigestClient
from hotline.sip.call import IncomingCall, OutgoingCall
from hotline.sip.call_host import CallHost, DialogUser, InviteUser
from hotline.sip.capabilities import ALLOW_TEXT
from hotline.sip.dialog import DialogId
from hotline.sip.endpoint import SipEndpoint
from hotline.sip.events import Address, TransactionKey
from hotline.sip.headers import Via
from hotline.sip.message import Request, Response, build_response, new_branch, parse_message
from hotline.sip.sdp import make_offer
from hotline.sip.settings import ListenAddress, SipSettings
from hotline.sip.transaction import client_key, server_key
from hotline.sip.transport import Transport
from hotline.sip.uri import Uri


class FakeTransport:
    name = "UDP"
    local_address = ("127.0.0.1", 5060)


@dataclass
class FakeHost:
    """Records what the call asks for; every request it sends is answered 200 at once."""

    config: SipSettings = field(default_factory=lambda: SipSettings(listen=(ListenAddress("udp", "127.0.0.1", 5060),)))
    codecs: tuple[str, ...] = ("PCMU", "PCMA")
    digest: DigestClient | None = None
    responses: list[Response] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    dialogs: list[DialogId] = field(default_factory=list)
    ended: list[tuple[DialogUser, str]] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def transport_for(self, name: str = "UDP", family_of: str | None = None) -> Transport:
        return FakeTransport()  # type: ignore[return-value]

    def local_host(self, transport: Transport, toward: str | None = None) -> str:
        return "127.0.0.1"

    def via(self, transport: Transport, toward: str | None = None) -> Via:
        return Via(transport="UDP", host="127.0.0.1", port=5060, params={"branch": new_branch()})

    def contact_uri(self, transport: Transport, toward: str | None = None, user: str | None = None) -> str:
        return f"sip:{user or 'hotline'}@127.0.0.1:5060"

    async def resolve(self, uri: Uri) -> tuple[str, Address]:
        return "UDP", ("127.0.0.1", 5070)

    def send_request(self, request: Request, transport: Transport, destination: Address) -> Awaitable[Response]:
        self.requests.append(request)

        async def answer() -> Response:
            return build_response(request, 200)

        return answer()

    def send_invite(
        self, request: Request, transport: Transport, destination: Address, call: InviteUser
    ) -> TransactionKey:
        self.requests.append(request)
        return client_key(request)

    def cancel_invite(self, key: TransactionKey) -> None:
        pass

    def send_stateless(self, transport: Transport, message: Request, destination: Address) -> None:
        self.requests.append(message)

    def respond(
        self,
        key: TransactionKey,
        request: Request,
        status: int,
        reason: str | None = None,
        *,
        to_tag: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        content_type: str | None = None,
    ) -> Response:
        response = build_response(
            request, status, reason, to_tag=to_tag, headers=headers, body=body, content_type=content_type
        )
        self.responses.append(response)
        return response

    def register_dialog(self, dialog_id: DialogId, call: DialogUser) -> None:
        self.dialogs.append(dialog_id)

    def call_ended(self, call: DialogUser, reason: str) -> None:
        self.ended.append((call, reason))

    def spawn(self, coro: Awaitable[None], name: str | None = None) -> object:
        task = asyncio.ensure_future(coro)
        self.tasks.append(task)
        return task


def invite() -> Request:
    body = make_offer("127.0.0.1", 40000).serialize()
    text = (
        "INVITE sip:hotline@127.0.0.1:5060 SIP/2.0\r\n"
        "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKcallhost1\r\n"
        "Max-Forwards: 70\r\n"
        "From: <sip:13800138000@127.0.0.1:5070>;tag=caller\r\n"
        "To: <sip:hotline@127.0.0.1:5060>\r\n"
        "Call-ID: callhost-1@127.0.0.1\r\n"
        "CSeq: 1 INVITE\r\n"
        "Contact: <sip:13800138000@127.0.0.1:5070>\r\n"
        "Content-Type: application/sdp\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    message = parse_message(text.encode() + body)
    assert isinstance(message, Request)
    return message


def in_dialog(method: str, call: IncomingCall, cseq: int) -> Request:
    text = (
        f"{method} sip:hotline@127.0.0.1:5060 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK{method.lower()}{cseq}\r\n"
        "Max-Forwards: 70\r\n"
        "From: <sip:13800138000@127.0.0.1:5070>;tag=caller\r\n"
        f"To: <sip:hotline@127.0.0.1:5060>;tag={call.to_tag}\r\n"
        "Call-ID: callhost-1@127.0.0.1\r\n"
        f"CSeq: {cseq} {method}\r\n"
        "Content-Length: 0\r\n\r\n"
    )
    message = parse_message(text.encode())
    assert isinstance(message, Request)
    return message


def incoming(host: FakeHost) -> IncomingCall:
    request = invite()
    call = IncomingCall(host, request, server_key(request), ("127.0.0.1", 5070), FakeTransport(), None)  # type: ignore[arg-type]
    return call


async def test_a_cancel_for_another_invite_is_not_the_calls() -> None:
    host = FakeHost()
    call = incoming(host)
    other = TransactionKey("server", "INVITE", "z9hG4bKsomeoneelse", ("127.0.0.1", 5070))
    assert call.on_cancel(other) is False
    assert host.responses == [] and not call.is_over


async def test_a_cancel_of_its_invite_ends_a_ringing_call_with_487() -> None:
    host = FakeHost()
    call = incoming(host)
    await call.ringing()
    assert call.on_cancel(call.server_key) is True
    assert [r.status for r in host.responses] == [180, 487]
    assert call.ended is not None and call.ended.reason == "cancelled"
    assert host.ended == [(call, "cancelled")]


async def test_in_dialog_requests_are_answered_with_the_shared_capabilities() -> None:
    host = FakeHost()
    call = incoming(host)
    answering = asyncio.ensure_future(call.answer(make_offer("127.0.0.1", 41000).serialize()))
    await asyncio.sleep(0)
    assert [r.status for r in host.responses] == [200] and host.dialogs == [call.dialog_id]

    call.on_in_dialog_request(in_dialog("OPTIONS", call, 2), TransactionKey("server", "OPTIONS", "b2"))
    call.on_in_dialog_request(in_dialog("SUBSCRIBE", call, 3), TransactionKey("server", "SUBSCRIBE", "b3"))
    options, subscribe = host.responses[1:]
    assert options.status == 200 and options.headers.get("Allow") == ALLOW_TEXT
    assert subscribe.status == 405 and subscribe.headers.get("Allow") == ALLOW_TEXT

    ack = in_dialog("ACK", call, 1)
    call.on_ack(ack)
    await answering
    await call.shutdown()  # BYE through host.send_request, answered 200
    assert [r.method for r in host.requests] == ["BYE"]
    assert host.ended == [(call, "shutdown")]


def _members(protocol: type) -> set[str]:
    return {name for name in vars(protocol) if not name.startswith("_")}


def test_the_endpoint_and_the_calls_provide_the_protocols() -> None:
    """Every Protocol member exists under its public name (mypy checks the signatures)."""
    assert _members(CallHost) <= set(dir(SipEndpoint)) | {"config", "codecs"}  # instance attributes
    for cls in (IncomingCall, OutgoingCall):
        assert _members(DialogUser) <= set(dir(cls)) | {"call_id", "sip_transport"}
    assert _members(InviteUser) <= set(dir(OutgoingCall))
    assert {"on_cancel", "on_in_dialog_request", "on_ack", "shutdown"} <= _members(DialogUser)
