"""The self-service nodes of IVR flows: offer_open_issue, status_lookup, announce_incident, route to owner."""

from __future__ import annotations

from pathlib import Path

import pytest

from hotline.calls.flowcheck import FlowEnvironment, check_flows, load_flows
from hotline.calls.flows import (
    AnnounceIncidentNode,
    BranchNode,
    OfferOpenIssueNode,
    RouteKind,
    RouteNode,
    StatusLookupNode,
)
from hotline.calls.routing import plan_route
from hotline.config import RoutingConfig
from hotline.store.records import Person, PostAssignment

REPO_FLOWS = Path(__file__).resolve().parents[3] / "ivr_flows"
ENV = FlowEnvironment(categories={"network": "2", "email": "4"}, posts={"network"})

SELF_SERVICE = """\
[flow]
name = "default"
start = "incident"

[nodes.incident]
kind = "announce_incident"
timeout = 4
linked_next = "bye"
next = "offer"

[nodes.offer]
kind = "offer_open_issue"
linked_next = "owner"
next = "menu"

[nodes.owner]
kind = "route"
to = "owner"
next = "menu"

[nodes.menu]
kind = "menu"
choices = { 8 = "status" }
timeout_next = "bye"

[nodes.status]
kind = "status_lookup"
next = "menu"

[nodes.bye]
kind = "hangup"
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "flows"
    path.mkdir()
    return path


def check(folder: Path, text: str) -> list[str]:
    (folder / "default.toml").write_text(text, encoding="utf-8")
    return [str(p) for p in check_flows(folder, ENV)]


def line_of(text: str, fragment: str) -> int:
    (line,) = [n for n, row in enumerate(text.splitlines(), 1) if fragment in row]
    return line


def test_the_self_service_nodes_load_into_the_model(folder: Path) -> None:
    (folder / "default.toml").write_text(SELF_SERVICE, encoding="utf-8")
    flow = load_flows(folder, ENV).flows["default"]
    incident, offer, owner, status = (flow.node(n) for n in ("incident", "offer", "owner", "status"))
    assert incident == AnnounceIncidentNode(id="incident", line=5, timeout=4.0, next="offer",
                                            linked_next="bye")
    assert offer == OfferOpenIssueNode(id="offer", line=11, timeout=5.0, next="menu", linked_next="owner")
    assert status == StatusLookupNode(id="status", line=26, next="menu")
    assert isinstance(owner, RouteNode) and owner.route_kind is RouteKind.OWNER and owner.post is None
    assert offer.exits() == (("next", "menu"), ("linked_next", "owner"))


def test_missing_and_dangling_exits_of_the_new_nodes_are_reported_at_their_lines(folder: Path) -> None:
    text = SELF_SERVICE.replace('linked_next = "bye"\n', "").replace('next = "menu"\n\n[nodes.menu]',
                                                                     'next = "nowhere"\n\n[nodes.menu]')
    text = text.replace("timeout = 4", "timeout = 0.2")
    problems = check(folder, text)
    path = folder / "default.toml"
    nowhere = line_of(text, 'next = "nowhere"')
    assert problems == [
        f"{path}:{line_of(text, '[nodes.incident]')}: nodes.incident.linked_next: is required",
        f"{path}:{line_of(text, 'timeout = 0.2')}: nodes.incident.timeout: expected a number of seconds "
        "between 1 and 60, got 0.2",
        f'{path}:{nowhere}: nodes.owner.next: no node "nowhere" '
        "(known nodes: incident, offer, owner, menu, status, bye)",
    ]


def test_a_loop_through_self_service_nodes_alone_is_refused(folder: Path) -> None:
    # An offer with nothing to offer, or no incident, goes straight on: neither waits for a key.
    text = SELF_SERVICE.replace('linked_next = "owner"\nnext = "menu"', 'linked_next = "owner"\nnext = "status"')
    text = text.replace('kind = "status_lookup"\nnext = "menu"', 'kind = "status_lookup"\nnext = "offer"')
    problems = check(folder, text)
    assert len(problems) == 1 and "loops without waiting for the caller: offer → status → offer" in problems[0]


def test_owner_is_a_route_name_and_not_a_target(folder: Path) -> None:
    assert check(folder, SELF_SERVICE) == []
    problems = check(folder, SELF_SERVICE.replace('to = "owner"', 'to = "owners"'))
    assert len(problems) == 1 and 'no route target named "owners"' in problems[0]
    assert "owner, post:<post id>" in problems[0]


def test_the_default_flow_offers_incidents_open_issues_and_status() -> None:
    flow = load_flows(REPO_FLOWS, ENV).flows["default"]
    kinds = {node.kind for node in flow.nodes.values()}
    assert {"announce_incident", "offer_open_issue", "status_lookup"} <= kinds
    incident_check, open_issue_check = flow.node("incident_check"), flow.node("open_issue_check")
    assert isinstance(incident_check, BranchNode) and str(incident_check.when[0]) == "major_incident"
    assert isinstance(open_issue_check, BranchNode) and str(open_issue_check.when[0]) == "caller_has_open_issue"
    menu = flow.node("menu")
    assert flow.node(dict(menu.exits())["choices.8"]).kind == "status_lookup"
    offer = flow.node("offer")
    assert isinstance(offer, OfferOpenIssueNode)
    route = flow.node(flow.node(offer.linked_next).exits()[0][1])
    assert isinstance(route, RouteNode) and route.to == "owner"


def test_the_owner_route_rings_the_owner_then_the_post_a_and_b_roles_once_each() -> None:
    staff = {p: Person(p, p.title(), mobile=f"sip:{p}@127.0.0.1") for p in ("li", "zhang", "wang")}
    assignments = [PostAssignment("network", "wang", "B", 2), PostAssignment("network", "zhang", "A"),
                   PostAssignment("network", "li", "B", 1)]
    plan = plan_route("owner", routing=RoutingConfig(), on_call=None, staff=staff, away={"wang": "on leave"},
                      assignments=assignments, owner="li")
    assert [(t.person, t.role, t.skip) for t in plan.targets] == [
        ("li", "owner", None), ("zhang", "A", None), ("wang", "B", "on leave")]
    assert plan.whisper and plan.record_label(plan.targets[0]) == "owner:li"
    nobody = plan_route("owner", routing=RoutingConfig(), on_call=None, staff={}, away={}, owner=None)
    assert nobody.targets == () and "no owner" in nobody.note
