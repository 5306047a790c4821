"""Put Chinese translations into the zh catalog: scripts/fill-catalog.py TSV-FILE...

Each line of a TSV file is "English message id<TAB>中文". Lines for ids not in the catalog are
reported (run scripts/update-catalogs.sh first); ids still without Chinese are listed at the end.
"""

import sys
from pathlib import Path

from babel.messages.pofile import read_po, write_po

PO = Path(__file__).resolve().parent.parent / "web" / "locale" / "zh" / "LC_MESSAGES" / "messages.po"
zh: dict[str, str] = {}
for tsv in sys.argv[1:]:
    for line in Path(tsv).read_text(encoding="utf-8").splitlines():
        if "\t" in line:
            key, value = line.split("\t", 1)
            zh[key] = value
with PO.open("rb") as f:
    catalog = read_po(f, locale="zh")
unknown = set(zh)
for message in catalog:
    if not message.id:
        continue
    if isinstance(message.id, tuple):  # ngettext: Chinese has one plural form
        singular, plural = message.id
        value = zh.get(singular) or zh.get(plural)
        if value:
            message.string = (value,)
            message.flags.discard("fuzzy")
            unknown.difference_update((singular, plural))
    elif message.id in zh:
        message.string = zh[message.id]
        message.flags.discard("fuzzy")
        unknown.discard(message.id)
with PO.open("wb") as f:
    write_po(f, catalog, width=0)
for key in sorted(unknown):
    print(f"not in the catalog (run scripts/update-catalogs.sh): {key}")
missing = [m.id for m in catalog if m.id and not any(m.string if isinstance(m.string, tuple) else [m.string])]
for key in missing:
    print(f"still untranslated: {key}")
sys.exit(1 if missing else 0)
