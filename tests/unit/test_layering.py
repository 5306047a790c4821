"""The layers of hotline point down: an ``ast`` walk over every module of ``hotline/``.

What it proves, each rule on every module, every import statement (top level,
inside functions, under ``if TYPE_CHECKING:``) and every attribute access:

1. ``hotline/sip`` imports nothing of hotline but ``hotline.sip``, and
   ``hotline/media`` nothing but ``hotline.media``: neither reaches config,
   call control, the desk, the store or the console, nor each other (media
   takes Protocols such as ``NegotiatedLike``, SIP its own ``SipSettings``).
2. ``hotline/desk`` imports no telephony (``hotline.sip``, ``hotline.media``,
   ``hotline.calls``).
3. No module imports another module's underscore name
   (``from hotline.x import _y``; dunders such as ``__version__`` are public).
4. No module touches a private attribute of another module's object.  Without
   type inference this is checked in two ways:

   * generic: ``obj._name`` where ``obj`` is not ``self``/``cls``/``super()``
     nor a local just built from a class of the same module, and no class or
     function of the module defines ``_name``.  Blind spot: a private name the
     module itself also defines (``x._on_cancel`` in a module with its own
     ``_on_cancel``);
   * strict, for the modules of the cycles issue 12 names (SIP endpoint and
     calls, ACK wait and transactions, media engine and stream): there ``obj._name``
     is refused on any ``obj`` but ``self``/``cls``/``super()``/an own new
     instance, which closes the blind spot for them.
5. ``hotline/sip`` modules import ``asyncio``/``socket`` only in the asyncio
   adapters listed in :data:`SIP_ASYNCIO_ADAPTERS`, and never hide an import of
   hotline inside a function or under ``TYPE_CHECKING`` (that is how a cycle
   hides; name a Protocol instead).  ``hotline/media`` follows the second rule.
6. SQL lives in ``hotline/store``: no SQL statement in a string, no
   ``sqlite3``/``aiosqlite`` import outside it.

Known violations that other slices of issue 12 will remove are in the explicit
allow-lists below.  A violation not listed fails, and so does a listed one that
is gone (delete its entry: the list only ever shrinks).
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import hotline

PACKAGE = Path(hotline.__file__).resolve().parent

#: Modules under hotline/sip that may import asyncio or socket, and why.
SIP_ASYNCIO_ADAPTERS = {
    "hotline/sip/transport.py": "the UDP/TCP transports: sockets and asyncio protocols",
    "hotline/sip/endpoint.py": "the asyncio owner of the sans-IO core: transports, one timer, tasks",
    "hotline/sip/call.py": "the asyncio face of one INVITE session: futures and queues for call control",
    "hotline/sip/refer_notifier.py": "ReferNotifier sends a REFER's NOTIFYs in order, each in an endpoint task",
}

#: Layers that may import only themselves.
SELF_CONTAINED = ("hotline.sip", "hotline.media")

#: What hotline/desk may not import.
DESK_FORBIDDEN = ("hotline.sip", "hotline.media", "hotline.calls")

#: Modules of the cycles named in issue 12: no private access on any foreign object at all.
STRICT_PRIVATE = (
    "hotline/sip/endpoint.py",
    "hotline/sip/call.py",
    "hotline/sip/call_host.py",
    "hotline/sip/ack_wait.py",
    "hotline/sip/transaction.py",
    "hotline/sip/timers.py",
    "hotline/media/engine.py",
    "hotline/media/stream.py",
    "hotline/media/udp.py",
)

#: Known violations, as ``(rule, module, detail)``; each names the slice that removes it.
ALLOWED: set[tuple[str, str, str]] = set()

_SQL = re.compile(
    r"\b(SELECT\b[\s\S]+?\bFROM\b|SELECT\s+1\b|INSERT\s+(OR\s+\w+\s+)?INTO\b|UPDATE\s+\w+\s+SET\b"
    r"|DELETE\s+FROM\b|CREATE\s+(TEMP\s+|UNIQUE\s+)?(TABLE|INDEX|VIEW|TRIGGER)\b|PRAGMA\s+\w+"
    r"|ALTER\s+TABLE\b|DROP\s+(TABLE|INDEX|VIEW|TRIGGER)\b)"
)
_SQL_MODULES = ("sqlite3", "aiosqlite")


@dataclass(frozen=True)
class Module:
    path: str
    """``hotline/sip/call.py``."""
    name: str
    """``hotline.sip.call``."""
    tree: ast.Module

    @property
    def is_package(self) -> bool:
        return self.path.endswith("__init__.py")


@dataclass(frozen=True)
class Import:
    target: str
    """The module imported from (``hotline.sip.call``), relative imports resolved."""
    names: tuple[str, ...]
    """The names taken from it (``from x import a, b``); empty for ``import x``."""
    hidden: bool
    """Inside a function or an ``if TYPE_CHECKING:`` block."""
    line: int


def _modules() -> list[Module]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent)
        parts = list(rel.with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out.append(Module(rel.as_posix(), ".".join(parts), ast.parse(path.read_text("utf-8"), str(rel))))
    return out


MODULES = _modules()


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(module: Module) -> list[Import]:
    """Every import statement of ``module`` (cached: the tests share one walk)."""
    cached = _IMPORTS.get(module.path)
    if cached is None:
        cached = _IMPORTS[module.path] = list(_walk_imports(module))
    return cached


_IMPORTS: dict[str, list[Import]] = {}


def _walk_imports(module: Module) -> Iterator[Import]:
    def walk(node: ast.AST, hidden: bool) -> Iterator[Import]:
        for child in ast.iter_child_nodes(node):
            inner = hidden or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            if isinstance(child, ast.If) and _is_type_checking(child.test):
                for stmt in child.body:
                    yield from walk_stmt(stmt, True)
                for stmt in child.orelse:
                    yield from walk_stmt(stmt, hidden)
                continue
            yield from walk_stmt(child, inner)

    def walk_stmt(node: ast.AST, hidden: bool) -> Iterator[Import]:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(alias.name, (), hidden, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            yield Import(_resolve(module, node), tuple(a.name for a in node.names), hidden, node.lineno)
        else:
            yield from walk(node, hidden)

    yield from walk(module.tree, False)


def _resolve(module: Module, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.name.split(".")
    if not module.is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def _within(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def _check(found: list[tuple[str, str, str, int]], rule: str) -> None:
    """Fail on violations of ``rule`` not allowed, and on allowed ones that are gone."""
    new = [f"{path}:{line}: {detail}" for r, path, detail, line in found if (r, path, detail) not in ALLOWED]
    seen = {(r, path, detail) for r, path, detail, _ in found}
    stale = sorted(f"{path}: {detail}" for r, path, detail in ALLOWED if r == rule and (r, path, detail) not in seen)
    assert not new, f"{rule}: new violations:\n  " + "\n  ".join(new)
    assert not stale, f"{rule}: fixed, now remove from ALLOWED in {__name__}:\n  " + "\n  ".join(stale)


# -- 1, 2: layers import downward ---------------------------------------------------------------


def test_sip_and_media_import_only_themselves() -> None:
    found = []
    for module in MODULES:
        layer = next((p for p in SELF_CONTAINED if _within(module.name, p)), None)
        if layer is None:
            continue
        for imp in _imports(module):
            if _within(imp.target, "hotline") and not _within(imp.target, layer):
                found.append(("layer", module.path, f"imports {imp.target}", imp.line))
    _check(found, "layer")


def test_desk_imports_no_telephony() -> None:
    found = []
    for module in MODULES:
        if not _within(module.name, "hotline.desk"):
            continue
        for imp in _imports(module):
            if any(_within(imp.target, p) for p in DESK_FORBIDDEN):
                found.append(("desk", module.path, f"imports {imp.target}", imp.line))
    _check(found, "desk")


def test_importing_the_sip_endpoint_loads_no_other_layer() -> None:
    """What ``import hotline.sip.endpoint`` loads, in a fresh interpreter (the runtime view of rule 1)."""
    code = (
        "import sys, hotline.sip.endpoint\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith('hotline.')"
        " and not m.startswith('hotline.sip'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == []


# -- 3, 4: private names stay private -------------------------------------------------------------


def test_no_underscore_name_is_imported_from_another_module() -> None:
    found = []
    for module in MODULES:
        for imp in _imports(module):
            if not _within(imp.target, "hotline"):
                continue
            for name in imp.names:
                if name.startswith("_") and not (name.startswith("__") and name.endswith("__")):
                    found.append(("private-import", module.path, f"{imp.target}.{name}", imp.line))
    _check(found, "private-import")


def _private_names_defined(tree: ast.Module) -> set[str]:
    """Underscore names a module defines: functions, classes, methods, class and instance attributes."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return {n for n in names if n.startswith("_")}


def _own_instances(tree: ast.Module) -> set[str]:
    """Locals bound to a new instance of a class of this module (``call = cls(...)``)."""
    classes = {n.name for n in ast.walk(tree) if isinstance(n, ast.ClassDef)} | {"cls"}
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call):
            func = node.value.func
            if isinstance(func, ast.Name) and func.id in classes:
                out.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return out


def _outside_modules(module: Module) -> set[str]:
    """Names bound by importing something not of hotline (``sys``, ``os``): their privates are not ours
    to police here."""
    out: set[str] = set()
    for node in ast.walk(module.tree):
        if isinstance(node, ast.Import):
            out.update((a.asname or a.name).split(".")[0] for a in node.names if not _within(a.name, "hotline"))
        elif isinstance(node, ast.ImportFrom) and not node.level and not _within(node.module or "", "hotline"):
            out.update(a.asname or a.name for a in node.names)
    return out


def _foreign_private_accesses(module: Module) -> Iterator[tuple[ast.Attribute, bool]]:
    """``obj._name`` on an object that is not ours; with whether the module also defines ``_name``."""
    defined = _private_names_defined(module.tree)
    own = _own_instances(module.tree) | _outside_modules(module)
    classes = {n.name for n in ast.walk(module.tree) if isinstance(n, ast.ClassDef)}
    for node in ast.walk(module.tree):
        if not isinstance(node, ast.Attribute) or not node.attr.startswith("_") or node.attr.startswith("__"):
            continue
        value = node.value
        if isinstance(value, ast.Name) and (value.id in ("self", "cls") or value.id in own or value.id in classes):
            continue
        if isinstance(value, ast.Call) and isinstance(value.func, ast.Name) and value.func.id == "super":
            continue
        yield node, node.attr in defined


def test_no_private_attribute_of_another_module() -> None:
    found = []
    for module in MODULES:
        strict = module.path in STRICT_PRIVATE
        for node, defined_here in _foreign_private_accesses(module):
            if strict or not defined_here:
                found.append(("private-attribute", module.path, ast.unparse(node), node.lineno))
    _check(found, "private-attribute")


# -- 5: the sans-IO SIP core ------------------------------------------------------------------------


def test_only_the_sip_adapters_import_asyncio_or_socket() -> None:
    found = []
    for module in MODULES:
        if not _within(module.name, "hotline.sip") or module.path in SIP_ASYNCIO_ADAPTERS:
            continue
        for imp in _imports(module):
            if imp.target.split(".")[0] in ("asyncio", "socket"):
                found.append(("sip-io", module.path, f"imports {imp.target}", imp.line))
    _check(found, "sip-io")


def test_sip_adapters_are_real_modules() -> None:
    paths = {m.path for m in MODULES}
    assert set(SIP_ASYNCIO_ADAPTERS) <= paths


def test_sip_and_media_hide_no_imports() -> None:
    """No import of hotline inside a function or under TYPE_CHECKING: that is how a cycle hides."""
    found = []
    for module in MODULES:
        if not any(_within(module.name, p) for p in SELF_CONTAINED):
            continue
        for imp in _imports(module):
            if imp.hidden and _within(imp.target, "hotline"):
                found.append(("hidden-import", module.path, imp.target, imp.line))
    _check(found, "hidden-import")


# -- 6: SQL in the store ---------------------------------------------------------------------------------


def _strings(tree: ast.Module) -> Iterator[ast.Constant]:
    """String constants except bare string statements (docstrings, attribute docstrings)."""
    bare = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in bare:
            yield node


def test_only_the_store_holds_sql() -> None:
    found = []
    for module in MODULES:
        if _within(module.name, "hotline.store"):
            continue
        for node in _strings(module.tree):
            assert isinstance(node.value, str)
            match = _SQL.search(node.value)
            if match:
                found.append(("sql", module.path, match.group(0), node.lineno))
        for imp in _imports(module):
            if imp.target.split(".")[0] in _SQL_MODULES:
                found.append(("sql", module.path, f"imports {imp.target}", imp.line))
    _check(found, "sql")


# -- the checker checks ----------------------------------------------------------------------------


def test_the_walk_sees_hidden_relative_and_private_imports() -> None:
    source = (
        "from typing import TYPE_CHECKING\n"
        "from .sibling import _secret\n"
        "if TYPE_CHECKING:\n"
        "    from hotline.config import SipConfig\n"
        "def f():\n"
        "    import asyncio\n"
        "    return other._hook(), self._mine, cls._ok\n"
    )
    module = Module("hotline/sip/fake.py", "hotline.sip.fake", ast.parse(source))
    imports = list(_imports(module))
    assert [(i.target, i.names, i.hidden) for i in imports] == [
        ("typing", ("TYPE_CHECKING",), False),
        ("hotline.sip.sibling", ("_secret",), False),
        ("hotline.config", ("SipConfig",), True),
        ("asyncio", (), True),
    ]
    assert [ast.unparse(n) for n, _ in _foreign_private_accesses(module)] == ["other._hook"]
    assert _SQL.search("SELECT id FROM calls") and not _SQL.search("Drop the parsed views; replace them")
