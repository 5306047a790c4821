"""The live panel's feed without sockets: the replay ring, the send queues' policy, the board.

A property test plays random call stories with browsers dropping off and coming back at random
moments: whatever they missed, a browser that applies what it is sent ends with the board.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hotline.console.livefeed import LiveBoard, LiveFeed, ReplayRing, SendQueue, fold, new_view

NOW = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)


def arrived(call: int, at: datetime = NOW, **extra: Any) -> dict[str, Any]:
    return {"kind": "call_arrived", "call": call, "at": at.isoformat(), "issue": 100 + call,
            "issue_number": f"HL-2026-{100 + call:06d}", "caller": "134 1234 5678", "caller_name": None,
            "employee_id": None, "flow": "default", "pop": {"issue": {"id": 100 + call}}, **extra}


def event(kind: str, call: int, **fields: Any) -> dict[str, Any]:
    return {"kind": kind, "call": call, "at": NOW.isoformat(), **fields}


def decoded(queue: SendQueue) -> list[dict[str, Any]]:
    return [json.loads(text) for text in queue.take()]


# -- the ring --------------------------------------------------------------------------------


def test_ring_replays_what_follows_a_sequence_while_it_holds_it() -> None:
    ring = ReplayRing(max_messages=3)
    for seq in range(1, 6):
        ring.append(seq, f"m{seq}")
    assert (ring.first_seq, ring.last_seq, len(ring)) == (3, 5, 3)
    assert ring.since(2, 5) == ["m3", "m4", "m5"]  # the oldest held follows 2: nothing lost
    assert ring.since(4, 5) == ["m5"]
    assert ring.since(5, 5) == []
    assert ring.since(1, 5) is None  # 2 is gone: too old
    assert ring.since(6, 5) is None  # ahead of us: not one of ours (a restart)
    with pytest.raises(ValueError, match="does not follow"):
        ring.append(7, "m7")


def test_ring_is_bounded_in_bytes_but_keeps_the_newest_message() -> None:
    ring = ReplayRing(max_messages=100, max_bytes=10)
    ring.append(1, "aaaa")
    ring.append(2, "bbbb")
    ring.append(3, "cccc")  # 12 bytes: the oldest goes
    assert ring.first_seq == 2
    ring.append(4, "x" * 50)  # alone over the bound: still kept
    assert (ring.first_seq, ring.last_seq) == (4, 4)
    assert ReplayRing().since(0, 0) == []


# -- the send queue ----------------------------------------------------------------------------


def test_send_queue_wakes_its_writer_once_per_batch_and_hands_out_in_order() -> None:
    wakes: list[int] = []
    queue = SendQueue(max_messages=10, on_ready=lambda: wakes.append(1))
    assert queue.push("a") and queue.push("b")
    assert len(wakes) == 1  # empty -> non-empty only
    assert queue.take() == ["a", "b"] and len(queue) == 0 and queue.bytes == 0
    queue.push("c")
    assert len(wakes) == 2 and queue.sent == 2


@pytest.mark.parametrize(("limits", "texts"), [
    ({"max_messages": 3}, ["a", "b", "c", "d"]),
    ({"max_bytes": 10}, ["aaaa", "bbbb", "cccc"]),
])
def test_send_queue_overruns_instead_of_growing(limits: dict[str, int], texts: list[str]) -> None:
    queue = SendQueue(**limits)
    results = [queue.push(t) for t in texts]
    assert results[-1] is False and all(results[:-1])
    assert queue.overrun and len(queue) == 0 and queue.bytes == 0  # memory given back at once
    assert queue.push("late") is False and queue.push("forced", force=True) is False


def test_send_queue_takes_an_opening_snapshot_whatever_its_size() -> None:
    queue = SendQueue(max_messages=2, max_bytes=5)
    assert queue.push("x" * 100, force=True) and not queue.overrun
    assert not queue.fits(["y"]) and queue.push("y") is False and queue.overrun


# -- the board ---------------------------------------------------------------------------------


def test_fold_follows_a_call_through_its_states() -> None:
    story = [
        (arrived(1), "arrived"),
        (event("ivr_choice", 1, node="menu", digits="2", choice="network", label="网络", label_en="Network"),
         "ivr"),
        (event("routed", 1, route="desk", reason=""), "forwarding"),
        (event("ringing", 1, target="sip:desk@x", person="chenjing", person_name="陈静"), "forwarding"),
        (event("declined", 1, target="sip:desk@x", person="chenjing", person_name="陈静", outcome="busy"),
         "forwarding"),
        (event("ringing", 1, target="sip:d2@x", person="sunli", person_name="孙丽"), "forwarding"),
        (event("answered", 1, target="sip:d2@x", person="sunli", person_name="孙丽"), "forwarding"),
        (event("accepted", 1, target="sip:d2@x", person="sunli", person_name="孙丽"), "answered"),
        (event("call_ended", 1, disposition="answered", answered_by="sunli", answered_by_name="孙丽"), "ended"),
    ]
    view = None
    outcomes = []
    for seq, (message, state) in enumerate(story, 1):
        view = fold(view, {**message, "seq": seq})
        assert view is not None and view["state"] == state, message
        outcomes.append(view["outcome"])
    assert view is not None
    assert outcomes[3:7] == [None, "busy", None, "answered"]
    assert view["ivr"] == [{"node": "menu", "digits": "2", "choice": "network", "label": "网络",
                            "label_en": "Network"}]
    assert (view["answered_by"], view["answered_by_name"], view["disposition"]) == ("sunli", "孙丽", "answered")
    assert view["seq"] == len(story) and view["pop"] == {"issue": {"id": 101}}
    assert fold(None, event("ivr_choice", 9, node="m", digits="1", choice="x")) is None
    vm = fold(fold(arrived(2), event("routed", 2, route="voicemail")), event("voicemail", 2, path="/v", seconds=7.5))
    assert vm is not None and (vm["state"], vm["voicemail_seconds"]) == ("voicemail", 7.5)


def test_an_outbound_call_stays_outbound_on_the_board() -> None:
    out = fold(None, arrived(3, direction="out", placed_by="chenjing", placed_by_name="陈静", flow="callback",
                             pop=None))
    out = fold(out, event("ringing", 3, target="+8613800000001", person=None))
    assert out is not None
    assert (out["direction"], out["placed_by"], out["placed_by_name"], out["pop"], out["state"]) == (
        "out", "chenjing", "陈静", None, "forwarding")
    incoming = fold(None, arrived(4))  # an event from before outbound calls were told apart
    assert incoming is not None and (incoming["direction"], incoming["placed_by"]) == ("in", None)


def test_board_reconciles_with_the_database() -> None:
    board = LiveBoard()
    board.apply(arrived(1), 1)  # on the board before the read, gone from the database: ended
    board.apply(arrived(2), 2)
    board.apply(event("call_ended", 2, disposition="abandoned"), 3)  # ended after the read
    board.apply(arrived(5), 5)  # came on the board after the read
    old = (NOW - timedelta(seconds=30)).isoformat()
    database = [
        {"call": 2, "started_at": old},  # open when read, ended since: stays off
        {"call": 3, "started_at": old, "state": "ivr"},  # the board never heard of it: joins
        {"call": 4, "started_at": (NOW - timedelta(seconds=1)).isoformat()},  # call_arrived on its way
    ]
    assert board.reconcile(database, read_seq=2, seq=6, now=NOW)
    assert sorted(board.calls) == [3, 5]
    assert board.calls[3]["state"] == "ivr"
    assert not board.reconcile([{"call": 3, "started_at": old}, {"call": 5, "started_at": old}], 6, 7, NOW)
    assert board.reconcile([], 7, 8, NOW) and board.calls == {}
    # Events about calls the board does not hold change nothing.
    board.apply(event("ringing", 42, target="t"), 9)
    assert board.calls == {}


# -- the feed ----------------------------------------------------------------------------------


def test_a_new_socket_gets_a_snapshot_then_every_message_in_order() -> None:
    feed = LiveFeed("E1")
    feed.publish(arrived(1))
    queue = SendQueue()
    assert feed.open(queue, since=None, epoch=None, at="t") == "connect"
    feed.publish(event("ivr_choice", 1, node="menu", digits="2", choice="network"))
    snapshot, choice = decoded(queue)
    assert (snapshot["kind"], snapshot["seq"], snapshot["epoch"], snapshot["reason"]) == ("snapshot", 1, "E1", "connect")
    assert [c["call"] for c in snapshot["calls"]] == [1]
    assert (choice["kind"], choice["seq"]) == ("ivr_choice", 2)
    assert json.loads(feed.tick("t")) == {"seq": 2, "kind": "tick", "epoch": "E1", "at": "t"}


def test_a_returning_socket_gets_only_what_it_missed_or_a_snapshot() -> None:
    feed = LiveFeed("E1", ring=ReplayRing(max_messages=4))
    for call in range(1, 7):
        feed.publish(arrived(call))
    resumed = SendQueue()
    assert feed.open(resumed, since=4, epoch="E1", at="t") == "resume"
    header, *missed = decoded(resumed)
    assert header == {"seq": 4, "kind": "resume", "epoch": "E1", "at": "t", "missed": 2}
    assert [m["seq"] for m in missed] == [5, 6]
    for since, epoch, reason in ((1, "E1", "gap"), (3, "E0", "epoch"), (9, "E1", "gap")):
        queue = SendQueue()
        assert feed.open(queue, since=since, epoch=epoch, at="t") == reason
        (snapshot,) = decoded(queue)
        assert snapshot["kind"] == "snapshot" and snapshot["seq"] == 6 and len(snapshot["calls"]) == 6
    # More missed messages than the queue may hold: a snapshot, or it would overrun at every try.
    small = SendQueue(max_messages=2)
    assert feed.open(small, since=3, epoch="E1", at="t") == "gap"


def test_a_socket_that_cannot_keep_up_is_named_and_the_others_go_on() -> None:
    feed = LiveFeed("E1")
    slow, fast = SendQueue(max_messages=3), SendQueue()
    feed.open(slow, since=None, epoch=None, at="t")
    feed.open(fast, since=None, epoch=None, at="t")
    overrun = [feed.publish(arrived(call)) for call in range(1, 5)]
    assert overrun == [[], [], [slow], []]
    assert [m["seq"] for m in decoded(fast)] == [0, 1, 2, 3, 4]
    feed.close(slow)
    assert feed.queues == {fast}


def test_a_change_found_in_the_database_is_broadcast_as_a_sequenced_snapshot() -> None:
    feed = LiveFeed("E1")
    feed.publish(arrived(1))
    queue = SendQueue()
    feed.open(queue, since=None, epoch=None, at="t")
    queue.take()
    assert feed.reconcile([{"call": 1, "started_at": NOW.isoformat()}], 1, NOW) == []
    assert queue.take() == []  # nothing changed: nothing sent
    feed.reconcile([], 1, NOW)  # call 1 ended and we missed it
    (resync,) = decoded(queue)
    assert (resync["kind"], resync["reason"], resync["seq"], resync["calls"]) == ("snapshot", "resync", 2, [])
    assert feed.ring.last_seq == 2


# -- the protocol, as a browser sees it ------------------------------------------------------

KINDS = ("ivr_choice", "routed", "ringing", "declined", "answered", "accepted", "voicemail", "call_ended")


class Browser:
    """live.js's rules in a few lines: snapshot replaces, events fold, gaps reconnect."""

    def __init__(self) -> None:
        self.calls: dict[int, dict[str, Any]] = {}
        self.last: int | None = None
        self.epoch: str | None = None

    def receive(self, m: dict[str, Any]) -> None:
        if m["kind"] == "snapshot" and m["reason"] != "resync":
            self.epoch, self.last = m["epoch"], m["seq"]
            self.calls = {c["call"]: c for c in m["calls"]}
            return
        if m["kind"] == "resume":
            assert (m["epoch"], m["seq"]) == (self.epoch, self.last)
            return
        assert self.last is not None and m["seq"] == self.last + 1, "a gap"
        self.last = m["seq"]
        if m["kind"] == "snapshot":
            self.calls = {c["call"]: c for c in m["calls"]}
            return
        view = fold(self.calls.get(m["call"]), m)
        if view is None:
            return
        if view["state"] == "ended":
            self.calls.pop(m["call"], None)
        else:
            self.calls[m["call"]] = view


@settings(max_examples=200, deadline=None)
@given(steps=st.lists(st.one_of(
    st.tuples(st.just("event"), st.integers(1, 4), st.sampled_from(("call_arrived", *KINDS))),
    st.tuples(st.just("drop"), st.just(0), st.just("")),
    st.tuples(st.just("back"), st.just(0), st.just("")),
    st.tuples(st.just("resync"), st.integers(0, 4), st.just("")),
), max_size=60), ring=st.integers(1, 8), queue_size=st.integers(2, 12))
def test_a_browser_that_comes_and_goes_always_ends_with_the_board(
        steps: list[tuple[str, int, str]], ring: int, queue_size: int) -> None:
    feed = LiveFeed("E1", ring=ReplayRing(max_messages=ring))
    browser = Browser()
    queue: SendQueue | None = SendQueue(max_messages=queue_size)
    feed.open(queue, since=None, epoch=None, at="t")
    old = (NOW - timedelta(minutes=1)).isoformat()

    def deliver() -> None:
        nonlocal queue
        if queue is None:
            return
        if queue.overrun:  # closed with 4001: the browser comes back
            feed.close(queue)
            queue = None
            return
        for text in queue.take():
            browser.receive(json.loads(text))

    for action, call, kind in steps:
        if action == "event":
            message = arrived(call) if kind == "call_arrived" else event(
                kind, call, target="t", person="p", person_name="P", outcome="busy", route="desk",
                disposition="missed", node="menu", digits="1", choice="c", seconds=1.0)
            feed.publish(message)
            if call % 2:  # some browsers read at once, some fall behind
                deliver()
        elif action == "drop" and queue is not None:
            deliver()
            feed.close(queue)
            queue = None
        elif action == "back" and queue is None:
            queue = SendQueue(max_messages=queue_size)
            feed.open(queue, since=browser.last, epoch=browser.epoch, at="t")
            deliver()
        elif action == "resync":
            views = [{**new_view(arrived(c)), "started_at": old} for c in range(1, call + 1)]
            feed.reconcile(views, feed.seq, NOW)
    if queue is None or queue.overrun:
        if queue is not None:
            feed.close(queue)
        queue = SendQueue(max_messages=10_000)
        feed.open(queue, since=browser.last, epoch=browser.epoch, at="t")
    deliver()
    assert browser.calls == feed.board.calls
    assert browser.last == feed.seq


def test_a_message_that_cannot_be_encoded_takes_no_number() -> None:
    feed = LiveFeed("E1")
    circular: dict[str, Any] = {"kind": "routed", "call": 1}
    circular["self"] = circular
    with pytest.raises(ValueError, match=r"[Cc]ircular"):
        feed.publish(circular)
    feed.publish(arrived(1))
    assert (feed.seq, feed.ring.first_seq, feed.ring.last_seq) == (1, 1, 1)
