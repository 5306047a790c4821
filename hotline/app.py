"""The aiohttp application: one process, one event loop, one lifecycle.

``init_app(config)`` builds the application; its cleanup contexts open the
store first and close it last, and start and stop everything else in
between (the SIP endpoint, media, workers) as those layers arrive. The CLI
only loads the configuration and runs this.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import aiohttp_jinja2
import jinja2
from aiohttp import web

from hotline import __version__
from hotline.calls.first_handler import FirstCallHandler
from hotline.config import Config
from hotline.console.recordings import recording_handler
from hotline.desk.service import Desk
from hotline.issues import IssueService
from hotline.jobs import Jobs
from hotline.media.engine import MediaEngine
from hotline.rota import Rota
from hotline.services import CalendarSetup, build_calendar, build_rota
from hotline.sip.endpoint import SipEndpoint
from hotline.store import Store

log = logging.getLogger(__name__)

__all__ = [
    "CALENDAR", "CONFIG", "DESK", "ISSUES", "MEDIA", "ROTA", "SIP", "STORE", "WEB_ROOT", "init_app",
    "reload_rota",
]

WEB_ROOT = Path(__file__).resolve().parent.parent / "web"
CONFIG = web.AppKey("config", Config)
STORE = web.AppKey("store", Store)
ISSUES = web.AppKey("issues", IssueService)
CALENDAR = web.AppKey("calendar", CalendarSetup)
ROTA = web.AppKey("rota", Rota)
SIP = web.AppKey("sip", SipEndpoint)
MEDIA = web.AppKey("media", MediaEngine)
DESK = web.AppKey("desk", Desk)


async def _store_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    store = Store(config.database.path, synchronous=config.database.synchronous)
    await store.open()
    app[STORE] = store
    app[ISSUES] = IssueService(store, config.site.timezone)
    log.info("database %s open", config.database.path)
    try:
        await reload_rota(app)
        app[CALENDAR] = build_calendar(config)
        for warning in app[CALENDAR].startup_warnings():
            log.warning("%s", warning)
        yield
    finally:
        await store.close()


async def reload_rota(app: web.Application) -> Rota:
    """(Re)build the on-call rota from the configuration and the overrides/swaps in the store.

    Call after an override or swap is stored: call routing and the desk read ``app[ROTA]`` at
    each decision, so they see the change at once.
    """
    config, store = app[CONFIG], app[STORE]
    # The rota must name people the database knows.
    people = {p.id for p in await store.people.all(active_only=True)}
    now = datetime.now(UTC)
    changes = await store.rota.between_all(now - timedelta(days=1), now + timedelta(days=400))
    rota = build_rota(config, people=people or None, changes=changes)
    app[ROTA] = rota
    return rota


async def _sip_ctx(app: web.Application) -> AsyncIterator[None]:
    """The RTP engine and the SIP endpoint, with the first call handler; calls hung up on stop."""
    config = app[CONFIG]
    bind = config.sip.listen[0].host if config.sip.listen else "0.0.0.0"
    media = MediaEngine.from_config(config.media, bind_host=bind)
    await media.start()
    handler = FirstCallHandler(config, app[STORE], app[ISSUES], media=media)
    endpoint = SipEndpoint(config.sip, on_call=handler, codecs=config.media.codecs)
    try:
        await endpoint.start()
        app[MEDIA] = media
        app[SIP] = endpoint
        yield
    finally:
        await endpoint.stop()
        await media.close()


async def _desk_ctx(app: web.Application) -> AsyncIterator[None]:
    """The service desk, its notification delivery worker and the periodic jobs."""
    config = app[CONFIG]
    # A callable, so that the desk sees the rota rebuilt by reload_rota().
    desk = Desk(app[STORE], app[CALENDAR], config.desk, rota=lambda: app[ROTA])
    app[DESK] = desk
    async with aiohttp.ClientSession() as session:
        worker = desk.delivery_worker(session)
        worker.start()
        jobs = Jobs(app[ISSUES], desk, config.site.timezone)
        jobs.start()
        try:
            yield
        finally:
            await jobs.stop()
            await worker.stop()


@aiohttp_jinja2.template("status.html")
async def status_page(request: web.Request) -> dict[str, object]:
    """A landing page without personal data; the operator console needs a login."""
    app = request.app
    store = app[STORE]
    return {
        "site": app[CONFIG].site.name,
        "version": __version__,
        "issues": await store.issues.count(),
        "new_issues": await store.issues.count("new"),
        "employees": await store.directory.count(),
        "warnings": app[CALENDAR].startup_warnings(),
    }


async def healthz(request: web.Request) -> web.Response:
    await request.app[STORE].db.fetch_value("SELECT 1")
    return web.json_response({"status": "ok", "version": __version__})


async def _tune_gc(app: web.Application) -> None:
    """Move start-up objects out of the collector's sight and make young collections rarer.

    Everything built at start (config, prompts, templates, modules) lives for the whole
    process; freezing it means collections no longer walk it. Per-call objects are freed by
    reference counting, so a larger young generation costs little memory while halving the
    SIP setup p99 under load (bench/sip.py --gc-tuned).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


def init_app(config: Config, *, tune_gc: bool = False) -> web.Application:
    app = web.Application()
    app[CONFIG] = config
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(WEB_ROOT / "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
    )
    app.cleanup_ctx.append(_store_ctx)
    app.cleanup_ctx.append(_desk_ctx)
    app.cleanup_ctx.append(_sip_ctx)
    if tune_gc:
        app.on_startup.append(_tune_gc)  # runs after the cleanup contexts have started
    app.router.add_get("/", status_page)
    app.router.add_get("/healthz", healthz)

    async def recording_of(call_id: int) -> str | None:
        record = await app[STORE].calls.get(call_id)
        return None if record is None else record.recording

    app.router.add_get(
        r"/recordings/{call_id:\d+}.wav",
        recording_handler(config.web.secret, config.media.recordings_dir, recording_of),
    )
    app.router.add_static("/static", WEB_ROOT / "static")
    return app
