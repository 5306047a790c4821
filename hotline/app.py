"""The aiohttp application: one process, one event loop, one lifecycle.

``init_app(config)`` builds the application; its cleanup contexts open the
store first and close it last, and start and stop everything else in
between (the SIP endpoint, media, workers) as those layers arrive. The CLI
only loads the configuration and runs this.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import aiohttp_jinja2
import jinja2
from aiohttp import web

from hotline import __version__, relay_worker
from hotline.api.webhooks import WebhookRelay, webhook_channels
from hotline.calls.callback_dial import CallbackDialer
from hotline.calls.controller import CallController, CallServices
from hotline.calls.registry import FlowRegistry
from hotline.calls.routing import Router
from hotline.calls.speech import PromptLibrary, Speech, Synthesizer
from hotline.calls.survey import SurveyCaller
from hotline.clock import WallClock
from hotline.config import Config
from hotline.console.recordings import recording_handler
from hotline.console.security import USER
from hotline.console.setup import setup_console
from hotline.console.views import home
from hotline.desk.oncall import OnCallService
from hotline.desk.service import Desk
from hotline.event_loop import loop_name
from hotline.events import EventBus
from hotline.gc_tuning import tune_for_serving
from hotline.health import healthz
from hotline.incidents import IncidentService
from hotline.issues import IssueService
from hotline.jobs import Jobs
from hotline.keys import (
    BUS,
    CALENDAR,
    CALLBACKS,
    CALLS,
    CLOCK,
    CONFIG,
    DESK,
    FLOWS,
    INCIDENTS,
    ISSUES,
    MEDIA,
    ROTA,
    SIP,
    STORE,
)
from hotline.media.engine import MediaEngine
from hotline.media.relay import RelayWorkers
from hotline.metrics import setup_metrics
from hotline.rota import Rota
from hotline.services import build_calendar, build_rota
from hotline.sip.endpoint import SipEndpoint
from hotline.store import Store
from hotline.working_hours import apply_stored as apply_stored_hours

MAX_REQUEST_BYTES = 32 * 1024 * 1024
"""The largest request body the web server reads (directory uploads are the largest)."""

log = logging.getLogger(__name__)

__all__ = [
    "BUS", "CALENDAR", "CALLS", "CLOCK", "CONFIG", "DESK", "FLOWS", "ISSUES", "MEDIA", "ROTA", "SIP",
    "STORE", "WEB_ROOT", "init_app", "reload_flows", "reload_rota",
]

WEB_ROOT = Path(__file__).resolve().parent.parent / "web"


async def _store_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    clock = app[CLOCK]
    store = Store(config.database.path, synchronous=config.database.synchronous)
    await store.open()
    app[STORE] = store
    app[ISSUES] = IssueService(store, config.site.timezone, clock=clock)
    log.info("database %s open", config.database.path)
    try:
        interrupted = await store.calls.close_interrupted(clock())
        if interrupted:
            log.warning("%d call(s) left open by the last run closed as interrupted: %s",
                        len(interrupted), ", ".join(f"#{i}" for i in interrupted))
        await reload_rota(app)
        app[CALENDAR] = build_calendar(config)
        await apply_stored_hours(app[CALENDAR], store.settings)
        for warning in _warnings(app):
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
    now = app[CLOCK]()
    changes = await store.rota.around(now)
    rota = build_rota(config, people=people or None, changes=changes)
    app[ROTA] = rota
    return rota


async def reload_flows(app: web.Application) -> list[str]:
    """Reload the IVR flows (SIGHUP); problems keep the flows in use. Returns the problems."""
    return [str(p) for p in await app[FLOWS].reload()]


async def _calls_ctx(app: web.Application) -> AsyncIterator[None]:
    """The IVR flows, the RTP engine and the SIP endpoint with call control; calls hung up on stop."""
    config = app[CONFIG]
    library = PromptLibrary(config.media.prompts_dir)
    flows = FlowRegistry(config, app[STORE], library)
    await flows.load()  # FlowError: the server does not start with an invalid flow
    app[FLOWS] = flows
    bind = config.sip.listen[0].host if config.sip.listen else "0.0.0.0"
    media = MediaEngine.from_config(config.media, bind_host=bind)
    if config.media.relay_workers:
        media.relay = RelayWorkers(config.media.relay_workers,
                                   relay_worker.command(loop_name(asyncio.get_running_loop())))
    await media.start()
    desk = app[DESK]
    on_call = OnCallService(desk.ctx)
    router = Router(config.routing, app[STORE], rota=lambda: app[ROTA], away=on_call.away,
                    managers={r.name: r.manager for r in config.rotas},
                    # A redirect or REFER hands the number to the caller's PBX, which can dial it.
                    can_dial_numbers=config.sip.outbound.proxy is not None or config.routing.mode != "bridge")
    categories = await app[STORE].people.categories()
    speech = Speech(library, Synthesizer(),
                    categories=[(c.id, c.name, c.name_en, c.dtmf) for c in categories])
    services = CallServices(
        config=config, store=app[STORE], issues=app[ISSUES], desk=desk, engine=media, bus=app[BUS],
        clock=app[CLOCK], calendar=app[CALENDAR], router=router, library=library, speech=speech,
        incidents=app[INCIDENTS],
    )
    controller = CallController(services, flows)
    app[CALLS] = controller
    endpoint = SipEndpoint(config.sip, on_call=controller, codecs=config.media.codecs)
    services.endpoint = endpoint
    hup = _install_sighup(app)
    surveys: SurveyCaller | None = None
    try:
        await endpoint.start()
        app[MEDIA] = media
        app[SIP] = endpoint
        app[CALLBACKS] = CallbackDialer(config=config, store=app[STORE], issues=app[ISSUES],
                                        endpoint=endpoint, engine=media, bus=app[BUS], clock=app[CLOCK])
        # The automated callback survey ([callback.survey]; off by default).
        surveys = SurveyCaller(config=config, store=app[STORE], issues=app[ISSUES], desk=desk,
                               calendar=app[CALENDAR], endpoint=endpoint, engine=media, bus=app[BUS],
                               clock=app[CLOCK], speech=speech, prompts=services.prompts)
        await surveys.start()
        yield
    finally:
        if hup:
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
        if surveys is not None:
            await surveys.stop()
        if CALLBACKS in app:
            await app[CALLBACKS].stop()
        await endpoint.stop()
        await media.close()


def _install_sighup(app: web.Application) -> bool:
    """SIGHUP reloads the flows (and the rota's overrides); False where signals are unavailable."""
    loop = asyncio.get_running_loop()
    pending: set[asyncio.Task[object]] = set()

    def on_hup() -> None:
        async def reload() -> None:
            log.info("SIGHUP: reloading the IVR flows")
            await reload_flows(app)
            await reload_rota(app)

        task = loop.create_task(reload())
        pending.add(task)
        task.add_done_callback(pending.discard)

    try:
        loop.add_signal_handler(signal.SIGHUP, on_hup)
    except (NotImplementedError, RuntimeError, AttributeError):
        return False
    return True


async def _desk_ctx(app: web.Application) -> AsyncIterator[None]:
    """The service desk, its notification delivery worker and the periodic jobs."""
    config = app[CONFIG]
    # A callable, so that the desk sees the rota rebuilt by reload_rota().
    desk = Desk(app[STORE], app[CALENDAR], config.desk, clock=app[CLOCK], rota=lambda: app[ROTA])
    app[DESK] = desk
    app[INCIDENTS] = IncidentService(app[STORE], app[ISSUES], config.site.timezone, clock=app[CLOCK],
                                     desk=desk)
    async with aiohttp.ClientSession() as session:
        worker = desk.delivery_worker(session, extra_channels=webhook_channels(config.api.webhooks, session))
        worker.start()
        jobs = Jobs(app[ISSUES], desk, config.site.timezone, clock=app[CLOCK])
        jobs.start()
        # Issue events to the API's webhooks ([[api.webhook]]), through the same outbox.
        relay = WebhookRelay(app[STORE], config.api.webhooks, clock=app[CLOCK], wake=worker.wake,
                             every=config.api.relay_seconds)
        relay.start()
        try:
            yield
        finally:
            await relay.stop()
            await jobs.stop()
            await worker.stop()


async def landing(request: web.Request) -> web.StreamResponse:
    """The console's home for a logged-in user; otherwise the status page and a way to log in."""
    if request.get(USER) is not None:
        return await home.home(request)
    return await status_page(request)


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
        "warnings": _warnings(app),
    }


def _warnings(app: web.Application) -> list[str]:
    """What an operator must see at once: a shifted clock, a missing calendar year."""
    clock = app[CLOCK]
    shifted = clock.warning()
    return ([shifted] if shifted else []) + app[CALENDAR].startup_warnings(clock())


async def _tune_gc(app: web.Application) -> None:
    """Once started: the collector as a server wants it (`hotline.gc_tuning`)."""
    tune_for_serving()


def init_app(config: Config, *, tune_gc: bool = False, clock: WallClock | None = None) -> web.Application:
    """The application; ``clock`` shifts the wall clock (``--clock``) for rehearsals and tests."""
    # aiohttp's default 1 MiB would refuse a directory CSV of some 10,000 employees (and the
    # CSRF check reads the form before any view): uploads get 32 MiB, enough for a large plant.
    app = web.Application(client_max_size=MAX_REQUEST_BYTES)
    app[CONFIG] = config
    app[CLOCK] = clock or WallClock()
    app[BUS] = EventBus()
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(WEB_ROOT / "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
    )
    app.cleanup_ctx.append(_store_ctx)
    setup_metrics(app)  # counts call events from the start: right after the store
    app.cleanup_ctx.append(_desk_ctx)
    app.cleanup_ctx.append(_calls_ctx)
    if tune_gc:
        app.on_startup.append(_tune_gc)  # runs after the cleanup contexts have started
    setup_console(app, WEB_ROOT)
    app.router.add_get("/", landing)
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
