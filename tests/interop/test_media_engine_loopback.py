"""The asyncio media engine against plain Python UDP peers on 127.0.0.1.

Bounded: each test binds a few loopback ports, sends at most a few hundred
packets and finishes in about a second.
"""

import asyncio
import itertools
import statistics
import wave
from pathlib import Path

import pytest

from hotline.media.codecs import PCMA, PCMU
from hotline.media.dtmf import event_payloads
from hotline.media.engine import MediaEngine
from hotline.media.events import RtpTimedOut
from hotline.media.player import Player, PromptItem
from hotline.media.prompt import Prompt
from hotline.media.rtcp import Bye, parse_compound
from hotline.media.rtp import RtpPacket
from hotline.media.session import StreamConfig
from tests.ports import PortAllocator

DATA = Path(__file__).resolve().parent.parent / "unit" / "media" / "data"
HOST = "127.0.0.1"


class Peer(asyncio.DatagramProtocol):
    """A UDP endpoint that timestamps what it receives."""

    def __init__(self) -> None:
        self.received: list[tuple[float, bytes]] = []
        self.transport: asyncio.DatagramTransport | None = None
        self.arrived = asyncio.Event()

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr) -> None:
        self.received.append((asyncio.get_running_loop().time(), data))
        self.arrived.set()

    @property
    def address(self) -> tuple[str, int]:
        return self.transport.get_extra_info("sockname")[:2]

    def rtp(self) -> list[tuple[float, RtpPacket]]:
        return [(t, RtpPacket.parse(d)) for t, d in self.received]

    def close(self) -> None:
        self.transport.close()


async def peer() -> Peer:
    _, proto = await asyncio.get_running_loop().create_datagram_endpoint(
        Peer, local_addr=(HOST, 0))
    return proto


@pytest.fixture
async def engine(free_ports: PortAllocator):
    low = free_ports.block(100)
    eng = MediaEngine(bind_host=HOST, port_min=low, port_max=low + 99, quiet_period=0.5)
    await eng.start()
    yield eng
    await eng.close()


async def wait_for(pred, timeout: float = 2.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not pred():
        assert loop.time() < end, "timed out"
        await asyncio.sleep(0.01)


async def test_prompt_playback_paced_lossless_byte_exact(engine: MediaEngine) -> None:
    full = Prompt.load(DATA / "welcome.wav", PCMU, 20)
    prompt = Prompt("welcome-1s", PCMU, 160, full.frames[:50], 50 * 160)
    rx = await peer()
    stream = await engine.open_stream(StreamConfig(PCMU, rx.address))
    assert stream.port % 2 == 0 and engine.pool.low <= stream.port <= engine.pool.high
    stream.play([PromptItem(prompt)])
    assert await asyncio.wait_for(stream.wait_played(), 3.0) is True
    await wait_for(lambda: len(rx.received) >= 50)
    got = rx.rtp()[:50]
    packets = [p for _, p in got]
    assert [p.payload for p in packets] == list(prompt.frames)
    assert [(p.sequence - packets[0].sequence) & 0xFFFF for p in packets] == list(range(50))
    assert [(p.timestamp - packets[0].timestamp) & 0xFFFFFFFF for p in packets] == [
        160 * i for i in range(50)]
    assert packets[0].marker and not any(p.marker for p in packets[1:])
    # Pacing, measured by the receiver: RFC 3550 jitter and inter-arrival gaps.
    jitter, prev = 0.0, None
    for t, p in got:
        transit = t * 8000 - p.timestamp
        if prev is not None:
            jitter += (abs(transit - prev) - jitter) / 16
        prev = transit
    gaps = [b[0] - a[0] for a, b in itertools.pairwise(got)]
    assert statistics.mean(gaps) == pytest.approx(0.020, abs=0.002)
    assert jitter / 8 < 5.0  # ms; loopback on a shared 2-core machine
    # No tick was given up while the prompt played: a skipped tick skips a frame, which the
    # byte-exact payloads above would show. (The clock runs on after it, and on a loaded
    # machine may skip a tick then, with nothing to send.)
    stats = await stream.close()
    assert stats["sent"] >= 50
    rx.close()


async def test_dtmf_and_symmetric_rtp_latching(engine: MediaEngine) -> None:
    sdp_peer, nat_peer, rtcp_peer = await peer(), await peer(), await peer()
    stream = await engine.open_stream(
        StreamConfig(PCMU, sdp_peer.address, remote_rtcp=rtcp_peer.address))
    target = (HOST, stream.port)
    # The caller is behind a NAT: its packets come from another address than its SDP said.
    for i, (te, marker) in enumerate(event_payloads("7", 100)):
        nat_peer.transport.sendto(RtpPacket(101, 100 + i, 8000, 0x77, te.serialize(),
                                            marker).serialize(), target)
    digit = await asyncio.wait_for(stream.digits.get(), 2.0)
    assert (digit.digit, digit.duration_ms) == ("7", 100)
    await wait_for(lambda: len(nat_peer.received) >= 3)  # we now send to where it came from
    assert stream.session.latched and stream.session.remote == nat_peer.address
    assert stream.session.remote_rtcp == (HOST, nat_peer.address[1] + 1)
    sdp_count = len(sdp_peer.received)
    sdp_peer.transport.sendto(RtpPacket(0, 1, 1, 0x99, b"\xff" * 160).serialize(), target)
    await wait_for(lambda: stream.session.foreign_packets == 1)
    nat_count = len(nat_peer.received)
    await wait_for(lambda: len(nat_peer.received) >= nat_count + 3)
    assert len(sdp_peer.received) == sdp_count  # nothing more to the SDP address
    assert stream.session.stats.received == 7  # the foreign packet is not counted
    await stream.close("bye")
    for p in (sdp_peer, nat_peer, rtcp_peer):
        p.close()


async def test_rtcp_bye_to_the_sdp_rtcp_port_and_rtp_timeout(engine: MediaEngine) -> None:
    rx, rtcp_rx = await peer(), await peer()
    stream = await engine.open_stream(
        StreamConfig(PCMU, rx.address, remote_rtcp=rtcp_rx.address, rtp_timeout=0.3))
    event = await asyncio.wait_for(stream.events.get(), 2.0)
    assert isinstance(event, RtpTimedOut) and event.silent_for >= 0.3
    await stream.close("timeout")
    await wait_for(lambda: rtcp_rx.received)
    packets = parse_compound(rtcp_rx.received[-1][1])
    assert isinstance(packets[-1], Bye) and packets[-1].reason == "timeout"
    assert packets[-1].sources == (stream.session.sender.ssrc,)
    rx.close()
    rtcp_rx.close()


async def test_bridge_transcodes_and_records(engine: MediaEngine, tmp_path: Path) -> None:
    caller, oncall = await peer(), await peer()
    a = await engine.open_stream(StreamConfig(PCMA, caller.address))
    b = await engine.open_stream(StreamConfig(PCMU, oncall.address))
    await wait_for(lambda: len(oncall.received) >= 2)  # idle silence before the bridge
    engine.bridge(a, b)
    rec = engine.record(tmp_path / "call.wav", [a, b], stereo=True)
    before = len(oncall.received)
    alaw = PCMA.encode(b"\x00\x08" * 160)
    for i in range(25):
        caller.transport.sendto(RtpPacket(8, i, 160 * i, 0xCA, alaw).serialize(),
                                (HOST, a.port))
        await asyncio.sleep(0.02)
    await wait_for(lambda: len(oncall.received) >= before + 25)
    relayed = [RtpPacket.parse(d) for _, d in oncall.received[before:]]
    assert all(p.payload_type == 0 for p in relayed)
    assert all(p.payload == PCMU.encode(PCMA.decode(alaw)) for p in relayed)
    assert {p.ssrc for p in relayed} == {b.session.sender.ssrc}
    seqs = [p.sequence for p in relayed]
    assert all((y - x) & 0xFFFF == 1 for x, y in itertools.pairwise(seqs))
    assert a.stats()["relay"]["transcoded"] == 25
    rec.finish()
    with wave.open(str(tmp_path / "call.wav")) as w:
        assert w.getnchannels() == 2
        assert 0.4 < w.getnframes() / 8000 < 1.5
    await a.close()
    await b.close()
    caller.close()
    oncall.close()


@pytest.mark.both_loops  # the legs' sockets are datagram transports on uvloop, add_reader on asyncio
async def test_bridged_legs_leave_the_clock_while_the_relay_carries_them(engine: MediaEngine) -> None:
    caller, oncall = await peer(), await peer()
    a = await engine.open_stream(StreamConfig(PCMU, caller.address))
    b = await engine.open_stream(StreamConfig(PCMU, oncall.address))
    await wait_for(lambda: len(oncall.received) >= 2)
    engine.bridge(a, b)
    assert a.on_clock and b.on_clock
    before = len(oncall.received)
    ulaw = PCMU.encode(b"\x00\x08" * 160)
    seen_off_clock = False
    digits_sent = False
    for i in range(40):
        caller.transport.sendto(RtpPacket(0, i, 160 * i, 0xCA, ulaw).serialize(), (HOST, a.port))
        await asyncio.sleep(0.02)
        seen_off_clock = seen_off_clock or not b.on_clock
        if i == 30:
            # Key presses of its own bring a leg back at once: they go out on its ticks.
            assert not b.on_clock
            b.send_digits("5", duration_ms=60)
            assert b.on_clock
            digits_sent = True
    assert seen_off_clock and digits_sent
    # The engineer's side sends nothing: the caller's leg came back on the clock and
    # sends keep-alive silence into the bridge's numbering.
    await wait_for(lambda: a.on_clock and any(
        p.payload == PCMU.silence(160) for _, p in caller.rtp()), timeout=3.0)
    out = [p for _, p in oncall.rtp()[before:]]
    assert sum(1 for p in out if p.payload_type == 0 and p.payload == ulaw) >= 30
    assert any(p.payload_type == 101 for p in out)  # the digit, as RFC 4733 events
    assert {p.ssrc for p in out} == {b.session.sender.ssrc}
    seqs = [p.sequence for p in out]
    assert all((y - x) & 0xFFFF == 1 for x, y in itertools.pairwise(seqs))
    # The caller stopped too: after a quiet half second the engineer gets silence as well.
    quiet_from = len(oncall.received)
    await wait_for(lambda: any(p.payload == PCMU.silence(160) and p.payload_type == 0
                               for _, p in oncall.rtp()[quiet_from:]), timeout=3.0)
    assert b.on_clock
    engine.unbridge(a, b)
    assert a.on_clock and b.on_clock
    await a.close()
    await b.close()
    assert not a.on_clock and not b.on_clock
    caller.close()
    oncall.close()


async def test_ports_rest_after_close(engine: MediaEngine) -> None:
    rx = await peer()
    s1 = await engine.open_stream(StreamConfig(PCMU, rx.address))
    port = s1.port
    await s1.close()
    s2 = await engine.open_stream(StreamConfig(PCMU, rx.address))
    assert s2.port != port
    assert engine.pool.in_use == 1
    await s2.close()
    rx.close()


async def test_one_broken_stream_does_not_stop_the_clock(engine: MediaEngine) -> None:
    rx_ok, rx_bad = await peer(), await peer()
    ok = await engine.open_stream(StreamConfig(PCMU, rx_ok.address))
    bad = await engine.open_stream(StreamConfig(PCMU, rx_bad.address))

    class BrokenPlayer(Player):
        __slots__ = ()

        def tick(self) -> bytes | None:
            raise RuntimeError("simulated bug in one session")

    bad.session.player = BrokenPlayer(PCMU, samples_per_packet=160)
    await wait_for(lambda: len(rx_ok.received) >= 10)
    assert rx_bad.received == [] and bad.failed and not ok.failed
    # Garbage to a stream is counted, and the socket stays open.
    rx_bad.transport.sendto(b"\x00garbage", (HOST, ok.port))
    await wait_for(lambda: ok.session.malformed == 1)
    count = len(rx_ok.received)
    await wait_for(lambda: len(rx_ok.received) >= count + 5)
    for s in (ok, bad):
        await s.close()
    rx_ok.close()
    rx_bad.close()


def test_engine_from_config_and_stream_defaults() -> None:
    from hotline.config import MediaConfig
    from hotline.sip.sdp import NegotiatedMedia

    cfg = MediaConfig(rtp_port_min=40000, rtp_port_max=40099, codecs=("PCMU", "PCMA"),
                      ptime=20, rtp_timeout=45.0, symmetric_rtp=False,
                      inband_dtmf_peers=(), prompts_dir=Path("."), recordings_dir=Path("."))
    eng = MediaEngine.from_config(cfg)
    assert (eng.pool.low, eng.pool.high, eng.pool.capacity) == (40000, 40099, 50)
    media = NegotiatedMedia(codec="PCMA", payload_type=8, clock_rate=8000,
                            telephone_event_pt=None, ptime_ms=30, remote_address="192.0.2.1",
                            remote_port=5004, direction="sendrecv", on_hold=False)
    sc = eng.stream_config(media, inband_dtmf=True, rtp_timeout=10.0)
    assert (sc.codec, sc.ptime_ms, sc.symmetric_rtp, sc.rtp_timeout, sc.inband_dtmf) == (
        PCMA, 30, False, 10.0, True)
    assert eng.stream_config(media).rtp_timeout == 45.0
