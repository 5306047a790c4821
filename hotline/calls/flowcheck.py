"""Reading and checking IVR flow files: every problem of every file, each at its line.

Theory of operation. :func:`load_flows` turns the flows folder into a
:class:`~hotline.calls.flows.FlowSet` or refuses it whole, and no pass stops at
the first problem, so one reload shows the administrator everything to fix:

1. *Reading*, file by file: ``tomllib`` parses, then a
   :class:`~hotline.configreader.Section` per table hands out typed values and
   records each missing, unknown or ill-typed key at its line, exactly as for
   the configuration file. Node kinds are read by a table of readers. A node
   of unknown kind becomes no node, but its id stays known, so references to
   it are not reported a second time. Checks of one key against the
   :class:`FlowEnvironment` (a category, a post, a route target, a menu key
   that a category already has) are made as the key is read.
2. *The graph*, file by file: every reference names a node, every node can be
   reached from ``start``, no cycle is made only of nodes that never wait for
   the caller, and every prompt played exists in each of the flow's languages.
3. *Across files*: flow names are unique, no number is served by two flows,
   and one flow is named ``default``.

Problems read ``file:line: key: message`` and come sorted by file and line.
"""

from __future__ import annotations

import re
import tomllib
from collections import deque
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

from hotline.calls.flows import (
    CATEGORY_PROMPTS,
    CONDITIONS,
    DEFAULT_FLOW,
    AnnounceIncidentNode,
    BranchNode,
    CollectNode,
    Condition,
    Flow,
    FlowSet,
    GotoNode,
    HangupNode,
    MenuNode,
    Node,
    OfferOpenIssueNode,
    PlayNode,
    RouteNode,
    SetNode,
    StatusLookupNode,
    VoicemailNode,
)
from hotline.configreader import Document, Section

__all__ = ["FlowEnvironment", "FlowError", "FlowProblem", "check_flows", "load_flows"]

KEYS = "0123456789*#"
PRIORITIES = ("P1", "P2", "P3", "P4")
INTO = ("employee_id", "digits", "callback_number")
TERMINATORS = ("#", "*", "")
MAX_TAG = 32

_ID = re.compile(r"[A-Za-z0-9_-]+")
_LANGUAGE = re.compile(r"[a-z]{2,3}(?:-[A-Za-z0-9]+)*")
_NUMBER = re.compile(r"[A-Za-z0-9+*#._-]+")
# A route target is a name; anything shaped like a telephone number is refused, so that
# digits (which could have come from a caller) never become a destination.
_TELEPHONE = re.compile(r"(?:tel:|sip:)?\+?[\d\s().*#-]*\d[\d\s().*#-]*(?:@.*)?")


@dataclass(frozen=True, slots=True)
class FlowEnvironment:
    """What flows are checked against; None means "not checked"."""

    categories: Mapping[str, str | None] | None = None
    """Category id → its menu digit (None: not offered by menus)."""
    posts: Collection[str] | None = None
    """Post ids, for routes to ``post:<id>``."""
    targets: Collection[str] = ()
    """Names of the route targets configured by the administrator."""
    prompt_exists: Callable[[str, str], bool] | None = None
    """(prompt id, language) → whether a WAV file exists for it."""


@dataclass(frozen=True, slots=True)
class FlowProblem:
    """One thing wrong in the flows folder."""

    file: str
    """The flow file (or the folder, for a problem of the whole set)."""
    line: int | None
    """1-based line of the key concerned, None when no line applies."""
    message: str
    """Usually ``key: what is wrong``, e.g. ``nodes.menu.timeout: expected …, got "five"``."""

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.message}"


class FlowError(Exception):
    """Flows that must not be used. Carries every problem found."""

    def __init__(self, problems: list[FlowProblem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def load_flows(folder: Path, env: FlowEnvironment) -> FlowSet:
    """Read and check every ``*.toml`` of ``folder``; raise :class:`FlowError` listing all problems."""
    flows, problems = _read_folder(folder, env)
    if problems:
        raise FlowError(problems)
    return FlowSet(MappingProxyType(flows))


def check_flows(folder: Path, env: FlowEnvironment) -> list[FlowProblem]:
    """Every problem of the flows in ``folder``; empty when :func:`load_flows` would succeed."""
    return _read_folder(folder, env)[1]


# -- the folder -----------------------------------------------------------------------------

def _read_folder(folder: Path, env: FlowEnvironment) -> tuple[dict[str, Flow], list[FlowProblem]]:
    if not folder.is_dir():
        return {}, [FlowProblem(str(folder), None, "no such folder")]
    # Dot files are editors' lock and swap files.
    files = sorted(p for p in folder.glob("*.toml") if not p.name.startswith("."))
    if not files:
        return {}, [FlowProblem(str(folder), None, "no flow files (*.toml) in this folder")]
    problems: list[FlowProblem] = []
    readers: list[_FileReader] = []
    for path in files:
        parsed = _parse(path)
        if isinstance(parsed, FlowProblem):
            problems.append(parsed)
        else:
            readers.append(_FileReader(path, *parsed, env))
    flows = [reader.read() for reader in readers]
    # An unreadable file may well be the default flow: do not claim it is missing.
    across = _check_across(readers, flows, folder, complete=len(readers) == len(files))
    for reader in readers:
        problems += reader.problems()
    problems.sort(key=lambda p: (p.file, p.line or 0))
    return {flow.name: flow for flow in flows}, problems + across


def _parse(path: Path) -> tuple[str, dict[str, Any]] | FlowProblem:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return FlowProblem(str(path), None, f"cannot read: {exc.strerror or exc}")
    try:
        text = raw.decode("utf-8-sig")  # Windows editors write a byte-order mark
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return FlowProblem(str(path), line, "not UTF-8 text: save the file as UTF-8")
    try:
        return text, tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        if match is None:  # "(at end of document)"
            return FlowProblem(str(path), len(text.splitlines()) or None, f"not valid TOML: {exc}")
        message = str(exc)[: match.start()].strip()
        return FlowProblem(str(path), int(match.group(1)),
                           f"not valid TOML: {message} (column {match.group(2)})")


def _check_across(readers: list[_FileReader], flows: list[Flow], folder: Path,
                  complete: bool) -> list[FlowProblem]:
    names: dict[str, Flow] = {}
    numbers: dict[str, Flow] = {}
    for reader, flow in zip(readers, flows, strict=True):
        first = names.setdefault(flow.name, flow)
        if first is not flow:
            reader.doc.problem(("flow", "name"), f'flow "{flow.name}" is also defined in {first.path}')
        for number in dict.fromkeys(flow.numbers):
            server = numbers.setdefault(number, flow)
            if server is not flow:
                reader.doc.problem(("flow", "numbers"), f'number "{number}" is also served '
                                   f'by flow "{server.name}" ({server.path})')
    if complete and DEFAULT_FLOW not in names:
        return [FlowProblem(str(folder), None, f'no flow named "{DEFAULT_FLOW}" '
                            "(the flow for every number that no other flow lists)")]
    return []


# -- one file -------------------------------------------------------------------------------

class _Table(Section):
    """A configuration Section that also knows the value kinds of flow files."""

    def sub(self, key: str, required: bool = False) -> _Table:
        section = self.table(key, required)
        return _Table(section.doc, section.where, section.data)

    def seconds(self, key: str, low: float, high: float, default: float) -> float:
        value = self._get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            self.bad(key, f"a number of seconds between {low:g} and {high:g}", value)
            return default
        return float(value)

    def prompt_ids(self, key: str, *, required: bool = False, menu: bool = False) -> tuple[str, ...]:
        ids = self.string_list(key, nonempty=True) if required else self.string_list(key, [])
        for prompt in ids:
            if not _ID.fullmatch(prompt) and not (menu and prompt == CATEGORY_PROMPTS):
                self.bad(key, "prompt ids (letters, digits, _ and -)", prompt)
        return tuple(ids)

    def conditions(self, key: str) -> tuple[Condition, ...]:
        value = self._get(key, None)
        if value is None:
            self.problem(key, "is required")
            return ()
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not items or not all(isinstance(i, str) for i in items):
            self.bad(key, "a condition or a non-empty array of conditions", value)
            return ()
        out = []
        for item in items:
            negated = item.startswith("not ")
            name = item.removeprefix("not ").strip()
            if name in CONDITIONS:
                out.append(Condition(name, negated))
            else:
                self.problem(key, f'unknown condition "{name}" (conditions: {", ".join(CONDITIONS)})')
        return tuple(out)


def _listing(names: Iterable[str]) -> str:
    return ", ".join(names) or "none"


class _FileReader:
    """Reads one parsed flow file into a Flow, recording every problem on the way."""

    def __init__(self, path: Path, text: str, data: dict[str, Any], env: FlowEnvironment) -> None:
        self.path = path
        self.doc = Document(str(path), text, data)
        self.env = env
        self.languages: tuple[str, ...] = ("zh",)

    def problems(self) -> list[FlowProblem]:
        return [FlowProblem(p.file, p.line, f"{p.key}: {p.message}" if p.key else p.message)
                for p in self.doc.problems]

    def read(self) -> Flow:
        root = _Table(self.doc, (), self.doc.data)
        head = root.sub("flow", required=True)
        name = head.string("name", self.path.stem)
        start = head.string("start") if "flow" in self.doc.data else ""
        self.languages = self._languages(head)
        numbers = head.string_list("numbers", [])
        for number in numbers:
            if not _NUMBER.fullmatch(number):
                head.bad("numbers", 'dialled numbers like "8000"', number)
        description = head.string("description", "", nonempty=False)
        head.finish()
        texts = self._texts(root.sub("prompts"))
        nodes_table = root.sub("nodes", required=True)
        declared = list(nodes_table.data)
        read = map(self._node, declared, nodes_table.data.values())
        nodes = {node.id: node for node in read if node is not None}
        root.finish()
        if "nodes" in self.doc.data and not declared:
            self.doc.problem(("nodes",), "has no nodes")
        flow = Flow(name=name, path=self.path, start=start, languages=self.languages,
                    numbers=tuple(numbers), description=description, nodes=MappingProxyType(nodes),
                    prompt_texts=MappingProxyType(texts))
        self._check_references(flow, declared)
        self._check_reachable(flow, declared)
        self._check_loops(flow)
        self._check_prompts(flow)
        return flow

    def _languages(self, head: _Table) -> tuple[str, ...]:
        languages = head.string_list("languages", ["zh"], nonempty=True)
        for language in languages:
            if not _LANGUAGE.fullmatch(language):
                head.bad("languages", 'language codes like "zh" or "en"', language)
        if len(set(languages)) < len(languages):
            head.problem("languages", "lists a language twice")
        return tuple(dict.fromkeys(languages)) or ("zh",)

    def _not_a_language(self, language: str) -> str:
        return f'"{language}" is not one of the flow\'s languages ({", ".join(self.languages)})'

    def _texts(self, table: _Table) -> dict[str, Mapping[str, str]]:
        texts: dict[str, Mapping[str, str]] = {}
        for prompt, raw in table.data.items():
            if not _ID.fullmatch(prompt):
                table.problem(prompt, "expected a prompt id of letters, digits, _ and -")
            if not isinstance(raw, dict):
                table.bad(prompt, "a table of texts by language", raw)
                continue
            entry = _Table(self.doc, (*table.where, prompt), raw)
            by_language = {}
            for language in raw:
                if language in self.languages:
                    by_language[language] = entry.string(language)
                else:
                    entry.problem(language, self._not_a_language(language))
            texts[prompt] = MappingProxyType(by_language)
        return texts

    # -- nodes ------------------------------------------------------------------------------
    def _node(self, node_id: str, raw: object) -> Node | None:
        where = ("nodes", node_id)
        if not _ID.fullmatch(node_id):
            self.doc.problem(where, "expected a node id of letters, digits, _ and -")
        if not isinstance(raw, dict):
            self.doc.problem(where, "expected a table like [nodes.<id>] with a kind")
            return None
        table = _Table(self.doc, where, raw)
        kind = table.string("kind")
        reader = _READERS.get(kind)
        if reader is None:
            if kind:
                table.problem("kind", f'unknown node kind "{kind}" (kinds: {", ".join(_READERS)})')
            return None
        node = reader(self, table, node_id, self.doc.lines.line_of(where) or 0)
        table.finish()
        return node

    def _play(self, t: _Table, node_id: str, line: int) -> PlayNode:
        return PlayNode(id=node_id, line=line, prompts=t.prompt_ids("prompts", required=True),
                        barge_in=t.boolean("barge_in", True), next=t.string("next"))

    def _menu(self, t: _Table, node_id: str, line: int) -> MenuNode:
        prompts = t.prompt_ids("prompts", menu=True)
        choices = self._choices(t.sub("choices"))
        categories = t.boolean("categories", False)
        category_next = t.optional_string("category_next")
        if categories and category_next is None and "category_next" not in t.data:
            t.problem("category_next", "is required with categories = true: where a category key leads")
        if not categories and category_next is not None:
            t.problem("category_next", "is used only with categories = true")
        if not categories and CATEGORY_PROMPTS in prompts:
            t.problem("prompts", f'"{CATEGORY_PROMPTS}" is used only with categories = true')
        if not choices and not categories:
            t.problem("choices", "the menu offers nothing: give it choices, or categories = true")
        if categories and self.env.categories is not None:
            owners = {digit: category for category, digit in self.env.categories.items() if digit}
            for digit in choices:
                if digit in owners:
                    self.doc.problem((*t.where, "choices", digit),
                                     f'key {digit} is also the menu digit of category "{owners[digit]}"')
        timeout_next = ""
        if "timeout_next" in t.data:
            timeout_next = t.string("timeout_next")
        else:
            t.problem("timeout_next", "is required: the timeout path, where the call goes "
                      "when the retries are used up")
        return MenuNode(id=node_id, line=line, prompts=prompts, choices=choices, categories=categories,
                        category_next=category_next if categories else None,
                        timeout=t.seconds("timeout", 1, 60, 5.0), retries=t.integer("retries", 0, 9, 2),
                        invalid=t.prompt_ids("invalid"), timeout_next=timeout_next,
                        barge_in=t.boolean("barge_in", True))

    def _choices(self, table: _Table) -> Mapping[str, str]:
        choices = {}
        for key, target in table.data.items():
            if len(key) != 1 or key not in KEYS:
                table.problem(key, "not a key of the keypad (0-9, * or #)")
            elif not isinstance(target, str) or not target:
                table.bad(key, "a node id", target)
            else:
                choices[key] = target
        return MappingProxyType(choices)

    def _collect(self, t: _Table, node_id: str, line: int) -> CollectNode:
        least = t.integer("min_digits", 1, 32, 1)
        most = t.integer("max_digits", 1, 32, 8)
        if most < least:
            t.bad("max_digits", f"at least min_digits ({least})", most)
        return CollectNode(id=node_id, line=line, prompts=t.prompt_ids("prompts"), min_digits=least,
                           max_digits=most,
                           terminator=t.string("terminator", "#", nonempty=False, choices=TERMINATORS),
                           timeout=t.seconds("timeout", 1, 60, 8.0),
                           into=t.string("into", "digits", choices=INTO),
                           next=t.string("next"), timeout_next=t.string("timeout_next"))

    def _set(self, t: _Table, node_id: str, line: int) -> SetNode:
        if not any(key in t.data for key in ("category", "priority", "tags", "language")):
            self.doc.problem(t.where, "sets nothing: give it category, priority, tags or language")
        category = t.optional_string("category")
        known = self.env.categories
        if category is not None and known is not None and category not in known:
            t.problem("category", f'no category "{category}" (known categories: {_listing(sorted(known))})')
        priority = t.optional_string("priority")
        if priority is not None and priority not in PRIORITIES:
            t.bad("priority", "one of " + ", ".join(PRIORITIES), priority)
        tags = t.string_list("tags", [])
        for tag in tags:
            if len(tag) > MAX_TAG:
                t.bad("tags", f"tags of at most {MAX_TAG} characters", tag)
        language = t.optional_string("language")
        if language is not None and language not in self.languages:
            t.problem("language", self._not_a_language(language))
        return SetNode(id=node_id, line=line, category=category, priority=priority, tags=tuple(tags),
                       language=language, next=t.string("next"))

    def _branch(self, t: _Table, node_id: str, line: int) -> BranchNode:
        return BranchNode(id=node_id, line=line, when=t.conditions("when"), then=t.string("then"),
                          otherwise=t.string("else"))

    def _route(self, t: _Table, node_id: str, line: int) -> RouteNode:
        to = t.string("to")
        ring = t.seconds("ring_seconds", 5, 120, 30.0) if "ring_seconds" in t.data else None
        if to.startswith("post:"):
            post = to.removeprefix("post:")
            if not post:
                t.bad("to", "post:<post id>", to)
            elif self.env.posts is not None and post not in self.env.posts:
                t.problem("to", f'no post "{post}" (known posts: {_listing(sorted(self.env.posts))})')
        elif to.strip() and to not in ("desk", "oncall", "owner"):
            if _TELEPHONE.fullmatch(to):
                t.problem("to", f'"{to}" is a telephone number; route to desk, oncall, post:<post id> '
                          "or a target named in the configuration")
            elif to not in self.env.targets:
                t.problem("to", f'no route target named "{to}" (configured targets: '
                          f"{_listing(sorted(self.env.targets))}; or desk, oncall, owner, post:<post id>)")
        return RouteNode(id=node_id, line=line, to=to, next=t.string("next"), ring_seconds=ring)

    def _voicemail(self, t: _Table, node_id: str, line: int) -> VoicemailNode:
        return VoicemailNode(id=node_id, line=line, prompts=t.prompt_ids("prompts"),
                             max_seconds=t.seconds("max_seconds", 5, 600, 120.0), next=t.string("next"))

    def _hangup(self, t: _Table, node_id: str, line: int) -> HangupNode:
        return HangupNode(id=node_id, line=line, prompts=t.prompt_ids("prompts"))

    def _goto(self, t: _Table, node_id: str, line: int) -> GotoNode:
        return GotoNode(id=node_id, line=line, next=t.string("next"))

    def _offer_open_issue(self, t: _Table, node_id: str, line: int) -> OfferOpenIssueNode:
        return OfferOpenIssueNode(id=node_id, line=line, timeout=t.seconds("timeout", 1, 60, 5.0),
                                  next=t.string("next"), linked_next=t.string("linked_next"))

    def _status_lookup(self, t: _Table, node_id: str, line: int) -> StatusLookupNode:
        return StatusLookupNode(id=node_id, line=line, next=t.string("next"))

    def _announce_incident(self, t: _Table, node_id: str, line: int) -> AnnounceIncidentNode:
        return AnnounceIncidentNode(id=node_id, line=line, timeout=t.seconds("timeout", 1, 60, 5.0),
                                    next=t.string("next"), linked_next=t.string("linked_next"))

    # -- the graph --------------------------------------------------------------------------
    def _check_references(self, flow: Flow, declared: list[str]) -> None:
        def missing(target: str) -> str:
            return f'no node "{target}" (known nodes: {_listing(declared)})'

        if flow.start and declared and flow.start not in declared:
            self.doc.problem(("flow", "start"), missing(flow.start))
        for node in flow.nodes.values():
            for key, target in node.exits():
                if target and target not in declared:
                    self.doc.problem(("nodes", node.id, *key.split(".")), missing(target))

    def _check_reachable(self, flow: Flow, declared: list[str]) -> None:
        if flow.start not in flow.nodes:
            return
        reached = {flow.start}
        todo = [flow.start]
        while todo:
            node = flow.nodes.get(todo.pop())
            if node is None:
                return  # a node that could not be read: where it leads is unknown
            for _, target in node.exits():
                if target in declared and target not in reached:
                    reached.add(target)
                    todo.append(target)
        for node_id in declared:
            if node_id not in reached:
                self.doc.problem(("nodes", node_id), f'cannot be reached from start ("{flow.start}")')

    def _check_loops(self, flow: Flow) -> None:
        # Edges between nodes that never wait for a key; a cycle among them spins for ever.
        quiet = {
            node.id: [t for _, t in node.exits() if t in flow.nodes and not flow.nodes[t].waits_for_caller]
            for node in flow.nodes.values() if not node.waits_for_caller
        }
        reach = {node_id: _reachable(node_id, quiet) for node_id in quiet}
        reported: set[str] = set()
        for node_id in quiet:  # in file order: each loop is named from its first node
            if node_id in reported or node_id not in reach[node_id]:
                continue
            reported |= {other for other in reach[node_id] if node_id in reach[other]}
            cycle = " → ".join(_shortest_cycle(node_id, quiet))
            self.doc.problem(("nodes", node_id), f"loops without waiting for the caller: {cycle} "
                             "(a menu or collect must be on the loop)")

    def _check_prompts(self, flow: Flow) -> None:
        exists = self.env.prompt_exists
        if exists is None:
            return
        for node in flow.nodes.values():
            for key in ("prompts", "invalid"):
                for prompt in dict.fromkeys(getattr(node, key, ())):
                    if not _ID.fullmatch(prompt):
                        continue  # the placeholder for category fragments, or already reported
                    for language in flow.languages:
                        if exists(prompt, language):
                            continue
                        if language in flow.prompt_texts.get(prompt, {}):
                            advice = "(run hotline prompts build, or record one)"
                        else:
                            advice = (f'and no text to build one from (add {language} = "…" '
                                      f"to [prompts.{prompt}], or record one)")
                        self.doc.problem(("nodes", node.id, key),
                                         f'prompt "{prompt}" ({language}) has no WAV file {advice}')


_Reader = Callable[[_FileReader, _Table, str, int], Node]
_READERS: dict[str, _Reader] = {
    "play": _FileReader._play,
    "menu": _FileReader._menu,
    "collect": _FileReader._collect,
    "set": _FileReader._set,
    "branch": _FileReader._branch,
    "route": _FileReader._route,
    "voicemail": _FileReader._voicemail,
    "hangup": _FileReader._hangup,
    "goto": _FileReader._goto,
    "offer_open_issue": _FileReader._offer_open_issue,
    "status_lookup": _FileReader._status_lookup,
    "announce_incident": _FileReader._announce_incident,
}


def _reachable(start: str, edges: Mapping[str, list[str]]) -> set[str]:
    """Nodes reachable from ``start`` in one step or more."""
    seen: set[str] = set()
    todo = list(edges[start])
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(edges[node])
    return seen


def _shortest_cycle(start: str, edges: Mapping[str, list[str]]) -> list[str]:
    """``[start, …, start]`` along the fewest edges; ``start`` must be on a cycle."""
    parent: dict[str, str] = {}
    queue = deque([start])
    while queue:
        current = queue.popleft()
        for following in edges[current]:
            if following == start:
                path = [current]
                while path[-1] != start:
                    path.append(parent[path[-1]])
                return [*reversed(path), start]
            if following not in parent:
                parent[following] = current
                queue.append(following)
    raise ValueError(f"{start} is on no cycle")
