"""The contract between the endpoint and its calls, in both directions.

:class:`~hotline.sip.endpoint.SipEndpoint` owns the transports, the transaction
layer, the one timer and the tasks; a call
(:class:`~hotline.sip.call.IncomingCall`, :class:`~hotline.sip.call.OutgoingCall`)
owns one INVITE session and its dialog.  Each needs a little of the other:

* :class:`CallHost` -- what a call asks of the endpoint: send a request in a
  client transaction, answer on a server transaction, route a dialog's
  requests to it, run a task, resolve a URI, and the local addresses, codecs
  and settings it writes into its messages.
* :class:`DialogUser` -- what the endpoint tells a call: a request inside its
  dialog, the ACK of its 2xx (or its absence), a CANCEL, a 2xx retransmitted
  after its transaction ended, and that the endpoint is stopping.
  :class:`InviteUser` adds the responses to an INVITE the call sent.

Both are :class:`typing.Protocol`\\ s, so :mod:`hotline.sip.call` depends on
this module and not on the endpoint, and the endpoint (which makes the calls)
imports :mod:`hotline.sip.call` at the top: no import cycle, no private hooks
across modules.  A fake :class:`CallHost` is all a test needs to drive a call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable
from typing import Protocol

from hotline.sip.auth import DigestClient
from hotline.sip.dialog import DialogId
from hotline.sip.events import Address, TransactionKey
from hotline.sip.headers import Via
from hotline.sip.message import Request, Response
from hotline.sip.settings import SipSettings
from hotline.sip.transport import Transport
from hotline.sip.uac import NoResponse
from hotline.sip.uri import Uri

__all__ = ["CallHost", "DialogUser", "InviteUser"]


class DialogUser(Protocol):
    """A call as the endpoint routes to it (by dialog, Call-ID or INVITE transaction).

    Every method is called by the endpoint from its transport or timer
    callbacks: none may block, and what a call wants to wait for it spawns
    with :meth:`CallHost.spawn`.
    """

    @property
    def call_id(self) -> str:
        """The Call-ID of the call's dialog."""
        ...

    @property
    def sip_transport(self) -> Transport:
        """The transport the call's messages go out on (stateless ACKs and 2xx retransmissions)."""
        ...

    def on_in_dialog_request(self, request: Request, key: TransactionKey) -> None:
        """A request inside the call's dialog (BYE, INFO, re-INVITE, REFER, NOTIFY...) on server
        transaction ``key``; the call answers it with :meth:`CallHost.respond`."""

    def on_ack(self, request: Request) -> None:
        """The ACK of a 2xx (ours to an incoming INVITE) arrived."""

    def on_ack_timeout(self) -> None:
        """No ACK came for our 2xx within 64*T1 (RFC 3261 §13.3.1.4): the call must end with BYE."""

    def on_cancel(self, invite_key: TransactionKey) -> bool:
        """A CANCEL for the INVITE server transaction ``invite_key`` arrived (its own transaction is
        already answered 200).  Returns whether it was this call's INVITE; the call then answers the
        INVITE 487 and ends, and the endpoint answers it 487 itself otherwise."""

    def on_stray_2xx(self, response: Response) -> None:
        """A 2xx to our INVITE retransmitted after its transaction ended: ACK it again."""

    async def shutdown(self) -> None:
        """The endpoint is stopping: end the call now (503 or CANCEL before the answer, BYE after)."""


class InviteUser(DialogUser, Protocol):
    """A call that sent an INVITE (:meth:`CallHost.send_invite`): it gets that transaction's responses."""

    def on_invite_response(self, response: Response) -> None:
        """A response to the call's INVITE, provisional or final, as received."""

    def on_invite_failed(self, outcome: NoResponse) -> None:
        """The call's INVITE transaction ended without a final response (Timer B or C, a failed
        send): the leg ends unanswered."""


class CallHost(Protocol):
    """What a call needs from the endpoint that owns it (see the module docstring)."""

    @property
    def config(self) -> SipSettings:
        """The endpoint's settings (hotline number, outbound proxy, ``accept_refer``...)."""
        ...

    @property
    def codecs(self) -> tuple[str, ...]:
        """Audio codecs offered and accepted, in preference order."""
        ...

    @property
    def digest(self) -> DigestClient | None:
        """Credentials for the outbound proxy's 401/407 challenges, if configured."""
        ...

    # -- addresses ------------------------------------------------------------------------

    def transport_for(self, name: str = "UDP", family_of: str | None = None) -> Transport:
        """A listening transport of kind ``name`` (same IP family as ``family_of`` if possible)."""
        ...

    def local_host(self, transport: Transport, toward: str | None = None) -> str:
        """The host to write in Via/Contact for ``transport`` (bracketed if IPv6)."""
        ...

    def via(self, transport: Transport, toward: str | None = None) -> Via:
        """A fresh Via (new branch) for a request sent on ``transport``."""
        ...

    def contact_uri(self, transport: Transport, toward: str | None = None, user: str | None = None) -> str:
        """Our Contact URI on ``transport``."""
        ...

    async def resolve(self, uri: Uri) -> tuple[str, Address]:
        """Transport name and address to send a request for ``uri`` to."""
        ...

    # -- transactions ----------------------------------------------------------------------

    def send_request(
        self, request: Request, transport: Transport, destination: Address
    ) -> Awaitable[Response | NoResponse]:
        """Send a non-INVITE request in a new client transaction; awaits its final response, or
        :class:`~hotline.sip.uac.NoResponse` when none came (timeout) or it could not be sent."""
        ...

    def send_invite(
        self, request: Request, transport: Transport, destination: Address, call: InviteUser
    ) -> TransactionKey:
        """Send an INVITE in a new client transaction whose responses go to ``call``."""
        ...

    def cancel_invite(self, key: TransactionKey) -> None:
        """CANCEL our INVITE ``key`` (now if it is proceeding, else on its first 1xx)."""

    def send_stateless(self, transport: Transport, message: Request, destination: Address) -> None:
        """Send a request outside any transaction (the ACK of a 2xx)."""

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
        """Answer ``request`` on its server transaction ``key``; returns the response sent."""
        ...

    # -- the call's life -------------------------------------------------------------------

    def register_dialog(self, dialog_id: DialogId, call: DialogUser) -> None:
        """Route requests of ``dialog_id`` (and its Call-ID's ACKs and CANCELs) to ``call``."""

    def call_ended(self, call: DialogUser, reason: str) -> None:
        """``call`` is over (``reason`` as in :class:`~hotline.sip.call_events.Ended`): forget it."""

    def spawn(self, coro: Awaitable[None], name: str | None = None) -> object:
        """Run ``coro`` in a task the endpoint owns (cancelled and awaited when it stops)."""
        ...
