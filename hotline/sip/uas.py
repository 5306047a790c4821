"""The user-agent server's rules: what we answer to a request, decided without I/O.

The endpoint and its calls carry messages; this module decides.  Every
function takes a parsed request and plain facts (is its dialog known, is its
source an allowed peer, do we take calls now, ``now`` for digest nonces) and
returns what to do:

* a :class:`Reply` -- answer on the request's server transaction;
* :class:`ToDialog` -- the request belongs to a call: hand it over;
* :class:`NewCall` -- an INVITE we take: make an incoming call of it.

Inside a dialog, :func:`in_dialog` returns the reply with the
:data:`DialogEffect` the call must act on (the far end hung up, sent a key,
accepted a transfer...), and :func:`answer_reinvite` the answer to a
re-INVITE.  :func:`answer_for_malformed` writes the 400 for a request too
broken to parse, from its raw bytes.

The rules (RFC 3261 §8.2, §12.2.2, §22; RFC 3515):

* Require with option tags we lack: 420 with Unsupported (any method but CANCEL).
* Outside a dialog: OPTIONS 200 with our capabilities, REFER 403, BYE, INFO,
  NOTIFY, PRACK, UPDATE 481 (no dialog), other known methods 405 and unknown
  ones 501, both with Allow.
* Inside a dialog we do not know: 481, except OPTIONS (200).
* A new INVITE: a stranger must authenticate first when accounts are
  configured (401 challenge, 401 ``stale=true`` for an expired nonce, 403 for
  anything else wrong, 400 for credentials that cannot be read), then 480
  when we take no calls, 400 without Contact, 415 for a body that is not SDP,
  the offer's own status (400, 488) when it cannot be answered.
* A CANCEL nobody claims: 487 on its INVITE, while that is still pending.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from hotline.sip.auth import AuthError, Credentials, DigestServer
from hotline.sip.capabilities import ALLOW_TEXT, SUPPORTED, capability_headers
from hotline.sip.errors import RemoteProtocolError
from hotline.sip.headers import canonical_name
from hotline.sip.message import KNOWN_METHODS, Request
from hotline.sip.offer_answer import Answer, LocalSdpSession, check_offer, negotiate_answer
from hotline.sip.sdp_wire import SdpError, SessionDescription
from hotline.sip.session import parse_dtmf_info, parse_sipfrag, unsupported_requirements
from hotline.sip.uri import Uri, parse_uri

__all__ = [
    "DialogEffect",
    "DtmfReceived",
    "InDialogOutcome",
    "NewCall",
    "ReferAccepted",
    "Reinvited",
    "RemoteHangup",
    "Reply",
    "RequestFacts",
    "ToDialog",
    "TransferNotified",
    "UserAgentServer",
    "answer_for_malformed",
    "answer_reinvite",
    "answer_unclaimed_cancel",
    "error_reply",
    "in_dialog",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reply:
    """Answer the request with ``status`` on its server transaction."""

    status: int
    reason: str | None = None
    """``None``: the standard phrase."""
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    content_type: str | None = None
    fresh_tag: bool = True
    """Whether the response gets a To tag of its own (outside a dialog); inside one the request's stays."""
    counter: str | None = None
    """What the endpoint counts for it (``"auth-challenge"``...), if anything."""


@dataclass(frozen=True)
class ToDialog:
    """The request belongs to a dialog we know: the call of that dialog answers it."""


@dataclass(frozen=True)
class NewCall:
    """An INVITE we take: make an incoming call of it (the handler decides the rest)."""

    offer: SessionDescription | None
    """The caller's SDP offer, checked answerable with our codecs; ``None`` for a late offer."""
    user: str | None = None
    """The ``sip.accounts`` user it authenticated as; ``None`` for an allowed peer."""
    counter: str | None = None


@dataclass(frozen=True)
class RequestFacts:
    """What the endpoint knows about a request that the rules depend on."""

    dialog_known: bool = False
    """A call owns the dialog of its tags."""
    from_peer: bool = False
    """Its source is on ``sip.allowed_peers`` (never challenged)."""
    taking_calls: bool = True
    """There is a call handler and the endpoint is not stopping."""


class UserAgentServer:
    """Decides the answer to each request arriving outside a dialog's own handling.

    ``codecs`` are the audio codecs an offer must share with us; ``digest``,
    when ``sip.accounts`` are configured, verifies strangers' INVITEs.
    """

    def __init__(self, *, codecs: tuple[str, ...], digest: DigestServer | None = None) -> None:
        self.codecs = codecs
        self.digest = digest

    def on_request(self, request: Request, facts: RequestFacts, now: float) -> Reply | ToDialog | NewCall:
        """What to do with ``request`` (delivered by the transaction layer, never ACK or CANCEL).

        ``now`` is the clock digest nonces are stamped with.  Raises
        :class:`RemoteProtocolError` for a request that cannot be handled;
        answer it with :func:`error_reply`.
        """
        method = request.method
        if method != "CANCEL":
            unknown = unsupported_requirements(request.headers.get_all("Require"), SUPPORTED)
            if unknown:
                return Reply(420, headers=(("Unsupported", ", ".join(unknown)),))
        if request.to_tag is not None:
            if facts.dialog_known:
                return ToDialog()
            if method == "OPTIONS":
                return Reply(200, headers=tuple(capability_headers()), fresh_tag=False)
            return Reply(481, fresh_tag=False)
        if method == "INVITE":
            return self.new_invite(request, facts, now)
        if method == "OPTIONS":
            return Reply(200, headers=tuple(capability_headers()))
        if method == "REFER":
            return Reply(403, "Transfer Not Allowed")
        if method in ("BYE", "INFO", "NOTIFY", "PRACK", "UPDATE"):
            return Reply(481)
        if method in KNOWN_METHODS:
            return Reply(405, headers=(("Allow", ALLOW_TEXT),))
        return Reply(501, headers=(("Allow", ALLOW_TEXT),))

    def new_invite(self, request: Request, facts: RequestFacts, now: float) -> Reply | NewCall:
        """An INVITE outside any dialog: authenticate a stranger, then check it can be answered."""
        user: str | None = None
        counter: str | None = None
        if self.digest is not None and not facts.from_peer:
            # Before anything else: a stranger learns nothing until it has authenticated.
            verdict = self.authenticate(self.digest, request, now)
            if isinstance(verdict, Reply):
                return verdict
            user, counter = verdict, "auth-ok"
        # An authenticated INVITE counts as such even when it is turned away below.
        if not facts.taking_calls:
            return Reply(480, counter=counter)
        if request.contact is None:
            return Reply(400, counter=counter)
        offer = None
        if request.body:
            if request.media_type != "application/sdp":
                return Reply(415, headers=(("Accept", "application/sdp"),), counter=counter)
            # Reject an offer we cannot answer now, before anybody lets it ring.
            try:
                offer = SessionDescription.parse(request.body)
                check_offer(offer, supported_codecs=self.codecs)
            except SdpError as exc:
                return Reply(exc.status, counter=counter)
        return NewCall(offer, user, counter)

    @staticmethod
    def authenticate(digest: DigestServer, request: Request, now: float) -> str | Reply:
        """The user a stranger's INVITE authenticates as, or the reply that refuses or challenges it."""
        credentials: Credentials | None = None
        malformed = False
        for value in request.headers.get_all("Authorization"):
            try:
                parsed = Credentials.parse(value)
            except AuthError:
                malformed = True
                continue
            if parsed.realm == digest.realm:
                credentials = parsed
                break
        if credentials is None:
            # Credentials for another realm are ignored: a fresh challenge.
            return _BAD_AUTHORIZATION if malformed else _challenge(digest, now, stale=False)
        uri = credentials.uri if _same_uri(credentials.uri, request.uri) else str(request.uri)
        result = digest.verify(credentials, request.method, now, request_uri=uri, body=request.body)
        if result.ok and result.username is not None:
            return result.username
        log.info(
            "digest authentication of %s as %r failed: %s",
            request.call_id, credentials.username, result.reason,
        )
        if result.stale:
            return _challenge(digest, now, stale=True)
        if result.status == 400:
            return _BAD_AUTHORIZATION
        # Never a second challenge: a wrong password must not loop.
        return Reply(403, counter="auth-failed")


_BAD_AUTHORIZATION = Reply(400, "Bad Authorization Header", counter="auth-malformed")


def _challenge(digest: DigestServer, now: float, *, stale: bool) -> Reply:
    headers = tuple(("WWW-Authenticate", c.serialize()) for c in digest.challenges(now, stale=stale))
    return Reply(401, headers=headers, counter="auth-challenge")


def _same_uri(text: str, uri: Uri) -> bool:
    """Whether a digest ``uri`` parameter names the Request-URI ``uri`` (RFC 3261 §22.4)."""
    if text == str(uri):
        return True
    try:
        return parse_uri(text) == uri
    except RemoteProtocolError:
        return False


def error_reply(error: RemoteProtocolError) -> Reply:
    """The answer to a request that raised ``error`` while being handled: its status."""
    return Reply(error.status)


def answer_unclaimed_cancel(invite_pending: bool) -> Reply | None:
    """A CANCEL no call claimed: its INVITE gets 487 while it is still pending (RFC 3261 §9.2)."""
    return Reply(487) if invite_pending else None


# -- inside a dialog -----------------------------------------------------------------------


@dataclass(frozen=True)
class RemoteHangup:
    """BYE: the far end ended the call."""


@dataclass(frozen=True)
class DtmfReceived:
    """INFO with a key."""

    digit: str
    duration_ms: int


@dataclass(frozen=True)
class Reinvited:
    """A re-INVITE: the call answers it with :func:`answer_reinvite` (it depends on the session)."""


@dataclass(frozen=True)
class TransferNotified:
    """NOTIFY for our REFER: the status line of the transfer target's call."""

    status: int


@dataclass(frozen=True)
class ReferAccepted:
    """A REFER we accepted (202): NOTIFYs are owed until the call to ``target`` has a final status."""

    target: str
    refer_cseq: int


DialogEffect = RemoteHangup | DtmfReceived | Reinvited | TransferNotified | ReferAccepted


@dataclass(frozen=True)
class InDialogOutcome:
    """The reply to send first (if any), then what the call must act on (if anything)."""

    reply: Reply | None
    effect: DialogEffect | None = None


_DTMF_ACCEPT = (("Accept", "application/dtmf-relay, application/dtmf"),)


def in_dialog(request: Request, *, dialog_established: bool, accept_refer: bool) -> InDialogOutcome:
    """The answer to a request inside a call's dialog.

    ``dialog_established`` is false while the call has only an early dialog of
    ours (after a 180): nothing but CANCEL may end that from the caller's side.
    ``accept_refer`` is ``sip.accept_refer``.
    """
    if not dialog_established:
        return InDialogOutcome(_IN_DIALOG_481)
    method = request.method
    if method == "BYE":
        return InDialogOutcome(_OK, RemoteHangup())
    if method == "INFO":
        digit = parse_dtmf_info(request.media_type, request.body)
        if digit is not None:
            return InDialogOutcome(_OK, DtmfReceived(digit[0], digit[1]))
        if not request.body:
            return InDialogOutcome(_OK)
        return InDialogOutcome(Reply(415, headers=_DTMF_ACCEPT, fresh_tag=False))
    if method == "INVITE":
        return InDialogOutcome(None, Reinvited())
    if method == "NOTIFY":
        status = parse_sipfrag(request.body) if request.media_type == "message/sipfrag" else None
        return InDialogOutcome(_OK, TransferNotified(status) if status is not None else None)
    if method == "REFER":
        refer_to = request.headers.get("Refer-To")
        if not accept_refer or not refer_to:
            return InDialogOutcome(Reply(403, "Transfer Not Allowed", fresh_tag=False))
        return InDialogOutcome(
            Reply(202, fresh_tag=False), ReferAccepted(refer_to.strip().strip("<>"), request.cseq.seq)
        )
    if method == "OPTIONS":
        return InDialogOutcome(Reply(200, headers=tuple(capability_headers()), fresh_tag=False))
    if method == "ACK":
        return InDialogOutcome(None)
    return InDialogOutcome(Reply(405, headers=(("Allow", ALLOW_TEXT),), fresh_tag=False))


_OK = Reply(200, fresh_tag=False)
_IN_DIALOG_481 = Reply(481, fresh_tag=False)


@dataclass(frozen=True)
class ReinviteAnswer:
    """The reply to a re-INVITE and, when it carried an offer we answered, that answer."""

    reply: Reply
    answer: Answer | None = field(default=None)


def answer_reinvite(
    request: Request,
    *,
    confirmed: bool,
    over: bool,
    contact: str,
    local_sdp: bytes | None,
    local_media: tuple[str, int] | None,
    codecs: tuple[str, ...],
    sdp_session: LocalSdpSession,
) -> ReinviteAnswer:
    """The answer to a re-INVITE (RFC 3261 §14.2, RFC 3264 §8).

    ``confirmed``: the session is up; ``over``: it has ended.  ``contact`` is
    our Contact, ``local_sdp`` the SDP we last sent and ``local_media`` its
    (address, audio port).  An offer that cannot be answered raises
    :class:`~hotline.sip.sdp_wire.SdpError` (answer with :func:`error_reply`).
    """
    if not confirmed:
        return ReinviteAnswer(Reply(491 if not over else 481, fresh_tag=False))
    headers = (("Contact", contact),)
    if not request.body:
        # Late offer in a re-INVITE: offer what we have again; the ACK carries the answer.
        if local_sdp is None:
            return ReinviteAnswer(Reply(488, fresh_tag=False))
        return ReinviteAnswer(
            Reply(200, headers=headers, body=local_sdp, content_type="application/sdp", fresh_tag=False)
        )
    if local_media is None:
        return ReinviteAnswer(Reply(488, fresh_tag=False))
    answer = negotiate_answer(
        request.body,
        local_address=local_media[0],
        local_port=local_media[1],
        supported_codecs=codecs,
        session=sdp_session,
    )
    reply = Reply(200, headers=headers, body=answer.body, content_type="application/sdp", fresh_tag=False)
    return ReinviteAnswer(reply, answer)


# -- requests too broken to parse ----------------------------------------------------------------


def answer_for_malformed(raw: bytes, error: RemoteProtocolError) -> bytes | None:
    """A response to a request too broken to parse, when enough of it can be read, else None.

    Needs a request line (not a response, not an ACK) and the Via, From, To,
    Call-ID and CSeq lines, copied as they are.  Framing errors on streams and
    anything else get silence.
    """
    head = raw.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    text = head.decode("utf-8", "replace")
    lines = [line.rstrip("\r") for line in text.split("\n")]
    if not lines or not lines[0] or lines[0][:4].upper() == "SIP/":
        return None
    method = lines[0].split(" ", 1)[0]
    if method == "ACK" or not method.isascii() or not method.isalpha():
        return None
    wanted: dict[str, list[str]] = {"via": [], "from": [], "to": [], "call-id": [], "cseq": []}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep:
            continue
        lname = canonical_name(name.strip()).lower()
        if lname in wanted:
            wanted[lname].append(f"{name.strip()}:{value}")
    if any(not v for v in wanted.values()):
        return None
    status = error.status if 400 <= error.status <= 699 else 400
    reason = (error.reason or "Bad Request").replace("\r", " ").replace("\n", " ")[:80]
    out = [f"SIP/2.0 {status} {reason}"]
    for name in ("via", "from", "to", "call-id", "cseq"):
        out.extend(wanted[name])
    out.append("Content-Length: 0")
    return ("\r\n".join(out) + "\r\n\r\n").encode("utf-8", "replace")
