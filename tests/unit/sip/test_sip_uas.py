"""The user-agent server's rules (hotline.sip.uas): plain requests in, replies out, a fake clock for nonces."""

from __future__ import annotations

import pytest

from hotline.sip.auth import AuthError, Challenge, DigestClient, DigestServer
from hotline.sip.capabilities import ALLOW_TEXT
from hotline.sip.errors import RemoteProtocolError
from hotline.sip.headers import Via
from hotline.sip.message import Request, build_request
from hotline.sip.offer_answer import LocalSdpSession
from hotline.sip.sdp_wire import SdpError
from hotline.sip.uas import (
    DtmfReceived,
    NewCall,
    ReferAccepted,
    ReinviteAnswer,
    Reinvited,
    RemoteHangup,
    Reply,
    RequestFacts,
    ToDialog,
    TransferNotified,
    UserAgentServer,
    answer_for_malformed,
    answer_reinvite,
    answer_unclaimed_cancel,
    error_reply,
    in_dialog,
)

REALM = "hotline"
SECRET = b"0123456789abcdef0123456789abcdef"
PASSWORDS = {"alice": "wonderland"}
URI = "sip:8001@192.0.2.1"
PEER = RequestFacts(from_peer=True)
STRANGER = RequestFacts(from_peer=False)


def sdp(*payloads: int, port: int = 40000) -> bytes:
    maps = {0: "PCMU/8000", 8: "PCMA/8000", 18: "G729/8000", 101: "telephone-event/8000"}
    lines = [
        "v=0", "o=- 1 1 IN IP4 192.0.2.10", "s=-", "c=IN IP4 192.0.2.10", "t=0 0",
        f"m=audio {port} RTP/AVP {' '.join(str(p) for p in payloads)}",
        *(f"a=rtpmap:{p} {maps[p]}" for p in payloads),
        "a=sendrecv",
    ]
    return ("\r\n".join(lines) + "\r\n").encode()


def request(
    method: str = "INVITE",
    *,
    to_tag: str | None = None,
    headers: list[tuple[str, str]] | None = None,
    body: bytes = b"",
    content_type: str | None = None,
    contact: str | None = "<sip:1001@192.0.2.10>",
    cseq: int = 1,
) -> Request:
    to = "<sip:8001@192.0.2.1>" + (f";tag={to_tag}" if to_tag else "")
    return build_request(
        method,
        URI,
        from_="<sip:1001@192.0.2.10>;tag=ftag",
        to=to,
        call_id="call-1@192.0.2.10",
        cseq=cseq,
        via=Via.parse("SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKuas1"),
        contact=contact,
        headers=headers or [],
        body=body,
        content_type=content_type,
    )


def uas(digest: bool = False) -> UserAgentServer:
    server = DigestServer(REALM, PASSWORDS.get, SECRET) if digest else None
    return UserAgentServer(codecs=("PCMU", "PCMA"), digest=server)


def credentials_for(reply: Reply, invite: Request, password: str = "wonderland") -> str:
    """What a caller's digest client answers to the 401 ``reply`` (as a softphone would)."""
    challenges = [Challenge.parse(v) for n, v in reply.headers if n == "WWW-Authenticate"]
    answer = DigestClient("alice", password).authorize(challenges[0], "INVITE", URI, invite.body)
    assert answer is not None
    return answer


def with_authorization(invite: Request, value: str) -> Request:
    return request(headers=[("Authorization", value)], body=invite.body, content_type="application/sdp")


# -- outside a dialog --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "status", "allow"),
    [("BYE", 481, False), ("INFO", 481, False), ("NOTIFY", 481, False), ("UPDATE", 481, False),
     ("SUBSCRIBE", 405, True), ("MESSAGE", 405, True), ("REGISTER", 405, True), ("FROB", 501, True)],
)
def test_methods_outside_a_dialog(method: str, status: int, allow: bool) -> None:
    reply = uas().on_request(request(method), PEER, 0.0)
    assert isinstance(reply, Reply) and reply.status == status and reply.fresh_tag
    assert (("Allow", ALLOW_TEXT) in reply.headers) is allow


def test_options_and_refer_outside_a_dialog() -> None:
    options = uas().on_request(request("OPTIONS"), PEER, 0.0)
    assert isinstance(options, Reply) and options.status == 200
    assert {n for n, _ in options.headers} == {"Allow", "Accept", "Supported"}
    refer = uas().on_request(request("REFER"), PEER, 0.0)
    assert refer == Reply(403, "Transfer Not Allowed")


def test_unknown_require_gets_420_before_anything_else() -> None:
    req = request("INVITE", headers=[("Require", "100rel, timer"), ("Require", "timer")])
    assert uas(digest=True).on_request(req, STRANGER, 0.0) == Reply(420, headers=(("Unsupported", "100rel, timer"),))
    in_dialog_req = request("BYE", to_tag="ours", headers=[("Require", "foo")])
    reply = uas().on_request(in_dialog_req, RequestFacts(dialog_known=True), 0.0)
    assert isinstance(reply, Reply) and reply.status == 420


def test_in_dialog_requests_go_to_their_dialog_or_get_481() -> None:
    bye = request("BYE", to_tag="ours")
    assert uas().on_request(bye, RequestFacts(dialog_known=True), 0.0) == ToDialog()
    assert uas().on_request(bye, RequestFacts(dialog_known=False), 0.0) == Reply(481, fresh_tag=False)
    options = uas().on_request(request("OPTIONS", to_tag="gone"), RequestFacts(), 0.0)
    assert isinstance(options, Reply) and (options.status, options.fresh_tag) == (200, False)


# -- a new INVITE ----------------------------------------------------------------------------------


def test_an_answerable_invite_becomes_a_call() -> None:
    decision = uas().on_request(request(body=sdp(0, 101), content_type="application/sdp"), PEER, 0.0)
    assert isinstance(decision, NewCall) and decision.user is None and decision.counter is None
    assert decision.offer is not None and decision.offer.media[0].port == 40000
    late = uas().on_request(request(), PEER, 0.0)
    assert isinstance(late, NewCall) and late.offer is None


@pytest.mark.parametrize(
    ("kwargs", "facts", "expected"),
    [
        ({}, RequestFacts(from_peer=True, taking_calls=False), Reply(480)),
        ({"contact": None}, PEER, Reply(400)),
        ({"body": b"hello", "content_type": "text/plain"}, PEER, Reply(415, headers=(("Accept", "application/sdp"),))),
        ({"body": b"v=1 not sdp", "content_type": "application/sdp"}, PEER, Reply(400)),
        ({"body": sdp(18), "content_type": "application/sdp"}, PEER, Reply(488)),
    ],
)
def test_an_invite_we_cannot_take_is_refused(kwargs: dict[str, object], facts: RequestFacts, expected: Reply) -> None:
    assert uas().on_request(request(**kwargs), facts, 0.0) == expected  # type: ignore[arg-type]


def test_a_stranger_is_challenged_then_taken_with_the_right_password() -> None:
    core = uas(digest=True)
    invite = request(body=sdp(0), content_type="application/sdp")
    challenge = core.on_request(invite, STRANGER, 1000.0)
    assert isinstance(challenge, Reply) and (challenge.status, challenge.counter) == (401, "auth-challenge")
    algorithms = [Challenge.parse(v).algorithm for n, v in challenge.headers if n == "WWW-Authenticate"]
    assert algorithms == ["SHA-256", "MD5"]
    retry = with_authorization(invite, credentials_for(challenge, invite))
    taken = core.on_request(retry, STRANGER, 1001.0)
    assert isinstance(taken, NewCall) and (taken.user, taken.counter) == ("alice", "auth-ok")
    # The same nonce count again is a replay: refused, never challenged again.
    assert core.on_request(retry, STRANGER, 1002.0) == Reply(403, counter="auth-failed")


def test_allowed_peers_are_never_challenged() -> None:
    decision = uas(digest=True).on_request(request(), PEER, 0.0)
    assert isinstance(decision, NewCall) and decision.user is None


def test_a_wrong_password_gets_403_and_an_old_nonce_a_stale_challenge() -> None:
    core = uas(digest=True)
    invite = request()
    challenge = core.on_request(invite, STRANGER, 1000.0)
    assert isinstance(challenge, Reply)
    wrong = with_authorization(invite, credentials_for(challenge, invite, password="guess"))
    assert core.on_request(wrong, STRANGER, 1001.0) == Reply(403, counter="auth-failed")
    right = with_authorization(invite, credentials_for(challenge, invite))
    stale = core.on_request(right, STRANGER, 1000.0 + 301)
    assert isinstance(stale, Reply) and stale.status == 401
    assert all(Challenge.parse(v).stale for n, v in stale.headers if n == "WWW-Authenticate")


def test_unreadable_or_foreign_credentials() -> None:
    core = uas(digest=True)
    garbled = core.on_request(request(headers=[("Authorization", "Digest realm")]), STRANGER, 0.0)
    assert garbled == Reply(400, "Bad Authorization Header", counter="auth-malformed")
    foreign = 'Digest username="a", realm="elsewhere", nonce="n", uri="sip:x", response="00"'
    other = core.on_request(request(headers=[("Authorization", foreign)]), STRANGER, 0.0)
    assert isinstance(other, Reply) and (other.status, other.counter) == (401, "auth-challenge")


def test_an_authenticated_invite_turned_away_still_counts_as_authenticated() -> None:
    core = uas(digest=True)
    invite = request()
    challenge = core.on_request(invite, STRANGER, 50.0)
    assert isinstance(challenge, Reply)
    retry = with_authorization(invite, credentials_for(challenge, invite))
    closed = RequestFacts(from_peer=False, taking_calls=False)
    assert core.on_request(retry, closed, 51.0) == Reply(480, counter="auth-ok")


# -- errors and CANCEL -----------------------------------------------------------------------------


def test_errors_carry_their_status() -> None:
    assert error_reply(RemoteProtocolError(482, "loop")) == Reply(482)
    assert error_reply(SdpError(488, "no common codec")) == Reply(488)
    assert error_reply(AuthError("bad header")) == Reply(400)
    assert isinstance(SdpError(400, "x"), RemoteProtocolError) and str(SdpError(400, "bad sdp")) == "bad sdp"


def test_an_unclaimed_cancel_gets_487_while_its_invite_is_pending() -> None:
    assert answer_unclaimed_cancel(True) == Reply(487)
    assert answer_unclaimed_cancel(False) is None


# -- inside a dialog ---------------------------------------------------------------------------------


def decide(req: Request, *, established: bool = True, accept_refer: bool = False) -> tuple[Reply | None, object]:
    outcome = in_dialog(req, dialog_established=established, accept_refer=accept_refer)
    return outcome.reply, outcome.effect


def test_in_dialog_rules() -> None:
    ok = Reply(200, fresh_tag=False)
    assert decide(request("BYE", to_tag="t"), established=False) == (Reply(481, fresh_tag=False), None)
    assert decide(request("BYE", to_tag="t")) == (ok, RemoteHangup())
    dtmf = request("INFO", to_tag="t", body=b"Signal=5\r\nDuration=160\r\n", content_type="application/dtmf-relay")
    assert decide(dtmf) == (ok, DtmfReceived("5", 160))
    assert decide(request("INFO", to_tag="t")) == (ok, None)
    other_info = decide(request("INFO", to_tag="t", body=b"<xml/>", content_type="application/xml"))
    assert other_info[0] is not None and other_info[0].status == 415
    assert decide(request("INVITE", to_tag="t")) == (None, Reinvited())
    notify = request("NOTIFY", to_tag="t", body=b"SIP/2.0 180 Ringing\r\n", content_type="message/sipfrag")
    assert decide(notify) == (ok, TransferNotified(180))
    assert decide(request("ACK", to_tag="t")) == (None, None)
    update = decide(request("UPDATE", to_tag="t"))[0]
    assert update is not None and update.status == 405 and ("Allow", ALLOW_TEXT) in update.headers


def test_refer_is_accepted_only_when_configured() -> None:
    refer = request("REFER", to_tag="t", headers=[("Refer-To", "<sip:2002@192.0.2.20>")], cseq=7)
    assert decide(refer) == (Reply(403, "Transfer Not Allowed", fresh_tag=False), None)
    assert decide(refer, accept_refer=True) == (Reply(202, fresh_tag=False), ReferAccepted("sip:2002@192.0.2.20", 7))
    bare = request("REFER", to_tag="t")
    assert decide(bare, accept_refer=True)[0] == Reply(403, "Transfer Not Allowed", fresh_tag=False)


def reinvite(
    req: Request, *, confirmed: bool = True, over: bool = False, local_sdp: bytes | None = None
) -> ReinviteAnswer:
    return answer_reinvite(
        req, confirmed=confirmed, over=over, contact="<sip:8001@192.0.2.1>", local_sdp=local_sdp,
        local_media=("192.0.2.1", 30000) if local_sdp else None, codecs=("PCMU", "PCMA"),
        sdp_session=LocalSdpSession(),
    )


def test_reinvite_answers() -> None:
    ours = sdp(0, port=30000)
    assert reinvite(request(to_tag="t"), confirmed=False).reply.status == 491
    assert reinvite(request(to_tag="t"), confirmed=False, over=True).reply.status == 481
    assert reinvite(request(to_tag="t")).reply.status == 488  # late offer and nothing to offer
    late = reinvite(request(to_tag="t"), local_sdp=ours)
    assert (late.reply.status, late.reply.body, late.answer) == (200, ours, None)
    hold = sdp(8, port=40002).replace(b"a=sendrecv", b"a=sendonly")
    answered = reinvite(request(to_tag="t", body=hold, content_type="application/sdp"), local_sdp=ours)
    assert answered.reply.status == 200 and answered.answer is not None
    assert answered.answer.media.on_hold and answered.reply.body == answered.answer.body
    assert ("Contact", "<sip:8001@192.0.2.1>") in answered.reply.headers
    with pytest.raises(SdpError) as caught:
        reinvite(request(to_tag="t", body=sdp(18), content_type="application/sdp"), local_sdp=ours)
    assert caught.value.status == 488


# -- requests too broken to parse ----------------------------------------------------------------------

BROKEN = (
    b"INVITE sip:8001@192.0.2.1 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKx\r\n"
    b"f: <sip:1001@192.0.2.10>;tag=a\r\n"
    b"To: <sip:8001@192.0.2.1>\r\n"
    b"Call-ID: broken-1\r\n"
    b"CSeq: 1 INVITE\r\n"
    b"Max-Forwards: many\r\n\r\n"
)


def test_a_readable_broken_request_gets_its_status_copied_headers() -> None:
    answer = answer_for_malformed(BROKEN, RemoteProtocolError(400, "bad Max-Forwards\r\nX: injected"))
    assert answer is not None
    lines = answer.decode().split("\r\n")
    assert lines[0] == "SIP/2.0 400 bad Max-Forwards  X: injected"
    assert lines[1:6] == [
        "Via: SIP/2.0/UDP 192.0.2.10;branch=z9hG4bKx", "f: <sip:1001@192.0.2.10>;tag=a",
        "To: <sip:8001@192.0.2.1>", "Call-ID: broken-1", "CSeq: 1 INVITE",
    ]
    assert answer.endswith(b"Content-Length: 0\r\n\r\n")


@pytest.mark.parametrize(
    "raw",
    [
        BROKEN.replace(b"INVITE sip:8001@192.0.2.1 SIP/2.0", b"SIP/2.0 200 OK"),  # a response
        BROKEN.replace(b"INVITE sip", b"ACK sip"),  # nobody answers an ACK
        BROKEN.replace(b"Call-ID: broken-1\r\n", b""),  # nothing to copy the Call-ID from
        b"\x00\x01 garbage",
    ],
)
def test_unreadable_requests_get_silence(raw: bytes) -> None:
    assert answer_for_malformed(raw, RemoteProtocolError(400, "bad")) is None
