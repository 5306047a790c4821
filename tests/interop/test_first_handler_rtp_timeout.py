"""The first call handler hangs up a caller whose RTP stops (a phone that lost its network).

No BYE will ever come from such a caller; without this the call would hold a port and a
record open until ``max_call_seconds``. Real endpoint, real media engine, real SQLite file.
"""

from __future__ import annotations

import asyncio
import dataclasses
import socket
import struct
from pathlib import Path

from hotline.calls.first_handler import FirstCallHandler
from hotline.issues import IssueService
from hotline.media.engine import MediaEngine
from hotline.sip.endpoint import SipEndpoint
from hotline.sip.message import Request, Response
from hotline.store import Store
from tests.interop.endpoint_helpers import RawPeer, desk_config, offer, wait_for_end
from tests.interop.peers import PortAllocator

RTP_TIMEOUT = 1.5


async def test_silent_caller_is_hung_up_and_recorded(tmp_path: Path, free_ports: PortAllocator) -> None:
    config = desk_config()
    base = free_ports.block(10)
    config = dataclasses.replace(
        config,
        sip=dataclasses.replace(config.sip, ring_seconds=0.0),
        media=dataclasses.replace(config.media, rtp_timeout=RTP_TIMEOUT, rtp_port_min=base,
                                  rtp_port_max=base + 9),
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
    loop = asyncio.get_running_loop()
    try:
        _, host, port = endpoint.local_addresses[0]
        to = (host, port)
        raw.send(raw.request("INVITE", to, call_id="silent@127.0.0.1", body=offer(rtp.getsockname()[1]),
                             extra="Content-Type: application/sdp\r\n"), to)
        ok = await raw.recv_until(lambda m: isinstance(m, Response) and m.status == 200, 5)
        assert isinstance(ok, Response)
        tag = ok.headers.get("To").split("tag=")[1]
        ours = int(ok.body.split(b"m=audio ")[1].split()[0])
        raw.send(raw.request("ACK", to, call_id="silent@127.0.0.1", to_tag=tag), to)
        start = loop.time()
        for i in range(50):  # 1 s of RTP, then the phone goes silent
            rtp.sendto(struct.pack("!BBHII", 0x80, 0, i, 160 * i, 0x5117) + b"\xff" * 160,
                       ("127.0.0.1", ours))
            await asyncio.sleep(max(0.0, start + (i + 1) * 0.02 - loop.time()))
        last = loop.time()
        bye = await raw.recv_until(lambda m: isinstance(m, Request) and m.method == "BYE", 6)
        silent = loop.time() - last
        assert isinstance(bye, Request)
        assert RTP_TIMEOUT - 0.2 <= silent <= RTP_TIMEOUT + 1.5, silent
        raw.send(
            f"SIP/2.0 200 OK\r\nVia: {bye.headers.get('Via')}\r\nFrom: {bye.headers.get('From')}\r\n"
            f"To: {bye.headers.get('To')}\r\nCall-ID: {bye.call_id}\r\nCSeq: {bye.headers.get('CSeq')}\r\n"
            "Content-Length: 0\r\n\r\n", to)
        record = await wait_for_end(store, "silent@127.0.0.1")
        assert record.disposition == "answered" and record.answered_at is not None
    finally:
        raw.close()
        rtp.close()
        await endpoint.stop()
        await engine.close()
        await store.close()
