"""What the server and a relay worker say to each other over their socket pair.

One message is one record of a `SOCK_SEQPACKET` socket pair (so no framing),
pickled: both ends are this program, started by the server over a socket
nobody else holds, so pickle's trust model is met and it carries the sessions'
object graph (the two legs share one `Bridge`) as it is. A `Lend` record also
carries the pair's four socket descriptors (SCM_RIGHTS).
"""

from __future__ import annotations

import pickle
import socket
from dataclasses import dataclass

from hotline.media.session import MediaEvent

__all__ = [
    "MAX_RECORD",
    "Event",
    "Lend",
    "Message",
    "Ready",
    "Refused",
    "Return",
    "Returned",
    "decode",
    "encode",
    "receive",
]

MAX_RECORD = 256 * 1024
"""The largest record read (a pair's two sessions pickle to about 7 kB)."""

Counters = tuple[int, int, int]
"""A leg's sockets' (errors, dropped, failures) while the worker had them."""


@dataclass(frozen=True, slots=True)
class Ready:
    """Worker → server, once: started, pairs may come."""

    pid: int


@dataclass(frozen=True, slots=True)
class Lend:
    """Server → worker: carry this bridged pair (fds: a's RTP and RTCP, then b's)."""

    pair: int
    ports: tuple[int, int]
    sessions: bytes
    """The two legs' `MediaSession`s, pickled together."""


@dataclass(frozen=True, slots=True)
class Return:
    """Server → worker: give the pair back now."""

    pair: int


@dataclass(frozen=True, slots=True)
class Returned:
    """Worker → server: the pair's sessions as the worker left them (None: it never had them)."""

    pair: int
    sessions: bytes | None
    counters: tuple[Counters, Counters] = ((0, 0, 0), (0, 0, 0))


@dataclass(frozen=True, slots=True)
class Refused:
    """Worker → server: the pair could not be taken on; the server carries it on."""

    pair: int
    reason: str


@dataclass(frozen=True, slots=True)
class Event:
    """Worker → server: a media event of leg `side` (0: a, 1: b) of a lent pair."""

    pair: int
    side: int
    event: MediaEvent


Message = Ready | Lend | Return | Returned | Refused | Event


def encode(message: Message) -> bytes:
    """One record."""
    return pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)


def decode(record: bytes) -> Message:
    """The message of one record; ValueError if it is none of ours."""
    try:
        message = pickle.loads(record)
    except Exception as exc:
        raise ValueError(f"unreadable relay record ({exc})") from exc
    if not isinstance(message, (Ready, Lend, Return, Returned, Refused, Event)):
        raise ValueError(f"unexpected relay record {type(message).__name__}")
    return message


def receive(sock: socket.socket) -> tuple[Message, list[int]] | None:
    """The next record of non-blocking `sock` and the descriptors that came with it; None at the
    end (the other process is gone). BlockingIOError when nothing is waiting."""
    record, fds, flags, _ = socket.recv_fds(sock, MAX_RECORD, 4)
    if not record and not fds:
        return None
    try:
        if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
            raise ValueError("relay record truncated")
        return decode(record), fds
    except ValueError:
        for fd in fds:
            socket.close(fd)
        raise
