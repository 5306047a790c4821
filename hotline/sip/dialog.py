"""SIP dialogs (RFC 3261 §12): identity, route set, sequence numbers, in-dialog requests.

A :class:`Dialog` is plain state plus the rules of §12: how it is created on
either side (:meth:`Dialog.as_uas`, :meth:`Dialog.as_uac`), how a request inside
it is built (:meth:`Dialog.create_request`, loose or strict routing,
:meth:`Dialog.create_ack` for a 2xx), and how requests and responses received
in it update it (CSeq ordering, remote target refresh).  Pure: no timers, no I/O.
"""

from __future__ import annotations

import enum
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field

from hotline.sip.errors import LocalProtocolError, RemoteProtocolError
from hotline.sip.headers import NameAddr, Via
from hotline.sip.message import Headers, Request, Response
from hotline.sip.uri import SipUri, Uri

__all__ = ["TARGET_REFRESH_METHODS", "Dialog", "DialogId", "DialogState"]

#: Requests whose Contact replaces the remote target (RFC 3261 §12.2, RFC 3311, RFC 6665).
TARGET_REFRESH_METHODS = frozenset({"INVITE", "UPDATE", "SUBSCRIBE", "NOTIFY", "REFER"})


class DialogState(enum.Enum):
    """Early (after a 1xx with a To tag), confirmed (after 2xx), terminated."""

    EARLY = "early"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


@dataclass(frozen=True)
class DialogId:
    """Call-ID, local tag and remote tag: the identity of a dialog (§12)."""

    call_id: str
    local_tag: str
    remote_tag: str

    @classmethod
    def for_incoming_request(cls, request: Request) -> DialogId:
        """The dialog an in-dialog request we receive belongs to (To tag is ours)."""
        return cls(request.call_id, request.to.tag or "", request.from_.tag or "")

    @classmethod
    def for_incoming_response(cls, response: Response) -> DialogId:
        """The dialog a response to our request belongs to (From tag is ours)."""
        return cls(response.call_id, response.from_.tag or "", response.to.tag or "")


def _contact_uri(message: Request | Response) -> Uri | None:
    contact = message.contact
    return contact.uri if contact is not None else None


def _no_tag(addr: NameAddr) -> NameAddr:
    params = {k: v for k, v in addr.params.items() if k.lower() != "tag"}
    return NameAddr(uri=addr.uri, display_name=addr.display_name, params=params)


@dataclass
class Dialog:
    """The state of one dialog, seen from our side.

    ``route_set`` is in the order Route headers are written in our requests.
    ``local_seq``/``remote_seq`` are ``None`` until a request was sent/received.
    """

    call_id: str
    local_tag: str
    remote_tag: str
    local_uri: NameAddr
    remote_uri: NameAddr
    remote_target: Uri
    local_contact: NameAddr
    route_set: list[NameAddr] = field(default_factory=list)
    local_seq: int | None = None
    remote_seq: int | None = None
    secure: bool = False
    state: DialogState = DialogState.CONFIRMED
    #: CSeq number of the last INVITE we sent, for the ACK of its 2xx.
    invite_seq: int | None = None

    @property
    def id(self) -> DialogId:
        """This dialog's :class:`DialogId`."""
        return DialogId(self.call_id, self.local_tag, self.remote_tag)

    # -- creation (§12.1) ------------------------------------------------------------

    @classmethod
    def as_uas(cls, request: Request, response: Response, local_contact: NameAddr) -> Dialog:
        """The dialog a UAS creates when it sends ``response`` (1xx with tag or 2xx) to ``request``.

        Route set: Record-Route of the request, in order (§12.1.1).
        """
        local_tag = response.to.tag
        if not local_tag:
            raise LocalProtocolError("a dialog-creating response needs a To tag")
        target = _contact_uri(request)
        if target is None:
            raise RemoteProtocolError(400, "dialog-creating request without Contact")
        return cls(
            call_id=request.call_id,
            local_tag=local_tag,
            remote_tag=request.from_.tag or "",
            local_uri=_no_tag(request.to),
            remote_uri=_no_tag(request.from_),
            remote_target=target,
            local_contact=local_contact,
            route_set=request.record_route,
            remote_seq=request.cseq.seq,
            secure=isinstance(request.uri, SipUri) and request.uri.scheme == "sips",
            state=DialogState.CONFIRMED if response.status >= 200 else DialogState.EARLY,
        )

    @classmethod
    def as_uac(cls, request: Request, response: Response) -> Dialog:
        """The dialog a UAC creates on ``response`` (1xx with tag or 2xx) to its ``request``.

        Route set: Record-Route of the response, reversed (§12.1.2).
        """
        remote_tag = response.to.tag
        if not remote_tag:
            raise RemoteProtocolError(400, "dialog-creating response without To tag")
        contact = request.contact
        if contact is None:
            raise LocalProtocolError("our dialog-creating request has no Contact")
        target = _contact_uri(response)
        if target is None:
            if response.status >= 200:
                raise RemoteProtocolError(400, "2xx without Contact")
            target = request.uri  # an early dialog may lack it; refreshed by the 2xx
        return cls(
            call_id=request.call_id,
            local_tag=request.from_.tag or "",
            remote_tag=remote_tag,
            local_uri=_no_tag(request.from_),
            remote_uri=_no_tag(request.to),
            remote_target=target,
            local_contact=contact,
            route_set=list(reversed(response.record_route)),
            local_seq=request.cseq.seq,
            invite_seq=request.cseq.seq if request.method == "INVITE" else None,
            secure=isinstance(request.uri, SipUri) and request.uri.scheme == "sips",
            state=DialogState.CONFIRMED if response.status >= 200 else DialogState.EARLY,
        )

    # -- requests inside the dialog (§12.2.1) -----------------------------------------------

    def next_local_seq(self) -> int:
        """Advance and return the local CSeq number (random start below 2**31 if empty)."""
        if self.local_seq is None:
            self.local_seq = secrets.randbelow(2**31 - 1) + 1
        else:
            self.local_seq += 1
        return self.local_seq

    def _request_uri_and_routes(self) -> tuple[Uri, list[str]]:
        if not self.route_set:
            return self.remote_target, []
        first = self.route_set[0]
        if isinstance(first.uri, SipUri) and first.uri.has_param("lr"):
            return self.remote_target, [str(r) for r in self.route_set]
        # Strict routing (§12.2.1.1): the first route becomes the Request-URI and the
        # remote target goes last in the Route header.
        uri = first.uri
        if isinstance(uri, SipUri) and uri.headers:
            uri = SipUri(
                host=uri.host, user=uri.user, password=uri.password, port=uri.port,
                params=dict(uri.params), scheme=uri.scheme,
            )
        routes = [str(r) for r in self.route_set[1:]] + [f"<{self.remote_target}>"]
        return uri, routes

    def create_request(
        self,
        method: str,
        *,
        via: Via,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes = b"",
        content_type: str | None = None,
        max_forwards: int = 70,
    ) -> Request:
        """Build a request inside the dialog (BYE, re-INVITE, INFO, REFER, UPDATE...).

        ``via`` carries the new branch.  ACK and CANCEL are not built here:
        use :meth:`create_ack` and :func:`~hotline.sip.transaction.build_cancel`.
        """
        if method in ("ACK", "CANCEL"):
            raise LocalProtocolError(f"{method} is not built with create_request")
        if self.state is DialogState.TERMINATED:
            raise LocalProtocolError("dialog already terminated")
        seq = self.next_local_seq()
        if method == "INVITE":
            self.invite_seq = seq
        return self._build(method, seq, via, headers, body, content_type, max_forwards)

    def create_ack(
        self,
        response: Response,
        *,
        via: Via,
        body: bytes = b"",
        content_type: str | None = None,
    ) -> Request:
        """The ACK for a 2xx to our INVITE (§13.2.2.4): same CSeq number, its own branch.

        May carry the SDP answer (late offer).  Resend the same ACK for every
        retransmission of that 2xx.
        """
        seq = response.cseq.seq
        return self._build("ACK", seq, via, (), body, content_type, 70)

    def _build(
        self,
        method: str,
        seq: int,
        via: Via,
        headers: Iterable[tuple[str, str]],
        body: bytes,
        content_type: str | None,
        max_forwards: int,
    ) -> Request:
        uri, routes = self._request_uri_and_routes()
        h = Headers()
        h.add("Via", str(via))
        h.add("Max-Forwards", str(max_forwards))
        for route in routes:
            h.add("Route", route)
        h.add("From", str(self.local_uri.with_tag(self.local_tag)))
        remote = self.remote_uri.with_tag(self.remote_tag) if self.remote_tag else self.remote_uri
        h.add("To", str(remote))
        h.add("Call-ID", self.call_id)
        h.add("CSeq", f"{seq} {method}")
        if method in TARGET_REFRESH_METHODS:
            h.add("Contact", str(self.local_contact))
        for name, value in headers:
            h.add(name, value)
        if content_type is not None:
            h.set("Content-Type", content_type)
        return Request(method=method, uri=uri, headers=h, body=body)

    # -- what we receive inside the dialog (§12.2.2) --------------------------------------------

    def receive_request(self, request: Request) -> None:
        """Account for a request received in this dialog.

        Raises :class:`RemoteProtocolError` (500) for a CSeq lower than the last
        one (out of order, §12.2.2).  A target refresh request with a Contact
        replaces the remote target; BYE terminates the dialog.
        """
        seq = request.cseq.seq
        if request.method not in ("ACK", "CANCEL"):
            if self.remote_seq is not None and seq <= self.remote_seq:
                raise RemoteProtocolError(500, "CSeq out of order")
            self.remote_seq = seq
        if request.method in TARGET_REFRESH_METHODS:
            target = _contact_uri(request)
            if target is not None:
                self.remote_target = target
        if request.method == "BYE":
            self.state = DialogState.TERMINATED

    def receive_response(self, response: Response) -> None:
        """Account for a response to a request we sent in this dialog.

        A 2xx confirms an early dialog and recomputes its route set
        (§13.2.2.4); a 2xx to a target refresh request with a Contact replaces
        the remote target.  481 and 408 end the dialog (§12.2.1.2), and so does
        a failure of the INVITE of an early dialog.
        """
        method = response.cseq.method
        if 200 <= response.status < 300:
            if self.state is DialogState.EARLY:
                self.state = DialogState.CONFIRMED
                self.route_set = list(reversed(response.record_route))
            if method in TARGET_REFRESH_METHODS:
                target = _contact_uri(response)
                if target is not None:
                    self.remote_target = target
        elif response.status in (408, 481) or (
            response.status >= 300 and method == "INVITE" and self.state is DialogState.EARLY
        ):
            self.state = DialogState.TERMINATED

    def terminate(self) -> None:
        """Mark the dialog terminated (after our BYE, or its give-up)."""
        self.state = DialogState.TERMINATED
