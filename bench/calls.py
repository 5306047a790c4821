"""Whole-call benchmark: N concurrent hotline calls through ``hotline serve``, end to end.

Each call is what a caller of the hotline lives through: INVITE, the greeting (a ``play`` of
``welcome``), the key 1 in a ``menu`` (RFC 4733, sent a moment after the answer, cutting the
greeting short), the ``route`` to the named target ``farend``, whose phone rings (180, 200),
hears the whisper, presses 1 (RFC 4733) and is bridged to the caller; both sides then talk
(20 ms PCMU) for ``--bridged-seconds`` and the caller hangs up with BYE.

Processes (all on 127.0.0.1, each stopped by PID, everything bounded in time):
  * ``hotline serve`` with a configuration and a flows folder written by the bench
    (``synchronous = "full"``, 2,000 RTP ports), pinned to CPU 0;
  * the peers, one child process pinned to CPU 1 (``--peer``): a caller UAC and a far-end UAS
    written here with plain sockets and one ``selectors`` loop (SIP built from text, parsed
    with ``hotline.sip.message.parse_message``). Each leg sends 20 ms RTP on an absolute
    2 ms slot clock; the payload carries a magic, the call, the direction, the packet's
    scheduled send time and its actual send time (CLOCK_REALTIME, ``time.time_ns()`` just
    before ``sendto``). Arrivals are stamped by the kernel (``SO_TIMESTAMPNS``), so time the
    peer takes to get round to reading a packet is not counted as hotline's; the peer reports
    that read lag, its own send lateness and its CPU, to show it kept up;
  * the baseline, ``bench/media.py``'s ``bare_relay(N, seconds)`` in a child pinned to CPU 0
    with media.py's peer moved to CPU 1.

Measured, for each N:
  * calls completed: the caller received the far end's audio, hung up, and its BYE got 200;
  * calls recorded: ``calls`` rows of the run (read with sqlite3 after the server stopped)
    with disposition ``answered``, route ``farend`` and an ``answered`` attempt;
  * server CPU (utime + stime from ``/proc/<pid>/stat``) over the window in which all N calls
    are bridged: it opens when every call has media both ways and lasts ``--bridged-seconds``;
    every caller hangs up after it (staggered at the placing rate);
  * RTP one-way latency through hotline, caller -> far end and far end -> caller
    (kernel arrival - send stamp), p50/p99/max and loss, for packets sent in that window;
    the same restricted to the 100 ms slices of the window in which the server's loop thread
    did not wait for its CPU (``/proc/<pid>/schedstat``: another process had it) -- the
    machine is shared; and the arrival lateness against the 20 ms schedule (kernel arrival -
    scheduled send time: the peer's own send lateness is in it, and reported apart);
  * forwarding set-up: from the caller's digit (the send time of its first end-of-event
    packet, when an RFC 4733 receiver has the key) to the INVITE's kernel arrival at the far
    end, p50/p99/max;
  * the server's loop thread over the window (``schedstat``): its share running, and how long
    it was runnable but waiting because another process had CPU 0.

With ``--surveys M`` the server also runs the automated callback survey (``[callback.survey]``,
``max_concurrent = M``) over M resolved issues seeded before it starts, their employees' mobiles
in the directory. The server dials them through ``sip.outbound.proxy``, which is the peer's
survey endpoint (a SIP URI target such as ``farend`` then goes through it too, as a loose route:
the endpoint hands those INVITEs to the far end). Each survey phone rings until the window opens,
answers, sends its own 20 ms RTP, and keys 4, 5, 5 (RFC 4733) a quarter of the window apart;
the server thanks and hangs up. Measured: the surveys answered, completed and stored (read from
``survey_attempts`` and ``desk_callbacks`` after the run) and the lateness of the server's prompt
packets at the survey phones against their 20 ms schedule (kernel arrival - the arrival due from
the RTP timestamp, the schedule re-anchored at each talkspurt's first packet and at any packet
earlier than due).

Diagnostics: ``--profile`` runs py-spy (``--nonblocking --gil``, on the peers' CPU) on the
server over the window; ``--probe`` runs the server with a few functions wrapped (in the
server process, by this file: nothing under ``hotline/`` changes) to time each step from the
caller's key to the INVITE, the write transactions, the event loop's lag and the collector.

    .venv/bin/python bench/calls.py [--calls 50,100,200] [--bridged-seconds 10] [--rate 20]
                                    [--surveys 50] [--timeline] [--profile] [--probe] [--keep]
                                    [--no-baseline]
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import heapq
import importlib.util
import itertools
import json
import os
import re
import resource
import selectors
import signal
import socket
import sqlite3
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
from array import array
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
CLOCK = "2026-11-25T10:00+08:00"
"""A Wednesday morning: business hours (the flow does not branch on it, the record does)."""
SERVER_CPU, PEER_CPU = 0, 1
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux; Python does not name it
CALLER_PREFIX = "+86135"  # caller i presents +86 135 0xxx xxxx: a valid mobile, unknown to the demo


def pin(cpu: int) -> None:
    """Run the calling process on one CPU only (when the machine has it)."""
    with contextlib.suppress(AttributeError, OSError):
        if cpu < (os.cpu_count() or 1):
            os.sched_setaffinity(0, {cpu})


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def free_block(size: int) -> int:
    """An even port with ``size`` free UDP ports from it (checked by binding, then released)."""
    for base in range(20000, 60000 - size, 2 * size):
        socks = []
        try:
            for port in range(base, base + size):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind((HOST, port))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise SystemExit(f"no block of {size} free UDP ports")


def pct(values: list[float] | array, p: float) -> float | None:
    if not len(values):
        return None
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))])


# ============================================================================================
# The peers (child process on CPU 1)
# ============================================================================================

MAGIC = b"HLbn"
PAYLOAD = struct.Struct("!BBHII4sIBIqq131s")
"""RTP header, then the 160-byte PCMU payload: magic, call, direction, index in the
schedule, scheduled send time, actual send time (ns, CLOCK_REALTIME), filler."""
STAMP = struct.Struct("!4sIBIqq")
FILLER = b"\xd5" * 131
HEADER = struct.Struct("!BBHII")
PERIOD_NS = 20_000_000
SLOTS = 10
SLOT_NS = PERIOD_NS // SLOTS
TO_FAR, TO_CALLER, FROM_SURVEY = 0, 1, 2
"""Directions: what the caller sends (arrives at the far end), what the far end sends, what a
survey phone sends (to the server only)."""
SURVEY_PREFIX = "+86137"  # survey employee j has the mobile +86 137 0xxx xxxx
RESOLVED_AT = "2026-11-24T16:00+08:00"
"""When the surveyed issues were resolved: the day before the run's clock."""
TE_PT = 101


def _sdp(port: int, session: int) -> bytes:
    return (
        f"v=0\r\no=- {session} {session} IN IP4 {HOST}\r\ns=bench\r\nc=IN IP4 {HOST}\r\nt=0 0\r\n"
        f"m=audio {port} RTP/AVP 0 {TE_PT}\r\na=rtpmap:0 PCMU/8000\r\n"
        f"a=rtpmap:{TE_PT} telephone-event/8000\r\na=fmtp:{TE_PT} 0-15\r\na=ptime:20\r\n"
        "a=sendrecv\r\n"
    ).encode()


_M_AUDIO = re.compile(rb"^m=audio (\d+)", re.M)


def _sdp_port(body: bytes) -> int | None:
    m = _M_AUDIO.search(body)
    return int(m.group(1)) if m else None


@dataclass(slots=True, eq=False)
class Leg:
    """One RTP sender of the peer: a caller's or a far end's 20 ms stream, time-stamped."""

    call: int
    direction: int
    sock: socket.socket
    dest: tuple[str, int]
    seq: int = 0
    ts: int = 0
    k: int = 0
    """Index in the 20 ms schedule."""
    on: bool = True
    events: list[tuple[bytes, bool, bool]] = field(default_factory=list)
    """A key press being sent: (RFC 4733 payload, marker, end), in place of audio."""
    event_ts: int = 0
    event_end_sent: int | None = None
    """When the first end-of-event packet went out (ns, CLOCK_REALTIME)."""

    @property
    def ssrc(self) -> int:
        return 0x10000 * (self.direction + 1) + self.call


@dataclass(slots=True, eq=False)
class Call:
    """Everything the peer knows about call i, on both sides."""

    i: int
    run: str
    # The caller's side.
    invite: bytes = b""
    invite_tries: int = 0
    status: int = 0
    to_tag: str | None = None
    contact: str = ""
    answered_at: float | None = None
    caller_leg: Leg | None = None
    got_far: bool = False
    """The caller has received the far end's audio."""
    bye: bytes = b""
    bye_tries: int = 0
    bye_status: int = 0
    server_bye: bool = False
    failed: str = ""
    # The far end's side.
    f_invite_ns: int | None = None
    """Kernel arrival of the server's INVITE (ns, CLOCK_REALTIME)."""
    f_call_id: str | None = None
    f_ok: bytes = b""
    f_port: int | None = None
    f_acked: bool = False
    f_leg: Leg | None = None
    whisper_at: float | None = None
    got_caller: bool = False
    """The far end has received the caller's audio."""
    f_bye: bool = False

    @property
    def number(self) -> str:
        return f"{CALLER_PREFIX}0{self.i:07d}"

    @property
    def call_id(self) -> str:
        return f"bench-calls-{self.run}-{self.i}@{HOST}"

    @property
    def tag(self) -> str:
        return f"c{self.i}x{self.run}"

    @property
    def f_tag(self) -> str:
        return f"f{self.i}x{self.run}"


@dataclass(slots=True, eq=False)
class SurveyPhone:
    """A survey call the server placed to one of the seeded employees."""

    j: int
    call_id: str
    ok: bytes = b""
    """The 200 to send (again, to a retransmitted INVITE) once answered."""
    ringing: bytes = b""
    dest: tuple[str, int] = (HOST, 0)
    server_rtp: int | None = None
    answered_at: float | None = None
    leg: Leg | None = None
    keys: int = 0
    bye: bool = False
    cancelled: bool = False


def _dtmf(digit: str) -> list[tuple[bytes, bool, bool]]:
    from hotline.media.dtmf import event_payloads

    return [(te.serialize(), marker, te.end) for te, marker in event_payloads(digit, 100)]


class Peers:
    """The caller UAC and the far-end UAS, one selectors loop (see the module doc)."""

    def __init__(self) -> None:
        from hotline.sip.message import parse_message

        self.parse = parse_message
        self.sel = selectors.DefaultSelector()
        self.csip = self._sock(1 << 20)
        self.fsip = self._sock(1 << 20)
        self.crtp = self._sock(16 << 20)
        self.frtp = self._sock(16 << 20)
        self.ssip = self._sock(1 << 20)
        self.srtp = self._sock(16 << 20)
        self.ports = {name: s.getsockname()[1] for name, s in
                      (("caller_sip", self.csip), ("farend_sip", self.fsip),
                       ("caller_rtp", self.crtp), ("farend_rtp", self.frtp),
                       ("survey_sip", self.ssip), ("survey_rtp", self.srtp))}
        self.timers: list[tuple[float, int, Any, tuple[Any, ...]]] = []
        self._timer_seq = 0
        self.slots: list[list[Leg]] = [[] for _ in range(SLOTS)]
        # Measurements: per direction, arrays of (send stamp, latency, lateness) in ns.
        self.sent_at = {d: array("q") for d in (TO_FAR, TO_CALLER, FROM_SURVEY)}
        self.send_late = array("q")
        self.rx = {d: (array("q"), array("q"), array("q"), array("q")) for d in (TO_FAR, TO_CALLER)}
        """Per direction: latency (kernel arrival - sent), lateness (kernel arrival - scheduled),
        send stamp, and the latency as seen when the peer read the packet."""
        self.read_lag = array("q")
        self.other_rtp = 0
        self.anc = socket.CMSG_SPACE(16)
        self.by_fport: dict[int, Call] = {}
        self.by_fcid: dict[str, Call] = {}
        self.by_cid: dict[str, Call] = {}
        self.log: list[str] = []
        self.bridged = 0
        self.rss_window_kib = 0
        self.surveys: dict[str, SurveyPhone] = {}
        """Survey calls by Call-ID."""
        self.survey_late = array("q")
        """Lateness of the server's prompt packets at the survey phones, in the window (ns)."""
        self.survey_anchor: dict[int, tuple[int, int]] = {}
        """Per SSRC: (kernel arrival, RTP timestamp) the 20 ms schedule is anchored at."""
        self.survey_packets = 0

    def _sock(self, rcvbuf: int) -> socket.socket:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
        s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        s.bind((HOST, 0))
        s.setblocking(False)
        return s

    def at(self, when: float, fn: Any, *args: Any) -> None:
        self._timer_seq += 1
        heapq.heappush(self.timers, (when, self._timer_seq, fn, args))

    # -- the run -----------------------------------------------------------------------------

    def run(self, cfg: dict[str, Any]) -> dict[str, Any]:
        self.cfg = cfg
        self.server = (HOST, int(cfg["server_port"]))
        self.server_pid = int(cfg["server_pid"])
        n = int(cfg["calls"])
        self.bridged_seconds = float(cfg["bridged_seconds"])
        self.calls = [Call(i, cfg["run"]) for i in range(n)]
        self.by_cid = {c.call_id: c for c in self.calls}
        self.caller_digit = _dtmf("1")
        self.far_digit = _dtmf("1")
        for s, kind in ((self.csip, "csip"), (self.fsip, "fsip"), (self.crtp, "crtp"),
                        (self.frtp, "frtp"), (self.ssip, "ssip"), (self.srtp, "srtp")):
            self.sel.register(s, selectors.EVENT_READ, kind)
        self.handlers = {"csip": self._caller_sip, "fsip": self._far_sip,
                         "crtp": self._caller_rtp, "frtp": self._far_rtp,
                         "ssip": self._survey_sip, "srtp": self._survey_rtp}
        start = time.monotonic() + 0.2
        rate = float(cfg["rate"])
        for c in self.calls:
            self.at(start + c.i / rate, self._invite, c)
        self.window: tuple[int, int] | None = None  # (start ns, end ns), CLOCK_REALTIME
        self.cpu: dict[str, float] = {}
        setup_deadline = start + n / rate + float(cfg["setup_timeout"])
        self.at(setup_deadline, self._open_window, "timeout")
        hard_stop = setup_deadline + self.bridged_seconds + n / rate + 30
        self.done_at: float | None = None
        t0 = time.monotonic_ns()
        k = 0
        while True:
            now = time.monotonic()
            if now > hard_stop:
                self.log.append("hard stop")
                break
            if self.done_at is not None and now > self.done_at:
                break
            deadline_ns = t0 + k * SLOT_NS
            late = time.monotonic_ns() - deadline_ns
            if late >= 0:
                self._send_slot(k % SLOTS, deadline_ns)
                k += 1
                if late > 50 * SLOT_NS:  # far behind (a stall): skip ahead, do not burst
                    k = (time.monotonic_ns() - t0) // SLOT_NS + 1
            while self.timers and self.timers[0][0] <= time.monotonic():
                _, _, fn, args = heapq.heappop(self.timers)
                fn(*args)
            timeout = max(0.0, (t0 + k * SLOT_NS - time.monotonic_ns()) / 1e9)
            for key, _ in self.sel.select(timeout):
                self.handlers[key.data]()
        return self._report()

    # -- media -------------------------------------------------------------------------------

    def _send_slot(self, slot: int, deadline_mono_ns: int) -> None:
        legs = self.slots[slot]
        if not legs:
            return
        # The schedule in CLOCK_REALTIME: this slot's monotonic deadline, shifted.
        sched = deadline_mono_ns + (time.time_ns() - time.monotonic_ns())
        pack, tns = PAYLOAD.pack, time.time_ns
        window = self.window
        for leg in legs:
            if not leg.on:
                continue
            leg.seq = (leg.seq + 1) & 0xFFFF
            if leg.events:  # a key press: every packet carries the event's start timestamp
                payload, marker, end = leg.events.pop(0)
                if marker:
                    leg.event_ts = leg.ts
                head = HEADER.pack(0x80, TE_PT | (0x80 if marker else 0), leg.seq, leg.event_ts,
                                   leg.ssrc)
                if end and leg.event_end_sent is None:
                    leg.event_end_sent = tns()
                leg.sock.sendto(head + payload, leg.dest)
                leg.ts = (leg.ts + 160) & 0xFFFFFFFF
                continue
            sent = tns()
            leg.sock.sendto(pack(0x80, 0, leg.seq, leg.ts, leg.ssrc, MAGIC, leg.call, leg.direction,
                                 leg.k, sched, sent, FILLER), leg.dest)
            leg.ts = (leg.ts + 160) & 0xFFFFFFFF
            leg.k += 1
            if window is not None and window[0] <= sent:
                self.sent_at[leg.direction].append(sent)
                self.send_late.append(sent - sched)

    def _drain(self, sock: socket.socket) -> list[tuple[bytes, int, int]]:
        """(datagram, kernel arrival ns, source port) for everything queued on ``sock``."""
        out: list[tuple[bytes, int, int]] = []
        anc = self.anc
        while True:
            try:
                data, ancdata, _, addr = sock.recvmsg(2048, anc)
            except BlockingIOError:
                return out
            stamp = 0
            for level, kind, value in ancdata:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(value) >= 16:
                    sec, nsec = struct.unpack_from("qq", value)
                    stamp = sec * 1_000_000_000 + nsec
            out.append((data, stamp or time.time_ns(), addr[1]))

    def _rtp(self, sock: socket.socket, direction: int, on_other: Any) -> None:
        lat, late, sent_col, read = self.rx[direction]
        window = self.window
        calls = self.calls
        for data, stamp, src in self._drain(sock):
            off = 12 + 4 * (data[0] & 0x0F)
            if len(data) >= off + 29 and data[off:off + 4] == MAGIC:
                _, call, d, _, sched, sent = STAMP.unpack_from(data, off)
                c = calls[call] if call < len(calls) else None
                if c is not None and not (c.got_far if d == TO_CALLER else c.got_caller):
                    if d == TO_CALLER:
                        c.got_far = True
                    else:
                        c.got_caller = True
                    if c.got_far and c.got_caller:
                        self.bridged += 1
                        if self.bridged == len(calls):
                            self._open_window("all bridged")
                            window = self.window
                if window is not None and window[0] <= sent:
                    now = time.time_ns()
                    sent_col.append(sent)
                    lat.append(stamp - sent)
                    late.append(stamp - sched)
                    read.append(now - sent)
                    self.read_lag.append(now - stamp)
            else:
                on_other(data, off, src)

    def _caller_rtp(self) -> None:
        self._rtp(self.crtp, TO_CALLER, self._caller_other)

    def _far_rtp(self) -> None:
        self._rtp(self.frtp, TO_FAR, self._far_other)

    def _caller_other(self, data: bytes, off: int, src: int) -> None:
        self.other_rtp += 1  # prompts, ringback

    def _far_other(self, data: bytes, off: int, src: int) -> None:
        self.other_rtp += 1
        c = self.by_fport.get(src)
        if c is None or c.whisper_at is not None or (data[1] & 0x7F) != 0:
            return
        if data[off:].strip(b"\xff\x7f"):  # not µ-law silence: the whisper has started
            c.whisper_at = time.monotonic()
            self.at(c.whisper_at + float(self.cfg["accept_delay"]), self._accept, c)

    def _accept(self, c: Call) -> None:
        if c.f_leg is not None and c.f_leg.on:
            c.f_leg.events = list(self.far_digit)

    def _start_leg(self, leg: Leg, slot: int) -> None:
        self.slots[slot % SLOTS].append(leg)

    # -- SIP, caller side --------------------------------------------------------------------

    def _via(self, port: int) -> str:
        self._timer_seq += 1
        return f"SIP/2.0/UDP {HOST}:{port};branch=z9hG4bK-bn{self._timer_seq}x{os.getpid()};rport"

    def _invite(self, c: Call) -> None:
        sip_port, rtp_port = self.ports["caller_sip"], self.ports["caller_rtp"]
        body = _sdp(rtp_port, 1000 + c.i)
        c.invite = (
            f"INVITE sip:8000@{HOST}:{self.server[1]} SIP/2.0\r\n"
            f"Via: {self._via(sip_port)}\r\nMax-Forwards: 70\r\n"
            f"From: <sip:{c.number}@{HOST}:{sip_port}>;tag={c.tag}\r\n"
            f"To: <sip:8000@{HOST}:{self.server[1]}>\r\nCall-ID: {c.call_id}\r\nCSeq: 1 INVITE\r\n"
            f"Contact: <sip:{c.number}@{HOST}:{sip_port}>\r\n"
            "Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, INFO\r\n"
            f"Content-Type: application/sdp\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        self.csip.sendto(c.invite, self.server)
        self.at(time.monotonic() + 0.5, self._invite_retransmit, c, 0.5)

    def _invite_retransmit(self, c: Call, interval: float) -> None:
        if c.status or c.invite_tries >= 6:
            return
        c.invite_tries += 1
        self.csip.sendto(c.invite, self.server)
        self.at(time.monotonic() + 2 * interval, self._invite_retransmit, c, min(4.0, 2 * interval))

    def _ack(self, c: Call, msg: Any, status: int) -> None:
        sip_port = self.ports["caller_sip"]
        to = msg.headers.get("To")
        if status >= 300:  # the INVITE transaction's ACK: same branch
            via = c.invite.split(b"\r\n")[1].decode()[5:]
            uri = f"sip:8000@{HOST}:{self.server[1]}"
        else:
            via, uri = self._via(sip_port), c.contact
        ack = (
            f"ACK {uri} SIP/2.0\r\nVia: {via}\r\nMax-Forwards: 70\r\n"
            f"From: <sip:{c.number}@{HOST}:{sip_port}>;tag={c.tag}\r\nTo: {to}\r\n"
            f"Call-ID: {c.call_id}\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
        ).encode()
        self.csip.sendto(ack, self.server)

    def _caller_sip(self) -> None:
        for data, _, _ in self._drain(self.csip):
            if not data.strip():
                continue
            try:
                msg = self.parse(data)
            except Exception as exc:
                self.log.append(f"caller: unparsable: {exc}")
                continue
            c = self.by_cid.get(msg.call_id)
            if c is None:
                continue
            if hasattr(msg, "status"):
                method = msg.cseq.method
                if method == "INVITE":
                    self._invite_response(c, msg)
                elif method == "BYE" and msg.status >= 200:
                    c.bye_status = msg.status
                    self._check_done()
            else:
                self._caller_request(c, msg)

    def _invite_response(self, c: Call, msg: Any) -> None:
        status = msg.status
        if status < 200:
            c.status = c.status or status
            return
        c.status = status
        if status >= 300:
            self._ack(c, msg, status)
            if not c.failed:
                c.failed = f"{status} {msg.reason}"
                self._check_done()
            return
        if c.answered_at is None:
            contact = msg.contact
            c.contact = str(contact.uri) if contact is not None else f"sip:8000@{HOST}:{self.server[1]}"
            c.to_tag = msg.to_tag
            remote_port = _sdp_port(msg.body)
            c.answered_at = time.monotonic()
            if remote_port is not None:
                c.caller_leg = Leg(c.i, TO_FAR, self.crtp, (HOST, remote_port))
                self._start_leg(c.caller_leg, c.i)
                self.at(c.answered_at + float(self.cfg["digit_delay"]), self._digit, c)
        self._ack(c, msg, status)  # again for a retransmitted 200

    def _digit(self, c: Call) -> None:
        if c.caller_leg is not None and c.caller_leg.on:
            c.caller_leg.events = list(self.caller_digit)

    def _caller_request(self, c: Call, msg: Any) -> None:
        if msg.method == "ACK":
            return
        if msg.method == "BYE":
            if not c.bye:
                c.server_bye = True
                c.failed = c.failed or "hung up by the server"
            if c.caller_leg is not None:
                c.caller_leg.on = False
        self.csip.sendto(self._response(msg, 200, "OK"), self.server)
        self._check_done()

    def _response(self, msg: Any, status: int, reason: str, *, to_tag: str | None = None,
                  contact: str | None = None, body: bytes = b"") -> bytes:
        h = msg.headers
        to = h.get("To") or ""
        if to_tag and ";tag=" not in to:
            to += f";tag={to_tag}"
        lines = [f"SIP/2.0 {status} {reason}"]
        lines += [f"Via: {v}" for v in h.get_all("Via")]
        lines += [f"From: {h.get('From')}", f"To: {to}", f"Call-ID: {msg.call_id}",
                  f"CSeq: {h.get('CSeq')}"]
        if contact:
            lines.append(f"Contact: {contact}")
        if body:
            lines.append("Content-Type: application/sdp")
        lines.append(f"Content-Length: {len(body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + body

    def _bye(self, c: Call) -> None:
        if c.answered_at is None or c.server_bye or c.bye:
            return
        sip_port = self.ports["caller_sip"]
        c.bye = (
            f"BYE {c.contact} SIP/2.0\r\nVia: {self._via(sip_port)}\r\nMax-Forwards: 70\r\n"
            f"From: <sip:{c.number}@{HOST}:{sip_port}>;tag={c.tag}\r\n"
            f"To: <sip:8000@{HOST}:{self.server[1]}>;tag={c.to_tag}\r\n"
            f"Call-ID: {c.call_id}\r\nCSeq: 2 BYE\r\nContent-Length: 0\r\n\r\n"
        ).encode()
        if c.caller_leg is not None:
            c.caller_leg.on = False
        self.csip.sendto(c.bye, self.server)
        self.at(time.monotonic() + 0.5, self._bye_retransmit, c, 0.5)

    def _bye_retransmit(self, c: Call, interval: float) -> None:
        if c.bye_status or c.bye_tries >= 6:
            return
        c.bye_tries += 1
        self.csip.sendto(c.bye, self.server)
        self.at(time.monotonic() + 2 * interval, self._bye_retransmit, c, min(4.0, 2 * interval))

    # -- SIP, far-end side -------------------------------------------------------------------

    def _far_sip(self) -> None:
        for data, stamp, src in self._drain(self.fsip):
            if not data.strip():
                continue
            try:
                msg = self.parse(data)
            except Exception as exc:
                self.log.append(f"far end: unparsable: {exc}")
                continue
            if hasattr(msg, "status"):
                continue  # we send no requests
            dest = (HOST, src)
            if msg.method == "INVITE":
                self._far_invite(msg, stamp, dest)
                continue
            c = self.by_fcid.get(msg.call_id)
            if msg.method == "ACK":
                if c is not None and not c.f_acked:
                    c.f_acked = True
                    if c.f_port is not None:
                        c.f_leg = Leg(c.i, TO_CALLER, self.frtp, (HOST, c.f_port))
                        self._start_leg(c.f_leg, c.i + SLOTS // 2)
                continue
            if msg.method == "BYE" and c is not None:
                c.f_bye = True
                if c.f_leg is not None:
                    c.f_leg.on = False
            if msg.method == "CANCEL":
                self.fsip.sendto(self._response(msg, 200, "OK"), dest)
                continue
            self.fsip.sendto(self._response(msg, 200, "OK"), dest)
            self._check_done()

    def _far_invite(self, msg: Any, stamp: int, dest: tuple[str, int]) -> None:
        c = self.by_fcid.get(msg.call_id)
        if c is None:
            who = " ".join(v for v in (msg.headers.get("P-Asserted-Identity"), msg.headers.get("From"))
                           if v)
            m = re.search(re.escape(CALLER_PREFIX[1:]) + r"0(\d{7})", who)
            if m is None or int(m.group(1)) >= len(self.calls):
                self.log.append(f"far end: INVITE from an unknown caller: {who}")
                self.fsip.sendto(self._response(msg, 404, "Not Found", to_tag="x"), dest)
                return
            c = self.calls[int(m.group(1))]
            c.f_call_id = msg.call_id
            c.f_invite_ns = stamp
            c.f_port = _sdp_port(msg.body)
            self.by_fcid[msg.call_id] = c
            if c.f_port is not None:
                self.by_fport[c.f_port] = c
            contact = f"<sip:farend@{HOST}:{self.ports['farend_sip']}>"
            self.fsip.sendto(self._response(msg, 180, "Ringing", to_tag=c.f_tag, contact=contact), dest)
            c.f_ok = self._response(msg, 200, "OK", to_tag=c.f_tag, contact=contact,
                                    body=_sdp(self.ports["farend_rtp"], 2000 + c.i))
        self.fsip.sendto(c.f_ok, dest)  # also the answer to a retransmitted INVITE

    # -- the survey phones (and the proxy hop of the far end's INVITEs) -------------------------

    def _survey_sip(self) -> None:
        for data, stamp, src in self._drain(self.ssip):
            if not data.strip():
                continue
            try:
                msg = self.parse(data)
            except Exception as exc:
                self.log.append(f"survey: unparsable: {exc}")
                continue
            if hasattr(msg, "status"):
                continue  # we send no requests
            dest = (HOST, src)
            phone = self.surveys.get(msg.call_id)
            user = getattr(msg.uri, "user", None) or ""
            if phone is None and not user.startswith("+"):
                # Through the proxy to the far end (a SIP URI target as a loose route).
                if msg.method == "INVITE":
                    self._far_invite(msg, stamp, dest)
                else:
                    self.ssip.sendto(self._response(msg, 200, "OK"), dest)
                continue
            if msg.method == "INVITE":
                if phone is None:
                    phone = SurveyPhone(len(self.surveys), msg.call_id, dest=dest,
                                        server_rtp=_sdp_port(msg.body))
                    self.surveys[msg.call_id] = phone
                    contact = f"<sip:{user}@{HOST}:{self.ports['survey_sip']}>"
                    tag = f"s{phone.j}x{self.cfg['run']}"
                    phone.ringing = self._response(msg, 180, "Ringing", to_tag=tag, contact=contact)
                    phone.ok = self._response(msg, 200, "OK", to_tag=tag, contact=contact,
                                              body=_sdp(self.ports["survey_rtp"], 3000 + phone.j))
                    if self.window is not None:
                        self._survey_answer(phone)
                self.ssip.sendto(phone.ok if phone.answered_at is not None else phone.ringing, dest)
            elif msg.method == "ACK":
                if phone is not None and phone.answered_at is not None and phone.leg is None \
                        and phone.server_rtp is not None:
                    phone.leg = Leg(10_000 + phone.j, FROM_SURVEY, self.srtp, (HOST, phone.server_rtp))
                    self._start_leg(phone.leg, phone.j + SLOTS // 4)
                    gap = self.bridged_seconds / 4
                    for k in (1, 2, 3):
                        self.at(phone.answered_at + k * gap, self._survey_key, phone)
            elif msg.method == "CANCEL":
                if phone is not None:
                    phone.cancelled = True
                self.ssip.sendto(self._response(msg, 200, "OK"), dest)
            else:
                if msg.method == "BYE" and phone is not None:
                    phone.bye = True
                    if phone.leg is not None:
                        phone.leg.on = False
                self.ssip.sendto(self._response(msg, 200, "OK"), dest)

    def _survey_answer(self, phone: SurveyPhone) -> None:
        if phone.answered_at is None and not phone.cancelled:
            phone.answered_at = time.monotonic()
            self.ssip.sendto(phone.ok, phone.dest)

    def _survey_key(self, phone: SurveyPhone) -> None:
        if phone.leg is not None and phone.leg.on and not phone.bye:
            phone.leg.events = _dtmf("455"[phone.keys])
            phone.keys += 1

    def _survey_rtp(self) -> None:
        window = self.window
        anchors = self.survey_anchor
        for data, stamp, _ in self._drain(self.srtp):
            if len(data) < 12 or (data[1] & 0x7F) != 0:
                continue
            self.survey_packets += 1
            _, mpt, _, ts, ssrc = HEADER.unpack_from(data)
            anchor = anchors.get(ssrc)
            if anchor is None or mpt & 0x80:
                anchors[ssrc] = (stamp, ts)
                late = 0
            else:
                late = stamp - anchor[0] - ((ts - anchor[1]) & 0xFFFFFFFF) * 125_000
                if late < 0:  # earlier than due: the anchor itself was late
                    anchors[ssrc] = (stamp, ts)
                    late = 0
            if window is not None and window[0] <= stamp <= window[1]:
                self.survey_late.append(late)

    # -- the window and the end ----------------------------------------------------------------

    def _open_window(self, why: str) -> None:
        if self.window is not None:
            return
        now_ns = time.time_ns()
        end_ns = now_ns + int(self.bridged_seconds * 1e9)
        self.window = (now_ns, end_ns)
        self.window_why = why
        for phone in self.surveys.values():  # the survey phones ring until now
            self._survey_answer(phone)
        self.bridged_at_open = sum(c.got_far and c.got_caller for c in self.calls)
        self.rss_window_kib = self._server_rss()
        if self.cfg.get("profile"):  # py-spy on the peers' CPU, not stopping the server to sample
            self.spy = subprocess.Popen(
                [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(self.server_pid),
                 "--duration", str(max(1, int(self.bridged_seconds))), "--rate", "200",
                 "--nonblocking", "--gil", "--format", "raw", "--output", self.cfg["profile"]],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.machine0 = self._machine()
        self.cpu0 = (self._server_ticks(), resource.getrusage(resource.RUSAGE_SELF), time.monotonic())
        self.workers0 = self._worker_ticks()
        close = time.monotonic() + self.bridged_seconds
        self.at(close, self._close_window)
        self.timeline: list[tuple[int, tuple[list[int], list[int]], tuple[int, int]]] = []
        self._sample()

    def _sample(self) -> None:
        """Every 100 ms of the window: the machine, to tell the moments another process had
        the server's CPU from the others."""
        if self.window is not None and not getattr(self, "window_closed", False):
            self.timeline.append((time.time_ns(), self._machine(), self._server_ticks()))
            self.at(time.monotonic() + 0.1, self._sample)

    def _close_window(self) -> None:
        ticks, usage, wall = self._server_ticks(), resource.getrusage(resource.RUSAGE_SELF), time.monotonic()
        (t0u, t0s), u0, w0 = self.cpu0
        hz = os.sysconf("SC_CLK_TCK")
        span = wall - w0
        self.cpu = {
            "server": ((ticks[0] - t0u) + (ticks[1] - t0s)) / hz / span,
            "server_user": (ticks[0] - t0u) / hz / span,
            "server_sys": (ticks[1] - t0s) / hz / span,
            "relay_workers": (self._worker_ticks() - self.workers0) / hz / span,
            "peer": ((usage.ru_utime - u0.ru_utime) + (usage.ru_stime - u0.ru_stime)) / span,
            "seconds": span,
        }
        self.cpu.update(self._machine_share(self.machine0, self._machine(), span))
        self.window = (self.window[0], time.time_ns()) if self.window else None
        self.window_closed = True
        rate = float(self.cfg["rate"])
        for c in self.calls:
            self.at(wall + c.i / rate, self._bye, c)
        self.at(wall + len(self.calls) / rate + 15, self._finish)

    def _worker_ticks(self) -> int:
        """utime + stime of the server's children: its relay workers (``--relay-workers``)."""
        total = 0
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{self.server_pid}/task").iterdir():
                for child in (task / "children").read_text().split():
                    with contextlib.suppress(OSError), open(f"/proc/{child}/stat") as f:
                        fields = f.read().rsplit(")", 1)[1].split()
                        total += int(fields[11]) + int(fields[12])
        return total

    def _server_ticks(self) -> tuple[int, int]:
        try:
            with open(f"/proc/{self.server_pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            return int(fields[11]), int(fields[12])
        except OSError:
            return 0, 0

    def _machine(self) -> tuple[list[int], list[int]]:
        """The server's loop thread (run, run-queue wait: ns, from schedstat) and each CPU's
        count of receive softirqs cut short (softnet_stat's time_squeeze).

        /proc/stat's per-CPU times are not used: on this tickless VM they are sampled at the
        tick and miss most of a process that runs in short bursts (the server at 40 % showed
        as 6–20 % busy CPU 0); schedstat's nanoseconds are exact."""
        sched = [0, 0]
        with contextlib.suppress(OSError, ValueError), open(f"/proc/{self.server_pid}/schedstat") as f:
            sched = [int(x) for x in f.read().split()[:2]]
        squeezed = []
        with contextlib.suppress(OSError, ValueError, IndexError), open("/proc/net/softnet_stat") as f:
            squeezed = [int(line.split()[2], 16) for line in f]
        return sched, squeezed

    @staticmethod
    def _machine_share(a: tuple[list[int], list[int]], b: tuple[list[int], list[int]],
                       span: float) -> dict[str, float]:
        """The loop thread's shares of ``span`` running and waiting for its CPU (another
        process had it), and the receive softirqs cut short meanwhile."""
        return {"server_loop_running": (b[0][0] - a[0][0]) / 1e9 / span,
                "server_runqueue_wait": (b[0][1] - a[0][1]) / 1e9 / span,
                "time_squeeze": sum(b[1]) - sum(a[1])}

    def _timeline(self, tl: list[Any], step: int) -> list[list[float | None]]:
        """Per ``step`` samples (100 ms each): [seconds into the window, latency p99 of the
        packets sent then (both directions, ms), the loop thread's share running and waiting
        for CPU 0, receive softirqs cut short]."""
        rows: list[list[float | None]] = []
        sent = sorted((t, x) for d in (TO_FAR, TO_CALLER) for t, x in zip(self.rx[d][2], self.rx[d][0],
                                                                          strict=True))
        times = [t for t, _ in sent]
        for j in range(0, len(tl) - step, step):
            (t0, m0, _), (t1, m1, _) = tl[j], tl[j + step]
            span = (t1 - t0) / 1e9
            lo, hi = bisect.bisect_left(times, t0), bisect.bisect_left(times, t1)
            share = self._machine_share(m0, m1, span)
            rows.append([(t0 - tl[0][0]) / 1e9, _ms(pct([x for _, x in sent[lo:hi]], 99)),
                         share["server_loop_running"], share["server_runqueue_wait"],
                         share["time_squeeze"]])
        return rows

    def _server_rss(self) -> int:
        with contextlib.suppress(OSError), open(f"/proc/{self.server_pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def _check_done(self) -> None:
        if getattr(self, "window_closed", False) and self.done_at is None and all(
                (c.bye_status or c.server_bye or c.failed or c.answered_at is None)
                and (c.f_call_id is None or c.f_bye) for c in self.calls):
            self.done_at = time.monotonic() + 0.5

    def _finish(self) -> None:
        if self.done_at is None:
            self.done_at = time.monotonic()

    def stop_spy(self) -> None:
        spy = getattr(self, "spy", None)
        if spy is not None:
            try:
                spy.wait(30)
            except subprocess.TimeoutExpired:
                spy.kill()
                spy.wait(5)

    # -- report ------------------------------------------------------------------------------

    def _report(self) -> dict[str, Any]:
        def ms(values: array) -> dict[str, float | None]:
            return {"p50": _ms(pct(values, 50)), "p99": _ms(pct(values, 99)),
                    "max": _ms(max(values) if len(values) else None), "n": len(values)}

        w0, w1 = self.window or (0, 0)
        out: dict[str, Any] = {"window_why": getattr(self, "window_why", "never"), "window": [w0, w1],
                               "bridged_at_open": getattr(self, "bridged_at_open", 0),
                               "cpu": self.cpu, "log": self.log[:20]}
        for d, name in ((TO_FAR, "to_far"), (TO_CALLER, "to_caller")):
            sent = sum(1 for t in self.sent_at[d] if w0 <= t <= w1)
            lat, late, sent_col, read = self.rx[d]
            keep = [j for j, t in enumerate(sent_col) if w0 <= t <= w1]
            out[name] = {
                "latency": ms(array("q", (lat[j] for j in keep))),
                "lateness": ms(array("q", (late[j] for j in keep))),
                "at_read": ms(array("q", (read[j] for j in keep))),
                "sent": sent, "received": len(keep),
            }
        # The same latencies, only in the 100 ms slices in which the server's loop thread had
        # not waited for its CPU (another process had it) more than 1 ms per slice for 0.5 s
        # (a backlog built while it waited takes a while to clear).
        quiet: list[tuple[int, int]] = []
        tl = getattr(self, "timeline", [])
        waited = [m1[0][1] - m0[0][1] > 1_000_000 for (_, m0, _), (_, m1, _) in itertools.pairwise(tl)]
        for j, ((t0, _, _), (t1, _, _)) in enumerate(itertools.pairwise(tl)):
            if j >= 4 and not any(waited[j - 4:j + 1]):
                quiet.append((t0, t1))
        out["quiet_slices"] = [len(quiet), max(0, len(tl) - 1)]
        out["timeline"] = self._timeline(tl, 5)
        for d, name in ((TO_FAR, "to_far"), (TO_CALLER, "to_caller")):
            lat, _, sent_col, _ = self.rx[d]
            starts = [q[0] for q in quiet]
            keep_q = []
            for j, t in enumerate(sent_col):
                k = bisect.bisect_right(starts, t) - 1
                if k >= 0 and t < quiet[k][1]:
                    keep_q.append(lat[j])
            out[name]["quiet"] = ms(array("q", keep_q))
        out["peer_send_lateness"] = ms(self.send_late)
        out["peer_read_lag"] = ms(self.read_lag)
        setup = array("q", (c.f_invite_ns - c.caller_leg.event_end_sent for c in self.calls
                            if c.f_invite_ns and c.caller_leg and c.caller_leg.event_end_sent))
        out["setup"] = ms(setup)
        out["placed"] = len(self.calls)
        out["answered"] = sum(c.answered_at is not None for c in self.calls)
        out["far_invited"] = sum(c.f_invite_ns is not None for c in self.calls)
        out["whispered"] = sum(c.whisper_at is not None for c in self.calls)
        out["bridged"] = sum(c.got_far and c.got_caller for c in self.calls)
        out["completed"] = sum(c.got_far and c.bye_status == 200 and not c.server_bye
                               for c in self.calls)
        out["failures"] = sorted({c.failed for c in self.calls if c.failed})[:5]
        out["other_rtp"] = self.other_rtp
        out["surveys"] = {"invited": len(self.surveys),
                          "answered": sum(p.answered_at is not None for p in self.surveys.values()),
                          "keyed": sum(p.keys == 3 for p in self.surveys.values()),
                          "hung_up_by_server": sum(p.bye for p in self.surveys.values()),
                          "packets": self.survey_packets, "lateness": ms(self.survey_late)}
        out["rss_window_kib"] = self.rss_window_kib
        out["per_call"] = [[c.call_id, c.caller_leg.event_end_sent if c.caller_leg else None,
                            c.f_invite_ns] for c in self.calls]
        dump = self.cfg.get("dump")
        if dump:  # raw samples for a closer look (--keep)
            with open(dump, "w") as f:
                json.dump({"window": [w0, w1], **{
                    name: {"sent": list(self.rx[d][2]), "latency": list(self.rx[d][0])}
                    for d, name in ((TO_FAR, "to_far"), (TO_CALLER, "to_caller"))},
                    "send_late": list(self.send_late), "read_lag": list(self.read_lag),
                    "timeline": getattr(self, "timeline", [])}, f)
        return out


def _ms(ns: float | None) -> float | None:
    return None if ns is None else ns / 1e6


def peer_main() -> None:
    pin(PEER_CPU)
    peers = Peers()
    print(json.dumps(peers.ports), flush=True)
    cfg = json.loads(sys.stdin.readline())
    try:
        report = peers.run(cfg)
    finally:
        peers.stop_spy()
    print(json.dumps(report), flush=True)


# ============================================================================================
# The baseline (child process on CPU 0, its peer on CPU 1)
# ============================================================================================


def baseline_main(n: int, seconds: float) -> None:
    pin(SERVER_CPU)
    spec = importlib.util.spec_from_file_location("bench_media", ROOT / "bench" / "media.py")
    assert spec is not None and spec.loader is not None
    media = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(media)

    peer_class: Any = media.Peer

    class PinnedPeer(peer_class):
        """media.py's peer, moved to the peers' CPU (it inherits ours otherwise)."""

        def __init__(self, mode: str) -> None:
            super().__init__(mode)
            with contextlib.suppress(OSError):
                os.sched_setaffinity(self.proc.pid, {PEER_CPU})

    media.Peer = PinnedPeer  # type: ignore[attr-defined]
    result = asyncio.run(media.bare_relay(n, seconds))
    print(json.dumps(result), flush=True)


def run_baseline(n: int, seconds: float) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--baseline", str(n),
                           "--bridged-seconds", str(seconds)], capture_output=True, text=True,
                          timeout=seconds + 60, cwd=ROOT)
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1:] or ["failed"]}
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ============================================================================================
# --probe: where the forwarding set-up time goes (the server with a few functions wrapped)
# ============================================================================================


def probe_main(argv: list[str], out: str) -> None:
    """Run ``hotline <argv>`` with time stamps (CLOCK_REALTIME ns) taken around the steps
    from a caller's key to the far end's INVITE, per call; written to ``out`` at exit.

    Wrapping is done here, in the server process, by replacing attributes; nothing under
    ``hotline/`` is changed. The wrappers cost a few µs per step (a handful per call)."""
    import atexit
    import contextvars
    import functools

    from hotline import cli
    from hotline.calls.forwarding import Forwarder
    from hotline.calls.interpreter import CallRun
    from hotline.calls.routing import Router
    from hotline.calls.speech import Speech
    from hotline.media.events import DigitReceived
    from hotline.media.stream import RtpStream
    from hotline.sip.endpoint import SipEndpoint
    from hotline.store.calls import CallStore

    current: contextvars.ContextVar[str] = contextvars.ContextVar("bench_call", default="")
    marks: list[tuple[str, str, int]] = []
    stream_call: dict[int, str] = {}

    def mark(name: str, cid: str | None = None) -> None:
        marks.append((cid if cid is not None else current.get(), name, time.time_ns()))

    def wrap(cls: Any, attr: str, name: str) -> None:
        fn = getattr(cls, attr)

        @functools.wraps(fn)
        async def wrapper(*a: Any, **k: Any) -> Any:
            mark(name + ">")
            try:
                return await fn(*a, **k)
            finally:
                mark(name + "<")

        setattr(cls, attr, wrapper)

    run = CallRun.run

    @functools.wraps(run)
    async def run_wrapper(self: Any) -> None:
        current.set(self.call.call_id)
        return await run(self)

    CallRun.run = run_wrapper  # type: ignore[method-assign]
    answer = CallRun.answer

    @functools.wraps(answer)
    async def answer_wrapper(self: Any) -> Any:
        stream = await answer(self)
        stream_call[id(stream)] = self.call.call_id
        return stream

    CallRun.answer = answer_wrapper  # type: ignore[method-assign]
    deliver = RtpStream.deliver

    def deliver_wrapper(self: Any, event: Any) -> None:
        if isinstance(event, DigitReceived):
            mark("digit", stream_call.get(id(self), "?"))
        deliver(self, event)

    RtpStream.deliver = deliver_wrapper  # type: ignore[method-assign]
    for cls, attr, name in (
        (CallRun, "menu", "menu"), (CallRun, "_choice", "choice"), (CallRun, "route", "route"),
        (Router, "plan", "plan"), (Speech, "whisper", "whisper"),
        (Forwarder, "_open_out_stream", "open_stream"), (SipEndpoint, "place_call", "place_call"),
        (CallStore, "add_menu_choice", "db_menu"), (CallStore, "add_digits", "db_digits"),
    ):
        wrap(cls, attr, name)

    # Every write transaction: (asked, lock held, committed) -- one writer connection, one lock.
    from contextlib import asynccontextmanager

    from hotline.store.db import Database

    transactions: list[tuple[int, int, int]] = []
    transaction = Database.transaction

    @asynccontextmanager
    async def transaction_wrapper(self: Any) -> Any:
        asked = time.time_ns()
        async with transaction(self) as conn:
            held = time.time_ns()
            yield conn
        transactions.append((asked, held, time.time_ns()))

    Database.transaction = transaction_wrapper  # type: ignore[method-assign]
    # Event-loop lag (a 5 ms sleeper's oversleep) and collector pauses.
    lags: list[tuple[int, int]] = []
    pauses: list[tuple[int, int, int]] = []
    gc_started: list[int] = [0]

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            gc_started[0] = time.time_ns()
        else:
            pauses.append((gc_started[0], time.time_ns() - gc_started[0], info["generation"]))

    import gc

    gc.callbacks.append(on_gc)
    sampler: list[Any] = []

    async def sample_lag() -> None:
        loop = asyncio.get_running_loop()
        while True:
            before = loop.time()
            await asyncio.sleep(0.005)
            lags.append((time.time_ns(), int((loop.time() - before - 0.005) * 1e9)))

    first_run = run_wrapper

    @functools.wraps(run)
    async def run_wrapper_with_sampler(self: Any) -> None:
        if not sampler:
            sampler.append(asyncio.get_running_loop().create_task(sample_lag()))
        return await first_run(self)

    CallRun.run = run_wrapper_with_sampler  # type: ignore[method-assign]

    def dump() -> None:
        with open(out, "w") as f:
            json.dump({"marks": marks, "transactions": transactions, "lags": lags,
                       "pauses": pauses}, f)

    atexit.register(dump)
    sys.exit(cli.main(argv))


# ============================================================================================
# The server and the driver
# ============================================================================================

FLOW = """\
# bench/calls.py: greeting, key 1, the far end (whisper, press 1), bridged.
[flow]
name = "default"
start = "welcome"
languages = ["zh"]

[nodes.welcome]
kind = "play"
prompts = ["welcome"]
next = "menu"

[nodes.menu]
kind = "menu"
prompts = ["menu_operator"]
choices = { 1 = "connect" }
timeout = 5
retries = 1
timeout_next = "bye"

[nodes.connect]
kind = "route"
to = "farend"
next = "bye"

[nodes.bye]
kind = "hangup"
"""


class Server:
    """``hotline serve`` in a temporary folder: config, flows, demo database, process."""

    def __init__(self, tmp: Path, n: int, farend_port: int, rtp_ports: int, *, surveys: int = 0,
                 relay_workers: int = 0,
                 survey_port: int | None = None, window: float = 10.0) -> None:
        self.tmp = tmp
        self.sip_port = free_port()
        self.web_port = free_port()
        self.rtp_base = free_block(rtp_ports)
        self.database = tmp / "hotline.sqlite3"
        self.config = tmp / "hotline.toml"
        self.log = tmp / "serve.log"
        flows = tmp / "flows"
        flows.mkdir()
        (flows / "default.toml").write_text(FLOW, encoding="utf-8")
        lines = [
            "[site]", 'name = "bench"', 'timezone = "Asia/Shanghai"', 'area_code = "0571"', "",
            "[database]", f'path = "{self.database}"', 'synchronous = "full"', "",
            "[sip]", 'mode = "trunk"', f'listen = ["udp:{HOST}:{self.sip_port}"]',
            'hotline_number = "8000"', 'allowed_peers = ["127.0.0.0/8"]', "ring_seconds = 0.2",
            f"max_calls = {n + surveys + 50}", "",
            "[sip.outbound]", 'caller_id = "pai"',
            *([f'proxy = "sip:{HOST}:{survey_port}"'] if surveys else []), "",
            "[media]", f"rtp_port_min = {self.rtp_base}", f"rtp_port_max = {self.rtp_base + rtp_ports - 1}",
            f'prompts_dir = "{ROOT / "hotline" / "media" / "prompts"}"',
            f'recordings_dir = "{tmp / "recordings"}"', "rtp_timeout = 20",
            f"relay_workers = {relay_workers}", "",
            "[web]", f'bind = "{HOST}"', f"port = {self.web_port}",
            'secret = "bench-secret-0123456789abcdef0123456789"', "",
            "[calendar]", f'folder = "{ROOT / "config" / "calendar"}"', "",
            "[ivr]", f'flows_dir = "{flows}"', "",
            "[routing]", "oncall_ring_seconds = 20", "accept_seconds = 4", "record = false",
            'mode = "bridge"', "",
            "[routing.targets]", f'farend = "sip:farend@{HOST}:{farend_port}"', "",
        ]
        if surveys:
            # All due at the first check; each phone rings until the window opens, then keys
            # its three scores a quarter of the window apart.
            lines += ["[callback.survey]", "enabled = true", f"max_concurrent = {surveys}",
                      "attempts = 1", "ring_seconds = 120", f"answer_seconds = {max(2.0, window / 2):g}",
                      "check_seconds = 0.5", ""]
        self.surveys = surveys
        self.config.write_text("\n".join(lines), encoding="utf-8")
        self.proc: subprocess.Popen[bytes] | None = None

    def hotline(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "hotline", *args], capture_output=True,
                              text=True, timeout=timeout, cwd=ROOT)

    def prepare(self) -> None:
        for args in (("check-flows", "--config", str(self.config)),
                     ("init-db", "--config", str(self.config), "--demo")):
            result = self.hotline(*args)
            if result.returncode != 0:
                raise SystemExit(f"hotline {args[0]} failed:\n{result.stdout}{result.stderr}")
        if self.surveys:
            self.seed_surveys()

    def seed_surveys(self) -> None:
        """The survey employees in the directory, and one resolved issue each (as the desk
        resolves them), before the server starts."""
        csv = self.tmp / "survey-employees.csv"
        csv.write_text("employee_id,name,mobile\n" + "".join(
            f"S{j:05d},调查员工{j},{SURVEY_PREFIX}0{j:07d}\n" for j in range(self.surveys)), encoding="utf-8")
        result = self.hotline("import-directory", "--config", str(self.config), str(csv))
        if result.returncode != 0:
            raise SystemExit(f"hotline import-directory failed:\n{result.stdout}{result.stderr}")
        asyncio.run(self._resolve_issues())

    async def _resolve_issues(self) -> None:
        from datetime import datetime

        from hotline.config import load_config
        from hotline.desk.service import Desk
        from hotline.issues import IssueService
        from hotline.services import build_calendar
        from hotline.store import Store
        from hotline.store.records import NewCall

        config = load_config(self.config)
        at = datetime.fromisoformat(RESOLVED_AT)
        async with Store(self.database) as store:
            engineer = next(p.id for p in await store.people.all(active_only=True))
            issues = IssueService(store, config.site.timezone, clock=lambda: at)
            desk = Desk(store, build_calendar(config), config.desk, clock=lambda: at)
            for j in range(self.surveys):
                call, issue = await issues.create_issue_for_call(
                    NewCall(f"survey-seed-{j}", at, caller_key=f"{SURVEY_PREFIX}0{j:07d}"))
                if issue.employee_id is None:
                    raise SystemExit(f"survey employee {j}: not found in the directory")
                await store.calls.end(call.id, at, "answered")
                await issues.transition(issue.id, "recorded", actor="bench",
                                        changes={"category": "network", "description": "bench"})
                await issues.transition(issue.id, "dispatched", actor="bench", changes={"owner": engineer})
                await issues.transition(issue.id, "in_progress", actor=engineer)
                await desk.resolve(issue.id, by=engineer, resolution="bench")

    def survey_records(self) -> dict[str, Any]:
        with contextlib.closing(sqlite3.connect(f"file:{self.database}?mode=ro", uri=True)) as db:
            outcomes = dict(db.execute("SELECT COALESCE(outcome, 'open'), COUNT(*) FROM survey_attempts"
                                       " GROUP BY 1").fetchall())
            stored = db.execute("SELECT COUNT(*) FROM desk_callbacks WHERE efficiency = 4 AND result = 5"
                                " AND attitude = 5").fetchone()[0]
            rows = db.execute("SELECT COUNT(*) FROM calls WHERE direction = 'out' AND flow = 'survey'"
                              " AND issue_id IS NOT NULL").fetchone()[0]
        return {"outcomes": outcomes, "stored": stored, "call_rows": rows}

    def start(self, wait: float = 60.0, probe: Path | None = None) -> None:
        log = self.log.open("ab")
        head = ([sys.executable, str(Path(__file__).resolve()), "--probe-serve", str(probe)]
                if probe is not None else [sys.executable, "-m", "hotline"])
        self.proc = subprocess.Popen(
            [*head, "serve", "--config", str(self.config), "--clock", CLOCK],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, preexec_fn=lambda: pin(SERVER_CPU),
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        log.close()
        deadline = time.monotonic() + wait
        while True:
            url = f"http://{HOST}:{self.web_port}/healthz"
            with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise SystemExit(f"hotline serve did not come up:\n{self.log_tail()}")
            time.sleep(0.2)

    def stop(self) -> int | None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return None if proc is None else proc.returncode
        proc.send_signal(signal.SIGINT)
        try:
            return proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
            return None

    def rss_kib(self) -> int:
        assert self.proc is not None
        with contextlib.suppress(OSError), open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def log_tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def records(self, run: str) -> dict[str, Any]:
        with contextlib.closing(sqlite3.connect(f"file:{self.database}?mode=ro", uri=True)) as db:
            rows = db.execute("SELECT disposition, route, attempts, talk_seconds FROM calls "
                              "WHERE sip_call_id LIKE ?", (f"bench-calls-{run}-%",)).fetchall()
        ok = 0
        dispositions: dict[str, int] = {}
        for disposition, route, attempts, _ in rows:
            dispositions[disposition or "open"] = dispositions.get(disposition or "open", 0) + 1
            tries = json.loads(attempts or "[]")
            if disposition == "answered" and route == "farend" and any(
                    a.get("outcome") == "answered" for a in tries):
                ok += 1
        return {"rows": len(rows), "recorded": ok, "dispositions": dispositions}


def run_calls(n: int, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    run = f"{os.getpid()}x{n}x{int(time.time())}"
    peer = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--peer"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert peer.stdin is not None and peer.stdout is not None
    server: Server | None = None
    try:
        ports = json.loads(peer.stdout.readline())
        server = Server(tmp, n, ports["farend_sip"], args.rtp_ports, surveys=args.surveys,
                        relay_workers=args.relay_workers,
                        survey_port=ports["survey_sip"], window=args.bridged_seconds)
        server.prepare()
        probe = tmp / "probe.json" if args.probe else None
        server.start(probe=probe)
        assert server.proc is not None
        rss0 = server.rss_kib()
        peer.stdin.write(json.dumps({
            "run": run, "calls": n, "rate": args.rate, "server_port": server.sip_port,
            "server_pid": server.proc.pid, "bridged_seconds": args.bridged_seconds,
            "digit_delay": args.digit_delay, "accept_delay": args.accept_delay,
            "setup_timeout": args.setup_timeout,
            "dump": str(tmp / "samples.json") if args.keep else "",
            "profile": str(tmp / "profile.txt") if args.profile else "",
        }) + "\n")
        peer.stdin.flush()
        budget = n / args.rate * 2 + args.setup_timeout + args.bridged_seconds + 60
        line = _readline(peer, budget)
        if not line:
            raise SystemExit(f"the peers gave no report within {budget:.0f} s")
        result: dict[str, Any] = json.loads(line)
        rss = result["rss_window_kib"]
        result["server_rss_mib"] = (rss - rss0) / 1024 if rss else 0.0
        peer.wait(10)
        result["server_exit"] = server.stop()
        result.update(server.records(run))
        if args.surveys:
            result["surveys"].update(server.survey_records())
        result["n"] = n
        if args.profile and (tmp / "profile.txt").exists():
            result["profile"] = profile_summary((tmp / "profile.txt").read_text())
        if probe is not None and probe.exists():
            result["stages"] = stages(json.loads(probe.read_text()), result["per_call"],
                                      result.get("window"))
        return result
    finally:
        if peer.poll() is None:
            peer.kill()
            peer.wait(5)
        if server is not None:
            server.stop()


def _readline(proc: subprocess.Popen[str], timeout: float) -> str:
    assert proc.stdout is not None
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ)
    if not sel.select(timeout):
        return ""
    return proc.stdout.readline()


def fmt(x: float | None, digits: int = 2) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def _ok(met: bool) -> str:
    return "✔" if met else "✘"


def show(r: dict[str, Any], base: dict[str, Any], goals: dict[str, float], *,
         timeline: bool = False) -> None:
    n = r["n"]
    cpu = r.get("cpu") or {}
    print(f"\n### {n} calls ({r['window_why']}: {r['bridged_at_open']}/{n} bridged when the "
          f"window opened, {cpu.get('seconds', 0):.1f} s window)\n")
    print("| figure | value | goal |")
    print("|---|---|---|")
    print(f"| calls placed / answered / far end rung / whisper heard / bridged | {r['placed']} / "
          f"{r['answered']} / {r['far_invited']} / {r['whispered']} / {r['bridged']} | |")
    print(f"| calls completed | **{r['completed']}/{n}** | all {_ok(r['completed'] == n)} |")
    print(f"| calls recorded (answered, route farend, attempt answered) | **{r['recorded']}/{n}** "
          f"(rows {r['rows']}: {r['dispositions']}) | all {_ok(r['recorded'] == n)} |")
    if cpu.get("relay_workers"):
        print(f"| relay workers' CPU over the window (user + sys, on the server's CPU) | "
              f"**{cpu['relay_workers']:.0%}** | |")
    ratio = cpu.get("server", 0) / base["cpu"] if base.get("cpu") else None
    print(f"| server CPU over the window (user + sys) | **{cpu.get('server', 0):.0%}** "
          f"({cpu.get('server_user', 0):.0%} + {cpu.get('server_sys', 0):.0%})"
          f"{f', {ratio:.1f}× bare relay' if ratio else ''} | one core {_ok(cpu.get('server', 9) < 1)} |")
    for key, name in (("to_far", "caller → far end"), ("to_caller", "far end → caller")):
        d = r[key]
        lat, q, late = d["latency"], d["quiet"], d["lateness"]
        lost = d["sent"] - d["received"]
        met = lat["p99"] is not None and lat["p99"] <= goals["lateness"]
        print(f"| RTP latency through hotline, {name}: p50 / p99 / max (ms), lost | "
              f"{fmt(lat['p50'])} / **{fmt(lat['p99'])}** / {fmt(lat['max'])}, {lost} of "
              f"{d['sent']} | p99 ≤ {goals['lateness']:g} ms {_ok(met)} |")
        print(f"| … only in 100 ms slices when no other process had held CPU 0 for 0.5 s | {fmt(q['p50'])} / "
              f"{fmt(q['p99'])} / {fmt(q['max'])} ({q['n']} packets) | |")
        print(f"| … taken when the peer read it (as bench/media.py measures) | "
              f"{fmt(d['at_read']['p50'])} / {fmt(d['at_read']['p99'])} / {fmt(d['at_read']['max'])} | |")
        print(f"| arrival lateness vs the 20 ms schedule, {name} (with the peer's send lateness) | "
              f"{fmt(late['p50'])} / {fmt(late['p99'])} / {fmt(late['max'])} | |")
    sv = r.get("surveys") or {}
    if sv.get("invited") or sv.get("outcomes"):
        m = sum((sv.get("outcomes") or {}).values())
        late = sv["lateness"]
        met = late["p99"] is not None and late["p99"] <= goals["lateness"]
        print(f"| survey calls rung / answered / keyed 4 5 5 / hung up by the server | {sv['invited']} / "
              f"{sv['answered']} / {sv['keyed']} / {sv['hung_up_by_server']} | |")
        print(f"| surveys completed and stored (4/5/5 in desk_callbacks), call rows | "
              f"**{sv.get('stored', 0)}/{m}** {sv.get('outcomes')}, {sv.get('call_rows', 0)} | all "
              f"{_ok(bool(m) and sv.get('stored') == m)} |")
        print(f"| survey prompts' arrival lateness vs the 20 ms schedule: p50 / p99 / max (ms), "
              f"packets in the window | {fmt(late['p50'])} / **{fmt(late['p99'])}** / {fmt(late['max'])}, "
              f"{late['n']} | p99 ≤ {goals['lateness']:g} ms {_ok(met)} |")
    s = r["setup"]
    met = s["p99"] is not None and s["p99"] <= goals["setup"]
    print(f"| forwarding set-up, caller's key → INVITE at the far end: p50 / p99 / max (ms) | "
          f"{fmt(s['p50'], 1)} / **{fmt(s['p99'], 1)}** / {fmt(s['max'], 1)} ({s['n']} calls) | "
          f"p99 ≤ {goals['setup']:g} ms {_ok(met)} |")
    print(f"| baseline, bare asyncio relay ({n} calls): one pass p50 / p99 / max (ms), CPU | "
          f"{fmt(base.get('p50'))} / {fmt(base.get('p99'))} / {fmt(base.get('max'))}, "
          f"{base.get('cpu', 0):.0%} | |")
    print(f"| peers: CPU, send lateness p99, read lag p99 (ms) | {cpu.get('peer', 0):.0%}, "
          f"{fmt(r['peer_send_lateness']['p99'])}, {fmt(r['peer_read_lag']['p99'])} | |")
    print(f"| server RSS growth, idle → all calls bridged | {r['server_rss_mib']:.0f} MiB | |")
    print(f"| server's loop thread over the window: running; runnable but waiting for CPU 0 "
          f"(another process had it) | {cpu.get('server_loop_running', 0):.0%}; "
          f"{cpu.get('server_runqueue_wait', 0) * 1000:.0f} ms per s ({r['quiet_slices'][0]} of "
          f"{r['quiet_slices'][1]} slices of 100 ms quiet for 0.5 s) | |")
    print(f"| receive softirqs cut short (softnet_stat time_squeeze, both CPUs) | "
          f"{cpu.get('time_squeeze', 0):.0f} | |")
    if timeline and r.get("timeline"):
        print("\n| s into the window | latency p99 (ms) | server loop thread running | waiting for "
              "CPU 0 (another process had it) |\n|---|---|---|---|")
        for at, p99, run, wait, _ in r["timeline"]:
            print(f"| {at:.1f} | {fmt(p99)} | {run:.0%} | {wait:.0%} |")
    if r.get("profile"):
        prof = r["profile"]
        print(f"\npy-spy over the window ({prof['samples']} samples at 200/s of the thread holding "
              "the GIL; shares of those samples):")
        for title, key in (("self time by area", "areas"), ("self time by function", "self"),
                           ("inclusive, hotline functions", "inclusive")):
            print(f"\n| {title} | share |\n|---|---|")
            for name, frac in prof[key]:
                print(f"| {name} | {frac:.1%} |")
    if r.get("stages"):
        print("\n| set-up step (--probe) | p50 ms | p99 ms |\n|---|---|---|")
        for label, p50, p99 in r["stages"]:
            print(f"| {label} | {fmt(p50)} | {fmt(p99)} |")
    if r["failures"] or r["log"]:
        print(f"\nfailures: {r['failures']} log: {r['log']}")


_FRAME = re.compile(r"^(.*) \((.*?)(?::\d+)?\)$")


def _where(frame: str) -> tuple[str, str]:
    """(function, short file) of a py-spy frame "function (path/to/file.py:123)"."""
    m = _FRAME.match(frame)
    if m is None:
        return frame, ""
    path = m.group(2)
    for marker in ("/site-packages/", "/work/main/", "/lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return m.group(1), path


def profile_summary(raw: str, top: int = 18) -> dict[str, Any]:
    """Self time by function and by area, from py-spy's raw (collapsed) output."""
    own: dict[str, int] = {}
    area: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    total = 0
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [f for f in stack.split(";") if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        total += count
        func, path = _where(frames[-1])
        own[f"{func} ({path})"] = own.get(f"{func} ({path})", 0) + count
        key = path.split("/")[0] if path.startswith("hotline/") is False else "/".join(path.split("/")[:2])
        area[key] = area.get(key, 0) + count
        seen = set()
        for f in frames:
            fn, fp = _where(f)
            if fp.startswith("hotline/") and fp not in ("hotline/cli.py", "hotline/__main__.py"):
                name = f"{fn} ({fp})"
                if name not in seen:
                    seen.add(name)
                    inclusive[name] = inclusive.get(name, 0) + count
    def share(d: dict[str, int]) -> list[tuple[str, float]]:
        return [(k, v / total) for k, v in sorted(d.items(), key=lambda kv: -kv[1])[:top]] if total else []
    return {"samples": total, "self": share(own), "areas": share(area), "inclusive": share(inclusive)}


STAGES = (
    ("caller's digit sent → digit delivered to the call", "sent", "digit"),
    ("→ menu gets it", "digit", "choice>"),
    ("menu choice recorded (2 writes)", "choice>", "choice<"),
    ("→ route node starts", "choice<", "route>"),
    ("route planned", "route>", "plan<"),
    ("→ whisper assembled", "plan<", "whisper<"),
    ("→ outbound RTP stream open", "whisper<", "open_stream<"),
    ("→ INVITE handed to the endpoint (place_call returns)", "open_stream<", "place_call<"),
    ("→ INVITE at the far end (kernel)", "place_call<", "invite"),
)


def stages(probe: dict[str, Any], per_call: list[list[Any]],
           window: list[int] | None = None) -> list[tuple[str, float | None, float | None]]:
    """p50/p99 (ms) of each step from the caller's key to the far end's INVITE (--probe),
    and the probe's other figures: write transactions, event-loop lag, collector pauses."""
    times: dict[str, dict[str, int]] = {}
    for cid, name, t in probe["marks"]:
        times.setdefault(cid, {}).setdefault(name, t)  # the first of each (one menu, one route)
    for cid, sent, invite in per_call:
        if cid in times and sent and invite:
            times[cid]["sent"], times[cid]["invite"] = sent, invite
    out = []
    for label, a, b in STAGES:
        d = [(t[b] - t[a]) / 1e6 for t in times.values() if a in t and b in t]
        out.append((label, pct(d, 50), pct(d, 99)))
    sent = [t["sent"] for t in times.values() if "sent" in t]
    invites = [t["invite"] for t in times.values() if "invite" in t]
    setup = (min(sent), max(invites)) if sent and invites else (0, 0)
    spans: list[tuple[str, tuple[int, int]]] = [
        ("during set-up (first key to last far-end INVITE)", setup)]
    if window:
        spans.append(("in the bridged window", (window[0], window[1])))
    for what, (lo, hi) in spans:
        tx = [t for t in probe["transactions"] if lo <= t[0] <= hi]
        secs = max((hi - lo) / 1e9, 1e-9)
        out.append((f"write transactions {what}: {len(tx)} ({len(tx) / secs:.0f}/s); "
                    "waiting for the writer", pct([(t[1] - t[0]) / 1e6 for t in tx], 50),
                    pct([(t[1] - t[0]) / 1e6 for t in tx], 99)))
        out.append((f"… holding it (statements + COMMIT {what})",
                    pct([(t[2] - t[1]) / 1e6 for t in tx], 50), pct([(t[2] - t[1]) / 1e6 for t in tx], 99)))
        lag = [x / 1e6 for t, x in probe["lags"] if lo <= t <= hi]
        out.append((f"event-loop lag {what} (5 ms sleeper; max {fmt(max(lag) if lag else None)})",
                    pct(lag, 50), pct(lag, 99)))
        gcs = [p for p in probe["pauses"] if lo <= p[0] <= hi]
        out.append((f"collections {what}: {len(gcs)}, of which full {sum(p[2] == 2 for p in gcs)}; "
                    f"longest {fmt(max((p[1] / 1e6 for p in gcs), default=None))} ms",
                    pct([p[1] / 1e6 for p in gcs], 50), pct([p[1] / 1e6 for p in gcs], 99)))
    return out


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--probe-serve":
        pin(SERVER_CPU)
        probe_main(sys.argv[3:], sys.argv[2])
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", default="50,100,200")
    ap.add_argument("--bridged-seconds", type=float, default=10.0)
    ap.add_argument("--rate", type=float, default=20.0, help="calls placed per second")
    ap.add_argument("--digit-delay", type=float, default=0.5,
                    help="seconds from the caller's 200 to its key 1")
    ap.add_argument("--accept-delay", type=float, default=0.2,
                    help="seconds from the first whisper audio to the far end's key 1")
    ap.add_argument("--setup-timeout", type=float, default=20.0)
    ap.add_argument("--rtp-ports", type=int, default=2000)
    ap.add_argument("--surveys", type=int, default=0,
                    help="also run this many automated callback survey calls at once (outbound)")
    ap.add_argument("--relay-workers", type=int, default=0,
                    help="[media] relay_workers: bridged calls lent to worker processes (children "
                         "of the server, so on its CPU too)")
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folders (server logs)")
    ap.add_argument("--timeline", action="store_true",
                    help="print the window in 0.5 s steps: latency p99 beside who had CPU 0")
    ap.add_argument("--profile", action="store_true",
                    help="py-spy the server over the bridged window (py-spy in the venv)")
    ap.add_argument("--probe", action="store_true",
                    help="time the steps from the caller's key to the far end's INVITE in the server")
    ap.add_argument("--peer", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--baseline", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.peer:
        peer_main()
        return
    if args.baseline is not None:
        baseline_main(args.baseline, args.bridged_seconds)
        return
    goals = {"lateness": 5.0, "setup": 50.0}
    print(f"# calls benchmark, {os.cpu_count()} CPUs, load {' '.join(f'{x:.2f}' for x in os.getloadavg())}, "
          f"{args.bridged_seconds:g} s bridged, calls placed at {args.rate:g}/s"
          f"{f', {args.surveys} survey calls' if args.surveys else ''}; server on CPU "
          f"{SERVER_CPU}, peers on CPU {PEER_CPU}", flush=True)
    rows: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for n in [int(x) for x in args.calls.split(",") if x]:
        base = {} if args.no_baseline else run_baseline(n, args.bridged_seconds)
        tmp = Path(tempfile.mkdtemp(prefix=f"hotline-bench-calls-{n}-"))
        try:
            r = run_calls(n, args, tmp)
        finally:
            if not args.keep:
                import shutil

                shutil.rmtree(tmp, ignore_errors=True)
            else:
                print(f"(kept {tmp})")
        show(r, base, goals, timeline=args.timeline)
        rows.append((r, base))
        print(f"\nload after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    summary(rows)


def summary(rows: list[tuple[dict[str, Any], dict[str, Any]]]) -> None:
    print("\n### summary\n")
    print("| calls | completed | recorded | server CPU | latency p99 →far / →caller (ms) | same, "
          "quiet slices | loss | set-up p50 / p99 / max (ms) | bare relay p99, CPU | run-queue "
          "wait |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r, base in rows:
        cpu = r.get("cpu") or {}
        lost = sum(r[k]["sent"] - r[k]["received"] for k in ("to_far", "to_caller"))
        sent = sum(r[k]["sent"] for k in ("to_far", "to_caller"))
        s = r["setup"]
        print(f"| {r['n']} | {r['completed']} | {r['recorded']} | {cpu.get('server', 0):.0%} | "
              f"{fmt(r['to_far']['latency']['p99'])} / {fmt(r['to_caller']['latency']['p99'])} | "
              f"{fmt(r['to_far']['quiet']['p99'])} / {fmt(r['to_caller']['quiet']['p99'])} | "
              f"{lost}/{sent} | {fmt(s['p50'], 1)} / {fmt(s['p99'], 1)} / {fmt(s['max'], 1)} | "
              f"{fmt(base.get('p99'))}, {base.get('cpu', 0):.0%} | "
              f"{cpu.get('server_runqueue_wait', 0) * 1000:.0f} ms/s |")


if __name__ == "__main__":
    main()
