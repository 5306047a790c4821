"""Notification delivery against real peers on 127.0.0.1: an aiosmtpd SMTP sink and an aiohttp
webhook receiver. Retries when a peer is down or answers 500; a worker process killed
(SIGKILL) mid-delivery loses nothing, and only what was in flight is sent twice."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from email import message_from_bytes
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from aiohttp import web
from aiosmtpd.controller import Controller

from hotline.calendar import BusinessCalendar, load_calendar_dir
from hotline.desk.notify.channels import build_channels
from hotline.desk.notify.worker import DeliveryWorker
from hotline.desk.service import Desk
from hotline.desk.settings import ChannelSettings, DeskSettings
from hotline.store import Store
from hotline.store.records import Category, Person, Post, PostAssignment
from tests.ports import PORTS

pytestmark = pytest.mark.interop
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    return PORTS.one()


class MailSink:
    """aiosmtpd handler keeping the Message-ID and recipients of every mail."""

    def __init__(self) -> None:
        self.received: list[tuple[str, list[str], str]] = []

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
        msg = message_from_bytes(envelope.content)
        self.received.append((str(msg["Message-ID"]), list(envelope.rcpt_tos), str(msg["Subject"])))
        return "250 OK"


@dataclass
class Receiver:
    """The webhook peer: records each arrival, may fail the first N, may hold requests."""

    fail_first: int = 0
    hold: asyncio.Event | None = None
    arrivals: list[str] = field(default_factory=list)
    accepted: list[str] = field(default_factory=list)
    bodies: dict[str, Any] = field(default_factory=dict)

    async def handle(self, request: web.Request) -> web.Response:
        key = request.headers["Idempotency-Key"]
        self.arrivals.append(key)
        self.bodies[key] = await request.json()
        if self.hold is not None:
            await self.hold.wait()
        if len(self.arrivals) <= self.fail_first:
            return web.Response(status=500, text="busy")
        self.accepted.append(key)
        return web.json_response({"errcode": 0, "errmsg": "ok"})


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/hook", rec.handle)
    runner = web.AppRunner(app, shutdown_timeout=1)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    try:
        yield rec, f"http://127.0.0.1:{port}/hook"
    finally:
        if rec.hold is not None:
            rec.hold.set()
        await runner.cleanup()


async def seeded_desk(path: Path, calendar: BusinessCalendar, settings: DeskSettings) -> tuple[Store, Desk]:
    store = Store(path)
    await store.open()
    await store.people.upsert_people([Person("zhang", "张伟", mobile="+8613812345678",
                                             email="zhang@example.com")])
    await store.people.upsert_posts([Post("network", "网络")])
    await store.people.upsert_categories([Category("network", "网络故障", "network")])
    await store.people.set_assignments("network", [PostAssignment("network", "zhang", "A")])
    return store, Desk(store, calendar, settings)


async def dispatch_some(desk: Desk, n: int) -> None:
    now = datetime.now(UTC)
    for i in range(n):
        issue = await desk.ctx.store.issues.create(
            source="web", at=now, local_year=now.year, status="recorded", actor="op",
            fields={"category": "network", "priority": "P3", "description": f"第 {i} 台打印机离线"})
        await desk.dispatch(issue.id)


async def until(predicate: Callable[[], Any], timeout: float = 15.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


@pytest.fixture
def calendar() -> BusinessCalendar:
    office = ((time(8), time(12)), (time(13, 30), time(17, 30)))
    return BusinessCalendar(ZoneInfo("Asia/Shanghai"), {wd: office for wd in range(5)},
                            load_calendar_dir(ROOT / "config" / "calendar"))


async def test_retries_until_peers_accept(tmp_path: Path, calendar: BusinessCalendar,
                                          receiver: tuple[Receiver, str]) -> None:
    rec, url = receiver
    rec.fail_first = 2  # the webhook answers 500 twice
    smtp_port = free_port()  # and the mail server is down at first
    settings = DeskSettings(channels=(
        ChannelSettings("robot", "webhook", url=url, template="wecom.json.j2", timeout=5),
        ChannelSettings("mail", "smtp", host="127.0.0.1", port=smtp_port, sender="desk@example.com",
                        timeout=5)),
        backoff_base=0.05, backoff_cap=0.2, lease_seconds=10)
    store, desk = await seeded_desk(tmp_path / "h.sqlite3", calendar, settings)
    sink = MailSink()
    controller = Controller(sink, hostname="127.0.0.1", port=smtp_port)
    started = False
    try:
        await dispatch_some(desk, 3)
        async with aiohttp.ClientSession() as session:
            worker = desk.delivery_worker(session, idle_seconds=0.05)
            worker.start()
            try:
                async def mail_retried() -> bool:
                    rows = await desk.ctx.desk.outbox.all()
                    return all(r.attempts >= 2 for r in rows if r.channel == "mail")
                await until(mail_retried)
                controller.start()
                started = True

                async def all_sent() -> bool:
                    return (await desk.ctx.desk.outbox.counts()) == {"sent": 6}
                await until(all_sent)
            finally:
                await worker.stop()
        rows = await desk.ctx.desk.outbox.all()
    finally:
        if started:
            controller.stop()
        await store.close()
    robot = [r for r in rows if r.channel == "robot"]
    assert sorted(rec.accepted) == sorted(f"hotline-outbox-{r.id}" for r in robot)
    assert len(rec.arrivals) == 5 and sum(r.attempts for r in robot) == 5  # 2 refused + 3 accepted
    assert sorted(m[0] for m in sink.received) == sorted(
        f"<hotline-outbox-{r.id}@hotline>" for r in rows if r.channel == "mail")
    assert {tuple(m[1]) for m in sink.received} == {("zhang@example.com",)}
    body = rec.bodies[rec.accepted[0]]
    assert body["msgtype"] == "text" and "dispatched to you" in body["text"]["content"]
    assert all(r.last_error is None and r.sent_at is not None for r in rows)


WORKER_SCRIPT = """
import asyncio, sys
from pathlib import Path
import aiohttp
from hotline.store import Store
from hotline.desk.notify.channels import build_channels
from hotline.desk.notify.worker import DeliveryWorker
from hotline.desk.settings import ChannelSettings, DeskSettings
from hotline.store.desk.outbox import OutboxStore

async def main():
    store = Store(Path(sys.argv[1]))
    await store.open()
    settings = DeskSettings(channels=(ChannelSettings("robot", "webhook", url=sys.argv[2],
                                                      template="wecom.json.j2", timeout=30),),
                            lease_seconds=float(sys.argv[3]))
    async with aiohttp.ClientSession() as session:
        worker = DeliveryWorker(OutboxStore(store.db), build_channels(settings.channels, session),
                                settings, worker_id="doomed", batch=2)
        await worker.run_once()

asyncio.run(main())
"""


async def test_worker_killed_mid_delivery_loses_nothing(
    tmp_path: Path, calendar: BusinessCalendar, receiver: tuple[Receiver, str],
) -> None:
    rec, url = receiver
    rec.hold = asyncio.Event()  # requests hang: the worker is killed while waiting for answers
    lease = 2.0
    settings = DeskSettings(channels=(ChannelSettings("robot", "webhook", url=url, template="wecom.json.j2",
                                                      timeout=5),), lease_seconds=lease)
    db = tmp_path / "h.sqlite3"
    store, desk = await seeded_desk(db, calendar, settings)
    try:
        await dispatch_some(desk, 5)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-c", WORKER_SCRIPT, str(db), url, str(lease), cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)})
        try:
            async def two_in_flight() -> bool:
                return len(rec.arrivals) >= 2
            await until(two_in_flight, timeout=30)
        finally:
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
        in_flight = set(rec.arrivals)
        assert len(in_flight) == 2
        rows = await desk.ctx.desk.outbox.all()
        assert [(r.state, r.lease_owner, r.attempts) for r in rows] == (
            [("pending", "doomed", 1)] * 2 + [("pending", None, 0)] * 3)
        rec.hold.set()  # the peer answers again (the killed worker will never read it)
        rec.hold = None

        async with aiohttp.ClientSession() as session:
            worker = DeliveryWorker(desk.ctx.desk.outbox, build_channels(settings.channels, session),
                                    settings, worker_id="phoenix", idle_seconds=0.05)
            worker.start()
            try:
                async def all_sent() -> bool:
                    return (await desk.ctx.desk.outbox.counts()) == {"sent": 5}
                await until(all_sent, timeout=lease + 10)
            finally:
                await worker.stop()
        rows = await desk.ctx.desk.outbox.all()
    finally:
        await store.close()
    keys = [f"hotline-outbox-{r.id}" for r in rows]
    assert set(rec.arrivals) == set(keys)  # none lost
    twice = {k for k in keys if rec.arrivals.count(k) == 2}
    assert twice == in_flight  # only what was in flight at the kill was sent again …
    assert all(rec.arrivals.count(k) <= 2 for k in keys)  # … and only once more
    assert [r.attempts for r in rows] == [2, 2, 1, 1, 1]
    assert json.dumps(rec.bodies[keys[0]], ensure_ascii=False).count("第 0 台打印机离线") == 1
