"""RFC 2833/4733 key presses as sipp sends them (its shipped pcaps) through our receivers.

data/sipp/dtmf_2833_*.pcap are the files SIPp 3.6.1 installs in /usr/share/sip-tester
(Debian package sip-tester) for `play_pcap_audio`. Each holds one press: ten packets with
one timestamp, durations growing by 320 per 20 ms, three end packets with the same
sequence number.
"""

import struct
from pathlib import Path

import pytest

from hotline.media.dtmf import DtmfReceiver
from hotline.media.rtcp import ReceiverStats
from hotline.media.rtp import RtpPacket

SIPP = Path(__file__).parent / "data" / "sipp"
NAMES = {**{str(d): str(d) for d in range(10)}, "star": "*", "pound": "#"}


def read_pcap(path: Path) -> list[tuple[float, RtpPacket]]:
    """(capture time, RTP packet) from a classic little-endian Ethernet pcap."""
    data = path.read_bytes()
    magic, *_rest, linktype = struct.unpack_from("<IHHiIII", data)
    assert magic == 0xA1B2C3D4 and linktype == 1
    out, pos = [], 24
    while pos < len(data):
        sec, usec, incl, _orig = struct.unpack_from("<IIII", data, pos)
        frame = data[pos + 16 : pos + 16 + incl]
        pos += 16 + incl
        ip = frame[14:]
        udp = ip[(ip[0] & 0x0F) * 4 :]
        out.append((sec + usec / 1e6, RtpPacket.parse(udp[8:])))
    return out


@pytest.mark.parametrize("name", sorted(NAMES))
def test_each_sipp_press_is_one_digit(name: str) -> None:
    rx = DtmfReceiver()
    packets = read_pcap(SIPP / f"dtmf_2833_{name}.pcap")
    t0 = packets[0][0]
    got = [d for t, p in packets for d in rx.receive(p, t - t0)]
    assert [(d.digit, d.duration_ms) for d in got] == [(NAMES[name], 280)]
    assert rx.repeats == 2


def test_a_dialled_sequence_with_a_replayed_press() -> None:
    """sipp replays the same pcap for "1" twice: same timestamp, marker on each first packet."""
    rx, stats = DtmfReceiver(), ReceiverStats()
    dialled = ["1", "star", "0", "1", "1", "pound"]
    t, seq, got = 0.0, 0, []
    for name in dialled:
        packets = read_pcap(SIPP / f"dtmf_2833_{name}.pcap")
        base = packets[0][0]
        for when, p in packets:
            # Give each replay its own sequence numbers, as a sender would.
            p = p.with_(sequence=(seq + p.sequence - packets[0][1].sequence) & 0xFFFF)
            stats.update(p, t + when - base)
            got += rx.receive(p, t + when - base)
        seq += 8  # eight distinct sequence numbers per press
        t += 0.5
    assert "".join(d.digit for d in got) == "1*011#"
    assert stats.duplicates == 2 * len(dialled)  # sipp's end packets repeat one sequence number
    assert stats.lost == 0
