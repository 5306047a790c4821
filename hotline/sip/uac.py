"""The user-agent client's rules: the requests we send, built from plain inputs without I/O.

:class:`~hotline.sip.call.OutgoingCall` and the in-dialog requests of both
call classes carry these out; the asyncio side only resolves addresses and
waits.  Dialling a number or URI is two steps: :func:`plan_dial` decides the
Request-URI, the Route and the next hop (whose address the endpoint then
resolves), :func:`build_invite` writes the INVITE for the transport and
addresses chosen.  :func:`invite_with_credentials` answers a 401/407 with a
new INVITE; :func:`refer_headers` and :func:`dtmf_info_body` are what our
REFER and INFO carry.

A client transaction that ends without any response (Timer B/F, a failed
send) is not a response: it is a :class:`NoResponse`, with the status RFC 3261
§8.1.3.1 says to treat it as.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

from hotline.sip.auth import AuthError, Challenge, DigestClient, choose_challenge
from hotline.sip.capabilities import ALLOW_TEXT
from hotline.sip.errors import LocalProtocolError
from hotline.sip.headers import NameAddr, Via
from hotline.sip.message import Request, Response, build_request, new_call_id, new_tag
from hotline.sip.settings import OutboundSettings
from hotline.sip.uri import SipUri, Uri, parse_uri

__all__ = [
    "DialPlan",
    "NoResponse",
    "build_invite",
    "dtmf_info_body",
    "invite_with_credentials",
    "plan_dial",
    "refer_headers",
    "refer_target",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NoResponse:
    """A client transaction ended without a final response: nobody answered, or it could not be sent.

    ``status`` is what to treat it as (RFC 3261 §8.1.3.1): 408 for a timeout,
    503 for a transport failure; ``reason`` says which timer or error.
    """

    status: int
    reason: str

    @property
    def timed_out(self) -> bool:
        """True for a timeout (408), false for a transport failure (503)."""
        return self.status == 408


TIMED_OUT = NoResponse(408, "Request Timeout")


@dataclass(frozen=True)
class DialPlan:
    """Where an INVITE for a dialled target goes."""

    uri: Uri
    """The Request-URI (and To)."""
    route: tuple[str, ...]
    """Route header values (the outbound proxy, loose routing), if any."""
    next_hop: Uri
    """The URI whose address the INVITE is sent to (the proxy, else the target)."""


_DIALABLE = set("+0123456789*#")


def plan_dial(target: str, proxy: str | None) -> DialPlan:
    """The Request-URI, Route and next hop for dialling ``target`` (a SIP URI or a number).

    A SIP URI goes through ``proxy`` (``sip.outbound.proxy``) when there is
    one, as a loose route; a number needs the proxy and becomes its user part.
    Raises :class:`LocalProtocolError` for a target we cannot dial (our
    configuration's fault, not a peer's).
    """
    proxy_uri = parse_uri(proxy) if proxy else None
    if target.startswith(("sip:", "sips:")):
        uri = parse_uri(target)
        if isinstance(proxy_uri, SipUri):
            return DialPlan(uri, (f"<{proxy_uri};lr>",), proxy_uri)
        return DialPlan(uri, (), uri)
    if not isinstance(proxy_uri, SipUri):
        raise LocalProtocolError("dialling a number needs sip.outbound.proxy")
    number = target.strip()
    if not number or any(c not in _DIALABLE for c in number):
        raise LocalProtocolError(f"not a dialable number: {target!r}")
    uri = SipUri(host=proxy_uri.host, user=number, port=proxy_uri.port, params=dict(proxy_uri.params))
    return DialPlan(uri, (), proxy_uri)


def build_invite(
    plan: DialPlan,
    *,
    outbound: OutboundSettings,
    hotline_number: str,
    local_host: str,
    via: Via,
    contact: str,
    caller_id: str,
    display_name: str | None,
    sdp_offer: bytes,
    headers: tuple[tuple[str, str], ...] = (),
) -> Request:
    """The INVITE of an outbound leg.

    ``local_host`` is our host toward the next hop, ``via`` and ``contact``
    ours on the transport chosen.  The caller shows as ``caller_id`` (with
    ``display_name``): in P-Asserted-Identity with the hotline number in From
    when ``outbound.caller_id`` is ``"pai"``, else in From; ``outbound.diversion``
    adds a Diversion naming the hotline number.  ``headers`` come last.
    """
    caller_uri = str(SipUri(host=local_host, user=caller_id or None))
    caller = NameAddr.parse(f"<{caller_uri}>")
    caller.display_name = display_name
    extra: list[tuple[str, str]] = []
    if outbound.caller_id == "pai":
        from_ = NameAddr.parse(f"<{SipUri(host=local_host, user=hotline_number or None)}>")
        extra.append(("P-Asserted-Identity", str(caller)))
    else:
        from_ = caller
    if outbound.diversion:
        ours = SipUri(host=local_host, user=hotline_number or None)
        extra.append(("Diversion", f"<{ours}>;reason=unconditional;counter=1"))
    extra.append(("Allow", ALLOW_TEXT))
    extra.extend(headers)
    return build_request(
        "INVITE",
        plan.uri,
        from_=from_.with_tag(new_tag()),
        to=NameAddr(uri=plan.uri),
        call_id=new_call_id(),
        cseq=1,
        via=via,
        contact=f"<{contact}>",
        route=list(plan.route),
        headers=extra,
        body=sdp_offer,
        content_type="application/sdp" if sdp_offer else None,
    )


def invite_with_credentials(
    previous: Request, response: Response, digest: DigestClient, via: Via
) -> Request | None:
    """The INVITE ``previous`` again, answering the 401/407 ``response`` (new ``via``, CSeq+1).

    ``None`` when no challenge can be answered: none we support, or ``digest``
    gave up (the password was refused; its ``failure`` says why).
    """
    header, answer_header = (
        ("WWW-Authenticate", "Authorization") if response.status == 401
        else ("Proxy-Authenticate", "Proxy-Authorization")
    )
    challenges = []
    for value in response.headers.get_all(header):
        with contextlib.suppress(AuthError):
            challenges.append(Challenge.parse(value))
    challenge = choose_challenge(challenges)
    if challenge is None:
        return None
    credentials = digest.authorize(challenge, "INVITE", str(previous.uri), previous.body)
    if credentials is None:
        log.warning("outbound INVITE %s: %s", previous.call_id, digest.failure)
        return None
    h = previous.headers.copy()
    h.set("Via", str(via))
    h.set("CSeq", f"{previous.cseq.seq + 1} INVITE")
    h.set(answer_header, credentials)
    return Request(method="INVITE", uri=previous.uri, headers=h, body=previous.body)


def refer_target(target: str, next_hop: tuple[str, int]) -> str:
    """The Refer-To URI for ``target``: a URI as given, a number at the next hop's address."""
    if target.startswith(("sip:", "sips:", "tel:")):
        return target
    return str(SipUri(host=next_hop[0], user=target, port=next_hop[1]))


def refer_headers(refer_to: str, referred_by: str) -> list[tuple[str, str]]:
    """Refer-To and Referred-By of a blind transfer's REFER (RFC 3515, RFC 3892)."""
    return [("Refer-To", f"<{refer_to}>"), ("Referred-By", f"<{referred_by}>")]


def dtmf_info_body(digit: str, duration_ms: int) -> bytes:
    """The ``application/dtmf-relay`` body of an INFO carrying one key."""
    return f"Signal={digit}\r\nDuration={duration_ms}\r\n".encode("ascii")
