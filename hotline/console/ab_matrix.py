"""The A/B matrix: posts × people with each post's A role and ranked B roles, and one row's edit.

A post has at most one A role (the owner dispatch tries first) and B roles ranked 1, 2, …
(the backups, by rank when loads tie). The grid shows what needs a manager's eye: a post with
no A role (dispatch goes straight to the B roles, or flags the issue unassigned) and a post
held by fewer than two people (nobody covers the A's leave). Each person's load is the number
of posts they hold as A and as B.

A row of the grid is edited as a whole: the form carries one mark per person ("", "A", "B1",
"B2", …) and the version of the row it was drawn from, so an edit made meanwhile by someone
else is noticed instead of overwritten. Pure: the view reads and writes the store.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hotline.console.render import N_
from hotline.store.records import Person, Post, PostAssignment

__all__ = ["MARK_FIELD", "Matrix", "PostRow", "RowEdit", "build_matrix", "describe", "label_of",
           "mark_choices", "read_row", "version_of"]

MARK_FIELD = "mark:"
"""Prefix of a row form's field names: ``mark:<person id>``."""
MAX_B_RANK = 9

TWO_AS = N_("Only one A role per post: %(people)s are marked A.")
RANK_TWICE = N_("B%(rank)s is given to %(people)s: give each backup its own rank.")
NOT_A_MARK = N_("%(value)s is not a mark; use A, B1, B2 ….")
UNKNOWN_PERSON = N_("No staff member %(person)s.")


def label_of(a: PostAssignment) -> str:
    """"A", or "B" + the 1-based rank among the post's B roles."""
    return "A" if a.role == "A" else f"B{a.rank + 1}"


def mark_choices(people_count: int) -> list[str]:
    """What a cell offers: "", "A", "B1" … up to the number of people (at most B9)."""
    return ["", "A", *(f"B{n}" for n in range(1, min(max(people_count - 1, 1), MAX_B_RANK) + 1))]


def _normalised(assignments: Iterable[PostAssignment]) -> list[PostAssignment]:
    """A first, then the B roles in rank order, ranks renumbered 0, 1, …"""
    items = list(assignments)
    a = [x for x in items if x.role == "A"]
    bs = sorted((x for x in items if x.role == "B"), key=lambda x: (x.rank, x.person_id))
    return [*(PostAssignment(x.post_id, x.person_id, "A", 0) for x in a),
            *(PostAssignment(x.post_id, x.person_id, "B", i) for i, x in enumerate(bs))]


def version_of(assignments: Iterable[PostAssignment]) -> str:
    """A short digest of a post's assignments: the row form's optimistic lock."""
    text = ";".join(f"{a.person_id}:{label_of(a)}" for a in _normalised(assignments))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def describe(assignments: Iterable[PostAssignment]) -> str:
    """"A zhangwei; B lisi, wangfang" (for the audit log), "none" for an empty post."""
    items = _normalised(assignments)
    a = [x.person_id for x in items if x.role == "A"]
    bs = [x.person_id for x in items if x.role == "B"]
    parts = ([f"A {a[0]}"] if a else []) + ([f"B {', '.join(bs)}"] if bs else [])
    return "; ".join(parts) or "none"


@dataclass(frozen=True)
class PostRow:
    post: Post
    marks: Mapping[str, str]
    """Person id → "A", "B1", "B2" …; people without a mark are absent."""
    version: str

    @property
    def has_a(self) -> bool:
        return "A" in self.marks.values()

    @property
    def thin(self) -> bool:
        """Held by fewer than two people: nobody covers the other's absence."""
        return len(self.marks) < 2


@dataclass(frozen=True)
class Matrix:
    people: list[Person]
    """The columns: active staff, and inactive people who still hold a mark."""
    rows: list[PostRow]
    load: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Person id → (posts held as A, posts held as B)."""

    @property
    def without_a(self) -> list[PostRow]:
        return [r for r in self.rows if not r.has_a]

    @property
    def thin_rows(self) -> list[PostRow]:
        return [r for r in self.rows if r.thin]


def build_matrix(people: Sequence[Person], posts: Sequence[Post],
                 assignments: Sequence[PostAssignment]) -> Matrix:
    by_post: dict[str, list[PostAssignment]] = {}
    for a in assignments:
        by_post.setdefault(a.post_id, []).append(a)
    holders = {a.person_id for a in assignments}
    columns = [p for p in people if p.active or p.id in holders]
    load = {p.id: (0, 0) for p in columns}
    rows = []
    for post in posts:
        mine = _normalised(by_post.get(post.id, []))
        for a in mine:
            held_a, held_b = load.get(a.person_id, (0, 0))
            load[a.person_id] = (held_a + 1, held_b) if a.role == "A" else (held_a, held_b + 1)
        rows.append(PostRow(post, {a.person_id: label_of(a) for a in mine}, version_of(mine)))
    return Matrix(columns, rows, load)


@dataclass
class RowEdit:
    """A row form read: the new assignments, or the errors (message id, values) and what was typed."""

    assignments: list[PostAssignment]
    errors: list[tuple[str, dict[str, Any]]]
    typed: dict[str, str]
    """Person id → the mark as submitted, to show it again."""


def read_row(post_id: str, form: Mapping[str, str], people: Iterable[str]) -> RowEdit:
    """Read a row form's ``mark:<person>`` fields into the post's new assignments."""
    known = set(people)
    edit = RowEdit([], [], {})
    a_people: list[str] = []
    ranks: dict[int, list[str]] = {}
    for name, raw in form.items():
        if not name.startswith(MARK_FIELD):
            continue
        person, value = name[len(MARK_FIELD):], raw.strip().upper()
        edit.typed[person] = value
        if not value:
            continue
        if person not in known:
            edit.errors.append((UNKNOWN_PERSON, {"person": person}))
        elif value == "A":
            a_people.append(person)
        elif value.startswith("B") and value[1:].isascii() and value[1:].isdigit() \
                and 1 <= int(value[1:]) <= MAX_B_RANK:
            ranks.setdefault(int(value[1:]), []).append(person)
        else:
            edit.errors.append((NOT_A_MARK, {"value": raw.strip()[:10]}))
    if len(a_people) > 1:
        edit.errors.append((TWO_AS, {"people": ", ".join(sorted(a_people))}))
    for rank, holders in sorted(ranks.items()):
        if len(holders) > 1:
            edit.errors.append((RANK_TWICE, {"rank": rank, "people": ", ".join(sorted(holders))}))
    if edit.errors:
        return edit
    edit.assignments = _normalised(
        [*(PostAssignment(post_id, p, "A", 0) for p in a_people),
         *(PostAssignment(post_id, holders[0], "B", rank) for rank, holders in ranks.items())])
    return edit
