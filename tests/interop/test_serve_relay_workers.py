"""``[media] relay_workers``: a bridged call through ``hotline serve`` relayed by a worker process.

The holiday-night call of ``test_serve_oncall`` (a baresip caller playing 700 Hz, the
on-call engineer's baresip mobile at kamailio playing 1300 Hz, press 1 to accept) with one
relay worker: while the call is bridged, ``/healthz`` and ``/metrics`` say one pair is lent (a
scrape, which reads every open stream's figures, leaves it lent) and the worker is a child of
the server; after the hang-up the call record holds the relay's counters, which
only the worker counted, and each side heard the other for the whole bridge. Stopping the
server stops the worker.
"""

from __future__ import annotations

import asyncio
import json
import os
import urllib.request
from pathlib import Path
from typing import Any

from tests.interop.peers import Baresip, Kamailio, PortAllocator
from tests.interop.serve_helpers import ENGINEERS, HotlineServer, ServerOptions
from tests.interop.test_serve_oncall import (
    CALLER_HZ,
    HOLIDAY_NIGHT,
    MOBILES,
    ZHANGWEI_HZ,
    caller,  # noqa: F401 -- the fixture
    dial_and_press,
    engineer,
    heard_seconds,
    serve,
    stop_quietly,
)

BRIDGED_SECONDS = 6.0
"""Long enough for the pair to be lent (after 2 s bridged) and relayed a while by the worker."""


def healthz(server: HotlineServer) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{server.web_port}/healthz", timeout=5) as r:
        body: dict[str, Any] = json.loads(r.read())
    return body


def metrics(server: HotlineServer) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{server.web_port}/metrics", timeout=5) as r:
        text = r.read().decode()
    return {name: float(value) for name, value in
            (line.split(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))
            if "{" not in name}


def children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found.update(int(c) for c in (task / "children").read_text().split())
    return found


async def test_a_bridged_call_is_relayed_by_the_worker_and_recorded_with_its_counters(
    tmp_path: Path, free_ports: PortAllocator, caller: Baresip, kamailio: Kamailio,  # noqa: F811
) -> None:
    zhangwei = engineer(tmp_path, free_ports, kamailio, ENGINEERS[0], ZHANGWEI_HZ)
    server = serve(tmp_path, free_ports, ServerOptions(
        clock=HOLIDAY_NIGHT, proxy=f"sip:127.0.0.1:{kamailio.open_port}", accept_seconds=10,
        relay_workers=1))
    server.set_mobile(ENGINEERS[0], MOBILES[ENGINEERS[0]])
    try:
        server.start()
        assert server.process is not None
        pid = server.process.pid
        ready = await asyncio.to_thread(server.wait_for, "a ready relay worker",
                                        lambda: healthz(server)["relay_workers"]["running"] == 1)
        assert ready
        [worker] = children(pid)
        await dial_and_press(caller, server, "2")
        await zhangwei.ctrl.wait_event_async("CALL_ESTABLISHED", 20)
        await asyncio.sleep(3.0)  # the whisper
        await asyncio.to_thread(zhangwei.send_dtmf, "1")
        await asyncio.sleep(BRIDGED_SECONDS / 2)
        scraped = metrics(server)  # a scrape must not take the pair back
        during = healthz(server)["relay_workers"]
        await asyncio.sleep(BRIDGED_SECONDS / 2)
        await asyncio.to_thread(zhangwei.hangup)
        await caller.ctrl.wait_event_async("CALL_CLOSED", 10)
        (call,) = server.ended_calls(1)
        after = healthz(server)["relay_workers"]
    finally:
        server.stop()
        stop_quietly(zhangwei)
    assert during == {"configured": 1, "running": 1, "lent_now": 1, "lent_total": 1, "lost": 0}
    assert (scraped["hotline_relay_workers_running"], scraped["hotline_relay_pairs_lent"],
            scraped["hotline_relay_lends_total"], scraped["hotline_relay_workers_lost_total"]) == (1, 1, 1, 0)
    assert scraped["hotline_rtp_streams"] == 2
    assert after["lent_now"] == 0 and after["lost"] == 0
    assert not os.path.exists(f"/proc/{worker}"), "stopping the server stops its worker"
    assert call["disposition"] == "answered" and call["talk_seconds"] >= BRIDGED_SECONDS - 1
    relay = json.loads(call["media_stats"])["relay"]
    # 50 packets a second each way; the worker carried all but the first two seconds.
    assert relay["from_caller"]["relayed"] >= 50 * (BRIDGED_SECONDS - 1), relay
    assert relay["from_callee"]["relayed"] >= 50 * (BRIDGED_SECONDS - 1), relay
    assert heard_seconds(caller, ZHANGWEI_HZ) > BRIDGED_SECONDS - 1
    assert heard_seconds(zhangwei, CALLER_HZ) > BRIDGED_SECONDS - 1
    assert heard_seconds(caller, CALLER_HZ) == 0.0 and heard_seconds(zhangwei, ZHANGWEI_HZ) == 0.0
    assert "Traceback" not in server.log() and "lost" not in server.log()
