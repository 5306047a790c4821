"""The live calls panel: the page ``/live`` and its WebSocket ``/live/ws`` (operators, managers, admins).

Theory of operation. One :class:`LiveHub` per server, opened by :func:`live_ctx`, holds the
one subscription to the event bus and one fan-out task: each event is enriched for the screen
pop (:class:`~hotline.console.screenpop.ScreenPop`), then numbered, kept and queued to every
socket by the sans-IO :class:`~hotline.console.livefeed.LiveFeed`. Queuing never waits; each
socket has its own writer task draining its own bounded queue, so a slow browser never delays
the others or a call. A queue that overflows gets its socket closed (code 4001, with a reason);
the browser reconnects and resumes.

``/live/issues/<id>`` gives the screen pop's form the version of the issue it completes
(JSON: the record page's forms carry it as their optimistic lock).

A socket (``/live/ws?since=<seq>&epoch=<epoch>``, both optional) is opened for a logged-in
user with one of :data:`ROLES` (401 without a session, 403 without the role or from another
origin: checked on the upgrade request itself). It starts with a ``snapshot`` of the calls in
progress (the board, reconciled with the database just before), or — when ``since`` and
``epoch`` name messages the ring still holds — with a ``resume`` header and exactly the
messages missed. An idle socket gets a ``tick`` every :data:`TICK` seconds (the browser's
watchdog and gap check), and aiohttp pings it (:data:`HEARTBEAT`). The socket keeps its session
alive and checks it: every :data:`SESSION_CHECK` seconds the session is resolved again (which
renews it); a logged-out or expired session closes the socket with 4401, a role taken away
with 4403. On shutdown every socket is closed with 1001 (going away).

The message format is in ``docs/live-calls.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from urllib.parse import urlsplit

from aiohttp import WSCloseCode, WSMsgType, web

from hotline.config import PRIORITIES
from hotline.console.livefeed import LiveFeed, SendQueue
from hotline.console.render import page
from hotline.console.screenpop import ScreenPop
from hotline.console.security import SESSIONS, USER, requires
from hotline.console.sessions import COOKIE, User
from hotline.events import EventBus, Subscription
from hotline.keys import BUS, CLOCK, CONFIG, STORE

__all__ = ["LIVE", "ROLES", "LiveClient", "LiveHub", "issue_version", "live_ctx", "live_page", "live_socket",
           "setup_live"]

log = logging.getLogger(__name__)

ROLES = ("operator", "manager", "admin")
BUS_QUEUE = 1000
"""Events the hub's bus subscription holds while it enriches (more are lost, then reconciled)."""
RECONCILE_EVERY = 30.0
"""Seconds between reconciliations of the board with the database."""
RECONCILE_ON_CONNECT = 1.0
"""A connecting socket reuses a reconciliation younger than this (a burst of reconnects)."""
HEARTBEAT = 20.0
"""aiohttp's ping interval; a peer that does not answer within half of it is closed."""
TICK = 20.0
"""Seconds of silence after which a socket gets a ``tick``."""
SESSION_CHECK = 60.0
"""Seconds between checks (and renewals) of a socket's session."""
CLOSE_TIMEOUT = 5.0
"""How long a closing handshake may take before the connection is cut."""
MAX_SOCKETS = 500
SHUTDOWN_WAIT = 3.0

CLOSE_OVERRUN = 4001
"""The socket's send queue overflowed: reconnect and resume."""
CLOSE_SESSION = 4401
"""The session ended (logout, expiry, password change): log in again."""
CLOSE_ROLE = 4403
"""The user no longer has a role that may see live calls."""


class LiveClient:
    """One connected browser: its send queue, the event that wakes its writer, why it must go."""

    def __init__(self, user: User) -> None:
        self.user = user
        self.ready = asyncio.Event()
        self.queue = SendQueue(on_ready=self.ready.set)
        self.kicked = asyncio.Event()
        self.close_code = int(WSCloseCode.OK)
        self.close_reason = ""
        self.sending = False
        """The writer is inside a send (the browser may not be reading)."""

    def kick(self, code: int, reason: str) -> None:
        """Ask for this socket to be closed with ``code`` and ``reason`` (the first ask wins)."""
        if not self.kicked.is_set():
            self.close_code, self.close_reason = code, reason
            self.kicked.set()


class LiveHub:
    """The bus subscription, the fan-out task and the connected sockets (see the module doc)."""

    def __init__(self, bus: EventBus, pop: ScreenPop, clock: Callable[[], datetime]) -> None:
        self.bus = bus
        self.pop = pop
        self.clock = clock
        self.feed = LiveFeed(secrets.token_urlsafe(8))
        self.clients: dict[SendQueue, LiveClient] = {}
        self._reconciling = asyncio.Lock()
        self._reconciled_at = -1e9
        self._subscription: Subscription | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.gone = asyncio.Event()
        """Set whenever the last socket leaves."""

    # -- life cycle --------------------------------------------------------------------------

    async def start(self) -> None:
        # Subscribe first: whatever happens during the first reading is then not lost.
        self._subscription = self.bus.subscribe(BUS_QUEUE)
        await self.reconcile(grace=0.0)
        self._tasks = [asyncio.ensure_future(self._fan_out(self._subscription)),
                       asyncio.ensure_future(self._reconcile_now_and_then())]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        if self._subscription is not None:
            self._subscription.close()
            self._subscription = None

    async def close_all(self, code: int, reason: str, wait: float = SHUTDOWN_WAIT) -> None:
        """Close every socket (server shutdown); waits for them at most ``wait`` seconds."""
        for client in list(self.clients.values()):
            client.kick(code, reason)
        if self.clients:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.gone.wait(), wait)

    # -- events ----------------------------------------------------------------------------

    async def _fan_out(self, subscription: Subscription) -> None:
        dropped = 0
        async for event in subscription:
            try:
                message = await self.pop.message(event)
            except Exception:  # a database hiccup costs the screen pop, never the event
                log.exception("live: could not enrich %s of call %d", event.kind, event.call)
                message = event.as_dict()
            try:
                self._kick_overrun(self.feed.publish(message))
            except Exception:  # a bug of ours: lose this event, keep the panel alive
                log.exception("live: could not publish %s of call %d", event.kind, event.call)
            # Let the writers run between events: a burst must not fill every queue at once.
            await asyncio.sleep(0)
            if subscription.dropped != dropped:
                log.warning("live: %d call events lost by the panel's subscription; reconciling",
                            subscription.dropped - dropped)
                dropped = subscription.dropped
                await self.reconcile_quietly()

    async def _reconcile_now_and_then(self) -> None:
        while True:
            await asyncio.sleep(RECONCILE_EVERY)
            await self.reconcile_quietly()

    async def reconcile_quietly(self, *, max_age: float = 0.0) -> None:
        """:meth:`reconcile`, logging a failure (the board stays as the events made it)."""
        try:
            await self.reconcile(max_age=max_age)
        except Exception:
            log.exception("live: could not read the calls in progress")

    async def reconcile(self, *, max_age: float = 0.0, grace: float = 5.0) -> None:
        """Merge the database's calls in progress into the board (one reading at a time; one
        younger than ``max_age`` seconds is reused)."""
        async with self._reconciling:
            if time.monotonic() - self._reconciled_at < max_age:
                return
            read_seq = self.feed.seq
            views = await self.pop.open_calls(self.clock(), known=set(self.feed.board.calls))
            self._kick_overrun(self.feed.reconcile(views, read_seq, self.clock(), grace=grace))
            self._reconciled_at = time.monotonic()

    def _kick_overrun(self, queues: list[SendQueue]) -> None:
        for queue in queues:
            client = self.clients.get(queue)
            if client is not None:
                log.warning("live: %s's browser is not keeping up; closing its socket", client.user.id)
                client.kick(CLOSE_OVERRUN, "too far behind (send queue full): reconnect and resume")

    # -- sockets -----------------------------------------------------------------------------

    def attach(self, client: LiveClient, *, since: int | None, epoch: str | None) -> str:
        self.clients[client.queue] = client
        self.gone.clear()
        return self.feed.open(client.queue, since=since, epoch=epoch, at=self.clock().isoformat())

    def detach(self, client: LiveClient) -> None:
        self.feed.close(client.queue)
        self.clients.pop(client.queue, None)
        if not self.clients:
            self.gone.set()


LIVE = web.AppKey("live", LiveHub)


async def live_ctx(app: web.Application) -> AsyncIterator[None]:
    """The hub: needs the open store and the bus; stopped after the sockets are closed."""
    hub = LiveHub(app[BUS], ScreenPop(app[STORE]), app[CLOCK])
    await hub.start()
    app[LIVE] = hub
    try:
        yield
    finally:
        await hub.stop()


async def _close_sockets(app: web.Application) -> None:
    if LIVE in app:
        await app[LIVE].close_all(int(WSCloseCode.GOING_AWAY), "server shutting down")


def setup_live(app: web.Application) -> None:
    """The routes, and closing the sockets on shutdown (add :func:`live_ctx` to the cleanup
    contexts after the store's)."""
    app.router.add_get("/live", live_page)
    app.router.add_get("/live/ws", live_socket)
    app.router.add_get(r"/live/issues/{issue_id:\d{1,18}}", issue_version)
    app.on_shutdown.append(_close_sockets)


# -- views -------------------------------------------------------------------------------------


@requires(*ROLES)
async def live_page(request: web.Request) -> web.Response:
    app = request.app
    categories = await app[STORE].people.categories()
    config = app[CONFIG]
    return page(request, "live.html", {"categories": categories, "priorities": PRIORITIES,
                                       "default_priority": config.desk.default_priority,
                                       "timezone": config.site.timezone.key})


@requires(*ROLES)
async def issue_version(request: web.Request) -> web.Response:
    """The version of an issue the screen pop's form completes (JSON): the record page's forms
    carry it (``v_status``, ``v_updated``: the optimistic lock), and the IVR may have changed the
    issue since the call arrived."""
    issue = await request.app[STORE].issues.get(int(request.match_info["issue_id"]))
    if issue is None:
        raise web.HTTPNotFound(text="no such issue")
    return web.json_response({"id": issue.id, "number": issue.number, "status": issue.status,
                              "updated_at": issue.updated_at.isoformat(), "category": issue.category,
                              "priority": issue.priority})


def _same_origin(request: web.Request) -> bool:
    """A browser always says where a WebSocket comes from; another site may not open ours
    (the session cookie is SameSite=Strict, but a sibling host is the same *site*)."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True  # not a browser: it cannot carry someone else's cookie
    # Behind a reverse proxy that rewrites Host, the host the browser used is X-Forwarded-Host
    # (a page cannot set that header on a WebSocket, so it cannot help another site).
    hosts = {request.host.lower(), request.headers.get("X-Forwarded-Host", "").split(",")[0].strip().lower()}
    return urlsplit(origin).netloc.lower() in hosts - {""}


def _resume_point(request: web.Request) -> tuple[int | None, str | None]:
    since, epoch = request.query.get("since"), request.query.get("epoch")
    if since is None or not since.isdigit() or len(since) > 18:
        return None, None
    return int(since), (epoch[:64] if epoch else None)


async def live_socket(request: web.Request) -> web.StreamResponse:
    """The WebSocket (see the module doc); the checks are made before the upgrade."""
    user = request.get(USER)
    if user is None:
        raise web.HTTPUnauthorized(text="log in first")
    if not user.has(*ROLES):
        raise web.HTTPForbidden(text="your role does not allow this")
    if not _same_origin(request):
        raise web.HTTPForbidden(text="a WebSocket from another origin")
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT, max_msg_size=4096)
    if not ws.can_prepare(request).ok:
        raise web.HTTPUpgradeRequired(text="this is a WebSocket", headers={"Upgrade": "websocket"})
    hub = request.app[LIVE]
    if len(hub.clients) >= MAX_SOCKETS:
        raise web.HTTPServiceUnavailable(text="too many live panels open", headers={"Retry-After": "10"})
    since, epoch = _resume_point(request)
    await hub.reconcile_quietly(max_age=RECONCILE_ON_CONNECT)  # the snapshot is then the database's
    await ws.prepare(request)
    client = LiveClient(user)
    how = hub.attach(client, since=since, epoch=epoch)
    log.info("live: %s connected at seq %d, %s (%d sockets)", user.id, hub.feed.seq,
             "resuming" if how == "resume" else f"snapshot ({how})", len(hub.clients))
    writer = asyncio.ensure_future(_write(ws, client, hub))
    tasks = [writer, asyncio.ensure_future(_keep_session(request, client)),
             asyncio.ensure_future(_close_when_kicked(ws, request, client, writer))]
    try:
        async for message in ws:
            if message.type == WSMsgType.ERROR:
                break
            # The browser has nothing to say: where to resume is in the URL.
    finally:
        hub.detach(client)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        log.info("live: %s disconnected (%s)", user.id, client.close_reason or f"code {ws.close_code}")
    return ws


async def _write(ws: web.WebSocketResponse, client: LiveClient, hub: LiveHub) -> None:
    """Drain the client's queue into its socket; a ``tick`` after :data:`TICK` idle seconds."""
    try:
        while True:
            try:
                await asyncio.wait_for(client.ready.wait(), TICK)
            except TimeoutError:
                if not client.queue:
                    client.sending = True
                    await ws.send_str(hub.feed.tick(hub.clock().isoformat()))
                    client.sending = False
                continue
            client.ready.clear()
            for text in client.queue.take():
                client.sending = True
                await ws.send_str(text)
                client.sending = False
    except (ConnectionError, RuntimeError) as exc:  # the socket went away under us
        client.kick(int(WSCloseCode.GOING_AWAY), f"send failed: {exc}")


async def _keep_session(request: web.Request, client: LiveClient) -> None:
    """Renew the session while the socket is open; close the socket when it ends."""
    sessions, cookie = request.app[SESSIONS], request.cookies.get(COOKIE)
    while True:
        await asyncio.sleep(SESSION_CHECK)
        try:
            user = await sessions.resolve(cookie)
        except Exception:
            log.exception("live: could not check %s's session", client.user.id)
            continue
        if user is None:
            client.kick(CLOSE_SESSION, "session ended: log in again")
            return
        if not user.has(*ROLES):
            client.kick(CLOSE_ROLE, "your role no longer allows live calls")
            return


async def _close_when_kicked(ws: web.WebSocketResponse, request: web.Request, client: LiveClient,
                             writer: asyncio.Task[None]) -> None:
    """Close the socket once the client is kicked: with a close frame and its reason when the
    browser reads, by cutting the connection when it does not (a writer stuck in a send)."""
    await client.kicked.wait()
    writer.cancel()
    await asyncio.wait([writer])
    if not client.sending:
        reason = client.close_reason.encode()[:120]  # a close frame holds 123 bytes
        try:
            await asyncio.wait_for(ws.close(code=client.close_code, message=reason), CLOSE_TIMEOUT)
            return
        except (TimeoutError, ConnectionError):
            pass
    # aiohttp's senders share one drain waiter, which the cancelled writer took with it: a
    # close frame could not be sent now, and a browser that reads nothing would not take it.
    transport = request.transport
    if transport is not None:
        transport.abort()
