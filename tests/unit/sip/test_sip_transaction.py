"""RFC 3261 §17 transactions and the transaction layer, driven by a fake clock."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.sip.ack_wait import AckWait
from hotline.sip.errors import LocalProtocolError
from hotline.sip.events import (
    AckReceived,
    AckTimeout,
    Action,
    CancelReceived,
    DeliverRequest,
    DeliverResponse,
    TransactionKey,
    TransactionTerminated,
    TransactionTimedOut,
    Transmit,
    TransmitFailed,
    TransportFailed,
)
from hotline.sip.headers import Via
from hotline.sip.message import Request, Response, build_request, build_response, parse_message
from hotline.sip.timers import TimerConfig
from hotline.sip.transaction import (
    ClientState,
    InviteClientTransaction,
    InviteServerTransaction,
    NonInviteClientTransaction,
    NonInviteServerTransaction,
    ServerState,
    Transaction,
    TransactionInput,
    TransactionLayer,
    client_key,
    server_key,
)

PEER = ("192.0.2.10", 5060)
TRACES = Path(__file__).resolve().parents[2] / "traces"


def request(method: str = "INVITE", branch: str = "z9hG4bKabc", cseq: int = 1) -> Request:
    return build_request(
        method,
        "sip:8001@hotline.example.com",
        from_="<sip:1001@pbx.example.com>;tag=ftag",
        to="<sip:8001@hotline.example.com>",
        call_id="call-1@192.0.2.10",
        cseq=cseq,
        via=[Via.parse(f"SIP/2.0/UDP 192.0.2.10:5060;branch={branch}"),
             Via.parse("SIP/2.0/UDP 198.51.100.1;branch=z9hG4bKproxy")],
        route=["<sip:proxy.example.com;lr>"],
        contact="<sip:1001@192.0.2.10>",
    )


def wire(msg: Request | Response) -> Request | Response:
    """Through the serialiser and parser, as the peer would see it."""
    return parse_message(msg.serialize())


def sent(actions: list[Action]) -> list[Request | Response]:
    return [a.message for a in actions if isinstance(a, Transmit)]


def run_timers(txn: Transaction | TransactionLayer | AckWait, until: float) -> list[
    tuple[float, Action]
]:
    """Fire every deadline up to ``until``; return (time, action) pairs."""
    out: list[tuple[float, Action]] = []
    while (deadline := txn.next_deadline()) is not None and deadline <= until:
        out += [(deadline, a) for a in txn.handle_timer(deadline)]
    return out


def times_of_transmits(events: list[tuple[float, Action]]) -> list[float]:
    return [t for t, a in events if isinstance(a, Transmit)]


def make_ict(reliable: bool = False) -> InviteClientTransaction:
    inv = request()
    return InviteClientTransaction(client_key(inv), inv, PEER, reliable=reliable)


def make_nict(reliable: bool = False) -> NonInviteClientTransaction:
    opt = request("OPTIONS")
    return NonInviteClientTransaction(client_key(opt), opt, PEER, reliable=reliable)


def make_ist(reliable: bool = False) -> InviteServerTransaction:
    inv = wire(request())
    assert isinstance(inv, Request)
    return InviteServerTransaction(server_key(inv), inv, PEER, reliable=reliable)


def make_nist(reliable: bool = False) -> NonInviteServerTransaction:
    bye = wire(request("BYE"))
    assert isinstance(bye, Request)
    return NonInviteServerTransaction(server_key(bye), bye, PEER, reliable=reliable)


# -- INVITE client ------------------------------------------------------------------


def test_ict_timer_a_doubles_until_b() -> None:
    ict = make_ict()
    assert sent(ict.start(0.0)) == [ict.request]
    events = run_timers(ict, 100.0)
    assert times_of_transmits(events) == [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert events[-2:] == [
        (32.0, TransactionTimedOut(ict.key, "B")), (32.0, TransactionTerminated(ict.key))
    ]
    assert ict.state is ClientState.TERMINATED and ict.next_deadline() is None


def test_ict_provisional_stops_retransmission_and_non2xx_is_acked() -> None:
    ict = make_ict()
    ict.start(0.0)
    ringing = build_response(ict.request, 180, to_tag="tt")
    assert ict.handle_message(ringing, 0.2) == [DeliverResponse(ringing, ict.key)]
    # No more A or B; only Timer C bounds Proceeding (§16.6).
    assert ict.state is ClientState.PROCEEDING and ict.next_deadline() == 0.2 + 181.0
    busy = build_response(ict.request, 486, to_tag="tt")
    actions = ict.handle_message(busy, 5.0)
    [ack] = sent(actions)
    assert DeliverResponse(busy, ict.key) in actions
    assert isinstance(ack, Request) and ack.method == "ACK"
    assert ack.to.tag == "tt" and ack.branch == ict.request.branch
    assert (ack.cseq.seq, ack.cseq.method) == (1, "ACK")
    assert ack.uri == ict.request.uri and len(ack.vias) == 1
    assert ack.headers.get_all("Route") == ["<sip:proxy.example.com;lr>"]
    # A retransmitted 486 is re-ACKed, not delivered again.
    assert ict.handle_message(busy, 6.0) == [Transmit(ack, PEER, ict.key)]
    assert ict.next_deadline() == 37.0  # timer D, 32 s
    assert run_timers(ict, 40.0) == [(37.0, TransactionTerminated(ict.key))]


def test_ict_2xx_terminates_at_once() -> None:
    ict = make_ict()
    ict.start(0.0)
    ok = build_response(ict.request, 200, to_tag="tt")
    assert ict.handle_message(ok, 1.0) == [DeliverResponse(ok, ict.key), TransactionTerminated(ict.key)]
    assert ict.handle_message(ok, 1.5) == []  # nothing moves a Terminated transaction


def test_ict_reliable_no_timer_a_and_zero_timer_d() -> None:
    ict = make_ict(reliable=True)
    ict.start(0.0)
    assert ict.next_deadline() == 32.0  # only B
    actions = ict.handle_message(build_response(ict.request, 503, to_tag="x"), 1.0)
    assert actions[-1] == TransactionTerminated(ict.key)
    assert ict.terminated


def test_ict_transport_error() -> None:
    ict = make_ict()
    ict.start(0.0)
    assert ict.handle_transport_error(TransmitFailed("ICMP unreachable"), 0.1) == [
        TransportFailed(ict.key, "ICMP unreachable"), TransactionTerminated(ict.key)
    ]


# -- non-INVITE client --------------------------------------------------------------------


def test_nict_timer_e_capped_by_t2_until_f() -> None:
    nict = make_nict()
    nict.start(0.0)
    events = run_timers(nict, 100.0)
    assert times_of_transmits(events) == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert events[-2][1] == TransactionTimedOut(nict.key, "F")


def test_nict_proceeding_retransmits_every_t2_then_timer_k() -> None:
    nict = make_nict()
    nict.start(0.0)
    assert sent(nict.handle_timer(0.5)) == [nict.request]  # E: next at 1.5
    nict.handle_message(build_response(nict.request, 100), 0.7)
    assert nict.state is ClientState.PROCEEDING
    assert times_of_transmits(run_timers(nict, 10.0)) == [1.5, 5.5, 9.5]
    ok = build_response(nict.request, 200, to_tag="t")
    assert nict.handle_message(ok, 10.0) == [DeliverResponse(ok, nict.key)]
    assert nict.handle_message(ok, 10.1) == []  # absorbed in Completed
    assert run_timers(nict, 20.0) == [(15.0, TransactionTerminated(nict.key))]  # K = T4


def test_nict_reliable_k_is_zero() -> None:
    nict = make_nict(reliable=True)
    nict.start(0.0)
    assert nict.next_deadline() == 32.0
    ok = build_response(nict.request, 200, to_tag="t")
    assert nict.handle_message(ok, 1.0) == [DeliverResponse(ok, nict.key), TransactionTerminated(nict.key)]


def test_configurable_timers() -> None:
    inv = request()
    ict = InviteClientTransaction(client_key(inv), inv, PEER, timers=TimerConfig(t1=0.1, t2=1.0))
    ict.start(0.0)
    times = times_of_transmits(run_timers(ict, 10.0))
    assert times == pytest.approx([0.1, 0.3, 0.7, 1.5, 3.1, 6.3])  # B at 6.4
    assert ict.terminated


# -- INVITE server -----------------------------------------------------------------------


def test_ist_trying_at_once_and_retransmitted_invite_gets_last_provisional() -> None:
    ist = make_ist()
    [trying] = sent(ist.start(0.0))
    assert isinstance(trying, Response) and trying.status == 100 and trying.to.tag is None
    assert sent(ist.handle_message(ist.request, 0.3)) == [trying]
    ringing = build_response(ist.request, 180, to_tag="srv")
    assert sent(ist.send_response(ringing, 0.4)) == [ringing]
    assert sent(ist.handle_message(ist.request, 0.8)) == [ringing]
    assert ist.state is ServerState.PROCEEDING and ist.next_deadline() is None


def test_ist_non2xx_retransmitted_until_ack_then_timer_i() -> None:
    ist = make_ist()
    ist.start(0.0)
    busy = build_response(ist.request, 486, to_tag="srv")
    assert sent(ist.send_response(busy, 1.0)) == [busy]
    events = run_timers(ist, 9.0)
    assert times_of_transmits(events) == [1.5, 2.5, 4.5, 8.5]  # G: 0.5, 1, 2, 4 (=T2)
    assert sent(ist.handle_message(ist.request, 9.0)) == [busy]  # retransmitted INVITE
    ack = wire(build_response(ist.request, 486, to_tag="srv"))  # placeholder to reuse To
    ack_req = build_request(
        "ACK", ist.request.uri, from_=ist.request.from_, to=ack.to, call_id=ist.request.call_id,
        cseq=1, via=ist.request.top_via,
    )
    assert ist.handle_message(ack_req, 10.0) == []
    assert ist.state is ServerState.CONFIRMED
    assert ist.handle_message(ack_req, 10.5) == []  # absorbed
    assert run_timers(ist, 20.0) == [(15.0, TransactionTerminated(ist.key))]  # I = T4


def test_ist_timer_h_without_ack() -> None:
    ist = make_ist()
    ist.start(0.0)
    ist.send_response(build_response(ist.request, 404, to_tag="s"), 0.0)
    events = run_timers(ist, 100.0)
    assert times_of_transmits(events) == [
        0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5
    ]
    assert [a for _, a in events if not isinstance(a, Transmit)] == [
        TransactionTimedOut(ist.key, "H"), TransactionTerminated(ist.key)
    ]


def test_ist_2xx_terminates_and_second_final_is_our_bug() -> None:
    ist = make_ist()
    ist.start(0.0)
    ok = build_response(ist.request, 200, to_tag="s")
    assert ist.send_response(ok, 1.0) == [Transmit(ok, PEER, ist.key), TransactionTerminated(ist.key)]
    with pytest.raises(LocalProtocolError):
        ist.send_response(build_response(ist.request, 500, to_tag="s"), 1.1)


def test_ist_reliable_no_g_and_zero_i() -> None:
    ist = make_ist(reliable=True)
    ist.start(0.0)
    ist.send_response(build_response(ist.request, 480, to_tag="s"), 0.0)
    assert ist.next_deadline() == 32.0  # H only
    ack = build_request("ACK", ist.request.uri, from_=ist.request.from_,
                        to=ist.request.to.with_tag("s"), call_id=ist.request.call_id, cseq=1,
                        via=ist.request.top_via)
    assert ist.handle_message(ack, 1.0) == [TransactionTerminated(ist.key)]


# -- non-INVITE server ---------------------------------------------------------------------


def test_nist_absorbs_then_repeats_final_until_j() -> None:
    nist = make_nist()
    assert nist.start(0.0) == []
    assert nist.handle_message(nist.request, 0.1) == []  # Trying: nothing to repeat
    ok = build_response(nist.request, 200, to_tag="s")
    assert sent(nist.send_response(ok, 0.2)) == [ok]
    assert sent(nist.handle_message(nist.request, 1.0)) == [ok]
    assert run_timers(nist, 100.0) == [(32.2, TransactionTerminated(nist.key))]
    with pytest.raises(LocalProtocolError):
        nist.send_response(ok, 33.0)


def test_nist_provisional_then_final_reliable() -> None:
    nist = make_nist(reliable=True)
    nist.start(0.0)
    trying = build_response(nist.request, 100)
    nist.send_response(trying, 0.0)
    assert sent(nist.handle_message(nist.request, 0.5)) == [trying]
    actions = nist.send_response(build_response(nist.request, 200, to_tag="s"), 1.0)
    assert actions[-1] == TransactionTerminated(nist.key)  # J = 0


# -- the layer -----------------------------------------------------------------------------


def incoming_invite(layer: TransactionLayer, now: float = 0.0) -> tuple[Request, TransactionKey]:
    inv = wire(request())
    assert isinstance(inv, Request)
    actions = layer.receive(inv, PEER, now)
    [trying] = sent(actions)
    assert isinstance(trying, Response) and trying.status == 100
    [deliver] = [a for a in actions if isinstance(a, DeliverRequest)]
    return inv, deliver.key


def ack_for(response: Response, request: Request, branch: str) -> Request:
    return build_request(
        "ACK", request.uri, from_=request.from_, to=response.to, call_id=request.call_id,
        cseq=request.cseq.seq, via=Via.parse(f"SIP/2.0/UDP 192.0.2.10:5060;branch={branch}"),
    )


def test_layer_2xx_retransmitted_until_ack() -> None:
    layer = TransactionLayer()
    inv, key = incoming_invite(layer)
    ist = layer.server(key)
    assert isinstance(ist, InviteServerTransaction) and ist.last_response is not None
    assert layer.receive(inv, PEER, 0.1) == [Transmit(ist.last_response, PEER, key)]
    ok = build_response(inv, 200, to_tag="srv")
    assert layer.send_response(ok, 1.0, key=key) == [
        Transmit(ok, PEER, key), TransactionTerminated(key)
    ]
    events = run_timers(layer, 5.0)
    assert times_of_transmits(events) == [1.5, 2.5, 4.5]
    assert all(a.message is ok for _, a in events if isinstance(a, Transmit))
    # A retransmitted INVITE after the 2xx is absorbed (the 2xx timer covers it).
    assert layer.receive(inv, PEER, 5.0) == []
    ack = wire(ack_for(ok, inv, "z9hG4bKack1"))
    assert isinstance(ack, Request)
    assert layer.receive(ack, PEER, 5.2) == [AckReceived(ack, PEER, acknowledged=True)]
    assert times_of_transmits(run_timers(layer, 20.0)) == []
    # The ACK of a retransmitted 2xx still reaches the dialog layer.
    assert layer.receive(ack, PEER, 6.0) == [AckReceived(ack, PEER, acknowledged=False)]
    run_timers(layer, 100.0)
    assert len(layer) == 0 and layer.next_deadline() is None


def test_layer_2xx_without_ack_reports_ack_timeout() -> None:
    layer = TransactionLayer()
    inv, key = incoming_invite(layer)
    ok = build_response(inv, 200, to_tag="srv")
    layer.send_response(ok, 0.0)  # found by Via + CSeq
    ist = layer.server(key)
    assert isinstance(ist, InviteServerTransaction) and ist.answered_2xx  # lingers
    events = run_timers(layer, 40.0)
    assert times_of_transmits(events) == [0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    assert (32.0, AckTimeout(inv.call_id, 1, ok)) in events


def test_layer_cancel_before_final() -> None:
    layer = TransactionLayer()
    inv, key = incoming_invite(layer)
    layer.send_response(build_response(inv, 180, to_tag="srv"), 0.5, key=key)
    cancel = wire(build_request(
        "CANCEL", inv.uri, from_=inv.from_, to=inv.to, call_id=inv.call_id, cseq=1,
        via=inv.top_via,
    ))
    assert isinstance(cancel, Request)
    actions = layer.receive(cancel, PEER, 1.0)
    [ok] = sent(actions)
    assert isinstance(ok, Response) and (ok.status, ok.cseq.method) == (200, "CANCEL")
    assert ok.to.tag == "srv"
    assert CancelReceived(key, cancel) in actions
    # The TU answers the INVITE with 487; the ACK (same branch) is absorbed.
    terminated = build_response(inv, 487, to_tag="srv")
    layer.send_response(terminated, 1.1, key=key)
    ack = wire(ack_for(terminated, inv, inv.branch or ""))
    assert isinstance(ack, Request)
    assert layer.receive(ack, PEER, 1.2) == []
    assert layer.server(key).state is ServerState.CONFIRMED  # type: ignore[union-attr]


def test_layer_cancel_after_200_race() -> None:
    layer = TransactionLayer()
    inv, key = incoming_invite(layer)
    ok = build_response(inv, 200, to_tag="srv")
    layer.send_response(ok, 1.0, key=key)
    cancel = build_request(
        "CANCEL", inv.uri, from_=inv.from_, to=inv.to, call_id=inv.call_id, cseq=1,
        via=inv.top_via,
    )
    actions = layer.receive(cancel, PEER, 1.05)
    [reply] = sent(actions)
    assert isinstance(reply, Response) and reply.status == 200 and reply.to.tag == "srv"
    assert not any(isinstance(a, CancelReceived) for a in actions)
    # The INVITE stays answered: the 2xx keeps being retransmitted until its ACK.
    assert times_of_transmits(run_timers(layer, 1.6)) == [1.5]


def test_layer_cancel_without_invite_is_481() -> None:
    layer = TransactionLayer()
    cancel = request("CANCEL", branch="z9hG4bKnothing")
    [reply] = sent(layer.receive(cancel, PEER, 0.0))
    assert isinstance(reply, Response) and reply.status == 481


def test_layer_client_cancel_waits_for_provisional() -> None:
    layer = TransactionLayer()
    inv = request()
    key, actions = layer.send_request(inv, PEER, 0.0)
    assert sent(actions) == [inv]
    assert layer.cancel(key, 0.1) == []  # no provisional yet: must wait
    ringing = wire(build_response(inv, 180, to_tag="far"))
    assert isinstance(ringing, Response)
    actions = layer.receive(ringing, PEER, 0.2)
    assert DeliverResponse(ringing, key) in actions
    [cancel] = sent(actions)
    assert isinstance(cancel, Request) and cancel.method == "CANCEL"
    assert cancel.branch == inv.branch and cancel.cseq.seq == inv.cseq.seq
    assert cancel.to.tag is None and cancel.call_id == inv.call_id
    assert len(cancel.vias) == 1 and cancel.route == inv.route
    ok_cancel = wire(build_response(cancel, 200, to_tag="far"))
    cancel_key = client_key(cancel)
    assert DeliverResponse(ok_cancel, cancel_key) in layer.receive(ok_cancel, PEER, 0.3)  # type: ignore[arg-type]
    terminated = wire(build_response(inv, 487, to_tag="far"))
    [ack] = sent(layer.receive(terminated, PEER, 0.4))
    assert isinstance(ack, Request) and ack.method == "ACK" and ack.branch == inv.branch
    assert layer.cancel(key, 0.5) == []  # already final: nothing to cancel


def test_layer_stray_response_goes_up() -> None:
    layer = TransactionLayer()
    inv = request()
    ok = wire(build_response(inv, 200, to_tag="far"))
    assert isinstance(ok, Response)
    assert layer.receive(ok, PEER, 0.0) == [DeliverResponse(ok, None)]


def test_layer_rfc2543_fallback_matching() -> None:
    layer = TransactionLayer()
    inv = parse_message((TRACES / "rfc4475/3.4.1-inv2543.sip").read_bytes())
    assert isinstance(inv, Request) and inv.branch is None
    actions = layer.receive(inv, PEER, 0.0)
    [deliver] = [a for a in actions if isinstance(a, DeliverRequest)]
    assert deliver.key.branch is None and deliver.key.legacy is not None
    assert len(sent(layer.receive(inv, PEER, 0.2))) == 1  # retransmission matched
    busy = build_response(inv, 486, to_tag="srv")
    assert sent(layer.send_response(busy, 0.3)) == [busy]  # found without key
    ack = build_request(
        "ACK", inv.uri, from_=inv.from_, to=busy.to, call_id=inv.call_id, cseq=inv.cseq.seq,
        via=inv.top_via,
    )
    assert layer.receive(ack, PEER, 0.4) == []
    assert layer.server(deliver.key).state is ServerState.CONFIRMED  # type: ignore[union-attr]


def test_layer_bare_magic_cookie_uses_fallback() -> None:
    opt = parse_message((TRACES / "rfc4475/3.2.1-badbranch.sip").read_bytes())
    assert isinstance(opt, Request)
    assert server_key(opt).legacy is not None


def test_layer_merges_deadlines() -> None:
    layer = TransactionLayer()
    layer.send_request(request("OPTIONS", branch="z9hG4bK1"), PEER, 0.0)
    layer.send_request(request("INVITE", branch="z9hG4bK2"), PEER, 0.2)
    assert layer.next_deadline() == 0.5
    layer.handle_timer(0.5)
    assert layer.next_deadline() == 0.7


def test_layer_rejects_ack_transaction_and_duplicate_branch() -> None:
    layer = TransactionLayer()
    with pytest.raises(LocalProtocolError):
        layer.send_request(request("ACK"), PEER, 0.0)
    layer.send_request(request("OPTIONS"), PEER, 0.0)
    with pytest.raises(LocalProtocolError):
        layer.send_request(request("OPTIONS"), PEER, 0.0)


# -- properties over the tables ----------------------------------------------------------

MACHINES = [make_ict, make_nict, make_ist, make_nist]
STATES = {
    "client": list(ClientState),
    "server": list(ServerState),
}


def message_for(txn: Transaction, inp: TransactionInput) -> Request | Response | None:
    req = txn.request
    status = {"RESP_1XX": 180, "RESP_2XX": 200, "RESP_FINAL": 486,
              "TU_1XX": 180, "TU_2XX": 200, "TU_FINAL": 486}.get(inp.name)
    if status is not None:
        return build_response(req, status, to_tag="x")
    if inp is TransactionInput.REQUEST:
        return req
    if inp is TransactionInput.ACK:
        return build_request("ACK", req.uri, from_=req.from_, to=req.to.with_tag("x"),
                             call_id=req.call_id, cseq=req.cseq.seq, via=req.top_via)
    return None


@pytest.mark.parametrize("make", MACHINES, ids=lambda f: f.__name__)
def test_every_state_input_pair_is_defined_or_local_error(make: object) -> None:
    assert callable(make)
    for state in STATES[make().key.side]:
        for inp in TransactionInput:
            txn: Transaction = make()
            txn.start(0.0)  # type: ignore[attr-defined]
            txn.state = state
            if (state, inp) in txn.TABLE:
                action, _ = txn.TABLE[(state, inp)]
                assert callable(getattr(txn, action))
                if inp.name.startswith("TIMER_"):
                    txn._intervals.setdefault(inp.value, txn.timers.t1)
                txn._fire(inp, 1.0, message_for(txn, inp))
                assert txn.state is txn.TABLE[(state, inp)][1] or txn.terminated
            else:
                with pytest.raises(LocalProtocolError):
                    txn._fire(inp, 1.0, message_for(txn, inp))


_STEP = st.tuples(st.sampled_from(list(TransactionInput)), st.floats(0.0, 5.0))


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(MACHINES), st.lists(_STEP, max_size=25))
def test_random_inputs_only_local_errors_and_terminated_is_final(
    make: object, steps: list[tuple[TransactionInput, float]]
) -> None:
    assert callable(make)
    txn: Transaction = make()
    server = txn.key.side == "server"
    now = 0.0
    txn.start(now)  # type: ignore[attr-defined]
    for inp, dt in steps:
        now += dt
        was_terminated = txn.terminated
        msg = message_for(txn, inp)
        ours = inp.name.startswith("TU_")  # inputs only our own code can cause
        wrong_kind = msg is not None and isinstance(msg, Response) != (not server)
        try:
            if inp.name.startswith("TIMER_"):
                actions = txn.handle_timer(now)
            elif inp is TransactionInput.TRANSPORT_ERROR:
                actions = txn.handle_transport_error(TransmitFailed("x"), now)
            elif ours:
                actions = txn._fire(inp, now, msg)
            else:
                assert msg is not None
                actions = txn.handle_message(msg, now)  # type: ignore[attr-defined]
        except LocalProtocolError:
            # Only our own misuse raises: a TU response on a client transaction,
            # an illegal TU response for the state, or a message of the wrong kind.
            assert ours or wrong_kind
            assert txn.terminated == was_terminated
            continue
        if was_terminated:
            assert txn.terminated and actions == []
        if txn.terminated:
            assert txn.next_deadline() is None


def test_ack_wait_reliable_only_waits() -> None:
    inv = request()
    ok = build_response(inv, 200, to_tag="s")
    wait = AckWait(ok, PEER, 10.0, reliable=True)
    assert wait.next_deadline() == 42.0
    assert run_timers(wait, 100.0) == [(42.0, AckTimeout(inv.call_id, 1, ok))]
    assert wait.done and not wait.acked and wait.next_deadline() is None


def test_ack_wait_stops_on_ack() -> None:
    ok = build_response(request(), 200, to_tag="s")
    wait = AckWait(ok, PEER, 0.0, timers=TimerConfig(t1=1.0, t2=2.0))
    assert times_of_transmits(run_timers(wait, 6.0)) == [1.0, 3.0, 5.0]
    wait.handle_ack()
    assert wait.next_deadline() is None and wait.handle_timer(100.0) == []


# -- two layers talking through a lossy in-memory network ------------------------------


class Network:
    """Delivers Transmit actions between two layers after a fixed delay, dropping some."""

    def __init__(self, drop: set[int]) -> None:
        self.drop = drop  # indices (in send order) of datagrams lost on the way
        self.sent = 0
        self.in_flight: list[tuple[float, str, bytes]] = []
        self.log: list[tuple[float, str, str]] = []

    def send(self, now: float, to: str, actions: list[Action]) -> list[Action]:
        others = []
        for action in actions:
            if isinstance(action, Transmit):
                msg = action.message
                label = msg.method if isinstance(msg, Request) else str(msg.status)
                self.log.append((now, to, label))
                if self.sent not in self.drop:
                    self.in_flight.append((now + 0.05, to, action.data))
                self.sent += 1
            else:
                others.append(action)
        return others


def test_invite_dialogue_over_lossy_network() -> None:
    uac, uas = TransactionLayer(), TransactionLayer()
    net = Network(drop={0, 3})  # lose the first INVITE and the first 486
    up: dict[str, list[Action]] = {"uac": [], "uas": []}
    layers = {"uac": uac, "uas": uas}
    peer_of = {"uac": "uas", "uas": "uac"}
    inv = request()
    key, actions = uac.send_request(inv, PEER, 0.0)
    up["uac"] += net.send(0.0, "uas", actions)
    now = 0.0
    while now < 40.0:
        deadlines = [d for d in (uac.next_deadline(), uas.next_deadline()) if d is not None]
        deadlines += [t for t, _, _ in net.in_flight]
        if not deadlines:
            break
        now = min(deadlines)
        for t, to, data in [f for f in net.in_flight if f[0] <= now]:
            net.in_flight.remove((t, to, data))
            got = layers[to].receive(parse_message(data), PEER, now)
            up[to] += net.send(now, peer_of[to], got)
            for action in got:
                if isinstance(action, DeliverRequest) and action.request.method == "INVITE":
                    # The UAS rejects the call at once.
                    busy = build_response(action.request, 486, to_tag="busy")
                    up[to] += net.send(now, peer_of[to], uas.send_response(busy, now))
        for name, layer in layers.items():
            d = layer.next_deadline()
            if d is not None and d <= now:
                up[name] += net.send(now, peer_of[name], layer.handle_timer(now))
    assert net.log[:6] == [
        (0.0, "uas", "INVITE"),  # lost
        (0.5, "uas", "INVITE"),  # timer A
        (0.55, "uac", "100"),
        (0.55, "uac", "486"),  # lost
        (pytest.approx(1.05), "uac", "486"),  # timer G at T1
        (pytest.approx(1.1), "uas", "ACK"),
    ]
    delivered = [a.response.status for a in up["uac"] if isinstance(a, DeliverResponse)]
    assert delivered == [100, 486]  # the retransmitted 486 is not delivered twice
    assert TransactionTerminated(key) in up["uac"]
    assert len(uac) == 0 and len(uas) == 0


def test_layer_merged_request_gets_482() -> None:
    layer = TransactionLayer()
    _, key = incoming_invite(layer)
    # The same INVITE forked back to us through another proxy: new branch.
    copy = wire(request(branch="z9hG4bKviaother"))
    assert isinstance(copy, Request)
    actions = layer.receive(copy, PEER, 0.1)
    assert [r.status for r in sent(actions) if isinstance(r, Response)] == [100, 482]
    assert not any(isinstance(a, DeliverRequest) for a in actions)
    # Once the first INVITE is over, a new one with the same identity is no longer merged.
    inv = layer.server(key)
    assert inv is not None
    layer.send_response(build_response(inv.request, 486, to_tag="t"), 0.2, key=key)
    run_timers(layer, 100.0)
    again = wire(request(branch="z9hG4bKlater"))
    assert isinstance(again, Request)
    assert any(isinstance(a, DeliverRequest) for a in layer.receive(again, PEER, 101.0))


def test_layer_late_fork_copy_after_200_is_merged() -> None:
    layer = TransactionLayer()
    inv, key = incoming_invite(layer)
    layer.send_response(build_response(inv, 200, to_tag="t"), 0.2, key=key)
    copy = wire(request(branch="z9hG4bKlatefork"))
    assert isinstance(copy, Request)
    actions = layer.receive(copy, PEER, 0.3)
    assert [r.status for r in sent(actions) if isinstance(r, Response)] == [100, 482]


# -- Timer C: an INVITE that rings forever, or whose CANCEL is ignored -------------------


def test_ict_timer_c_restarts_on_each_provisional_then_times_out() -> None:
    ict = make_ict()
    ict.start(0.0)
    ict.handle_message(build_response(ict.request, 180, to_tag="tt"), 0.2)
    ict.handle_message(build_response(ict.request, 183, to_tag="tt"), 100.0)
    assert ict.next_deadline() == 281.0
    assert run_timers(ict, 1000.0) == [
        (281.0, TransactionTimedOut(ict.key, "C")), (281.0, TransactionTerminated(ict.key))
    ]


def test_layer_far_end_ignoring_our_cancel_is_forgotten_after_64_t1() -> None:
    layer = TransactionLayer()
    inv = request()
    key, _ = layer.send_request(inv, PEER, 0.0)
    layer.receive(wire(build_response(inv, 180, to_tag="far")), PEER, 0.2)
    [cancel] = sent(layer.cancel(key, 1.0))
    assert isinstance(cancel, Request) and cancel.method == "CANCEL"
    assert layer.cancel(key, 2.0) == []  # one CANCEL only
    assert len(layer) == 2
    events = run_timers(layer, 1000.0)
    # 64*T1 after the CANCEL both give up: the INVITE on Timer C, the CANCEL on F.
    assert (33.0, TransactionTimedOut(key, "C")) in events
    assert (33.0, TransactionTimedOut(client_key(cancel), "F")) in events
    assert len(layer) == 0 and layer.next_deadline() is None


def test_layer_timer_c_cancels_an_invite_that_rings_forever() -> None:
    layer = TransactionLayer(timers=TimerConfig(timer_c=60.0))
    inv = request()
    key, _ = layer.send_request(inv, PEER, 0.0)
    layer.receive(wire(build_response(inv, 180, to_tag="far")), PEER, 0.5)
    events = run_timers(layer, 60.5)
    assert (60.5, TransactionTimedOut(key, "C")) in events
    cancels = [a.message for _, a in events if isinstance(a, Transmit)]
    assert [(m.method, m.branch) for m in cancels if isinstance(m, Request)] == [("CANCEL", inv.branch)]
    # The far end's 487 now finds no transaction: it goes up as stray.
    late = wire(build_response(inv, 487, to_tag="far"))
    assert isinstance(late, Response)
    assert layer.receive(late, PEER, 61.0) == [DeliverResponse(late, None)]
    run_timers(layer, 1000.0)
    assert len(layer) == 0


def test_layer_answer_after_cancel_stops_timer_c() -> None:
    layer = TransactionLayer()
    inv = request()
    key, _ = layer.send_request(inv, PEER, 0.0)
    layer.receive(wire(build_response(inv, 180, to_tag="far")), PEER, 0.2)
    layer.cancel(key, 1.0)
    ok = wire(build_response(inv, 200, to_tag="far"))
    assert isinstance(ok, Response)
    assert DeliverResponse(ok, key) in layer.receive(ok, PEER, 2.0)
    assert not any(isinstance(a, TransactionTimedOut) and a.key == key for _, a in run_timers(layer, 100.0))
