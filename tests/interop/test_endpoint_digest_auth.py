"""Digest authentication of callers outside ``sip.allowed_peers`` (``[[sip.accounts]]``), against sipp.

The endpoint runs in-process on 127.0.0.1 with an allow-list that leaves sipp
out (only 192.0.2.1, a documentation address) unless a test lets it in.  sipp
answers our 401 with ``-au``/``-ap`` credentials (``uac_call.xml``) or expects
the 403 that a wrong password earns (``endpoint_uac_auth_refused.xml``).
sipp 3.6 reads only the first ``WWW-Authenticate`` and knows only MD5 (it
gives up on a SHA-256 challenge), like many older phones: its endpoints list
MD5 first (``sip.auth_algorithms``).  A hand-made INVITE checks the default
SHA-256 challenge and the stale-nonce answer, which sipp cannot provoke.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from hotline.sip.auth import Challenge, DigestClient, DigestServer, choose_challenge
from hotline.sip.call import IncomingCall
from hotline.sip.endpoint import SipEndpoint
from hotline.sip.message import Response
from hotline.sip.settings import SipAccount, SipSettings
from tests.interop.endpoint_helpers import RawPeer, offer, sip_settings
from tests.interop.peers import Sipp

pytestmark = pytest.mark.both_loops
"""The SIP endpoint and the media engine run on uvloop (the server's default) and asyncio."""

ACCOUNTS = (SipAccount("desk-101", "s3cret-101"), SipAccount("trunk-b", "other"))
SECRET = "interop-nonce-key-0123456789"


class Answering:
    """A call handler that answers every call and notes who the endpoint said it was."""

    def __init__(self) -> None:
        self.users: list[str | None] = []
        self.endpoint: SipEndpoint | None = None

    async def __call__(self, call: IncomingCall) -> None:
        assert self.endpoint is not None
        self.users.append(self.endpoint.authenticated_user(call))
        await call.answer(call.make_answer("127.0.0.1", 41000))
        await call.wait_ended()


@pytest.fixture
async def serve() -> AsyncIterator[object]:
    started: list[SipEndpoint] = []

    async def start(config: SipSettings) -> tuple[SipEndpoint, Answering]:
        handler = Answering()
        endpoint = SipEndpoint(config, on_call=handler)
        handler.endpoint = endpoint
        await endpoint.start()
        started.append(endpoint)
        return endpoint, handler

    try:
        yield start
    finally:
        for endpoint in started:
            await endpoint.stop()


def address(endpoint: SipEndpoint) -> tuple[str, int]:
    _, host, port = endpoint.local_addresses[0]
    return host, port


def stranger_config(**changes: object) -> SipSettings:
    return sip_settings(0, allowed=("192.0.2.1/32",), auth_secret=SECRET, **changes)


#: What an MD5-only phone (and sipp) needs: MD5 as the first challenge.
MD5_FIRST = {"accounts": ACCOUNTS, "auth_algorithms": ("MD5", "SHA-256")}


async def test_good_password_is_answered_and_names_the_user(serve, sipp: Sipp) -> None:  # type: ignore[no-untyped-def]
    endpoint, handler = await serve(stranger_config(**MD5_FIRST))
    run = sipp.start("uac_call.xml", address(endpoint), auth=("desk-101", "s3cret-101"), hold_ms=200, timeout_s=10)
    result = await run.wait_async(20)
    assert result.ok, result.describe()
    assert len(result.lines("CHALLENGED")) == 1 and len(result.lines("ANSWERED")) == 1
    assert handler.users == ["desk-101"]
    challenges = [Challenge.parse(v) for v in result.headers("WWW-Authenticate")]
    # In the configured order, one nonce, qop=auth, our realm.
    assert [c.algorithm for c in challenges] == ["MD5", "SHA-256"]
    assert len({c.nonce for c in challenges}) == 1
    assert {c.realm for c in challenges} == {"hotline"} and all(c.qop == ("auth",) for c in challenges)
    assert endpoint.counters["auth-challenge"] == 1 and endpoint.counters["auth-ok"] == 1
    # The 401's ACK was absorbed by its INVITE transaction, not refused by the gatekeeper.
    assert endpoint.counters["gate-drop"] == 0 and endpoint.counters["in ACK"] == 2


async def test_wrong_password_gets_403_and_never_reaches_the_handler(serve, sipp: Sipp) -> None:  # type: ignore[no-untyped-def]
    endpoint, handler = await serve(stranger_config(**MD5_FIRST))
    run = sipp.start("endpoint_uac_auth_refused.xml", address(endpoint), auth=("desk-101", "guess"), timeout_s=10)
    result = await run.wait_async(20)
    assert result.ok, result.describe()
    assert len(result.lines("CHALLENGED")) == 1
    assert "403" in result.lines("REFUSED")[0]
    assert handler.users == []
    assert endpoint.counters["auth-failed"] == 1 and endpoint.counters["out 401"] == 1


async def test_unknown_user_gets_403(serve, sipp: Sipp) -> None:  # type: ignore[no-untyped-def]
    endpoint, handler = await serve(stranger_config(**MD5_FIRST))
    run = sipp.start("endpoint_uac_auth_refused.xml", address(endpoint), auth=("nobody", "s3cret-101"), timeout_s=10)
    result = await run.wait_async(20)
    assert result.ok, result.describe()
    assert "403" in result.lines("REFUSED")[0] and handler.users == []


async def test_without_accounts_strangers_get_403_as_before(serve, sipp: Sipp) -> None:  # type: ignore[no-untyped-def]
    endpoint, handler = await serve(stranger_config())
    result = await sipp.start("uac_call_rejected.xml", address(endpoint), timeout_s=10).wait_async(20)
    assert result.ok, result.describe()
    assert "403" in result.lines("REJECTED")[0]
    assert handler.users == [] and endpoint.counters["out 401"] == 0


async def test_allow_listed_peer_is_not_challenged(serve, sipp: Sipp) -> None:  # type: ignore[no-untyped-def]
    endpoint, handler = await serve(sip_settings(0, allowed=("127.0.0.1/32",), accounts=ACCOUNTS))
    run = sipp.start("uac_call.xml", address(endpoint), auth=("desk-101", "s3cret-101"), hold_ms=100, timeout_s=10)
    result = await run.wait_async(20)
    assert result.ok, result.describe()
    assert result.lines("ANSWERED") and not result.lines("CHALLENGED")
    assert handler.users == [None]
    assert endpoint.counters["out 401"] == 0


# -- a hand-made caller for what sipp cannot do -------------------------------------------------


def invite(peer: RawPeer, target: tuple[str, int], *, cseq: int, branch: str, authorization: str = "") -> str:
    uri = f"sip:hotline@{target[0]}:{target[1]}"
    body = offer().decode()
    auth = f"Authorization: {authorization}\r\n" if authorization else ""
    return (
        f"INVITE {uri} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{peer.port};branch=z9hG4bK{branch};rport\r\n"
        f"From: <sip:desk-101@127.0.0.1>;tag=raw-caller\r\n"
        f"To: <{uri}>\r\n"
        f"Call-ID: stale-{branch}@127.0.0.1\r\n"
        f"CSeq: {cseq} INVITE\r\n"
        f"Contact: <sip:desk-101@127.0.0.1:{peer.port}>\r\n"
        f"{auth}Max-Forwards: 70\r\n"
        f"Content-Type: application/sdp\r\nContent-Length: {len(body)}\r\n\r\n{body}"
    )


async def final(peer: RawPeer) -> Response:
    message = await peer.recv_until(lambda m: isinstance(m, Response) and m.status >= 200)
    assert isinstance(message, Response)
    return message


async def test_expired_nonce_with_the_right_password_gets_a_stale_challenge(serve) -> None:  # type: ignore[no-untyped-def]
    endpoint, handler = await serve(stranger_config(accounts=ACCOUNTS))
    target = address(endpoint)
    uri = f"sip:hotline@{target[0]}:{target[1]}"
    # A nonce the endpoint itself signed ten minutes ago (same realm and key): past its 300 s.
    old = DigestServer("hotline", lambda _u: None, SECRET.encode()).challenges(endpoint._auth_clock() - 600)[0]
    authorization = DigestClient("desk-101", "s3cret-101").authorize(old, "INVITE", uri)
    assert authorization is not None
    peer = RawPeer()
    try:
        peer.send(invite(peer, target, cseq=1, branch="stale1", authorization=authorization), target)
        response = await final(peer)
        assert response.status == 401
        fresh = [Challenge.parse(v) for v in response.headers.get_all("WWW-Authenticate")]
        # The default: SHA-256 preferred (RFC 8760 §2.4), MD5 for older phones.
        assert [c.algorithm for c in fresh] == ["SHA-256", "MD5"]
        assert all(c.stale for c in fresh) and fresh[0].nonce != old.nonce
        assert handler.users == []
        # ACK it (the transaction absorbs it), then answer the fresh challenge: the call goes through.
        to = response.headers.get("To")
        peer.send(
            invite(peer, target, cseq=1, branch="stale1").replace("INVITE sip", "ACK sip", 1)
            .replace("CSeq: 1 INVITE", "CSeq: 1 ACK").replace(f"To: <{uri}>", f"To: {to}"),
            target,
        )
        chosen = choose_challenge(fresh)
        assert chosen is not None and chosen.algorithm == "SHA-256"
        retry = DigestClient("desk-101", "s3cret-101").authorize(chosen, "INVITE", uri)
        assert retry is not None
        peer.send(invite(peer, target, cseq=2, branch="stale2", authorization=retry), target)
        assert (await final(peer)).status == 200
        assert handler.users == ["desk-101"]
    finally:
        peer.close()
