"""IVR flows: the model the call controller walks, and the decisions it takes on the way.

Theory of operation. A flow is a small graph written by the IT administrator in
a TOML file (``ivr_flows/*.toml``, one flow per file; ``ivr_flows/README.md``
is the format's manual). Each node is a frozen dataclass of one kind --
:class:`PlayNode`, :class:`MenuNode`, :class:`CollectNode`, :class:`SetNode`,
:class:`BranchNode`, :class:`RouteNode`, :class:`VoicemailNode`,
:class:`HangupNode`, :class:`GotoNode`, and the self-service nodes that use what the
hotline knows of the caller: :class:`OfferOpenIssueNode`, :class:`StatusLookupNode`,
:class:`AnnounceIncidentNode` -- and names the nodes it leads to by
id. The call controller holds the id of the current node, does what the node
says, and moves on; the decisions it takes from the caller's keys and from the
facts of the moment are the pure helpers here (:func:`menu_target`,
:meth:`Condition.holds`), so the controller keeps no flow logic of its own.

Flows are made only by :func:`hotline.calls.flowcheck.load_flows`, which
checks every file against the others and against what exists (categories,
posts, route targets, prompt recordings) and refuses the whole folder on any
problem. So a call never meets a dangling reference, a menu it cannot leave,
or a loop that plays prompts forever without waiting for a key; the model
trusts that and does no checking of its own.

Nothing here does I/O.
"""

from __future__ import annotations

import enum
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import ClassVar, Final

__all__ = [
    "CATEGORY_PROMPTS",
    "CONDITIONS",
    "DEFAULT_FLOW",
    "AnnounceIncidentNode",
    "BranchNode",
    "CollectNode",
    "Condition",
    "Flow",
    "FlowSet",
    "GotoNode",
    "HangupNode",
    "MenuChoice",
    "MenuNode",
    "Node",
    "OfferOpenIssueNode",
    "PlayNode",
    "RouteKind",
    "RouteNode",
    "SetNode",
    "StatusLookupNode",
    "VoicemailNode",
    "conditions_hold",
    "menu_target",
    "prompts_of",
]

DEFAULT_FLOW: Final = "default"
"""The flow that serves every dialled number no other flow lists."""

CONDITIONS: Final = (
    "business_hours", "holiday", "make_up_workday", "weekend",
    "caller_known", "caller_has_open_issue", "desk_available", "major_incident",
)
"""The facts a branch may test; the call controller supplies each as a bool."""

CATEGORY_PROMPTS: Final = "@categories"
"""In a category menu's ``prompts``: where the generated per-category fragments play."""

_EMPTY: Mapping[str, str] = MappingProxyType({})


# -- decisions ------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Condition:
    """One test of a branch: a fact by name, possibly negated (``not business_hours``)."""

    name: str
    """One of :data:`CONDITIONS`."""
    negated: bool = False
    """True when written with ``not``."""

    def holds(self, facts: Mapping[str, bool]) -> bool:
        """Whether the condition is true. Only this fact is read, so ``facts`` may be lazy.

        A fact missing from ``facts`` is a bug of the caller's and raises KeyError.
        """
        return bool(facts[self.name]) != self.negated

    def __str__(self) -> str:
        return f"not {self.name}" if self.negated else self.name


def conditions_hold(conditions: Collection[Condition], facts: Mapping[str, bool]) -> bool:
    """Whether every condition holds (a branch's ``when``); stops at the first that does not."""
    return all(condition.holds(facts) for condition in conditions)


@dataclass(frozen=True, slots=True)
class MenuChoice:
    """Where a key pressed in a menu leads."""

    next: str
    """The node the call goes to."""
    category: str | None = None
    """The category the key chose (set on the call before going on), None for an explicit choice."""


# -- nodes ----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True, kw_only=True)
class _NodeBase:
    id: str
    """The node's id: the ``<id>`` of its ``[nodes.<id>]`` table."""
    line: int
    """Line of the ``[nodes.<id>]`` header in the flow file (0 if unknown)."""

    kind: ClassVar[str]
    """The ``kind`` written in the file."""
    waits_for_caller: ClassVar[bool] = False
    """Whether the node waits for a key; a loop needs one such node to be safe."""

    def exits(self) -> tuple[tuple[str, str], ...]:
        """``(key, node id)`` for every node this one may lead to, in the order written."""
        return ()


@dataclass(frozen=True, slots=True, kw_only=True)
class PlayNode(_NodeBase):
    """Play prompts, then go on."""

    kind: ClassVar[str] = "play"
    prompts: tuple[str, ...]
    """Prompt ids, played in order."""
    next: str
    """The node after the prompts."""
    barge_in: bool = True
    """A key press cuts the prompts short; the key is kept for a following menu or collect."""

    def exits(self) -> tuple[tuple[str, str], ...]:
        return (("next", self.next),)


@dataclass(frozen=True, slots=True, kw_only=True)
class MenuNode(_NodeBase):
    """Play prompts and wait for one key; repeat on silence or a wrong key, then give up."""

    kind: ClassVar[str] = "menu"
    waits_for_caller: ClassVar[bool] = True
    prompts: tuple[str, ...] = ()
    """Prompt ids played in order; :data:`CATEGORY_PROMPTS` marks where the category fragments go."""
    choices: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    """Key (``0``-``9``, ``*``, ``#``) → node id."""
    categories: bool = False
    """Also offer every category that has a menu digit (given at call time)."""
    category_next: str | None = None
    """Where a category key leads, after the call's category is set (required with ``categories``)."""
    timeout: float = 5.0
    """Seconds to wait for a key after the prompts end."""
    retries: int = 2
    """How many times the prompts are repeated after a timeout or a wrong key."""
    invalid: tuple[str, ...] = ()
    """Prompt ids played after a wrong key."""
    timeout_next: str
    """Where the call goes when the retries are used up (the timeout path)."""
    barge_in: bool = True
    """A key press cuts the prompts short and counts as the answer."""

    def exits(self) -> tuple[tuple[str, str], ...]:
        out = [(f"choices.{digit}", target) for digit, target in self.choices.items()]
        if self.categories and self.category_next is not None:
            out.append(("category_next", self.category_next))
        out.append(("timeout_next", self.timeout_next))
        return tuple(out)


@dataclass(frozen=True, slots=True, kw_only=True)
class CollectNode(_NodeBase):
    """Play prompts and collect a number typed on the keypad (always barge-in)."""

    kind: ClassVar[str] = "collect"
    waits_for_caller: ClassVar[bool] = True
    prompts: tuple[str, ...] = ()
    """Prompt ids played in order; the first key cuts them short."""
    min_digits: int = 1
    """Fewest digits accepted."""
    max_digits: int = 8
    """Collection ends as soon as this many digits are typed."""
    terminator: str = "#"
    """The key that ends the number early (``#``, ``*``, or "" for none); not stored."""
    timeout: float = 8.0
    """Seconds allowed for the first digit and between digits."""
    into: str = "digits"
    """Where the number is stored on the call: ``employee_id``, ``digits`` or ``callback_number``."""
    next: str
    """Where the call goes with a number of ``min_digits`` or more."""
    timeout_next: str
    """Where the call goes when time runs out with too few digits."""

    def exits(self) -> tuple[tuple[str, str], ...]:
        return (("next", self.next), ("timeout_next", self.timeout_next))


@dataclass(frozen=True, slots=True, kw_only=True)
class SetNode(_NodeBase):
    """Set facts on the call (at least one of them), then go on."""

    kind: ClassVar[str] = "set"
    category: str | None = None
    """Category id for the call's issue."""
    priority: str | None = None
    """Priority for the call's issue, ``P1``-``P4``."""
    tags: tuple[str, ...] = ()
    """Tags added to the call's issue."""
    language: str | None = None
    """The language of the prompts from now on (one of the flow's)."""
    next: str
    """The node after."""

    def exits(self) -> tuple[tuple[str, str], ...]:
        return (("next", self.next),)


@dataclass(frozen=True, slots=True, kw_only=True)
class BranchNode(_NodeBase):
    """Go one way or the other on facts of the moment."""

    kind: ClassVar[str] = "branch"
    when: tuple[Condition, ...]
    """Conditions that must all hold (see :func:`conditions_hold`)."""
    then: str
    """Where the call goes when they do."""
    otherwise: str
    """Where it goes when they do not (``else`` in the file)."""

    def exits(self) -> tuple[tuple[str, str], ...]:
        return (("then", self.then), ("else", self.otherwise))


class RouteKind(enum.Enum):
    """Who a route node rings."""

    DESK = "desk"
    """The duty desk (operators' consoles)."""
    ONCALL = "oncall"
    """The on-call engineer of the rota."""
    POST = "post"
    """A post's A role, then its B roles."""
    TARGET = "target"
    """A target the administrator named in the configuration."""
    OWNER = "owner"
    """The owner of the issue the call was linked to, then the A and B roles of its post."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RouteNode(_NodeBase):
    """Ring someone; the call ends bridged to them, or goes on when nobody answers."""

    kind: ClassVar[str] = "route"
    to: str
    """As written: ``desk``, ``oncall``, ``owner``, ``post:<post id>`` or a configured target's name."""
    next: str
    """Where the call goes when nobody answered (overflow)."""
    ring_seconds: float | None = None
    """Ring time overriding the configured one, None to keep it."""

    @property
    def route_kind(self) -> RouteKind:
        if self.to in ("desk", "oncall", "owner"):
            return RouteKind(self.to)
        return RouteKind.POST if self.to.startswith("post:") else RouteKind.TARGET

    @property
    def post(self) -> str | None:
        """The post id of a ``post:<id>`` route, else None."""
        return self.to.removeprefix("post:") if self.route_kind is RouteKind.POST else None

    def exits(self) -> tuple[tuple[str, str], ...]:
        return (("next", self.next),)


@dataclass(frozen=True, slots=True, kw_only=True)
class VoicemailNode(_NodeBase):
    """Play prompts (then a tone), record a message, then go on."""

    kind: ClassVar[str] = "voicemail"
    prompts: tuple[str, ...] = ()
    """Prompt ids played before the tone."""
    max_seconds: float = 120.0
    """Longest message recorded."""
    next: str
    """The node after the recording (usually a hangup)."""

    def exits(self) -> tuple[tuple[str, str], ...]:
        return (("next", self.next),)


@dataclass(frozen=True, slots=True, kw_only=True)
class HangupNode(_NodeBase):
    """Play prompts, then hang up."""

    kind: ClassVar[str] = "hangup"
    prompts: tuple[str, ...] = ()
    """Prompt ids played before hanging up."""


@dataclass(frozen=True, slots=True, kw_only=True)
class GotoNode(_NodeBase):
    """Go to another node."""

    kind: ClassVar[str] = "goto"
    next: str
    """The node to go to."""

    def exits(self) -> tuple[tuple[str, str], ...]:
        return (("next", self.next),)


@dataclass(frozen=True, slots=True, kw_only=True)
class OfferOpenIssueNode(_NodeBase):
    """Read the caller's newest open issues (one or two) and offer to add to one of them.

    "您有一个处理中的问题，编号 123，网络问题。补充这个问题请按1，报告新问题请按2." A key for an
    issue merges the call's own issue into it and goes to ``linked_next`` (usually a route to
    ``owner``); the "new issue" key, silence, or a caller with nothing open goes to ``next``.
    It waits for a key only when there is something to offer, so it does not count as waiting
    for the caller in the loop check.
    """

    kind: ClassVar[str] = "offer_open_issue"
    timeout: float = 5.0
    """Seconds to wait for a key after the offer ends."""
    next: str
    """A new issue: the caller chose it, said nothing, or has nothing open."""
    linked_next: str
    """The call was linked to the chosen issue."""

    def exits(self) -> tuple[tuple[str, str], ...]:
        return (("next", self.next), ("linked_next", self.linked_next))


@dataclass(frozen=True, slots=True, kw_only=True)
class StatusLookupNode(_NodeBase):
    """Read back the caller's latest issue: number, status, owner, planned date, last progress."""

    kind: ClassVar[str] = "status_lookup"
    next: str
    """The node after the read-back (or after "no issue found")."""

    def exits(self) -> tuple[tuple[str, str], ...]:
        return (("next", self.next),)


@dataclass(frozen=True, slots=True, kw_only=True)
class AnnounceIncidentNode(_NodeBase):
    """While a major incident is active: say so, and ask whether the caller calls about it.

    Key 1 links the call to the incident's parent issue (the call's own issue merged into it,
    counted, not dispatched again) and goes to ``linked_next``; any other key, silence, or no
    active incident goes to ``next``.
    """

    kind: ClassVar[str] = "announce_incident"
    timeout: float = 5.0
    """Seconds to wait for a key after the announcement ends."""
    next: str
    """Not about the incident (or none active): usually the menu."""
    linked_next: str
    """Linked to the incident: usually a short thanks and a hangup."""

    def exits(self) -> tuple[tuple[str, str], ...]:
        return (("next", self.next), ("linked_next", self.linked_next))


Node = (PlayNode | MenuNode | CollectNode | SetNode | BranchNode | RouteNode | VoicemailNode
        | HangupNode | GotoNode | OfferOpenIssueNode | StatusLookupNode | AnnounceIncidentNode)
"""Any node of a flow."""


def menu_target(node: MenuNode, digit: str, categories: Mapping[str, str]) -> MenuChoice | None:
    """Where ``digit`` leads in ``node``, or None for a wrong key.

    ``categories`` maps menu digits to category ids, as the database has them
    at call time; it is looked at only in a menu with ``categories = true``.
    An explicit choice wins over a category with the same digit.
    """
    if digit in node.choices:
        return MenuChoice(node.choices[digit])
    if node.categories and node.category_next is not None and digit in categories:
        return MenuChoice(node.category_next, categories[digit])
    return None


def prompts_of(node: Node) -> tuple[str, ...]:
    """Every prompt id the node plays (its ``prompts``, then a menu's ``invalid``)."""
    prompts: tuple[str, ...] = getattr(node, "prompts", ())
    if isinstance(node, MenuNode):
        prompts = (*prompts, *node.invalid)
    return tuple(p for p in prompts if p != CATEGORY_PROMPTS)


# -- flows ----------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True, kw_only=True)
class Flow:
    """One flow file, checked."""

    name: str
    """Unique among the flows; the file's stem unless ``[flow] name`` says otherwise."""
    path: Path
    """The file it was read from."""
    start: str
    """Id of the first node."""
    languages: tuple[str, ...]
    """Languages its prompts exist in; the first is the call's language to begin with."""
    numbers: tuple[str, ...] = ()
    """Dialled numbers (user part of the Request-URI) it serves."""
    description: str = ""
    """What it is for, in the administrator's words."""
    nodes: Mapping[str, Node]
    """Node id → node, in the order written."""
    prompt_texts: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """Prompt id → language → the text the prompt builder speaks."""

    @property
    def language(self) -> str:
        """The language a call starts in."""
        return self.languages[0]

    def node(self, node_id: str) -> Node:
        """The node with this id; KeyError for an unknown id (a bug: a loaded flow has none)."""
        return self.nodes[node_id]

    def prompt_ids(self) -> frozenset[str]:
        """Every prompt id its nodes play."""
        return frozenset(p for node in self.nodes.values() for p in prompts_of(node))


@dataclass(frozen=True, slots=True)
class FlowSet:
    """Every flow of the folder, by name; always has a flow named :data:`DEFAULT_FLOW`."""

    flows: Mapping[str, Flow]
    """Flow name → flow."""

    def for_number(self, dialled: str) -> Flow:
        """The flow that lists ``dialled`` (the Request-URI's user part), else the default flow."""
        for flow in self.flows.values():
            if dialled in flow.numbers:
                return flow
        return self.flows[DEFAULT_FLOW]

    def prompt_ids(self) -> frozenset[str]:
        """Every prompt id any node of any flow plays."""
        return frozenset().union(*(flow.prompt_ids() for flow in self.flows.values()))

