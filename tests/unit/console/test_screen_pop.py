"""The screen pop and the live panel's view of calls, read from a real SQLite store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hotline.console.screenpop import ScreenPop
from hotline.events import CallArrived, CallEnded, IvrChoice, Ringing
from hotline.store import EventDraft, Store
from hotline.store.outbound import OutboundCallStore
from hotline.store.records import Category, Employee, NewCall, Person, Post

NOW = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)
MOBILE = "+8613800000001"


async def a_call(store: Store, n: int, *, caller: str = MOBILE, employee: str | None = "E1001") -> tuple[int, int]:
    call, issue = await store.issues.create_for_call(
        NewCall(f"sip-{n}", NOW + timedelta(minutes=n), caller_key=caller, caller_raw=caller),
        employee_id=employee, caller_name="李娜" if employee else "<b>x</b>", local_year=2026, status="new")
    return call.id, issue.id


async def test_an_arriving_call_pops_up_the_caller_and_their_other_issues(store: Store) -> None:
    await store.directory.upsert([Employee("E1001", "李娜", "财务部", "总部 3 楼", mobile=MOBILE, extension="8123")])
    first_call, first = await a_call(store, 1)
    closed_call, closed = await a_call(store, 2)
    await store.issues.apply(closed, expect_status="new", changes={"status": "closed"}, at=NOW,
                             event=EventDraft("chenjing", "status", note="test call"))
    call, issue = await a_call(store, 3)
    message = await ScreenPop(store).message(
        CallArrived(call, NOW, issue, "HL-2026-000003", "138 0000 0001", "李娜", "E1001", "default"))
    assert message["kind"] == "call_arrived" and message["caller_name"] == "李娜"
    pop = message["pop"]
    assert pop["issue"] == {"id": issue, "number": "HL-2026-000003"}
    assert pop["caller"] == {"number": "138 0000 0001", "key": MOBILE, "name": "李娜", "employee_id": "E1001",
                             "department": "财务部", "location": "总部 3 楼", "extension": "8123"}
    assert [i["id"] for i in pop["open_issues"]] == [first]  # not this call's own record
    assert [i["id"] for i in pop["recent_issues"]] == [closed, first]  # newest first
    assert pop["recent_issues"][0]["status"] == "closed"
    assert {first_call, closed_call}.isdisjoint({call})


async def test_an_unknown_caller_has_a_pop_without_directory_facts(store: Store) -> None:
    call, issue = await a_call(store, 1, caller="+8613412345678", employee=None)
    pop = (await ScreenPop(store).message(
        CallArrived(call, NOW, issue, "HL-2026-000001", "134 1234 5678", "<b>x</b>")))["pop"]
    assert pop["caller"]["name"] == "<b>x</b>"  # the display name, as text: the page escapes it
    assert (pop["caller"]["department"], pop["caller"]["location"]) == (None, None)
    assert pop["open_issues"] == pop["recent_issues"] == []


async def test_keys_and_people_are_named(store: Store) -> None:
    await store.people.upsert_people([Person("sunli", "孙丽")])
    await store.people.upsert_posts([Post("net", "网络岗")])
    await store.people.upsert_categories([Category("network", "网络", "net", "2", "Network")])
    pop = ScreenPop(store)
    choice = await pop.message(IvrChoice(1, NOW, "menu", "2", "network"))
    assert (choice["label"], choice["label_en"]) == ("网络", "Network")
    other = await pop.message(IvrChoice(1, NOW, "menu", "9", "english"))
    assert (other["label"], other["label_en"]) == (None, None)
    ringing = await pop.message(Ringing(1, NOW, "sip:13900000000@pbx", "sunli"))
    assert ringing["person_name"] == "孙丽"
    ended = await pop.message(CallEnded(1, NOW, "answered", "sip:8001@pbx"))
    assert ended["answered_by_name"] is None


async def test_the_calls_in_progress_and_their_last_state(store: Store) -> None:
    await store.directory.upsert([Employee("E1001", "李娜", "财务部", "总部 3 楼", mobile=MOBILE)])
    in_ivr, _ = await a_call(store, 1)
    await store.calls.add_menu_choice(in_ivr, {"node": "menu", "digit": "2", "choice": "network"})
    forwarded, _ = await a_call(store, 2)
    await store.calls.add_attempt(forwarded, {"target": "sip:desk@pbx", "person": "sunli", "outcome": "busy"})
    answered, _ = await a_call(store, 3)
    await store.calls.update(answered, answered_by="sunli")
    ended, _ = await a_call(store, 4)
    await store.calls.end(ended, NOW + timedelta(minutes=5), "abandoned")
    views = await ScreenPop(store).open_calls(NOW + timedelta(minutes=10), known={answered})
    assert [(v["call"], v["state"]) for v in views] == [(in_ivr, "ivr"), (forwarded, "forwarding"),
                                                        (answered, "answered")]
    ivr, fwd, ans = views
    assert ivr["ivr"] == [{"node": "menu", "digits": "2", "choice": "network", "label": None, "label_en": None}]
    assert (fwd["target"], fwd["person"], fwd["outcome"]) == ("sip:desk@pbx", "sunli", "busy")
    assert ivr["caller"] == "138 0000 0001" and ivr["pop"]["caller"]["department"] == "财务部"
    assert ans["pop"] is None  # already on the board: no queries for its pop
    # A call open for longer than any call lasts is a crash's leftover, not in progress.
    assert await ScreenPop(store).open_calls(NOW + timedelta(days=2)) == []


async def test_an_outbound_call_shows_who_placed_it_and_pops_nothing(store: Store) -> None:
    await store.people.upsert_people([Person("chenjing", "陈静")])
    await store.directory.upsert([Employee("E1001", "李娜", "财务部", "总部 3 楼", mobile=MOBILE)])
    call, issue = await a_call(store, 1)
    await store.calls.end(call, NOW + timedelta(minutes=2), "missed")
    outbound = OutboundCallStore(store.db)
    back = await outbound.create(
        NewCall("callback-1", NOW + timedelta(minutes=5), caller_raw=MOBILE, caller_key=MOBILE, to_uri=MOBILE,
                direction="out"), issue_id=issue, placed_by="chenjing", employee_id="E1001",
        note={"key": "mobile"}, flow="callback")
    survey = await outbound.create(
        NewCall("survey-1", NOW + timedelta(minutes=6), caller_raw=MOBILE, caller_key=MOBILE, to_uri=MOBILE,
                direction="out"), issue_id=issue, placed_by=None, employee_id="E1001",
        note={"survey": 1}, flow="survey")
    pop = ScreenPop(store)
    message = await pop.message(CallArrived(back.call.id, NOW, issue, "HL-2026-000001", MOBILE, "李娜", "E1001",
                                            "callback", direction="out", placed_by="chenjing"))
    assert message["pop"] is None  # nobody is calling the operator
    assert (message["direction"], message["placed_by"], message["placed_by_name"], message["issue"]) == (
        "out", "chenjing", "陈静", issue)
    incoming = await pop.message(CallArrived(99, NOW, issue, "HL-2026-000001", MOBILE, "李娜", "E1001"))
    assert incoming["direction"] == "in" and incoming["pop"] is not None
    # Read back from the database (a reconciliation): still outbound, its issue, who placed it.
    views = {v["call"]: v for v in await pop.open_calls(NOW + timedelta(minutes=10))}
    assert set(views) == {back.call.id, survey.call.id}
    for view in views.values():
        assert (view["direction"], view["issue"], view["issue_number"], view["pop"]) == (
            "out", issue, "HL-2026-000001", None)
    assert (views[back.call.id]["placed_by"], views[back.call.id]["placed_by_name"]) == ("chenjing", "陈静")
    assert (views[survey.call.id]["placed_by"], views[survey.call.id]["flow"]) == (None, "survey")
