"""Putting data into a database: the demo set for `make serve`, and directory CSV imports."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hotline.config import Config
from hotline.directory import DirectoryCsvError, DirectoryEntry, DirectoryImport, read_directory_csv
from hotline.services import numbering_plan
from hotline.store import Store
from hotline.store.records import Category, Employee, Person, Post, PostAssignment

__all__ = ["ImportReport", "import_directory_file", "load_demo", "to_employee"]

# The IVR menu offers the most common categories by digit (the default flow's "computer and
# office, network, business systems, e-mail and accounts"); the operator chooses the rest.
_MENU_DIGITS = {"desktop": "1", "network": "2", "erp": "3", "email": "4"}


def to_employee(entry: DirectoryEntry) -> Employee:
    return Employee(
        employee_id=entry.employee_id, name=entry.name, department=entry.department or "",
        location=entry.location or "", email=entry.email, extension=entry.extension,
        mobile=entry.mobile, desk_numbers=entry.desk_numbers,
    )


async def load_demo(store: Store, config: Config, *, employees: int = 3000) -> str:
    """Load demo staff, posts (A/B), categories and a generated directory into an empty database."""
    # Imported here: the generator's name lists are only needed once, by a fresh database.
    from hotline.demodata import generate_directory, generate_staff

    if await store.directory.count() or await store.people.all():
        return "database already holds data: demo data not loaded"
    staff = generate_staff()
    await store.people.upsert_people(
        Person(p.person_id, p.name, p.mobile, p.extension, p.email, p.roles) for p in staff.people
    )
    await store.people.upsert_posts(Post(p.code, p.name, p.name_en) for p in staff.posts)
    await store.people.upsert_categories(
        Category(p.code, p.name, p.code, _MENU_DIGITS.get(p.code), p.name_en) for p in staff.posts
    )
    for post in staff.posts:
        await store.people.set_assignments(post.code, [
            PostAssignment(post.code, post.a_owner, "A"),
            *(PostAssignment(post.code, b, "B", rank) for rank, b in enumerate(post.b_backups)),
        ])
    entries = generate_directory(employees)
    await store.directory.upsert([to_employee(e) for e in entries])
    return (f"demo data: {len(staff.people)} staff, {len(staff.posts)} posts, "
            f"{len(entries)} employees")


@dataclass(frozen=True)
class ImportReport:
    """What an import did, in words for the person who ran it."""

    file: Path
    result: DirectoryImport | None
    inserted: int = 0
    updated: int = 0
    error: str | None = None

    @property
    def imported(self) -> int:
        return self.inserted + self.updated

    @property
    def rejected(self) -> int:
        return len(self.result.rejected) if self.result else 0

    def rejected_lines(self) -> list[str]:
        if self.error:
            return [f"{self.file}: {self.error}"]
        assert self.result is not None
        out = [f"{self.file}:{r.line}: rejected: {r.reason}" for r in self.result.rejected]
        out += [f"{self.file}:{w.line}: warning: {w.message}" for w in self.result.warnings]
        return out

    def summary(self) -> str:
        if self.result is None:
            return f"{self.file}: nothing imported"
        return (f"{self.file} ({self.result.encoding}): {self.inserted} new, {self.updated} updated, "
                f"{self.rejected} rejected")


async def import_directory_file(store: Store, config: Config, file: Path) -> ImportReport:
    """Import a directory CSV: good rows are upserted by employee id, bad rows reported."""
    try:
        result = read_directory_csv(file, plan=numbering_plan(config))
    except (DirectoryCsvError, OSError) as exc:
        return ImportReport(file, None, error=str(exc))
    inserted, updated = await store.directory.upsert([to_employee(e) for e in result.rows])
    return ImportReport(file, result, inserted, updated)
