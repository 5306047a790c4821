"""``hotline serve`` under stress and mishaps: a flood, per-caller limits, hang-ups, kill -9,
broken flows at start and at SIGHUP.

Every test runs the real server process (``HotlineServer``) against callers on loopback:
sipp for the flood, and :class:`RawPhone`, a hand-written UDP caller that can sit on any
127.x.y.z address, present any number, press keys (SIP INFO) and hang up exactly when the
test says. Outcomes are read back from the server's database and log.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from hotline.sip.message import Request, Response, parse_message
from tests.conftest import ROOT
from tests.interop.peers import PortAllocator, Sipp, tcp_listening, udp_bound
from tests.interop.serve_helpers import HotlineServer, ServerOptions

DEFAULT_FLOW = ROOT / "ivr_flows" / "default.toml"

# -- a caller written by hand ------------------------------------------------------------------

_sequence = itertools.count(1)


class RawPhone(asyncio.DatagramProtocol):
    """One call's caller: INVITE with an SDP offer, ACK, INFO keys, BYE — over UDP from ``host``.

    Enough of RFC 3261 for loopback: the INVITE is retransmitted (Timer A) until something
    answers, a final response is ACKed (again for every retransmission of it), a BYE or INFO
    is retransmitted until answered, and a BYE from the server is answered 200. Every message
    received is kept in :attr:`received`; RTP packets reaching the offer's port are counted.
    """

    def __init__(self, host: str, number: str, server: tuple[str, int], *, service: str = "8000") -> None:
        self.host = host
        self.number = number
        self.server = server
        self.service = service
        n = next(_sequence)
        self.call_id = f"raw-{n}-{time.monotonic_ns()}@{host}"
        self.from_tag = f"rawtag{n}"
        self.branch = f"z9hG4bK-raw-{n}-invite"
        self.to_tag: str | None = None
        self.target = f"sip:{service}@{server[0]}:{server[1]}"
        self.cseq = 1
        self.received: list[Request | Response] = []
        self.garbage: list[bytes] = []
        """Datagrams that did not parse as SIP (there should be none)."""
        self.final: Response | None = None
        self.rtp_packets = 0
        self.bye_from_server = asyncio.Event()
        self._waiters: dict[tuple[int, str], asyncio.Future[Response]] = {}
        self._provisional = asyncio.Event()
        self.sip: asyncio.DatagramTransport | None = None
        self.rtp: asyncio.DatagramTransport | None = None

    # -- sockets ---------------------------------------------------------------------------

    async def open(self) -> RawPhone:
        loop = asyncio.get_running_loop()
        self.sip, _ = await loop.create_datagram_endpoint(lambda: self, local_addr=(self.host, 0))
        self.port = self.sip.get_extra_info("sockname")[1]
        phone = self

        class Rtp(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                phone.rtp_packets += 1

        self.rtp, _ = await loop.create_datagram_endpoint(Rtp, local_addr=(self.host, 0))
        self.rtp_port = self.rtp.get_extra_info("sockname")[1]
        return self

    def close(self) -> None:
        for transport in (self.sip, self.rtp):
            if transport is not None:
                transport.close()

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            msg = parse_message(data)
        except Exception:  # kept for the report; a test peer does not answer garbage
            self.garbage.append(data)
            return
        self.received.append(msg)
        if isinstance(msg, Request):
            self._answer_request(msg)
            return
        if msg.call_id != self.call_id:
            return
        if msg.cseq.method == "INVITE":
            if msg.status < 200:
                self._provisional.set()
                return
            self._provisional.set()
            if self.final is not None:  # a retransmission of the final response: ACK it again
                self._ack(msg)
                return
            self.final = msg
            self.to_tag = msg.to_tag
            if msg.is_success and msg.contact is not None:
                self.target = str(msg.contact.uri)
            self._ack(msg)
        waiter = self._waiters.get((msg.cseq.seq, msg.cseq.method))
        if waiter is not None and not waiter.done() and msg.status >= 200:
            waiter.set_result(msg)

    # -- messages --------------------------------------------------------------------------

    def _head(self, method: str, uri: str, cseq: int, branch: str, *, cseq_method: str | None = None,
              to_tag: str | None = None) -> list[str]:
        to = f"<sip:{self.service}@{self.server[0]}:{self.server[1]}>" + (f";tag={to_tag}" if to_tag else "")
        return [
            f"{method} {uri} SIP/2.0",
            f"Via: SIP/2.0/UDP {self.host}:{self.port};branch={branch};rport",
            "Max-Forwards: 70",
            f'From: "Raw Phone" <sip:{self.number}@{self.host}:{self.port}>;tag={self.from_tag}',
            f"To: {to}",
            f"Call-ID: {self.call_id}",
            f"CSeq: {cseq} {cseq_method or method}",
            f"Contact: <sip:{self.number}@{self.host}:{self.port}>",
            "User-Agent: hotline-resilience-raw-phone",
        ]

    def _send(self, head: list[str], body: bytes = b"", content_type: str | None = None) -> None:
        assert self.sip is not None
        lines = [*head, *([f"Content-Type: {content_type}"] if content_type else []),
                 f"Content-Length: {len(body)}", "", ""]
        self.sip.sendto("\r\n".join(lines).encode() + body, self.server)

    def offer(self) -> bytes:
        return (
            f"v=0\r\no=raw 1 1 IN IP4 {self.host}\r\ns=-\r\nc=IN IP4 {self.host}\r\nt=0 0\r\n"
            f"m=audio {self.rtp_port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
            "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\na=sendrecv\r\n"
        ).encode()

    def _ack(self, final: Response) -> None:
        if final.is_success:  # a new transaction to the remote target (RFC 3261 §13.2.2.4)
            head = self._head("ACK", self.target, 1, f"z9hG4bK-raw-ack-{self.from_tag}", to_tag=final.to_tag)
        else:  # part of the INVITE transaction (§17.1.1.3)
            head = self._head("ACK", f"sip:{self.service}@{self.server[0]}:{self.server[1]}", 1,
                              self.branch, to_tag=final.to_tag)
        self._send(head)

    def _answer_request(self, request: Request) -> None:
        status = 200 if request.method in ("BYE", "OPTIONS", "INFO", "NOTIFY") else 481
        if request.method == "BYE" and request.call_id == self.call_id:
            self.bye_from_server.set()
        lines = [f"SIP/2.0 {status} {'OK' if status == 200 else 'Call Does Not Exist'}"]
        lines += [f"Via: {v}" for v in request.headers.get_all("Via")]
        for name in ("From", "To", "Call-ID", "CSeq"):
            lines.append(f"{name}: {request.headers.get(name)}")
        assert self.sip is not None
        self.sip.sendto(("\r\n".join([*lines, "Content-Length: 0", "", ""])).encode(), self.server)

    async def _transaction(self, seq: int, method: str, send: Callable[[], None], timeout: float,
                           *, until_provisional: bool = False) -> Response:
        """Send, and send again (0.5 s doubling to 4 s) until the final response arrives; it, or TimeoutError.

        With ``until_provisional`` (INVITE) a provisional response stops the retransmissions."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[Response] = loop.create_future()
        self._waiters[(seq, method)] = waiter
        deadline = loop.time() + timeout
        interval = 0.5
        try:
            send()
            while True:
                left = deadline - loop.time()
                if left <= 0:
                    raise TimeoutError(f"no final response to {method} {self.call_id} in {timeout} s; "
                                       f"got {[getattr(m, 'status', m) for m in self.received]}")
                done, _ = await asyncio.wait([waiter], timeout=min(interval, left))
                if done:
                    return waiter.result()
                if not (until_provisional and self._provisional.is_set()):
                    send()
                interval = min(interval * 2, 4.0)
        finally:
            self._waiters.pop((seq, method), None)

    async def invite(self, timeout: float = 15.0) -> Response:
        """Call; the final response (already ACKed)."""
        head = self._head("INVITE", self.target, 1, self.branch)
        body = self.offer()
        return await self._transaction(1, "INVITE", lambda: self._send(head, body, "application/sdp"),
                                       timeout, until_provisional=True)

    async def info(self, digit: str) -> Response:
        """Press ``digit`` (SIP INFO, application/dtmf-relay)."""
        self.cseq += 1
        seq = self.cseq
        head = self._head("INFO", self.target, seq, f"z9hG4bK-raw-info{seq}-{self.from_tag}", to_tag=self.to_tag)
        body = f"Signal={digit}\r\nDuration=160\r\n".encode()
        return await self._transaction(seq, "INFO", lambda: self._send(head, body, "application/dtmf-relay"), 8.0)

    async def bye(self) -> Response:
        self.cseq += 1
        seq = self.cseq
        head = self._head("BYE", self.target, seq, f"z9hG4bK-raw-bye{seq}-{self.from_tag}", to_tag=self.to_tag)
        return await self._transaction(seq, "BYE", lambda: self._send(head), 8.0)

    def statuses(self) -> list[int]:
        """Status codes of the responses to our INVITE, in arrival order."""
        return [m.status for m in self.received
                if isinstance(m, Response) and m.call_id == self.call_id and m.headers.get("CSeq", "").endswith("INVITE")]

    async def wait_rtp(self, packets: int = 5, timeout: float = 5.0) -> None:
        """Until the server's audio (the greeting) reaches us."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self.rtp_packets < packets:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{self.rtp_packets} RTP packets from the server within {timeout} s")
            await asyncio.sleep(0.02)


async def dial(host: str, number: str, server: HotlineServer, timeout: float = 15.0) -> tuple[RawPhone, Response]:
    phone = await RawPhone(host, number, server.address).open()
    return phone, await phone.invite(timeout)


# -- reading the server ------------------------------------------------------------------------


def serve(tmp_path: Path, free_ports: PortAllocator, options: ServerOptions | None = None) -> HotlineServer:
    server = HotlineServer(tmp_path / "hotline", free_ports, options or ServerOptions())
    server.init_db()
    return server


async def until(what: str, predicate: Callable[[], Any], server: HotlineServer, timeout: float = 15.0) -> Any:
    """``predicate()``'s first true value, polled without blocking the event loop."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"no {what} within {timeout} s; calls: {server.calls()[-5:]}\n"
                                 f"server log:\n{server.log()[-6000:]}")
        await asyncio.sleep(0.1)


def call_row(server: HotlineServer, sip_call_id: str) -> dict[str, Any] | None:
    rows = [r for r in server.calls() if r["sip_call_id"] == sip_call_id]
    assert len(rows) <= 1, rows
    return rows[0] if rows else None


async def ended_row(server: HotlineServer, sip_call_id: str, timeout: float = 15.0) -> dict[str, Any]:
    return await until(f"end of call {sip_call_id}",
                       lambda: (lambda r: r if r and r["ended_at"] else None)(call_row(server, sip_call_id)),
                       server, timeout)


def healthz(server: HotlineServer) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{server.web_port}/healthz", timeout=5) as response:
        assert response.status == 200
        return json.loads(response.read())


def assert_clean_log(server: HotlineServer) -> None:
    log = server.log()
    assert "call handler failed" not in log and "Traceback" not in log, log[-8000:]


def log_after(server: HotlineServer, offset: int) -> str:
    return server.log()[offset:]


async def answered_call_works(server: HotlineServer, host: str = "127.0.0.1",
                              number: str = "+8613600000009") -> str:
    """A fresh call is answered and its greeting plays; hung up at once. Its Call-ID."""
    phone, final = await dial(host, number, server)
    try:
        assert final.status == 200, (final, phone.received)
        await phone.wait_rtp()
        assert (await phone.bye()).status == 200
    finally:
        phone.close()
    return phone.call_id


# -- the tests ---------------------------------------------------------------------------------


async def test_caller_hangs_up_during_the_greeting(tmp_path: Path, free_ports: PortAllocator) -> None:
    server = serve(tmp_path, free_ports)
    server.start()
    try:
        phone, final = await dial("127.0.0.1", "+8613412345678", server)
        try:
            assert final.status == 200, phone.received
            await phone.wait_rtp()  # the greeting plays
            row = call_row(server, phone.call_id)
            assert row is not None and row["ended_at"] is None and row["answered_at"] is not None, row
            assert (await phone.bye()).status == 200
        finally:
            phone.close()
        call = await ended_row(server, phone.call_id)
    finally:
        server.stop()
    issue = server.issue_of(call["id"])
    assert call["disposition"] == "abandoned", call
    assert call["menu"] == [] and call["attempts"] == [] and call["route"] is None, call
    assert issue["status"] == "new", issue
    assert issue["call_ended_at"] == call["ended_at"], (issue, call)
    assert issue["call_back"] == 0, issue  # never routed: nobody was waiting to take it
    assert_clean_log(server)


async def test_third_call_from_one_number_is_refused_others_are_answered(
    tmp_path: Path, free_ports: PortAllocator,
) -> None:
    server = serve(tmp_path, free_ports, ServerOptions(max_calls_per_caller=2))
    server.start()
    phones: list[RawPhone] = []
    try:
        finals = []
        for _ in range(3):  # one after another, each up before the next: "third" is exact
            phone, final = await dial("127.0.0.1", "+8613412345678", server)
            phones.append(phone)
            finals.append(final)
        others = []
        for number in ("+8613500000001", "+8613500000002"):
            phone, final = await dial("127.0.0.2", number, server)
            phones.append(phone)
            others.append(final)
        assert [f.status for f in finals] == [200, 200, 503], [p.received for p in phones[:3]]
        assert finals[2].headers.get("Retry-After") == "30", finals[2]
        assert [f.status for f in others] == [200, 200], [p.received for p in phones[3:]]
        assert healthz(server)["calls"] == {"active": 4, "refused": 1}
        for phone, final in zip(phones, [*finals, *others], strict=True):
            if final.status == 200:
                assert (await phone.bye()).status == 200
        rows = [await ended_row(server, p.call_id) for p in phones]
    finally:
        for phone in phones:
            phone.close()
        server.stop()
    assert [r["disposition"] for r in rows] == ["abandoned", "abandoned", "rejected", "abandoned", "abandoned"]
    assert [r["caller_key"] for r in rows] == ["+8613412345678"] * 3 + ["+8613500000001", "+8613500000002"]
    refused = rows[2]
    assert refused["answered_at"] is None and refused["flow"] is None, refused
    issue = server.issue_of(refused["id"])
    assert (issue["call_back"], issue["status"]) == (1, "new"), issue
    assert issue["call_ended_at"] == refused["ended_at"]
    assert [server.issue_of(r["id"])["call_back"] for r in rows] == [0, 0, 1, 0, 0]
    assert "+8613412345678 (sip.max_calls_per_caller)" in server.log()
    assert_clean_log(server)


async def test_kill_9_during_a_call_is_closed_as_interrupted_at_restart(
    tmp_path: Path, free_ports: PortAllocator,
) -> None:
    server = serve(tmp_path, free_ports)
    server.start()
    phone: RawPhone | None = None
    try:
        phone, final = await dial("127.0.0.1", "+8613412345678", server)
        assert final.status == 200, phone.received
        await phone.wait_rtp()
        before = call_row(server, phone.call_id)
        assert before is not None and before["ended_at"] is None and before["disposition"] is None, before
        server.kill9()
        first_run = len(server.log())
        assert server.issue_of(before["id"])["call_ended_at"] is None
        server.start()  # same configuration, same database
        restart = log_after(server, first_run)
        row = call_row(server, phone.call_id)
        assert healthz(server)["status"] == "ok"
        again = await answered_call_works(server)  # and it takes calls again
        assert (await ended_row(server, again))["disposition"] == "abandoned"
    finally:
        if phone is not None:
            phone.close()
        server.stop()
    assert row is not None
    assert (row["disposition"], row["id"]) == ("interrupted", before["id"]), row
    assert row["ended_at"] is not None and row["ended_at"] >= row["started_at"], row
    issue = server.issue_of(row["id"])
    assert issue["call_ended_at"] == row["ended_at"], (issue, row)
    assert issue["status"] == "new"
    assert f"1 call(s) left open by the last run closed as interrupted: #{row['id']}" in restart, restart
    assert_clean_log(server)


# -- the flood ---------------------------------------------------------------------------------

_TRACE_SPLIT = re.compile(r"^-{20,}.*$", re.MULTILINE)


def sipp_trace(messages: str) -> tuple[dict[str, int], dict[str, list[int]]]:
    """From sipp's -trace_msg: INVITEs sent per Call-ID, and the statuses received per Call-ID
    for the INVITE (in order)."""
    sent: dict[str, int] = {}
    statuses: dict[str, list[int]] = {}
    for block in _TRACE_SPLIT.split(messages):
        head, _, text = block.partition("\n\n")
        text = text.lstrip("\n")
        call_id = re.search(r"^Call-ID:\s*(\S+)", text, re.MULTILINE | re.IGNORECASE)
        cseq = re.search(r"^CSeq:\s*\d+\s+(\w+)", text, re.MULTILINE | re.IGNORECASE)
        if call_id is None or cseq is None or cseq.group(1) != "INVITE":
            continue
        if "message sent" in head and text.startswith("INVITE "):
            sent[call_id.group(1)] = sent.get(call_id.group(1), 0) + 1
        elif "message received" in head and text.startswith("SIP/2.0 "):
            statuses.setdefault(call_id.group(1), []).append(int(text.split()[1]))
    return sent, statuses


# 1,000 INVITEs at 200/s from one peer: sipp sends them in 5 s; each answered call is held 3 s,
# then hung up (uac_load.xml: 200 -> ACK -> pause -d -> BYE). On this 2-core machine the whole
# run, server included, takes about 8 s, so the full numbers of the brief are used.
FLOOD_CALLS = 1000
FLOOD_RATE = 200.0
FLOOD_HOLD_MS = 3000
RTP_PORTS = 40
"""20 RTP/RTCP pairs, or 19 when the allocated block starts on an odd port."""


def max_overlap(rows: list[dict[str, Any]]) -> int:
    """The most calls of ``rows`` up at one instant, by their recorded start and end."""
    edges = sorted([(r["started_at"], 1) for r in rows] + [(r["ended_at"], -1) for r in rows],
                   key=lambda e: (e[0], e[1]))
    return max(itertools.accumulate(delta for _, delta in edges), default=0)


@pytest.mark.timeout(150)
@pytest.mark.parametrize("limit", ["max_calls", "rtp_ports"])
async def test_flood_from_one_peer_with_a_legitimate_caller_from_another(
    tmp_path: Path, free_ports: PortAllocator, sipp: Sipp, limit: str,
) -> None:
    if limit == "max_calls":
        # Admission: 10 calls at once, fewer than the port pairs.
        options = ServerOptions(rtp_ports=RTP_PORTS, max_calls=10)
    else:
        # Admission lets everything in: the RTP port pool runs dry first (ports rest 10 s after
        # a call, so no port comes back during the 5 s flood).
        options = ServerOptions(rtp_ports=RTP_PORTS, max_calls=5000, max_calls_per_caller=1000)
    server = serve(tmp_path, free_ports, options)
    low = server.rtp_base + server.rtp_base % 2
    pairs = (server.rtp_base + RTP_PORTS - 1 - low + 1) // 2
    capacity = 10 if limit == "max_calls" else pairs
    reason = r"\d+ calls in progress \(sip\.max_calls = 10\)" if limit == "max_calls" else "no free RTP port"
    server.start()
    legit: RawPhone | None = None
    try:
        started = time.monotonic()
        flood = sipp.start("uac_load.xml", server.address, service="8000", calls=FLOOD_CALLS, rate=FLOOD_RATE,
                           hold_ms=FLOOD_HOLD_MS, timeout_s=60)
        await asyncio.sleep(1.5)  # the flood is on
        legit = await RawPhone("127.0.0.2", "+8613700000007", server.address).open()
        legit_final = await legit.invite(timeout=20)
        if legit_final.status == 200:
            await legit.wait_rtp()
            assert (await legit.bye()).status == 200
        result = await flood.wait_async(90)
        flood_seconds = time.monotonic() - started
        sent, statuses = sipp_trace(result.messages)
        flood_ids = set(sent)
        rows = await until("every flood call on record and ended",
                           lambda: (lambda c: c if len(c) >= len(flood_ids) + 1 and all(r["ended_at"] for r in c)
                                    else None)(server.calls()), server, timeout=60)
        health = healthz(server)
        # A port rests 10 s after its call, with max_calls as well: its 20 pairs are about as many
        # as the calls answered in the flood's last seconds. A call's end is written after its port
        # is freed.
        last_end = max(datetime.fromisoformat(r["ended_at"]) for r in rows if r["answered_at"])
        await asyncio.sleep((last_end - datetime.now(UTC)).total_seconds() + 10.5)
        after = await answered_call_works(server)
        after_row = await ended_row(server, after)
    finally:
        if legit is not None:
            legit.close()
        server.stop()
    print(f"flood ({limit}, capacity {capacity}): {len(flood_ids)} calls in {flood_seconds:.1f} s, sipp "
          f"{result.counter('SuccessfulCall')} successful / {result.counter('FailedCall')} failed; "
          f"legit caller got {legit.statuses()}")
    assert len(flood_ids) == FLOOD_CALLS, result.describe()
    # The legitimate caller is answered, or refused politely with the time to come back.
    assert legit_final.status in (200, 503), legit.received
    if legit_final.status == 503:
        assert legit_final.headers.get("Retry-After") == "30", legit_final
    # Every INVITE answered with 100 Trying has exactly one call row, and only those.
    trying = {cid for cid, codes in statuses.items() if 100 in codes}
    by_id = {r["sip_call_id"]: r for r in rows}
    assert len(by_id) == len(rows), "a Call-ID recorded twice"
    assert trying <= set(by_id), sorted(trying - set(by_id))[:10]
    assert flood_ids <= set(by_id), sorted(flood_ids - set(by_id))[:10]  # none lost, even without a 100
    assert set(by_id) - flood_ids == {legit.call_id}, sorted(set(by_id) - flood_ids)[:10]
    # Every flood call got one final answer: 200 (then our BYE: abandoned) or 503 (rejected).
    finals = {cid: {c for c in statuses.get(cid, []) if c >= 200} for cid in flood_ids}
    odd = {cid: statuses.get(cid) for cid, f in finals.items() if f not in ({200}, {503})}
    assert odd == {}, odd
    answered = {cid for cid, f in finals.items() if f == {200}}
    refused = flood_ids - answered
    first = [f"{n}-{cid.split('-', 1)[1]}" for n, cid in enumerate(sorted(flood_ids), 1)][: capacity + 1]
    assert [cid in answered for cid in first] == [True] * capacity + [False], first  # the first come in
    if limit == "rtp_ports":
        # A port rests 10 s after its call: a flood that took longer (a loaded machine) gets
        # some back before it ends, never more at once than the pool holds (checked below).
        assert len(answered) == capacity or (flood_seconds > 10 and len(answered) > capacity), \
            (len(answered), flood_seconds)
    assert max_overlap([by_id[cid] for cid in answered]) <= capacity
    assert sorted({by_id[cid]["disposition"] for cid in answered}) == ["abandoned"]
    assert sorted({by_id[cid]["disposition"] for cid in refused}) == ["rejected"]
    assert all(r["ended_at"] and r["disposition"] for r in rows)
    legit_row = by_id[legit.call_id]
    assert legit_row["from_uri"].endswith("@127.0.0.2:" + str(legit.port)) and legit.garbage == [], legit_row
    answered_legit = {legit.call_id} if legit_final.status == 200 else set()
    assert legit_row["disposition"] == ("rejected" if legit_final.status == 503 else "abandoned"), legit_row
    refusals = re.findall(r"call (\S+) refused with 503: (.*)", server.log())
    assert sorted(cid for cid, _ in refusals) == sorted(refused | ({legit.call_id} - answered_legit)), refusals[:5]
    assert [why for _, why in refusals if not re.fullmatch(reason, why)] == []
    # The refused are flagged for a call back; the answered (never routed) are not.
    flags = {r["sip_call_id"]: r["call_back"] for r in server.query(
        "SELECT calls.sip_call_id, issues.call_back FROM calls JOIN issues ON issues.call_id = calls.id")}
    assert set(flags) == set(by_id) | {after}
    not_flagged = sorted(cid for cid in refused if flags[cid] != 1)
    assert not_flagged == [], (
        f"refused calls whose issue is not flagged for a call back: {not_flagged}; their issue events: "
        + repr(server.query("SELECT issue_id, kind, note FROM issue_events WHERE issue_id IN "
                            "(SELECT issues.id FROM issues JOIN calls ON calls.id = issues.call_id "
                            f"WHERE calls.sip_call_id IN ({', '.join('?' * len(not_flagged))}))",
                            tuple(not_flagged))))
    assert sorted(cid for cid in answered if flags[cid] != 0) == []
    # Still healthy: no call left counted, a new call answered.
    refused_total = len(refused) + (legit_final.status == 503)
    assert health["status"] == "ok" and health["calls"] == {"active": 0, "refused": refused_total}, health
    assert after_row["disposition"] == "abandoned"
    assert_clean_log(server)


# -- flows: refused at start, refused and accepted at SIGHUP -------------------------------------


def line_of(text: str, line: str) -> int:
    """1-based number of the one line of ``text`` that reads ``line``."""
    numbers = [n for n, current in enumerate(text.splitlines(), 1) if current.strip() == line]
    assert len(numbers) == 1, (line, numbers)
    return numbers[0]


def edit(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


# The default flow's nodes in the order the file defines them, as the "known nodes" of a message.
DEFAULT_NODES = ", ".join(re.findall(r"^\[nodes\.([a-z_]+)\]$", DEFAULT_FLOW.read_text(encoding="utf-8"), re.M))


def broken_default_flow() -> str:
    """default.toml with four faults: a menu choice to no node, no timeout path, a prompt that
    does not exist, a node nothing leads to."""
    text = DEFAULT_FLOW.read_text(encoding="utf-8")
    text = edit(text, 'choices = { 0 = "office_hours", 8 = "status", 9 = "english" }', 'choices = { 0 = "operator", 8 = "status", 9 = "english" }')
    text = edit(text, 'timeout_next = "office_hours"\n', "")
    text = edit(text, 'prompts = ["farewell"]', 'prompts = ["farewell", "no_such_prompt"]')
    return text + '\n[nodes.orphan]\nkind = "hangup"\n'


def problem_lines(stderr: str) -> list[str]:
    """stderr without the log records (a calendar warning depends on today's date)."""
    return [line for line in stderr.splitlines() if not re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ", line)]


def test_invalid_flows_are_listed_and_refused_at_start(tmp_path: Path, free_ports: PortAllocator) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    text = broken_default_flow()
    path = flows / "default.toml"
    path.write_text(text, encoding="utf-8")
    server = serve(tmp_path, free_ports, ServerOptions(flows_dir=flows))
    menu = line_of(text, "[nodes.menu]")
    choices = line_of(text, 'choices = { 0 = "operator", 8 = "status", 9 = "english" }')
    goodbye = line_of(text, 'prompts = ["farewell", "no_such_prompt"]')
    orphan = line_of(text, "[nodes.orphan]")
    expected = [
        f"{flows}: the IVR flows have 5 problem(s):",
        f"  {path}:{menu}: nodes.menu.timeout_next: is required: the timeout path, "
        "where the call goes when the retries are used up",
        f'  {path}:{choices}: nodes.menu.choices.0: no node "operator" (known nodes: {DEFAULT_NODES}, orphan)',
        *(f'  {path}:{goodbye}: nodes.goodbye.prompts: prompt "no_such_prompt" ({lang}) has no WAV file '
          f'and no text to build one from (add {lang} = "…" to [prompts.no_such_prompt], or record one)'
          for lang in ("zh", "en")),
        f'  {path}:{orphan}: nodes.orphan: cannot be reached from start ("welcome")',
    ]

    checked = server.hotline("check-flows", "--config", str(server.config_path), str(flows))
    assert checked.returncode == 2, checked
    assert checked.stdout == ""
    assert problem_lines(checked.stderr) == expected, checked.stderr

    # serve with that folder: the same list, exit 2, and nothing ever listens.
    process = subprocess.Popen([sys.executable, "-m", "hotline", "serve", "--config", str(server.config_path)],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    bound: list[str] = []
    deadline = time.monotonic() + 60
    try:
        while process.poll() is None and time.monotonic() < deadline:
            if udp_bound(server.sip_port):
                bound.append(f"udp {server.sip_port}")
            if tcp_listening(server.sip_port) or tcp_listening(server.web_port):
                bound.append("tcp")
            time.sleep(0.02)
    finally:
        if process.poll() is None:
            process.kill()
        stdout, stderr = process.communicate(timeout=10)
    assert process.returncode == 2, (process.returncode, stderr)
    assert bound == [], bound
    assert problem_lines(stderr) == [
        *expected, "the server does not start with invalid IVR flows (hotline check-flows lists them)"], stderr
    assert stdout == ""
    assert "SIP listening" not in stderr


async def press_and_wait_choice(phone: RawPhone, server: HotlineServer, digit: str) -> list[dict[str, Any]]:
    """Press ``digit`` while the greeting plays; the call's menu trail once the menu took it."""
    await phone.wait_rtp()
    assert (await phone.info(digit)).status == 200
    row = await until(f"menu choice of {phone.call_id}",
                      lambda: (lambda r: r if r and r["menu"] else None)(call_row(server, phone.call_id)), server)
    return row["menu"]


URGENT_NODE = '''
[nodes.urgent]
kind = "set"
priority = "P1"
tags = ["reloaded"]
next = "goodbye"
'''


@pytest.mark.timeout(150)
async def test_sighup_keeps_the_old_flows_when_broken_and_takes_the_new_ones_when_right(
    tmp_path: Path, free_ports: PortAllocator,
) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    default = flows / "default.toml"
    good = DEFAULT_FLOW.read_text(encoding="utf-8")
    default.write_text(good, encoding="utf-8")
    server = serve(tmp_path, free_ports, ServerOptions(flows_dir=flows))
    server.start()
    phones: list[RawPhone] = []

    async def call(number: str) -> RawPhone:
        phone, final = await dial("127.0.0.1", number, server)
        phones.append(phone)
        assert final.status == 200, phone.received
        return phone

    try:
        assert udp_bound(server.sip_port)
        # 1. A broken edit: the reload is refused, with the reason; calls keep the old flow.
        broken = edit(good, 'choices = { 0 = "office_hours", 8 = "status", 9 = "english" }',
                      'choices = { 0 = "nowhere", 8 = "status", 9 = "english" }')
        default.write_text(broken, encoding="utf-8")
        mark = len(server.log())
        server.sighup()
        await until("the refusal", lambda: "calls keep the flows loaded before" in log_after(server, mark), server)
        refused_log = log_after(server, mark)
        old_call = await call("+8613400000001")
        old_menu = await press_and_wait_choice(old_call, server, "0")
        assert (await old_call.bye()).status == 200

        # 2. A call in progress while a good edit is loaded: a second flow now serves 8000.
        during = await call("+8613400000002")
        await during.wait_rtp()
        default.write_text(good, encoding="utf-8")
        v2 = edit(good, 'name = "default"', 'name = "v2"\nnumbers = ["8000"]')
        v2 = edit(v2, 'choices = { 0 = "office_hours", 8 = "status", 9 = "english" }', 'choices = { 0 = "urgent", 8 = "status", 9 = "english" }')
        (flows / "v2.toml").write_text(v2 + URGENT_NODE, encoding="utf-8")
        mark = len(server.log())
        server.sighup()
        await until("the reload", lambda: "flows reloaded from" in log_after(server, mark), server)
        reloaded_log = log_after(server, mark)
        during_menu = await press_and_wait_choice(during, server, "0")
        assert (await during.bye()).status == 200

        # 3. A new call follows the new flow: key 0 sets P1 and says goodbye, and we are hung up on.
        new_call = await call("+8613400000003")
        new_menu = await press_and_wait_choice(new_call, server, "0")
        await asyncio.wait_for(new_call.bye_from_server.wait(), 15)
        rows = [await ended_row(server, p.call_id) for p in (old_call, during, new_call)]
    finally:
        for phone in phones:
            phone.close()
        server.stop()

    choices_line = line_of(broken, 'choices = { 0 = "nowhere", 8 = "status", 9 = "english" }')
    assert (f'ERROR hotline.calls.registry: flow reload refused: {default}:{choices_line}: nodes.menu.choices.0: '
            f'no node "nowhere" (known nodes: {DEFAULT_NODES})') in refused_log, refused_log
    assert ("ERROR hotline.calls.registry: flow reload refused (1 problem(s)): "
            "calls keep the flows loaded before") in refused_log, refused_log
    assert f"INFO hotline.calls.registry: flows reloaded from {flows}: default, v2" in reloaded_log, reloaded_log
    assert "flow reload refused" not in reloaded_log
    old_row, during_row, new_row = rows
    # The old flow, after the refused reload and for the call in progress during the good one.
    assert old_menu == [{"node": "menu", "digit": "0", "choice": "office_hours"}]
    assert during_menu == [{"node": "menu", "digit": "0", "choice": "office_hours"}]
    assert (old_row["flow"], during_row["flow"]) == ("default", "default")
    assert (old_row["disposition"], during_row["disposition"]) == ("abandoned", "abandoned")
    for row in (old_row, during_row):
        issue = server.issue_of(row["id"])
        assert (issue["priority"], json.loads(issue["tags"])) != ("P1", ["reloaded"]), issue
        assert "reloaded" not in json.loads(issue["tags"])
    # The new flow.
    assert new_menu == [{"node": "menu", "digit": "0", "choice": "urgent"}]
    assert new_row["flow"] == "v2"
    assert new_row["disposition"] == "missed", new_row  # the flow hung up without a person or a message
    issue = server.issue_of(new_row["id"])
    assert (issue["priority"], json.loads(issue["tags"])) == ("P1", ["reloaded"]), issue
    assert_clean_log(server)
