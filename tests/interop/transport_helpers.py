"""Helpers shared by the transport tests: an event collector and a request factory."""

from __future__ import annotations

import asyncio

from hotline.sip.transport import TransportEvent


class Events:
    """Collects a transport's events; ``await next()`` waits for the next one."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[TransportEvent] = asyncio.Queue()
        self.all: list[TransportEvent] = []

    def __call__(self, event: TransportEvent) -> None:
        self.all.append(event)
        self.queue.put_nowait(event)

    async def next(self, timeout: float = 2.0) -> TransportEvent:
        return await asyncio.wait_for(self.queue.get(), timeout)

    async def none_within(self, seconds: float) -> bool:
        try:
            await asyncio.wait_for(self.queue.get(), seconds)
        except TimeoutError:
            return True
        return False


def options(
    via_host: str,
    via_port: int,
    *,
    transport: str = "UDP",
    rport: bool = False,
    call_id: str = "c1@test",
    body: bytes = b"",
    extra: str = "",
) -> bytes:
    """An OPTIONS request with the given top Via sent-by."""
    host = f"[{via_host}]" if ":" in via_host else via_host
    via = f"SIP/2.0/{transport} {host}:{via_port};branch=z9hG4bK{call_id.split('@')[0]}"
    if rport:
        via += ";rport"
    head = (
        f"OPTIONS sip:hotline@{host} SIP/2.0\r\n"
        f"Via: {via}\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:probe@{host}>;tag=abc\r\n"
        f"To: <sip:hotline@{host}>\r\n"
        f"Call-ID: {call_id}\r\n"
        "CSeq: 1 OPTIONS\r\n"
        f"{extra}"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


