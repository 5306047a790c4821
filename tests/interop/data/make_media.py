#!/usr/bin/env python3
"""Write the RTP pcaps that sipp's ``play_pcap_audio`` replays in the caller scenarios.

    python tests/interop/data/make_media.py        # rewrites the three .pcap files next to this script

* ``speech_pcmu.pcap`` -- 2 s of PCMU (payload type 0), 20 ms packets, a
  tone that alternates between 440 Hz and 660 Hz every 250 ms so it is not
  mistaken for a DTMF digit or silence.
* ``dtmf_1.pcap`` and ``dtmf_pound.pcap`` -- one RFC 4733 telephone-event
  (payload type 101) each: events 1 and 11 (#), 160 ms long, a packet every
  20 ms, the end packet sent three times as RFC 4733 §2.5.1.4 recommends.

sipp only takes the UDP payloads and the packet times from the file (it
rewrites addresses and ports), so the Ethernet/IP headers here are minimal.
Standard library only; deterministic output (fixed SSRCs and timestamps).
"""

from __future__ import annotations

import math
import struct
from pathlib import Path

HERE = Path(__file__).resolve().parent
PTIME = 0.020
SAMPLES = 160  # 20 ms at 8 kHz


def ulaw(sample: int) -> int:
    """G.711 mu-law encoding of one 16-bit sample (ITU-T G.711 segment table)."""
    bias, clip = 0x84, 32635
    sign = 0x80 if sample < 0 else 0
    magnitude = min(abs(sample), clip) + bias
    exponent = 7
    for exp in range(7, -1, -1):
        if magnitude & (0x4000 >> (7 - exp)):
            exponent = exp
            break
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def rtp(pt: int, seq: int, ts: int, ssrc: int, payload: bytes, marker: bool = False) -> bytes:
    return struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, seq & 0xFFFF, ts, ssrc) + payload


def udp_frame(payload: bytes, sport: int = 16000, dport: int = 16100) -> bytes:
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    total = 20 + len(udp)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, total, 0, 0x4000, 64, 17, 0, bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1]))
    checksum = sum(struct.unpack("!10H", ip))
    checksum = (checksum & 0xFFFF) + (checksum >> 16)
    ip = ip[:10] + struct.pack("!H", ~checksum & 0xFFFF) + ip[12:]
    ether = b"\x00" * 12 + b"\x08\x00"
    return ether + ip + udp


def write_pcap(path: Path, packets: list[tuple[float, bytes]]) -> None:
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]  # linktype 1 = Ethernet
    base = 1_700_000_000.0
    for t, rtp_bytes in packets:
        frame = udp_frame(rtp_bytes)
        sec = int(base + t)
        usec = round((base + t - sec) * 1e6)
        out.append(struct.pack("<IIII", sec, usec, len(frame), len(frame)) + frame)
    path.write_bytes(b"".join(out))


def speech(seconds: float = 2.0) -> list[tuple[float, bytes]]:
    packets = []
    n = 0
    for i in range(int(seconds / PTIME)):
        freq = 440.0 if (i // 12) % 2 == 0 else 660.0
        payload = bytes(
            ulaw(int(8000 * math.sin(2 * math.pi * freq * (n + k) / 8000))) for k in range(SAMPLES)
        )
        packets.append((i * PTIME, rtp(0, 1000 + i, 50_000 + n, 0x5EED0001, payload, marker=i == 0)))
        n += SAMPLES
    return packets


def dtmf(event: int, ssrc: int, length_ms: int = 160) -> list[tuple[float, bytes]]:
    packets = []
    ts = 90_000
    steps = length_ms // 20
    for i in range(1, steps + 1):
        end = i == steps
        payload = struct.pack("!BBH", event, (0x80 if end else 0) | 10, i * SAMPLES)
        copies = 3 if end else 1
        for c in range(copies):
            packets.append(((i - 1) * PTIME + c * 0.005, rtp(101, 2000 + len(packets), ts, ssrc, payload, marker=i == 1)))
    return packets


def main() -> None:
    write_pcap(HERE / "speech_pcmu.pcap", speech())
    write_pcap(HERE / "dtmf_1.pcap", dtmf(1, 0x5EED0101))
    write_pcap(HERE / "dtmf_pound.pcap", dtmf(11, 0x5EED0111))


if __name__ == "__main__":
    main()
