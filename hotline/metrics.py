"""``/metrics``: the server's figures in the Prometheus text format (prometheus-client).

Where each figure comes from:

* **Call events** (the in-process bus, :mod:`hotline.events`) feed counters as they happen:
  calls by disposition, IVR choices, routes, forwarding outcomes, escalations (a further
  person rung after one did not take the call), voicemails. At each call's end its record's
  RTP statistics (written by call control before ``call_ended``) feed packets expected and
  lost and per-call jitter and loss histograms, per leg (``caller``, ``callee``).
* **At scrape time**, read cheaply: the SIP endpoint's message counters (requests by method,
  responses by status, each direction; gatekeeper and parser events; calls ended by reason),
  calls in progress and refused (call control), SIP dialogs and RTP streams open, the
  registration (register mode), the outbox backlog, retries and delivery failures and the
  open issues by SLA state (two indexed queries, kept for :data:`GAUGE_TTL` seconds).
* **Relay workers** (``[media] relay_workers``): running, pairs lent now and since start,
  workers lost. Open streams' figures are read as this process knows them: a scrape never takes
  a pair back from a worker (a lent pair's figures are those of when it was lent).
* **HTTP**: a middleware times every request per method, route template and status.

The registry is the app's own (not prometheus-client's global one), so two apps in one
process — tests — never mix their figures. ``/metrics`` reveals call volumes: only the
addresses in ``[web] metrics_allow`` (default loopback) may read it; others get 403.

Label values come from bounded sets only (methods we know, statuses, dispositions, flow nodes
and categories, route kinds): a stranger's made-up SIP method is counted as ``other``.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from typing import Any

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from hotline.desk.workflow import SWEPT_STATES
from hotline.events import (
    Accepted,
    CallArrived,
    CallEnded,
    CallEvent,
    Declined,
    EventBus,
    IvrChoice,
    Ringing,
    Routed,
    Subscription,
    Voicemail,
)
from hotline.keys import BUS, CALENDAR, CALLS, CLOCK, CONFIG, FLOWS, MEDIA, SIP, STORE
from hotline.media.relay import RelayWorkers
from hotline.media.stream import RtpStream
from hotline.sip.registration import Registered
from hotline.store import Store

__all__ = ["GAUGE_TTL", "METRICS", "Metrics", "address_allowed", "setup_metrics"]

log = logging.getLogger(__name__)

GAUGE_TTL = 5.0
"""Seconds the database gauges (outbox, SLA states) are reused by the next scrapes."""

SIP_METHODS = frozenset({"INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "INFO", "PRACK", "UPDATE",
                         "REFER", "NOTIFY", "SUBSCRIBE", "MESSAGE", "PUBLISH"})
_LABEL = re.compile(r"[A-Za-z0-9_.:-]{1,64}")

HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
JITTER_BUCKETS_MS = (1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 50.0, 100.0, 200.0)
LOSS_BUCKETS = (0.0, 0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
RTP_LEGS = ("caller", "callee")
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

TRACKED_CALLS = 10_000
"""Calls remembered for escalation counting; a call that never ends is forgotten past this."""


def _label(value: object, fallback: str = "other") -> str:
    text = str(value) if value is not None else ""
    return text if _LABEL.fullmatch(text) else fallback


def _route_kind(route: str) -> str:
    # "post:<id>" names one of many posts; the kind is what an alert needs.
    return "post" if route.startswith("post:") else _label(route)


class _EventCounters:
    """The counters fed by call events (see the module doc)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.arrived = Counter("hotline_calls_arrived", "Calls recorded on arrival (refused ones included)",
                               registry=r)
        self.ended = Counter("hotline_calls", "Calls ended, by disposition", ["disposition"], registry=r)
        self.ivr_choices = Counter("hotline_ivr_choices", "Keys pressed in IVR menus, by node and meaning",
                                   ["node", "choice"], registry=r)
        self.routes = Counter("hotline_routes", "Calls routed, by route kind", ["route"], registry=r)
        self.forwards = Counter("hotline_forward_attempts",
                                "People rung for a call, by outcome (accepted, busy, no-answer, ...)",
                                ["outcome"], registry=r)
        self.escalations = Counter("hotline_escalations",
                                   "A further person rung for a call after one did not take it", registry=r)
        self.voicemails = Counter("hotline_voicemails", "Voicemail messages left", registry=r)
        self.rtp_expected = Counter("hotline_rtp_packets_expected", "RTP packets expected, at call end",
                                    ["leg"], registry=r)
        self.rtp_lost = Counter("hotline_rtp_packets_lost", "RTP packets lost, at call end", ["leg"],
                                registry=r)
        self.rtp_jitter = Histogram("hotline_rtp_jitter_milliseconds",
                                    "Interarrival jitter at call end (RFC 3550 estimate)", ["leg"],
                                    buckets=JITTER_BUCKETS_MS, registry=r)
        self.rtp_loss = Histogram("hotline_rtp_loss_ratio", "Fraction of RTP packets lost per call", ["leg"],
                                  buckets=LOSS_BUCKETS, registry=r)
        self._declined: dict[int, bool] = {}

    def count(self, event: CallEvent) -> None:
        if isinstance(event, CallArrived):
            self.arrived.inc()
        elif isinstance(event, IvrChoice):
            self.ivr_choices.labels(_label(event.node), _label(event.choice)).inc()
        elif isinstance(event, Routed):
            self.routes.labels(_route_kind(event.route)).inc()
        elif isinstance(event, Ringing):
            if self._declined.get(event.call):
                self.escalations.inc()
                self._declined[event.call] = False
        elif isinstance(event, Declined):
            self.forwards.labels(_label(event.outcome, "unknown")).inc()
            if len(self._declined) >= TRACKED_CALLS:
                self._declined.pop(next(iter(self._declined)))
            self._declined[event.call] = True
        elif isinstance(event, Accepted):
            self.forwards.labels("accepted").inc()
        elif isinstance(event, Voicemail):
            self.voicemails.inc()
        elif isinstance(event, CallEnded):
            self._declined.pop(event.call, None)
            self.ended.labels(_label(event.disposition, "unknown")).inc()

    def media(self, stats: Mapping[str, Any] | None) -> None:
        """A call record's ``media_stats``: each leg's RTP receiver figures."""
        for leg in RTP_LEGS:
            figures = (stats or {}).get(leg)
            if not isinstance(figures, Mapping) or "expected" not in figures:
                continue
            expected = max(0, int(figures.get("expected", 0)))
            lost = max(0, int(figures.get("lost", 0)))
            self.rtp_expected.labels(leg).inc(expected)
            self.rtp_lost.labels(leg).inc(lost)
            if expected:
                self.rtp_loss.labels(leg).observe(min(1.0, lost / expected))
                self.rtp_jitter.labels(leg).observe(float(figures.get("jitter_ms", 0.0)))


class _Snapshot:
    """The gauges read from the database, refreshed at most every :data:`GAUGE_TTL` seconds."""

    def __init__(self) -> None:
        self.at = -1e9
        self.outbox: tuple[int, int, int] | None = None
        self.sla: dict[tuple[str, str], int] = {}
        self.error: str | None = None
        self._lock = asyncio.Lock()

    async def refresh(self, store: Store) -> None:
        async with self._lock:
            if time.monotonic() - self.at < GAUGE_TTL:
                return
            try:
                outbox = await store.ops.outbox()
                self.outbox = (outbox.backlog, outbox.retrying, outbox.dead)
                self.sla = await store.ops.sla_states(SWEPT_STATES)
                self.error = None
            except Exception as exc:  # the scrape still shows the live figures
                self.error = f"{type(exc).__name__}: {exc}"
                log.warning("metrics: the database gauges could not be read: %s", self.error)
            self.at = time.monotonic()


class _LiveCollector(Collector):
    """What is read at scrape time from the running server (see the module doc)."""

    def __init__(self, app: web.Application, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    def collect(self) -> Iterable[Metric]:
        app = self.app
        yield from self._sip()
        if CALLS in app:
            controller = app[CALLS]
            yield GaugeMetricFamily("hotline_calls_active", "Calls being handled now",
                                    value=controller.active)
            yield CounterMetricFamily("hotline_calls_refused", "Calls refused for overload (503) since start",
                                      value=controller.refused)
        if MEDIA in app:
            yield from self._live_rtp(app[MEDIA].streams)
            relay = app[MEDIA].relay
            if isinstance(relay, RelayWorkers):
                status = relay.status()
                yield GaugeMetricFamily("hotline_relay_workers_running", "Relay worker processes ready",
                                        value=status["running"])
                yield GaugeMetricFamily("hotline_relay_pairs_lent",
                                        "Bridged calls the relay workers carry now", value=status["lent_now"])
                yield CounterMetricFamily("hotline_relay_lends",
                                          "Bridged calls lent to relay workers since start",
                                          value=status["lent_total"])
                yield CounterMetricFamily("hotline_relay_workers_lost",
                                          "Relay workers that died or stopped answering since start",
                                          value=status["lost"])
        if FLOWS in app:
            flows = app[FLOWS]
            yield CounterMetricFamily("hotline_flow_reloads", "IVR flow reloads that succeeded",
                                      value=flows.reloads)
            yield GaugeMetricFamily("hotline_flow_reload_refused",
                                    "1 if the last flow reload was refused (the old flows stay)",
                                    value=1 if flows.refused else 0)
        if CALENDAR in app and CLOCK in app:
            yield GaugeMetricFamily("hotline_calendar_current_year_covered",
                                    "1 if this year's public holidays are known",
                                    value=0 if app[CALENDAR].warnings_for(app[CLOCK]()) else 1)
        yield from self._database()
        sub = self.metrics.subscription
        if sub is not None:
            yield CounterMetricFamily("hotline_metrics_events_dropped",
                                      "Call events the metrics lost to a full queue (counters are short)",
                                      value=sub.dropped)

    @staticmethod
    def _live_rtp(streams: list[RtpStream]) -> Iterator[Metric]:
        # Calls in progress: their figures reach the counters only at their end.
        lost = 0
        worst = 0.0
        for stream in streams:
            figures = stream.snapshot()
            lost += max(0, int(figures.get("lost", 0)))  # type: ignore[call-overload]
            worst = max(worst, float(figures.get("jitter_ms", 0.0)))  # type: ignore[arg-type]
        yield GaugeMetricFamily("hotline_rtp_streams", "RTP streams open (callers and outbound legs)",
                                value=len(streams))
        yield GaugeMetricFamily("hotline_rtp_open_streams_packets_lost",
                                "RTP packets lost so far on the streams open now", value=lost)
        yield GaugeMetricFamily("hotline_rtp_open_streams_jitter_max_milliseconds",
                                "The highest current jitter among the streams open now", value=worst)

    def _sip(self) -> Iterator[Metric]:
        if SIP not in self.app:
            return
        endpoint = self.app[SIP]
        requests = CounterMetricFamily("hotline_sip_requests", "SIP requests by direction and method",
                                       labels=["direction", "method"])
        responses = CounterMetricFamily("hotline_sip_responses", "SIP responses by direction and status",
                                        labels=["direction", "status"])
        ended = CounterMetricFamily("hotline_sip_dialogs_ended", "SIP calls ended, by reason",
                                    labels=["reason"])
        events = CounterMetricFamily("hotline_sip_events",
                                     "Other SIP endpoint events (gatekeeper, malformed, registration)",
                                     labels=["event"])
        req: dict[tuple[str, str], int] = {}
        res: dict[tuple[str, str], int] = {}
        for key, count in list(endpoint.counters.items()):
            head, _, rest = key.partition(" ")
            if head in ("in", "out") and rest.isdigit():
                res[(head, rest)] = res.get((head, rest), 0) + count
            elif head in ("in", "out"):
                method = rest if rest in SIP_METHODS else "other"
                req[(head, method)] = req.get((head, method), 0) + count
            elif head == "ended":
                ended.add_metric([_label(rest)], count)
            else:
                events.add_metric([_label(key)], count)
        for labels, count in sorted(req.items()):
            requests.add_metric(list(labels), count)
        for labels, count in sorted(res.items()):
            responses.add_metric(list(labels), count)
        yield from (requests, responses, ended, events)
        yield GaugeMetricFamily("hotline_sip_dialogs", "SIP calls not yet ended (both directions)",
                                value=len(endpoint.live_calls))
        if CONFIG in self.app and self.app[CONFIG].sip.mode == "register":
            yield GaugeMetricFamily("hotline_sip_registered", "1 while our binding at the PBX is accepted",
                                    value=1 if isinstance(endpoint.registration_status, Registered) else 0)

    def _database(self) -> Iterator[Metric]:
        snap = self.metrics.snapshot
        if snap.outbox is not None:
            backlog, retrying, dead = snap.outbox
            yield GaugeMetricFamily("hotline_outbox_backlog", "Notifications waiting for delivery",
                                    value=backlog)
            yield GaugeMetricFamily("hotline_outbox_retrying",
                                    "Waiting notifications whose last attempt failed", value=retrying)
            yield GaugeMetricFamily("hotline_outbox_dead",
                                    "Notifications given up after the last retry (delivery failures)",
                                    value=dead)
        sla = GaugeMetricFamily("hotline_sla_open_issues", "Open issues by priority and SLA state",
                                labels=["priority", "state"])
        for (priority, state), count in sorted(snap.sla.items()):
            sla.add_metric([_label(priority), _label(state)], count)
        yield sla


class Metrics:
    """The app's registry, its event counters and the scrape-time collector."""

    def __init__(self, app: web.Application, allow: Iterable[str | Network]) -> None:
        # The *_created series double the output for no use here (they are process-wide).
        disable_created_metrics()
        self.registry = CollectorRegistry(auto_describe=True)
        self.events = _EventCounters(self.registry)
        self.http = Histogram("hotline_http_request_duration_seconds",
                              "HTTP requests by method, route and status", ["method", "route", "status"],
                              buckets=HTTP_BUCKETS, registry=self.registry)
        self.snapshot = _Snapshot()
        self.subscription: Subscription | None = None
        self.allow = tuple(ipaddress.ip_network(a, strict=False) if isinstance(a, str) else a for a in allow)
        self.registry.register(_LiveCollector(app, self))

    async def consume(self, bus: EventBus, store: Store) -> None:
        """Count call events until cancelled (the app's context runs this as a task)."""
        with bus.subscribe() as sub:
            self.subscription = sub
            async for event in sub:
                self.events.count(event)
                if isinstance(event, CallEnded):
                    try:
                        record = await store.calls.get(event.call)
                    except Exception:
                        log.exception("metrics: call #%d's RTP statistics could not be read", event.call)
                        continue
                    if record is not None:
                        self.events.media(record.media_stats)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


METRICS = web.AppKey("metrics", Metrics)


def address_allowed(remote: str | None, networks: Iterable[Network]) -> bool:
    """Whether the peer address ``remote`` (as aiohttp gives it) is in one of ``networks``."""
    if not remote:
        return False
    try:
        address = ipaddress.ip_address(remote.split("%", 1)[0])  # an IPv6 zone is not the address
    except ValueError:
        return False
    return any(address in net for net in networks if net.version == address.version)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _timing_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "unmatched"
        request.app[METRICS].http.labels(_label(request.method), route, str(status)).observe(
            time.perf_counter() - started)


async def metrics_view(request: web.Request) -> web.Response:
    metrics = request.app[METRICS]
    if not address_allowed(request.remote, metrics.allow):
        raise web.HTTPForbidden(text="metrics are readable from [web] metrics_allow only")
    await metrics.snapshot.refresh(request.app[STORE])
    return web.Response(body=metrics.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def _metrics_ctx(app: web.Application) -> AsyncIterator[None]:
    """Counting starts with the store, before the SIP endpoint takes its first call."""
    task = asyncio.create_task(app[METRICS].consume(app[BUS], app[STORE]), name="metrics events")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def setup_metrics(app: web.Application) -> None:
    """Add ``/metrics``, the HTTP timing middleware and the event counting to ``app``.

    Call right after the store's cleanup context is appended (the counting needs the store).
    """
    app[METRICS] = Metrics(app, app[CONFIG].web.metrics_allow)
    app.middlewares.insert(0, _timing_middleware)  # outermost: times the whole request
    app.cleanup_ctx.append(_metrics_ctx)
    app.router.add_get("/metrics", metrics_view)
