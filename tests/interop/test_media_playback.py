"""A prompt played by hotline, received by a plain Python RTP receiver on 127.0.0.1.

The far end is a UDP socket: a hand-written INVITE whose SDP points at it
goes to hotline's SIP endpoint, which answers with a media-engine stream and
plays two prompts with a pause between them (silence suppressed, so the pause
is a gap in the RTP). The receiver time-stamps every packet and checks what a
phone's jitter buffer would care about: no loss, RFC 3550 interarrival jitter
under 5 ms, payloads byte for byte the prompt's PCMU frames, sequence numbers
contiguous, timestamps advancing 160 per packet and across the gap by the
time that passed, the marker bit on the first packet of each talkspurt.
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
import wave
from pathlib import Path

import pytest

from hotline.media.codecs import PCMU
from hotline.media.engine import MediaEngine
from hotline.media.player import PromptItem
from hotline.media.prompt import Prompt
from hotline.media.rtp import RtpPacket
from hotline.media.stream import RtpStream
from hotline.sip.call import IncomingCall
from hotline.sip.message import Request, Response
from tests.interop.endpoint_helpers import RawPeer, sip_settings
from tests.interop.media_helpers import MediaDesk, read_wav
from tests.interop.peers import PortAllocator

pytestmark = pytest.mark.both_loops
"""The SIP endpoint and the media engine run on uvloop (the server's default) and asyncio."""

PROMPTS = Path(__file__).resolve().parents[2] / "hotline" / "media" / "prompts"
PAUSE = 0.5


class Receiver(asyncio.DatagramProtocol):
    """The far end's RTP socket: keeps (arrival time, packet)."""

    def __init__(self) -> None:
        self.packets: list[tuple[float, RtpPacket]] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport) -> None:  # type: ignore[no-untyped-def]
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:  # type: ignore[no-untyped-def]
        self.packets.append((asyncio.get_running_loop().time(), RtpPacket.parse(data)))


def cut(path: Path, source: Path, seconds: float) -> Path:
    pcm, rate = read_wav(source)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm[: int(seconds * rate) * 2])
    return path


def rfc3550_jitter_ms(packets: list[tuple[float, RtpPacket]]) -> float:
    jitter, prev = 0.0, None
    for t, p in packets:
        transit = t * 8000 - p.timestamp
        if prev is not None:
            jitter += (abs(transit - prev) - jitter) / 16
        prev = transit
    return jitter / 8


def sdp(port: int) -> bytes:
    return (
        "v=0\r\no=rx 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        f"m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=recvonly\r\n"
    ).encode()


async def test_prompts_arrive_paced_lossless_and_byte_exact(
    tmp_path: Path, free_ports: PortAllocator
) -> None:
    first = Prompt.load(cut(tmp_path / "one.wav", PROMPTS / "greeting.wav", 1.6), PCMU)
    second = Prompt.load(cut(tmp_path / "two.wav", PROMPTS / "goodbye.wav", 1.0), PCMU)
    base = free_ports.block(10)
    engine = MediaEngine(bind_host="127.0.0.1", port_min=base, port_max=base + 9)

    async def play(call: IncomingCall, stream: RtpStream) -> None:
        stream.play([PromptItem(first)])
        assert await stream.wait_played()
        await asyncio.sleep(PAUSE)  # nothing is sent meanwhile (idle_silence=False)
        stream.play([PromptItem(second)])
        assert await stream.wait_played()
        await call.wait_ended()

    loop = asyncio.get_running_loop()
    _, rx = await loop.create_datagram_endpoint(Receiver, local_addr=("127.0.0.1", 0))
    raw = RawPeer()
    desk = MediaDesk(sip_settings(0), engine, play, idle_silence=False)
    try:
        async with desk:
            _, host, port = desk.endpoint.local_addresses[0]
            to = (host, port)
            rx_port = rx.transport.get_extra_info("sockname")[1]
            raw.send(raw.request("INVITE", to, call_id="play-1@127.0.0.1", body=sdp(rx_port),
                                 extra="Content-Type: application/sdp\r\n"), to)
            ok = await raw.recv_until(lambda m: isinstance(m, Response) and m.status == 200)
            assert isinstance(ok, Response) and b"sendonly" in ok.body
            tag = ok.headers.get("To").split("tag=")[1]
            raw.send(raw.request("ACK", to, call_id="play-1@127.0.0.1", to_tag=tag), to)
            frames = len(first.frames) + len(second.frames)
            # Wait by the clock, not by a count of sleeps: on a loaded machine each sleep is longer.
            deadline = loop.time() + 15
            while len(rx.packets) < frames and loop.time() < deadline:
                await asyncio.sleep(0.02)
            await asyncio.sleep(0.1)  # anything after the second prompt would show up
            raw.send(raw.request("BYE", to, call_id="play-1@127.0.0.1", cseq=2, to_tag=tag), to)
            bye_ok = await raw.recv_until(lambda m: isinstance(m, Response) and m.status == 200)
            assert not isinstance(bye_ok, Request)
            await asyncio.wait_for(desk.handled.wait(), 5)
        assert not desk.errors, desk.errors
    finally:
        raw.close()
        rx.transport.close()
    got = rx.packets
    packets = [p for _, p in got]
    assert len(packets) == frames  # no loss, nothing else (no idle silence, no duplicates)
    assert [p.payload for p in packets] == list(first.frames) + list(second.frames)
    assert len({p.ssrc for p in packets}) == 1 and {p.payload_type for p in packets} == {0}
    assert [(b.sequence - a.sequence) & 0xFFFF for a, b in itertools.pairwise(packets)] == [1] * (
        frames - 1)
    # Marker on the first packet of each talkspurt only.
    n1 = len(first.frames)
    assert [i for i, p in enumerate(packets) if p.marker] == [0, n1]
    steps = [(b.timestamp - a.timestamp) & 0xFFFFFFFF for a, b in itertools.pairwise(packets)]
    assert steps[: n1 - 1] == [160] * (n1 - 1) and steps[n1:] == [160] * (len(second.frames) - 1)
    # Across the gap the timestamp moved with the clock: whole packet times, as long as the pause.
    gap_ts, gap_s = steps[n1 - 1], got[n1][0] - got[n1 - 1][0]
    assert gap_ts % 160 == 0 and abs(gap_ts / 8000 - gap_s) <= 0.01, (gap_ts, gap_s)
    assert gap_s >= PAUSE
    # Pacing as the receiver saw it.
    for spurt in (got[:n1], got[n1:]):
        gaps = [b[0] - a[0] for a, b in itertools.pairwise(spurt)]
        assert statistics.mean(gaps) == pytest.approx(0.020, abs=0.001)
        assert rfc3550_jitter_ms(spurt) < 5.0
