"""A hand-written caller answered by the first call handler, for media-path tests.

The endpoint, the media engine and the SQLite file are real; the caller is a raw SIP socket and
a raw RTP socket, so a test controls every packet it sends (and can stop sending).
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import struct
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hotline.calls.first_handler import FirstCallHandler
from hotline.issues import IssueService
from hotline.media.engine import MediaEngine
from hotline.sip.endpoint import SipEndpoint
from hotline.sip.message import Response
from hotline.store import Store
from tests.interop.endpoint_helpers import RawPeer, desk_config, offer
from tests.interop.peers import PortAllocator


@dataclass
class AnsweredCall:
    call_id: str
    raw: RawPeer
    to: tuple[str, int]
    tag: str
    rtp: socket.socket
    rtp_port: int
    """Hotline's RTP port for this call."""
    store: Store

    async def send_rtp(self, payloads: Sequence[bytes], ssrc: int = 0xCA11) -> float:
        """Send 20 ms PCMU payloads on absolute deadlines; return the loop time of the last one."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        for i, payload in enumerate(payloads):
            self.rtp.sendto(struct.pack("!BBHII", 0x80, 0, i, 160 * i, ssrc) + payload,
                            ("127.0.0.1", self.rtp_port))
            await asyncio.sleep(max(0.0, start + (i + 1) * 0.02 - loop.time()))
        return loop.time()

    def bye(self) -> None:
        self.raw.send(self.raw.request("BYE", self.to, call_id=self.call_id, cseq=2, to_tag=self.tag),
                      self.to)


@asynccontextmanager
async def answered_call(
    tmp_path: Path, free_ports: PortAllocator, call_id: str, **media: Any
) -> AsyncIterator[AnsweredCall]:
    """Hotline (first handler, no ringing) with ``[media]`` changed by ``media``, and a call to it."""
    config = desk_config()
    base = free_ports.block(10)
    config = dataclasses.replace(
        config,
        sip=dataclasses.replace(config.sip, ring_seconds=0.0),
        media=dataclasses.replace(config.media, rtp_port_min=base, rtp_port_max=base + 9, **media),
    )
    store = Store(tmp_path / "h.sqlite3")
    await store.open()
    engine = MediaEngine.from_config(config.media, bind_host="127.0.0.1")
    await engine.start()
    handler = FirstCallHandler(config, store, IssueService(store, config.site.timezone), media=engine)
    endpoint = SipEndpoint(config.sip, on_call=handler)
    await endpoint.start()
    rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rtp.bind(("127.0.0.1", 0))
    raw = RawPeer()
    try:
        _, host, port = endpoint.local_addresses[0]
        to = (host, port)
        raw.send(raw.request("INVITE", to, call_id=call_id, body=offer(rtp.getsockname()[1]),
                             extra="Content-Type: application/sdp\r\n"), to)
        ok = await raw.recv_until(lambda m: isinstance(m, Response) and m.status == 200, 5)
        assert isinstance(ok, Response)
        tag = (ok.headers.get("To") or "").split("tag=")[1]
        ours = int(ok.body.split(b"m=audio ")[1].split()[0])
        raw.send(raw.request("ACK", to, call_id=call_id, to_tag=tag), to)
        yield AnsweredCall(call_id, raw, to, tag, rtp, ours, store)
    finally:
        raw.close()
        rtp.close()
        await endpoint.stop()
        await engine.close()
        await store.close()
