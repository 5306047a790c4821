"""The sans-IO REGISTER client against a real kamailio registrar with digest auth.

A few lines of asyncio UDP stand in for the endpoint: send each REGISTER the
:class:`Registration` asks for, feed the answer back.  The machine's clock is
the loop's, but refreshes are asked for at once by passing their deadline as
``now`` (that is what sans-IO buys: no waiting for half an expiry).
Whether kamailio really holds our binding is checked the way calls will use
it: an OPTIONS for ``sip:hotline@127.0.0.1`` sent to kamailio must be relayed to
our socket, and after unregistering kamailio must answer 404.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from hotline.sip.headers import Via
from hotline.sip.message import Request, Response, build_request, new_branch, parse_message
from hotline.sip.registration import (
    Registered,
    RegisterRequest,
    Registration,
    RegistrationFailed,
    RegistrationOutput,
    RegistrationState,
    Unregistered,
)
from tests.interop.peers import LOOPBACK, Kamailio, start_kamailio

USER = "hotline"
WAIT = 3.0  # seconds for any one answer on loopback


class _Socket(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.messages: asyncio.Queue[Request | Response] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.messages.put_nowait(parse_message(data))


async def _open() -> tuple[asyncio.DatagramTransport, _Socket, int]:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(_Socket, local_addr=(LOOPBACK, 0))
    return transport, protocol, transport.get_extra_info("sockname")[1]


async def _final_response(sock: _Socket, cseq: int, wait: float) -> Response | None:
    try:
        async with asyncio.timeout(wait):
            while True:
                msg = await sock.messages.get()
                if isinstance(msg, Response) and msg.cseq.seq == cseq and msg.status >= 200:
                    return msg
    except TimeoutError:
        return None


async def _drive(
    reg: Registration,
    transport: asyncio.DatagramTransport,
    sock: _Socket,
    outputs: Sequence[RegistrationOutput],
    now: float,
    *,
    wait: float = WAIT,
) -> tuple[list[RegistrationOutput], int]:
    """Carry REGISTERs until the machine stops sending; (events, requests sent)."""
    events: list[RegistrationOutput] = []
    for sent in range(7):
        events += [o for o in outputs if not isinstance(o, RegisterRequest)]
        sends = [o for o in outputs if isinstance(o, RegisterRequest)]
        if not sends:
            return events, sent
        (send,) = sends
        transport.sendto(send.request.serialize(), send.destination)
        response = await _final_response(sock, send.cseq, wait)
        if response is None:
            outputs = reg.handle_timeout(now, cseq=send.cseq)
        else:
            outputs = reg.handle_response(response, now)
    raise AssertionError("the registration kept sending")


async def _probe(kam: Kamailio, sock: _Socket) -> int | str:
    """Ask kamailio to relay an OPTIONS to our AoR: "relayed" when it reached ``sock``,
    else kamailio's status."""
    transport, probe, port = await _open()
    try:
        via = Via("UDP", LOOPBACK, port, {"branch": new_branch(), "rport": None})
        request = build_request(
            "OPTIONS",
            f"sip:{USER}@{LOOPBACK}:{kam.auth_port}",
            from_=f"<sip:probe@{LOOPBACK}>;tag=probe",
            to=f"<sip:{USER}@{LOOPBACK}>",
            call_id=f"probe-{new_branch()}",
            cseq=1,
            via=via,
        )
        transport.sendto(request.serialize(), kam.auth_address)
        async with asyncio.timeout(WAIT):
            while True:
                relayed = asyncio.ensure_future(sock.messages.get())
                answered = asyncio.ensure_future(probe.messages.get())
                done, pending = await asyncio.wait(
                    {relayed, answered}, return_when=asyncio.FIRST_COMPLETED
                )
                for task in pending:
                    task.cancel()
                    await asyncio.gather(task, return_exceptions=True)
                if relayed in done:
                    msg = relayed.result()
                    if isinstance(msg, Request) and msg.method == "OPTIONS":
                        return "relayed"
                if answered in done:
                    msg = answered.result()
                    if isinstance(msg, Response) and msg.status >= 200:
                        return msg.status
    finally:
        transport.close()


async def test_register_refresh_and_unregister_with_kamailio(kamailio: Kamailio) -> None:
    transport, sock, port = await _open()
    try:
        reg = Registration(
            f"sip:{LOOPBACK}:{kamailio.auth_port}",
            f"sip:{USER}@{LOOPBACK}:{port}",
            USER,
            kamailio.users[USER],
            expires=120,
        )
        assert reg.destination == kamailio.auth_address
        loop = asyncio.get_running_loop()
        now = loop.time()
        events, sent = await _drive(reg, transport, sock, reg.start(now), now)
        assert sent == 2  # the 401, then the answer
        assert len(events) == 1 and isinstance(events[0], Registered), events
        assert events[0].expires == 120
        assert any(f"{LOOPBACK}:{port}" in c for c in events[0].contacts)
        assert reg.state is RegistrationState.REGISTERED
        assert await _probe(kamailio, sock) == "relayed"

        # The refresh carries credentials for the nonce kamailio already gave: one round trip.
        refresh_at = reg.next_deadline()
        assert refresh_at == now + 60
        events, sent = await _drive(reg, transport, sock, reg.handle_timer(refresh_at), refresh_at)
        assert sent == 1 and [type(e) for e in events] == [Registered]

        later = refresh_at + 1
        events, sent = await _drive(reg, transport, sock, reg.unregister(later), later)
        assert events == [Unregistered(clean=True)]
        assert reg.state is RegistrationState.UNREGISTERED
        assert await _probe(kamailio, sock) == 404
        log = "\n".join(kamailio.script_log())
        assert f"REGISTER sip:{USER}@{LOOPBACK} contact=<sip:{USER}@{LOOPBACK}:{port}>" in log
    finally:
        transport.close()


async def test_short_expiry_is_raised_by_kamailio_and_refresh_follows_the_grant(
    kamailio: Kamailio,
) -> None:
    transport, sock, port = await _open()
    try:
        reg = Registration(
            f"sip:{LOOPBACK}:{kamailio.auth_port}",
            f"sip:{USER}@{LOOPBACK}:{port}",
            USER,
            kamailio.users[USER],
            expires=20,
        )
        now = asyncio.get_running_loop().time()
        events, _ = await _drive(reg, transport, sock, reg.start(now), now)
        assert len(events) == 1 and isinstance(events[0], Registered), events
        # kamailio's registrar raises a too-short expiry to its min_expires (60 s).
        assert events[0].expires == 60
        assert reg.next_deadline() == now + 30
        await _drive(reg, transport, sock, reg.unregister(now + 1), now + 1)
    finally:
        transport.close()


async def test_wrong_password_fails_without_hammering_kamailio(kamailio: Kamailio) -> None:
    transport, sock, port = await _open()
    try:
        reg = Registration(
            f"sip:{LOOPBACK}:{kamailio.auth_port}",
            f"sip:{USER}@{LOOPBACK}:{port}",
            USER,
            "not-the-password",
            expires=120,
        )
        now = asyncio.get_running_loop().time()
        events, sent = await _drive(reg, transport, sock, reg.start(now), now)
        # kamailio's nonce changes with the clock: the same nonce challenged again within
        # a second means a wrong password at once; a fresh one gets one more answer.
        assert 2 <= sent <= 3
        assert len(events) == 1 and isinstance(events[0], RegistrationFailed), events
        assert events[0].status == 401
        assert events[0].retry_at is not None and events[0].retry_at >= now + 240  # 300 s - jitter
        assert reg.state is RegistrationState.AUTH_FAILED
        assert reg.next_deadline() == events[0].retry_at
        assert await _probe(kamailio, sock) == 404
        assert reg.unregister(now + 1) == [Unregistered(clean=True)]
    finally:
        transport.close()


class _SamePorts:
    """Hands start_kamailio the ports of the instance that went down (open, then auth)."""

    def __init__(self, kam: Kamailio) -> None:
        self._ports = [kam.open_port, kam.auth_port]

    def one(self) -> int:
        return self._ports.pop(0)


async def test_registrar_restart_is_survived_with_backoff_and_reauthentication(
    kamailio: Kamailio, tmp_path: Path
) -> None:
    transport, sock, port = await _open()
    reborn: Kamailio | None = None
    try:
        reg = Registration(
            f"sip:{LOOPBACK}:{kamailio.auth_port}",
            f"sip:{USER}@{LOOPBACK}:{port}",
            USER,
            kamailio.users[USER],
            expires=120,
        )
        now = asyncio.get_running_loop().time()
        events, _ = await _drive(reg, transport, sock, reg.start(now), now)
        assert [type(e) for e in events] == [Registered]

        kamailio.stop()  # the PBX goes down; our refresh gets no answer
        refresh_at = reg.next_deadline()
        assert refresh_at is not None
        events, sent = await _drive(
            reg, transport, sock, reg.handle_timer(refresh_at), refresh_at, wait=0.3
        )
        assert sent == 1 and len(events) == 1 and isinstance(events[0], RegistrationFailed)
        assert events[0].status == 408 and reg.state is RegistrationState.BACKOFF
        retry_at = events[0].retry_at
        assert retry_at is not None and refresh_at + 1.6 <= retry_at <= refresh_at + 2.0

        # It comes back on the same ports with a new nonce secret and no bindings: the
        # retry's credentials are refused with a fresh challenge, answered at once.
        reborn = start_kamailio(tmp_path / "kamailio-reborn", _SamePorts(kamailio))  # type: ignore[arg-type]
        events, sent = await _drive(reg, transport, sock, reg.handle_timer(retry_at), retry_at)
        assert sent == 2 and [type(e) for e in events] == [Registered]
        assert await _probe(reborn, sock) == "relayed"
        events, _ = await _drive(reg, transport, sock, reg.unregister(retry_at + 1), retry_at + 1)
        assert events == [Unregistered(clean=True)]
    finally:
        transport.close()
        if reborn is not None:
            reborn.stop()
