"""The aiohttp application: one process, one event loop, one lifecycle.

``init_app(config)`` builds the application; its cleanup contexts open the
store first and close it last, and start and stop everything else in
between (the SIP endpoint, media, workers) as those layers arrive. The CLI
only loads the configuration and runs this.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from hotline import __version__
from hotline.config import Config
from hotline.issues import IssueService
from hotline.store import Store

log = logging.getLogger(__name__)

__all__ = ["CONFIG", "ISSUES", "STORE", "WEB_ROOT", "init_app"]

WEB_ROOT = Path(__file__).resolve().parent.parent / "web"
CONFIG = web.AppKey("config", Config)
STORE = web.AppKey("store", Store)
ISSUES = web.AppKey("issues", IssueService)


async def _store_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    store = Store(config.database.path, synchronous=config.database.synchronous)
    await store.open()
    app[STORE] = store
    app[ISSUES] = IssueService(store, config.site.timezone)
    log.info("database %s open", config.database.path)
    yield
    await store.close()


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
    }


async def healthz(request: web.Request) -> web.Response:
    await request.app[STORE].db.fetch_value("SELECT 1")
    return web.json_response({"status": "ok", "version": __version__})


def init_app(config: Config) -> web.Application:
    app = web.Application()
    app[CONFIG] = config
    aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(WEB_ROOT / "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
    )
    app.cleanup_ctx.append(_store_ctx)
    app.router.add_get("/", status_page)
    app.router.add_get("/healthz", healthz)
    app.router.add_static("/static", WEB_ROOT / "static")
    return app
