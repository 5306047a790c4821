"""DTMF sent as tones in the audio (old gateways without RFC 4733) reaches the call record.

``[media] inband_dtmf_peers`` names such peers; their calls' audio goes through the Goertzel
detector. The same tones from a peer not in the list are not taken for digits (nobody's speech
is scanned for tones unless configured). Real endpoint, media engine and SQLite file.
"""

from __future__ import annotations

import asyncio
import dataclasses
import math
import socket
import struct
from pathlib import Path

import pytest

from hotline.calls.first_handler import FirstCallHandler
from hotline.issues import IssueService
from hotline.media.codecs import PCMU
from hotline.media.engine import MediaEngine
from hotline.sip.endpoint import SipEndpoint
from hotline.sip.message import Response
from hotline.store import Store
from tests.interop.endpoint_helpers import RawPeer, desk_config, offer, wait_for_end
from tests.interop.peers import PortAllocator

# Row and column frequencies of the keypad (ITU-T Q.23).
KEYS = {"5": (770, 1336), "#": (941, 1477), "9": (852, 1477)}


def tone_frames(digit: str | None, ms: int) -> list[bytes]:
    """20 ms PCMU frames of a DTMF key (or silence), each tone at about -10 dBm0."""
    frames = []
    for f in range(ms // 20):
        samples = []
        for n in range(160):
            t = (f * 160 + n) / 8000
            value = 0.0
            if digit is not None:
                low, high = KEYS[digit]
                value = 6000 * (math.sin(2 * math.pi * low * t) + math.sin(2 * math.pi * high * t))
            samples.append(int(value))
        frames.append(PCMU.encode(struct.pack(f"<{len(samples)}h", *samples)))
    return frames


async def call_with_tones(tmp_path: Path, free_ports: PortAllocator, inband_peers: tuple[str, ...]) -> str:
    config = desk_config()
    base = free_ports.block(10)
    config = dataclasses.replace(
        config,
        sip=dataclasses.replace(config.sip, ring_seconds=0.0),
        media=dataclasses.replace(config.media, rtp_port_min=base, rtp_port_max=base + 9,
                                  inband_dtmf_peers=inband_peers),
    )
    store = Store(tmp_path / "h.sqlite3")
    await store.open()
    engine = MediaEngine.from_config(config.media, bind_host="127.0.0.1")
    await engine.start()
    endpoint = SipEndpoint(config.sip, on_call=FirstCallHandler(
        config, store, IssueService(store, config.site.timezone), media=engine))
    await endpoint.start()
    rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rtp.bind(("127.0.0.1", 0))
    raw = RawPeer()
    loop = asyncio.get_running_loop()
    try:
        _, host, port = endpoint.local_addresses[0]
        to = (host, port)
        raw.send(raw.request("INVITE", to, call_id="tones@127.0.0.1", body=offer(rtp.getsockname()[1]),
                             extra="Content-Type: application/sdp\r\n"), to)
        ok = await raw.recv_until(lambda m: isinstance(m, Response) and m.status == 200, 5)
        assert isinstance(ok, Response)
        tag = ok.headers.get("To").split("tag=")[1]
        ours = int(ok.body.split(b"m=audio ")[1].split()[0])
        raw.send(raw.request("ACK", to, call_id="tones@127.0.0.1", to_tag=tag), to)
        audio = (tone_frames(None, 200) + tone_frames("5", 120) + tone_frames(None, 120)
                 + tone_frames("#", 120) + tone_frames(None, 120) + tone_frames("9", 120)
                 + tone_frames(None, 300))
        start = loop.time()
        for i, payload in enumerate(audio):
            rtp.sendto(struct.pack("!BBHII", 0x80, 0, i, 160 * i, 0x70E5) + payload, ("127.0.0.1", ours))
            await asyncio.sleep(max(0.0, start + (i + 1) * 0.02 - loop.time()))
        raw.send(raw.request("BYE", to, call_id="tones@127.0.0.1", cseq=2, to_tag=tag), to)
        record = await wait_for_end(store, "tones@127.0.0.1")
        return record.digits
    finally:
        raw.close()
        rtp.close()
        await endpoint.stop()
        await engine.close()
        await store.close()


async def test_inband_digits_from_a_configured_peer(tmp_path: Path, free_ports: PortAllocator) -> None:
    assert await call_with_tones(tmp_path, free_ports, ("127.0.0.0/8",)) == "5#9"


@pytest.mark.parametrize("peers", [(), ("192.0.2.0/24",)])
async def test_tones_from_other_peers_are_not_digits(
    tmp_path: Path, free_ports: PortAllocator, peers: tuple[str, ...]
) -> None:
    assert await call_with_tones(tmp_path, free_ports, peers) == ""
