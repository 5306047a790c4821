"""The transaction layer's timer heap against a brute-force scan, and its cost per tick.

The reference layer below is the scan the heap replaced: every transaction,
lingering INVITE and AckWait is asked for its deadline on every call.  Both
layers are driven through the same random schedule of requests, responses,
ACKs, CANCELs and clock steps; after every step they must agree on the next
deadline and on what fires.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from unittest import mock

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.sip import transaction as transaction_module
from hotline.sip.events import Action, DeliverRequest, TransactionKey
from hotline.sip.headers import Via
from hotline.sip.message import Request, Response, build_request, build_response
from hotline.sip.transaction import (
    Transaction,
    TransactionLayer,
)

PEER = ("192.0.2.10", 5060)


class ScanningLayer(TransactionLayer):
    """The O(n) reference: scan everything on each call."""

    def next_deadline(self) -> float | None:
        candidates: list[float] = list(self._linger.values())
        for txn in [*self._clients.values(), *self._servers.values()]:
            d = txn.next_deadline()
            if d is not None:
                candidates.append(d)
        for wait in self._ack_waits.values():
            d = wait.next_deadline()
            if d is not None:
                candidates.append(d)
        return min(candidates, default=None)

    def handle_timer(self, now: float) -> list[Action]:
        out: list[Action] = []
        for txn in [*self._clients.values(), *self._servers.values()]:
            d = txn.next_deadline()
            if d is not None and d <= now:
                out += self._fire_timers(txn, now)
        for key, until in list(self._linger.items()):
            if until <= now:
                del self._linger[key]
                self._forget_server(key)
        for ident, wait in list(self._ack_waits.items()):
            d = wait.next_deadline()
            if d is not None and d <= now:
                out += wait.handle_timer(now)
            if wait.done:
                del self._ack_waits[ident]
        return out


def canonical(actions: list[Action]) -> list[str]:
    """Actions as comparable text, in a fixed order (the two layers fire in different orders)."""
    out = []
    for a in actions:
        message = getattr(a, "message", None) or getattr(a, "request", None) or getattr(a, "response", None)
        wire = message.serialize().decode() if message is not None else ""
        fields = {k: v for k, v in vars(a).items() if k not in ("message", "request", "response")}
        out.append(f"{type(a).__name__} {fields} {wire}")
    return sorted(out)


def invite_from_peer(n: int, method: str = "INVITE") -> Request:
    return build_request(
        method, "sip:8001@hotline.example.com",
        from_=f"<sip:1001@pbx.example.com>;tag=f{n}", to="<sip:8001@hotline.example.com>",
        call_id=f"in-{n}@192.0.2.10", cseq=1,
        via=Via.parse(f"SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKin{n}"),
        contact="<sip:1001@192.0.2.10>",
    )  # fmt: skip


def request_to_peer(n: int, method: str) -> Request:
    return build_request(
        method, "sip:2001@192.0.2.10",
        from_=f"<sip:8001@hotline.example.com>;tag=o{n}", to="<sip:2001@192.0.2.10>",
        call_id=f"out-{n}@hotline", cseq=1,
        via=Via.parse(f"SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKout{n}"),
        contact="<sip:8001@192.0.2.1>",
    )  # fmt: skip


def ack_for(request: Request, response: Response, branch: str) -> Request:
    return build_request(
        "ACK", request.uri, from_=request.from_, to=response.to, call_id=request.call_id,
        cseq=request.cseq.seq, via=Via.parse(f"SIP/2.0/UDP 192.0.2.10:5060;branch={branch}"),
    )  # fmt: skip


OPS = st.one_of(
    st.tuples(st.just("out"), st.sampled_from(["INVITE", "OPTIONS"]), st.booleans()),
    st.tuples(st.just("in"), st.sampled_from(["INVITE", "OPTIONS", "CANCEL"]), st.booleans()),
    st.tuples(st.just("respond"), st.integers(0, 7), st.sampled_from([180, 200, 486])),
    st.tuples(st.just("response"), st.integers(0, 7), st.sampled_from([100, 180, 200, 486])),
    st.tuples(st.just("ack"), st.integers(0, 7), st.booleans()),
    st.tuples(st.just("cancel"), st.integers(0, 7), st.booleans()),
    st.tuples(st.just("wait"), st.sampled_from([0.1, 0.5, 1.0, 4.0, 17.0, 40.0, 200.0]), st.booleans()),
)


def drive(layer: TransactionLayer, ops: list[tuple[object, object, object]]) -> Iterator[object]:
    """Apply ``ops`` to ``layer``; yield what can be observed after each one."""
    tags = itertools.count()
    # The layer's own To tags (200 to CANCEL, 482) must be the same in both runs.
    with mock.patch.object(transaction_module, "new_tag", lambda: f"layer{next(tags)}"):
        yield from _drive(layer, ops)


def _drive(layer: TransactionLayer, ops: list[tuple[object, object, object]]) -> Iterator[object]:
    now = 0.0
    counter = itertools.count()
    outgoing: list[tuple[TransactionKey, Request]] = []
    incoming: list[tuple[Request, TransactionKey | None]] = []
    answered: list[tuple[Request, Response]] = []
    for kind, a, b in ops:
        n = next(counter)
        actions: list[Action] = []
        if kind == "out":
            req = request_to_peer(n, str(a))
            key, actions = layer.send_request(req, PEER, now, reliable=bool(b))
            outgoing.append((key, req))
        elif kind == "in":
            if a == "CANCEL" and incoming:
                inv = incoming[-1][0]
                req = build_request(
                    "CANCEL", inv.uri, from_=inv.from_, to=inv.to, call_id=inv.call_id,
                    cseq=inv.cseq.seq, via=inv.top_via,
                )  # fmt: skip
            else:
                req = invite_from_peer(n, "INVITE" if a == "CANCEL" else str(a))
            actions = layer.receive(req, PEER, now, reliable=bool(b))
            keys = [x.key for x in actions if type(x).__name__ == "DeliverRequest"]  # type: ignore[union-attr]
            incoming.append((req, keys[0] if keys else None))
        elif kind == "respond" and incoming:
            req, server_key = incoming[int(a) % len(incoming)]  # type: ignore[call-overload]
            txn = layer.server(server_key) if server_key is not None else None
            if txn is not None and not txn.terminated and txn.state.value in ("Trying", "Proceeding"):
                resp = build_response(req, int(b), to_tag=f"t{n}")  # type: ignore[call-overload]
                actions = layer.send_response(resp, now, key=server_key)
                if resp.status >= 200:
                    answered.append((req, resp))
        elif kind == "response" and outgoing:
            key, req = outgoing[int(a) % len(outgoing)]  # type: ignore[call-overload]
            resp = build_response(req, int(b), to_tag="far")  # type: ignore[call-overload]
            actions = layer.receive(resp, PEER, now)
        elif kind == "ack" and answered:
            req, resp = answered[int(a) % len(answered)]  # type: ignore[call-overload]
            if req.method == "INVITE":
                branch = (req.branch or "") if resp.status >= 300 else f"z9hG4bKack{n}"
                actions = layer.receive(ack_for(req, resp, branch), PEER, now)
        elif kind == "cancel" and outgoing:
            key, _ = outgoing[int(a) % len(outgoing)]  # type: ignore[call-overload]
            actions = layer.cancel(key, now)
        elif kind == "wait":
            target = now + float(a)  # type: ignore[arg-type]
            while (deadline := layer.next_deadline()) is not None and deadline <= target:
                now = deadline
                yield ("deadline", now)
                yield ("fired", canonical(layer.handle_timer(now)))
            now = target
        yield (kind, canonical(actions), layer.next_deadline(), len(layer))


@settings(max_examples=150, deadline=None)
@given(st.lists(OPS, min_size=1, max_size=30))
def test_heap_agrees_with_a_scan(ops: list[tuple[object, object, object]]) -> None:
    heap = list(drive(TransactionLayer(), ops))
    scan = list(drive(ScanningLayer(), ops))
    assert heap == scan


def test_every_schedule_drains(monkeypatch: pytest.MonkeyPatch) -> None:
    """After enough time, nothing is left: no transaction, no deadline, no heap item."""
    layer = TransactionLayer()
    ops = [("out", "INVITE", False), ("response", 0, 180), ("out", "OPTIONS", False),
           ("in", "INVITE", False), ("respond", 0, 200), ("in", "INVITE", True),
           ("respond", 1, 486), ("wait", 1000.0, False)]  # fmt: skip
    list(drive(layer, ops))  # type: ignore[arg-type]
    assert len(layer) == 0
    assert layer.next_deadline() is None
    assert layer._merge_index == {} and layer._merge_ident == {}
    assert layer._heap == [] or all(layer._scheduled.get(e) != d for d, _, e in layer._heap)


def test_a_tick_does_not_visit_idle_transactions(monkeypatch: pytest.MonkeyPatch) -> None:
    """3,000 INVITEs ringing and one OPTIONS retransmitting: a tick asks one transaction."""
    layer = TransactionLayer()
    for n in range(3000):
        inv = invite_from_peer(n)
        layer.receive(inv, PEER, 0.0)  # Proceeding: no timer of its own
    for n in range(200):
        inv = request_to_peer(n, "INVITE")
        layer.send_request(inv, PEER, 0.0)
        layer.receive(build_response(inv, 180, to_tag="far"), PEER, 0.1)  # B disarmed
    layer.send_request(request_to_peer(9999, "OPTIONS"), PEER, 0.0)
    asked: list[Transaction] = []
    original = Transaction.next_deadline

    def counting(self: Transaction) -> float | None:
        asked.append(self)
        return original(self)

    monkeypatch.setattr(Transaction, "next_deadline", counting)
    fired = []
    for tick in range(1, 6):
        fired += layer.handle_timer(tick * 0.5)
        layer.next_deadline()
    assert len([a for a in fired if type(a).__name__ == "Transmit"]) == 2  # E at 0.5, 1.5
    # Only the retransmitting OPTIONS was looked at (a scan asks all 3,201, five times).
    assert 1 <= len(asked) <= 5
    assert {type(t).__name__ for t in asked} == {"NonInviteClientTransaction"}


def test_answered_transactions_keep_no_parsed_views() -> None:
    """Once answered, a transaction's messages drop their parsed views (fewer objects for the collector)."""
    layer = TransactionLayer()
    inv = invite_from_peer(1)
    [deliver] = [a for a in layer.receive(inv, PEER, 0.0) if isinstance(a, DeliverRequest)]
    layer.send_response(build_response(inv, 200, to_tag="t"), 0.1, key=deliver.key)
    assert inv.headers._parsed  # the TU may still read it during this step
    layer.handle_timer(0.2)  # the next call into the layer compacts
    assert inv.headers._parsed == {} and inv.headers._index is None
    server = layer.server(deliver.key)
    assert server is not None and server.last_response is not None
    assert server.last_response.headers._parsed == {}
