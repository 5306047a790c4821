"""The employee directory: entries, their lookup keys, and reading them from CSV.

A directory entry carries the keys a caller can match: its desk numbers, its
extension (``ext:NNNN``) and its mobile, each normalised by
:mod:`hotline.callerid` with the same numbering plan as incoming calls, so a
lookup is an equality test on :attr:`hotline.callerid.CallerId.key`. The rules
behind the normalisation are in ``docs/cn-numbering.md``.

CSV files come from HR systems and from Excel, which in China saves GBK. The
reader accepts UTF-8 (with or without BOM), UTF-16 with BOM ("Unicode text")
and GB18030 (a superset of GBK); comma, semicolon or tab delimiters; English or
Chinese column names. It never drops a row silently: every row is either an
entry or a :class:`RejectedRow` with its line number and reason. Rows whose
numbers were kept but are doubtful carry a :class:`RowWarning`.

Duplicate employee ids: the first row wins and every later row with the same id
is rejected, naming the first line. Picking either row silently would hide an
error in the HR export; keeping the first makes the result independent of
which duplicate the user fixes first. (Across imports, the store upserts on the
employee id, so re-importing a corrected file is idempotent.)

Pure: reads one file (or takes bytes), no database.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from hotline.callerid import CallerId, CallerKind, NumberingPlan, display_key, extension_key

__all__ = [
    "COLUMN_ALIASES",
    "DirectoryCsvError",
    "DirectoryEntry",
    "DirectoryImport",
    "RejectedRow",
    "RowWarning",
    "read_directory_csv",
    "write_directory_csv",
]


# Shared by generated entries, which have no CSV row (200,000 empty dicts add up).
_NO_RAW: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class DirectoryEntry:
    """One employee as the hotline knows them."""

    employee_id: str
    """HR employee id (工号), unique; the import upserts on it."""
    name: str
    """Full name as written (usually Chinese)."""
    department: str | None = None
    """Department (部门)."""
    location: str | None = None
    """Building, plant or office (办公地点)."""
    email: str | None = None
    """E-mail address, as given."""
    desk_numbers: tuple[str, ...] = ()
    """Lookup keys of the desk phones (E.164, ``ext:NNNN``, or digits), in file order."""
    extension: str | None = None
    """Desk extension digits (``8001``); its key is :attr:`extension_key`."""
    mobile: str | None = None
    """Lookup key of the mobile, normally E.164 (``+8613812345678``)."""
    raw: Mapping[str, str] = field(default_factory=lambda: _NO_RAW, compare=False)
    """The row's fields as written, by header name, for display and audit."""

    @property
    def extension_key(self) -> str | None:
        """``ext:`` + extension, or ``None``."""
        return extension_key(self.extension) if self.extension else None

    @property
    def keys(self) -> tuple[str, ...]:
        """Every key a caller may match this entry on, without repeats."""
        keys = [*self.desk_numbers]
        if self.extension:
            keys.append(extension_key(self.extension))
        if self.mobile:
            keys.append(self.mobile)
        return tuple(dict.fromkeys(keys))


@dataclass(frozen=True, slots=True)
class RejectedRow:
    """A CSV row that was not imported."""

    line: int
    """1-based line number where the row starts in the file."""
    reason: str
    """Why, in words a clerk can act on; several problems joined by ``; ``."""
    raw: str
    """The row's text as it appears in the file."""


@dataclass(frozen=True, slots=True)
class RowWarning:
    """A row that was imported with a doubtful value kept as it was."""

    line: int
    """1-based line number where the row starts."""
    message: str
    """What is doubtful."""


@dataclass(frozen=True, slots=True)
class DirectoryImport:
    """The result of reading one directory CSV."""

    rows: list[DirectoryEntry]
    """Accepted entries, in file order."""
    rejected: list[RejectedRow]
    """Rows not imported, in file order."""
    encoding: str
    """``utf-8``, ``utf-8-sig``, ``utf-16`` or ``gb18030``."""
    delimiter: str = ","
    """The delimiter found in the header row."""
    warnings: list[RowWarning] = field(default_factory=list)
    """Rows imported with doubtful numbers or e-mail addresses."""
    ignored_columns: tuple[str, ...] = ()
    """Header names that map to no directory field (kept in ``raw``)."""
    blank_lines: int = 0
    """Lines with no data at all (Excel leaves ``,,,,`` rows); not rows."""


class DirectoryCsvError(ValueError):
    """The file as a whole cannot be read: the file's fault, not a row's."""


# Canonical column → accepted header names (compared after _fold()).
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "employee_id": ("employee_id", "employee id", "employee no", "emp_id", "staff_id",
                    "工号", "员工编号", "员工号", "职工编号", "人员编号"),
    "name": ("name", "full name", "姓名", "名字", "员工姓名"),
    "department": ("department", "dept", "部门", "所属部门", "单位"),
    "location": ("location", "office", "building", "地点", "办公地点", "工作地点", "办公室"),
    "desk_phone": ("desk_phone", "desk phone", "phone", "telephone", "tel", "office phone",
                   "座机", "办公电话", "电话", "固定电话", "座机号码", "办公座机"),
    "extension": ("extension", "ext", "分机", "分机号", "分机号码"),
    "mobile": ("mobile", "mobile phone", "cell", "cellphone", "手机", "手机号", "手机号码",
               "移动电话"),
    "email": ("email", "e-mail", "mail", "邮箱", "电子邮箱", "电子邮件", "邮件"),
}
_REQUIRED = ("employee_id", "name")
_LABELS = {"employee_id": "employee id (工号)", "name": "name (姓名)"}


def _fold(header: str) -> str:
    text = unicodedata.normalize("NFKC", header).strip().lower()
    return re.sub(r"[\s_\-]+", "", text)


_ALIAS_INDEX = {_fold(alias): col for col, aliases in COLUMN_ALIASES.items() for alias in aliases}

# Several desk numbers in one cell: "0571-87654321/87654322", "8001、8002".
_MULTI_SEPARATORS = re.compile(r"[/;,、，；]")
# "0571-87654321转8001", "87654321 ext. 8001", "87654321 x8001".
_WITH_EXTENSION = re.compile(r"^(.*?\d)\s*(?:转|ext\.?|x|#)\s*(\d{1,8})$", re.IGNORECASE)
# Excel shows long numbers as 1.38123E+10 and saves them that way.
_EXCEL_SCIENTIFIC = re.compile(r"^\d+(?:\.\d+)?[eE]\+?\d+$")
_MOBILE_SHAPE = re.compile(r"1[3-9]\d{9}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def read_directory_csv(
    source: str | os.PathLike[str] | bytes, *, plan: NumberingPlan | None = None
) -> DirectoryImport:
    """Read a directory CSV file (a path) or its bytes.

    ``plan`` is the site's numbering plan (region, trunk area code, extensions):
    give the same one used for incoming calls, or keys will not match.
    Raises :class:`DirectoryCsvError` when the file cannot be decoded or its
    header lacks the employee id or name column; ``OSError`` when it cannot be read.
    """
    if isinstance(source, bytes):
        data, label = source, "<bytes>"
    else:
        with open(source, "rb") as f:
            data = f.read()
        label = os.fspath(source)
    plan = plan or NumberingPlan()
    text, encoding = _decode(data, label)
    return _Reader(text, encoding, label, plan).read()


def _decode(data: bytes, label: str) -> tuple[str, str]:
    if data.startswith(codecs.BOM_UTF8):
        try:
            return data[len(codecs.BOM_UTF8):].decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError as exc:
            raise _decode_error(label, data, exc.start + len(codecs.BOM_UTF8), "UTF-8") from None
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError as exc:
            raise DirectoryCsvError(f"{label}: not valid UTF-16 at byte {exc.start}") from None
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError as exc:
        raise _decode_error(label, data, exc.start, "UTF-8 or GB18030/GBK") from None


def _decode_error(label: str, data: bytes, offset: int, what: str) -> DirectoryCsvError:
    line = data.count(b"\n", 0, offset) + 1
    return DirectoryCsvError(
        f"{label}: line {line}: byte {data[offset]:#04x} at offset {offset} is not {what}; "
        "save the file as CSV UTF-8 or GBK"
    )


@dataclass
class _Row:
    line: int
    raw: str
    fields: list[str]


class _Reader:
    def __init__(self, text: str, encoding: str, label: str, plan: NumberingPlan) -> None:
        self.text = text
        self.encoding = encoding
        self.label = label
        self.plan = plan
        # Split as csv counts lines (not str.splitlines, which also splits on
        # U+2028 and friends), so line numbers and raw text agree with the reader.
        self.lines = re.split(r"\r\n|\r|\n", text)
        self.delimiter = ","
        self.rows: list[DirectoryEntry] = []
        self.rejected: list[RejectedRow] = []
        self.warnings: list[RowWarning] = []
        self.blank = 0

    def read(self) -> DirectoryImport:
        records = iter(self._records())
        header = next(records, None)
        while header is not None and not any(f.strip() for f in header.fields):
            header = next(records, None)
        if header is None:
            raise DirectoryCsvError(f"{self.label}: the file has no header row")
        columns, ignored = self._columns(header)
        seen: dict[str, int] = {}
        for record in records:
            if not any(f.strip() for f in record.fields):
                self.blank += 1
                continue
            self._row(record, header.fields, columns, seen)
        return DirectoryImport(
            rows=self.rows, rejected=self.rejected, encoding=self.encoding,
            delimiter=self.delimiter, warnings=self.warnings, ignored_columns=ignored,
            blank_lines=self.blank,
        )

    # -- framing --------------------------------------------------------------------

    def _records(self) -> list[_Row]:
        first = next((ln for ln in self.lines if ln.strip()), "")
        self.delimiter = _sniff_delimiter(first)
        reader = csv.reader(io.StringIO(self.text, newline=""), delimiter=self.delimiter)
        records: list[_Row] = []
        previous = 0
        try:
            for fields in reader:
                start, end = previous + 1, reader.line_num
                previous = end
                records.append(_Row(start, "\n".join(self.lines[start - 1:end]), fields))
        except csv.Error as exc:
            raise DirectoryCsvError(f"{self.label}: line {reader.line_num}: {exc}") from None
        return records

    def _columns(self, header: _Row) -> tuple[dict[str, int], tuple[str, ...]]:
        columns: dict[str, int] = {}
        ignored: list[str] = []
        for index, name in enumerate(header.fields):
            column = _ALIAS_INDEX.get(_fold(name))
            if column is None:
                if name.strip():
                    ignored.append(name.strip())
                continue
            if column in columns:
                first = header.fields[columns[column]].strip()
                raise DirectoryCsvError(
                    f"{self.label}: line {header.line}: columns {first!r} and {name.strip()!r} "
                    f"both mean {column}"
                )
            columns[column] = index
        missing = [_LABELS[c] for c in _REQUIRED if c not in columns]
        if missing:
            found = ", ".join(repr(f.strip()) for f in header.fields) or "nothing"
            raise DirectoryCsvError(
                f"{self.label}: line {header.line}: the header row has no "
                f"{' and no '.join(missing)} column; found {found}"
            )
        return columns, tuple(ignored)

    # -- one row --------------------------------------------------------------------

    def _row(
        self, record: _Row, header: list[str], columns: dict[str, int], seen: dict[str, int]
    ) -> None:
        fields = record.fields
        problems: list[str] = []
        notes: list[str] = []
        if len(fields) > len(header) and any(f.strip() for f in fields[len(header):]):
            problems.append(f"too many columns: {len(fields)} fields, the header has {len(header)}")

        def value(column: str) -> str:
            index = columns.get(column)
            if index is None or index >= len(fields):
                return ""
            return unicodedata.normalize("NFKC", fields[index]).strip()

        employee_id = value("employee_id")
        name = " ".join(value("name").split())
        if not employee_id:
            problems.append("missing employee id (工号)")
        if not name:
            problems.append("missing name (姓名)")
        if employee_id:
            if employee_id in seen:
                problems.append(f"duplicate employee id {employee_id} (first on line {seen[employee_id]})")
            else:
                seen[employee_id] = record.line

        desk_keys, desk_extension = self._desk_numbers(value("desk_phone"), problems, notes)
        extension = self._extension(value("extension"), problems)
        if extension is None and desk_extension is not None:
            extension = desk_extension
        mobile = self._mobile(value("mobile"), problems, notes)
        email = value("email") or None
        if email is not None and not _EMAIL.fullmatch(email):
            notes.append(f"email {email!r} does not look like an address")

        if problems:
            self.rejected.append(RejectedRow(record.line, "; ".join(problems), record.raw))
            return
        self.warnings.extend(RowWarning(record.line, note) for note in notes)
        raw = {
            (h.strip() or f"column {i + 1}"): (fields[i] if i < len(fields) else "")
            for i, h in enumerate(header)
        }
        self.rows.append(
            DirectoryEntry(
                employee_id=employee_id, name=name,
                department=_one_line(value("department")), location=_one_line(value("location")),
                email=email, desk_numbers=desk_keys, extension=extension, mobile=mobile, raw=raw,
            )
        )

    def _desk_numbers(
        self, cell: str, problems: list[str], notes: list[str]
    ) -> tuple[tuple[str, ...], str | None]:
        keys: list[str] = []
        extension: str | None = None
        for part in (p.strip() for p in _MULTI_SEPARATORS.split(cell)):
            if not part:
                continue
            if _EXCEL_SCIENTIFIC.match(part):
                problems.append(_excel_message("desk phone", part))
                continue
            ext: str | None = None
            with_ext = _WITH_EXTENSION.match(part)
            if with_ext:
                part, ext = with_ext.group(1), with_ext.group(2)
            cid = self.plan.normalise(part)
            if not cid.key:
                problems.append(f"desk phone {part!r} is not a phone number")
                continue
            note = _doubt("desk phone", part, cid)
            if note:
                notes.append(note)
            keys.append(cid.key)
            if cid.kind is CallerKind.EXTENSION:
                extension = extension or cid.digits
            if ext is not None:
                keys.append(extension_key(ext))
                extension = extension or ext
        return tuple(dict.fromkeys(keys)), extension

    def _extension(self, cell: str, problems: list[str]) -> str | None:
        if not cell:
            return None
        digits = re.sub(r"[\s\-.]", "", cell)
        if _EXCEL_SCIENTIFIC.match(cell):
            problems.append(_excel_message("extension", cell))
        elif not (digits.isascii() and digits.isdigit()) or not self.plan.is_extension(digits):
            problems.append(f"extension {cell!r} is not an extension here")
        else:
            return digits
        return None

    def _mobile(self, cell: str, problems: list[str], notes: list[str]) -> str | None:
        if not cell:
            return None
        if _EXCEL_SCIENTIFIC.match(cell):
            problems.append(_excel_message("mobile", cell))
            return None
        if _MULTI_SEPARATORS.search(cell):
            problems.append(f"mobile {cell!r} holds several numbers; give one")
            return None
        cid = self.plan.normalise(cell)
        if cid.kind is CallerKind.E164 and cid.number_type in ("mobile", "fixed_line_or_mobile"):
            return cid.key
        if cid.kind is CallerKind.INVALID and _MOBILE_SHAPE.fullmatch(cid.key):
            # docs/cn-numbering.md §4 surprise 5: 149, 1619, 1749… are allocated but
            # unknown to phonenumbers. Keep them; the key still matches a caller.
            notes.append(f"mobile {cell!r} is not in phonenumbers' metadata; kept as {cid.key}")
            return cid.key
        if not cid.key:
            problems.append(f"mobile {cell!r} is not a phone number")
        elif cid.kind is CallerKind.E164:
            problems.append(f"mobile {cell!r} is a {cid.number_type} number, not a mobile")
        else:
            problems.append(f"mobile {cell!r} is not a mobile number")
        return None


def _one_line(text: str) -> str | None:
    # A quoted cell may span lines in Excel (Alt+Enter); the directory shows one line.
    return " ".join(text.split()) or None


def _doubt(what: str, text: str, cid: CallerId) -> str | None:
    if cid.kind is CallerKind.INVALID:
        return f"{what} {text!r} is not a valid number; kept as {cid.key}"
    if cid.kind is CallerKind.LOCAL and cid.e164 is None:
        return f"{what} {text!r} has no area code and none fits; kept as {cid.key}"
    return None


def _excel_message(what: str, text: str) -> str:
    return (
        f"{what} {text!r} was turned into a number by Excel; "
        "format the column as text and export again"
    )


def _sniff_delimiter(header_line: str) -> str:
    """The delimiter under which the header row names the most known columns."""
    best, best_score = ",", (-1, -1)
    for delimiter in (",", ";", "\t"):
        cells = next(csv.reader([header_line], delimiter=delimiter), [])
        known = sum(1 for c in cells if _fold(c) in _ALIAS_INDEX)
        score = (known, len(cells))
        if score > best_score:
            best, best_score = delimiter, score
    return best


# Header written by write_directory_csv: Chinese names, as the HR office reads them.
_EXPORT_HEADER = ("工号", "姓名", "部门", "办公地点", "座机", "分机", "手机", "邮箱")


def write_directory_csv(
    entries: Iterable[DirectoryEntry], *, encoding: str = "utf-8-sig", region: str = "CN"
) -> bytes:
    """Entries as a CSV that :func:`read_directory_csv` reads back to the same keys.

    Numbers are written for people (``0571 8876 2001``), several desk numbers
    joined by ``/``. The default UTF-8 with BOM is what Excel opens correctly;
    ``gb18030`` suits older Excel versions.
    """
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(_EXPORT_HEADER)
    for e in entries:
        ext = extension_key(e.extension) if e.extension else None
        desk = "/".join(display_key(k, region) for k in e.desk_numbers if k != ext)
        writer.writerow(
            (
                e.employee_id, e.name, e.department or "", e.location or "", desk,
                e.extension or "", display_key(e.mobile, region) if e.mobile else "",
                e.email or "",
            )
        )
    return out.getvalue().encode(encoding)
