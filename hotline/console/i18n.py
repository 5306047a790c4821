"""The console's languages: Simplified Chinese by default, English per user.

Message ids are English (the text as written in templates and views); the catalog
``web/locale/zh/LC_MESSAGES/messages.po`` gives each its Chinese. Catalogs are read with Babel
at start and compiled in memory, so no compiled ``.mo`` file has to be kept in step; an id with
no translation shows its English (the untranslated-keys test keeps that from happening). The
catalogs are kept up to date with ``scripts/update-catalogs.sh`` (Babel's extraction over the
templates and ``hotline/console``).
"""

from __future__ import annotations

import gettext
import io
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from markupsafe import Markup

__all__ = ["DEFAULT_LANGUAGE", "LANGUAGES", "Catalogs", "load_catalogs"]

LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "zh"


class Catalogs:
    """Translations per language, and the template helpers bound to one language."""

    def __init__(self, translations: Mapping[str, gettext.NullTranslations], tz: ZoneInfo) -> None:
        self._translations = dict(translations)
        self.tz = tz

    def get(self, language: str) -> gettext.NullTranslations:
        return self._translations.get(language) or gettext.NullTranslations()

    def gettext(self, language: str) -> Callable[[str], str]:
        """Plain gettext for Python code (flash messages, errors): returns text, not markup."""
        return self.get(language).gettext

    def helpers(self, language: str) -> dict[str, Callable[..., Any]]:
        """``_``, ``ngettext`` and ``local_time`` for templates in ``language``.

        ``_("Issue %(number)s", number=n)``: the translation is ours (trusted markup), the
        values are escaped as they are put in.
        """
        t = self.get(language)

        def translate(message: str, **values: Any) -> Markup:
            text = Markup(t.gettext(message))
            return text % values if values else text

        def ntranslate(singular: str, plural: str, n: int, **values: Any) -> Markup:
            text = Markup(t.ngettext(singular, plural, n))
            return text % {"n": n, **values}

        def local_time(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
            return "" if value is None else value.astimezone(self.tz).strftime(fmt)

        return {"_": translate, "ngettext": ntranslate, "local_time": local_time,
                "language": lambda: language}


def load_catalogs(locale_dir: Path, tz: ZoneInfo) -> Catalogs:
    """Every ``<lang>/LC_MESSAGES/messages.po`` under ``locale_dir``, compiled in memory."""
    translations: dict[str, gettext.NullTranslations] = {}
    for language in LANGUAGES:
        po = locale_dir / language / "LC_MESSAGES" / "messages.po"
        if not po.is_file():
            continue
        with po.open("rb") as f:
            catalog = read_po(f, locale=language)
        buffer = io.BytesIO()
        write_mo(buffer, catalog)
        buffer.seek(0)
        translations[language] = gettext.GNUTranslations(buffer)
    return Catalogs(translations, tz)
