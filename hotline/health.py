"""``/healthz``: can this server take calls and keep its promises right now?

One JSON document for load balancers, monitoring and the operator on call. Each check says
``ok`` and what it saw; the status is ``200`` when every check passes, else ``503`` with
``"status": "unhealthy"`` and ``"failed"`` naming the checks that did not. The checks:

* ``database`` — a round trip through the store, bounded in time (a stuck disk fails it);
* ``sip`` — a transport open for every ``sip.listen`` entry;
* ``registration`` — in register mode, our binding at the PBX is accepted (trunk mode: n/a);
* ``flows`` — valid IVR flows are loaded; a refused SIGHUP reload is reported, not failed, since
  calls go on with the flows loaded before;
* ``outbox`` — the notification backlog, the rows retrying and the delivery failures given up;
  it fails when a row has waited past its due time for longer than :data:`OUTBOX_STALL` (the
  delivery worker is stuck), not because a channel refuses (that is what retries are for);
* ``calendar`` — this year's public holidays are known; next year's missing is a warning.

Besides the checks, the document names the event loop the server runs on (``"loop": "uvloop"``
or ``"asyncio"``, see ``hotline serve --loop``), and with ``[media] relay_workers`` set, what the
relay workers do (``"relay_workers"``: running, pairs lent now and in all, workers lost).

What is cheap stays cheap: one ping and two indexed queries per request.
"""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

from aiohttp import web

from hotline import __version__
from hotline.event_loop import loop_name
from hotline.keys import CALENDAR, CALLS, CLOCK, CONFIG, FLOWS, MEDIA, SIP, STORE
from hotline.media.relay import RelayWorkers
from hotline.sip.registration import Registered, RegistrationFailed

__all__ = ["CHECK_SECONDS", "OUTBOX_STALL", "check_health", "healthz"]

CHECK_SECONDS = 3.0
"""A check that takes longer has failed (a health probe must answer even when the disk hangs)."""

OUTBOX_STALL = timedelta(minutes=10)
"""A pending notification overdue by more than this means its delivery is stuck."""

Check = dict[str, Any]


async def _database(app: web.Application) -> Check:
    started = time.perf_counter()
    await app[STORE].ping()
    return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 2)}


async def _sip(app: web.Application) -> Check:
    wanted = [f"{listen.transport}:{listen.host}:{listen.port}" for listen in app[CONFIG].sip.listen]
    if SIP not in app:
        return {"ok": False, "wanted": wanted, "listening": [], "error": "the SIP endpoint is not running"}
    listening = [f"{t.name.lower()}:{t.local_address[0]}:{t.local_address[1]}" for t in app[SIP].transports]
    return {"ok": bool(wanted) and len(listening) == len(wanted), "wanted": wanted, "listening": listening}


async def _registration(app: web.Application) -> Check:
    config = app[CONFIG].sip
    if config.mode != "register":
        return {"ok": True, "mode": config.mode}
    registrar = config.register.registrar if config.register else None
    status = app[SIP].registration_status if SIP in app else None
    if isinstance(status, Registered):
        return {"ok": True, "mode": "register", "registrar": registrar, "state": "registered",
                "expires": status.expires}
    if isinstance(status, RegistrationFailed):
        return {"ok": False, "mode": "register", "registrar": registrar, "state": "failed",
                "status": status.status, "reason": status.reason}
    return {"ok": False, "mode": "register", "registrar": registrar,
            "state": "pending" if status is None else "unregistered"}


async def _flows(app: web.Application) -> Check:
    if FLOWS not in app:
        return {"ok": False, "error": "no IVR flows loaded"}
    registry = app[FLOWS]
    check: Check = {"ok": True, "flows": sorted(registry.flows.flows), "reloads": registry.reloads}
    if registry.refused:
        check["last_reload"] = "refused"
        check["reload_problems"] = [str(p) for p in registry.refused]
    return check


async def _outbox(app: web.Application) -> Check:
    figures = await app[STORE].ops.outbox()
    now = app[CLOCK]()
    overdue = 0.0 if figures.oldest_due is None else max(0.0, (now - figures.oldest_due).total_seconds())
    return {"ok": overdue <= OUTBOX_STALL.total_seconds(), "backlog": figures.backlog,
            "retrying": figures.retrying, "dead": figures.dead, "overdue_seconds": round(overdue, 1)}


async def _calendar(app: web.Application) -> Check:
    calendar = app[CALENDAR]
    now = app[CLOCK]()
    missing_now = calendar.warnings_for(now)
    check: Check = {"ok": not missing_now, "covered": list(calendar.covered_years)}
    warning = missing_now[0] if missing_now else calendar.coverage_warning(now)
    if warning:
        check["warning"] = warning
    return check


CHECKS = {"database": _database, "sip": _sip, "registration": _registration, "flows": _flows,
          "outbox": _outbox, "calendar": _calendar}


async def _run(name: str, app: web.Application) -> Check:
    try:
        return await asyncio.wait_for(CHECKS[name](app), CHECK_SECONDS)
    except TimeoutError:
        return {"ok": False, "error": f"no answer within {CHECK_SECONDS:g} s"}
    except Exception as exc:  # a failing check is the answer, not a 500
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}


async def check_health(app: web.Application) -> dict[str, Any]:
    """The health document (see the module doc); ``failed`` lists the checks that did not pass."""
    names = list(CHECKS)
    results = await asyncio.gather(*(_run(name, app) for name in names))
    checks = dict(zip(names, results, strict=True))
    failed = [name for name, check in checks.items() if not check["ok"]]
    clock = app[CLOCK]
    body: dict[str, Any] = {
        "status": "unhealthy" if failed else "ok", "failed": failed, "version": __version__,
        "clock": clock().isoformat(timespec="seconds"), "clock_shifted": clock.shifted,
        "loop": loop_name(asyncio.get_running_loop()),
    }
    if CALLS in app:
        controller = app[CALLS]
        body["calls"] = {"active": controller.active, "refused": controller.refused}
    relay = app[MEDIA].relay if MEDIA in app else None
    if isinstance(relay, RelayWorkers):
        body["relay_workers"] = relay.status()
    body["checks"] = checks
    return body


async def healthz(request: web.Request) -> web.Response:
    body = await check_health(request.app)
    return web.json_response(body, status=503 if body["failed"] else 200)
