"""Helpers for the endpoint tests: SipSettings (and a SipConfig) for loopback, free ports, a tiny SDP."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Callable
from dataclasses import fields, replace

from hotline.config import Config, SipConfig, load_config
from hotline.sip.message import Request, Response, parse_message
from hotline.sip.sdp import make_offer
from hotline.sip.settings import ListenAddress, OutboundSettings, RateLimits, SipSettings
from hotline.store import Store
from hotline.store.records import CallRecord
from tests.conftest import EXAMPLE_CONFIG, ROOT
from tests.ports import PORTS

Message = Request | Response


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    """A port free for UDP and TCP on 127.0.0.1, from the session's allocator."""
    return PORTS.one()


def sip_settings(
    port: int = 0,
    *,
    transports: tuple[str, ...] = ("udp",),
    allowed: tuple[str, ...] = ("127.0.0.1/32",),
    proxy: str | None = None,
    username: str | None = None,
    password: str | None = None,
    caller_id: str = "pai",
    diversion: bool = True,
    number: str = "12345",
    **changes: object,
) -> SipSettings:
    """The SIP layer's settings for a trunk-mode endpoint listening on 127.0.0.1:``port``."""
    settings = SipSettings(
        mode="trunk",
        listen=tuple(ListenAddress(t, "127.0.0.1", port) for t in transports),
        hotline_number=number,
        allowed_peers=tuple(ipaddress.ip_network(a) for a in allowed),
        outbound=OutboundSettings(
            proxy=proxy, username=username, password=password, caller_id=caller_id, diversion=diversion
        ),
        rate_limits=RateLimits(invite_per_second=5.0, register_per_second=1.0, options_per_second=5.0, burst=10),
    )
    return replace(settings, **changes)  # type: ignore[arg-type]


def sip_config(
    port: int = 0,
    *,
    ring_seconds: float = 0.1,
    max_call_seconds: int = 30,
    forward_targets: tuple[str, ...] = (),
    **settings: object,
) -> SipConfig:
    """A ``[sip]`` configuration (for a whole :class:`Config`): :func:`sip_settings` plus call admission."""
    base = sip_settings(port, **settings)  # type: ignore[arg-type]
    return SipConfig(
        **{f.name: getattr(base, f.name) for f in fields(SipSettings)},
        ring_seconds=ring_seconds,
        max_call_seconds=max_call_seconds,
        forward_targets=forward_targets,
    )


def offer(port: int = 40000) -> bytes:
    """An SDP offer for PCMU/PCMA + telephone-event on 127.0.0.1."""
    return make_offer("127.0.0.1", port).serialize()


class RawPeer:
    """A bare UDP socket on 127.0.0.1 that sends hand-written SIP and reads the answers."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.port = int(self.sock.getsockname()[1])

    def close(self) -> None:
        self.sock.close()

    def send(self, data: bytes | str, to: tuple[str, int]) -> None:
        self.sock.sendto(data.encode() if isinstance(data, str) else data, to)

    async def recv_raw(self, timeout: float = 2.0) -> bytes:
        loop = asyncio.get_running_loop()
        return await asyncio.wait_for(loop.sock_recv(self.sock, 65535), timeout)

    async def recv(self, timeout: float = 2.0) -> Message:
        return parse_message(await self.recv_raw(timeout))

    async def recv_until(self, predicate: Callable[[Message], bool], timeout: float = 3.0) -> Message:
        """The first message ``predicate`` accepts (others are skipped)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            msg = await self.recv(max(left, 0.01))
            if predicate(msg):
                return msg

    async def nothing_within(self, seconds: float) -> bool:
        try:
            await self.recv(seconds)
        except TimeoutError:
            return True
        return False

    def request(
        self,
        method: str,
        to: tuple[str, int],
        *,
        call_id: str = "raw-1@127.0.0.1",
        cseq: int = 1,
        to_tag: str | None = None,
        extra: str = "",
        body: bytes = b"",
        user: str = "12345",
        branch: str | None = None,
        cseq_method: str | None = None,
    ) -> bytes:
        """A request from this peer to ``to`` (hand-written, so tests can break it on purpose)."""
        tag = f";tag={to_tag}" if to_tag else ""
        branch = branch or f"z9hG4bK{method.lower()}{cseq}{call_id.split('@')[0]}"
        head = (
            f"{method} sip:{user}@{to[0]}:{to[1]} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{self.port};branch={branch};rport\r\n"
            "Max-Forwards: 70\r\n"
            f'From: "Raw Peer" <sip:13800138000@127.0.0.1:{self.port}>;tag=rawtag\r\n'
            f"To: <sip:{user}@{to[0]}:{to[1]}>{tag}\r\n"
            f"Call-ID: {call_id}\r\n"
            f"CSeq: {cseq} {cseq_method or method}\r\n"
            f"Contact: <sip:raw@127.0.0.1:{self.port}>\r\n"
            f"{extra}"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        return head.encode() + body


def desk_config(**sip: object) -> Config:
    """The example configuration with a loopback SipConfig (``sip_config(0, **sip)``)."""
    config = load_config(EXAMPLE_CONFIG)
    media = replace(
        config.media,
        prompts_dir=ROOT / "hotline" / "media" / "prompts",
        rtp_port_min=(low := PORTS.block(1000)),
        rtp_port_max=low + 999,
    )
    return replace(config, sip=sip_config(0, **sip), media=media)  # type: ignore[arg-type]


async def wait_for_end(store: Store, sip_call_id: str | None = None, timeout: float = 5.0) -> CallRecord:
    """The call record (by SIP Call-ID, else the latest) once its end is written."""
    for _ in range(int(timeout / 0.05)):
        if sip_call_id is not None:
            records = await store.calls.by_sip_call_id(sip_call_id)
        else:
            records = (await store.calls.recent(1))
        if records and records[0].ended_at is not None:
            return records[0]
        await asyncio.sleep(0.05)
    raise AssertionError(f"call {sip_call_id} never ended in the store")
