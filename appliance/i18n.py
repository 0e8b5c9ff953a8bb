"""The translation layer: every string a person reads goes through here.

gettext catalogs (domain ``ardoise``) kept as .po sources under appliance/locale and
compiled to .mo by ``python -m appliance.i18n compile`` (run by ``make venv`` and the image
build). Locale-aware numbers, sizes and dates come from Babel. JSON never goes through here.
"""

from __future__ import annotations

import gettext as _gettext
import os
import sys
import threading
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

from babel import Locale
from babel.dates import format_date as _babel_date
from babel.dates import format_datetime as _babel_datetime
from babel.numbers import format_decimal

from erasure.text import N_, Msg

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "ardoise"
LANGUAGES = ("en", "fr")
# Regional variants: Québec (OPEQ) and Vaud (Jobtrek) read French; defaults below.
LOCALES = {"en": "en_CA", "fr": "fr_CA", "fr_CA": "fr_CA", "fr_CH": "fr_CH", "en_CA": "en_CA",
           "en_US": "en_US", "en_GB": "en_GB"}

_state = threading.local()
_default_locale = "en_CA"
_cache: dict[str, _gettext.NullTranslations] = {}

__all__ = ["N_", "Msg", "_", "ngettext", "set_language", "get_language", "translations",
           "tr", "format_size", "format_date", "format_datetime", "format_number",
           "normalise_language"]


def normalise_language(value: str | None) -> str | None:
    """'fr', 'fr-CH', 'fr_CA.UTF-8', 'en' → a locale name we support, or None."""
    if not value:
        return None
    value = value.split(".")[0].replace("-", "_")
    if value in LOCALES:
        return LOCALES[value]
    base = value.split("_")[0].lower()
    return LOCALES.get(base)


def translations(locale_name: str) -> _gettext.NullTranslations:
    lang = locale_name.split("_")[0]
    if lang not in _cache:
        if lang == "en":
            _cache[lang] = _gettext.NullTranslations()
        else:
            _cache[lang] = _gettext.translation(
                DOMAIN, localedir=str(LOCALE_DIR), languages=[lang], fallback=True
            )
    return _cache[lang]


def set_language(value: str | None, default_for_thread: bool = False) -> str:
    """Choose the language (for this thread, and by default for every thread)."""
    global _default_locale
    loc = normalise_language(value) or "en_CA"
    _state.locale = loc
    if not default_for_thread:
        _default_locale = loc
    return loc


def get_language() -> str:
    return getattr(_state, "locale", _default_locale)


def _(message: str) -> str:
    return translations(get_language()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(get_language()).ngettext(singular, plural, n)


def tr(message: Any) -> str:
    """Translate a Msg from the lower layers (or a plain marked string)."""
    if message is None:
        return ""
    if isinstance(message, Msg):
        return message.localise(_)
    return _(str(message))


def _locale() -> Locale:
    return Locale.parse(get_language())


def format_number(value: float, digits: int = 1) -> str:
    fmt = "#,##0" + ("." + "#" * digits if digits else "")
    return format_decimal(value, format=fmt, locale=_locale())


_UNITS = [N_("B"), N_("kB"), N_("MB"), N_("GB"), N_("TB"), N_("PB")]


def format_size(num_bytes: int | float, digits: int = 1) -> str:
    """Decimal units, as drive makers label them: 1.5 TB / 1,5 To."""
    value = float(num_bytes)
    unit = 0
    while abs(value) >= 1000 and unit < len(_UNITS) - 1:
        value /= 1000
        unit += 1
    return f"{format_number(value, digits if unit else 0)}\u00a0{_(_UNITS[unit])}"


def format_rate(bytes_per_second: float) -> str:
    return _("{size}/s").format(size=format_size(bytes_per_second))


def format_date(value: date | datetime, fmt: str = "long") -> str:
    return _babel_date(value, format=fmt, locale=_locale())


def format_datetime(value: datetime, fmt: str = "medium") -> str:
    return _babel_datetime(value, format=fmt, locale=_locale())


def gettext_for(locale_name: str) -> Callable[[str], str]:
    return translations(locale_name).gettext


def compile_catalogs() -> int:
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    count = 0
    for po in sorted(LOCALE_DIR.glob("*/LC_MESSAGES/*.po")):
        with po.open("rb") as fh:
            catalog = read_po(fh)
        with po.with_suffix(".mo").open("wb") as fh:
            write_mo(fh, catalog)
        count += 1
    _cache.clear()
    return count


if __name__ == "__main__":
    if sys.argv[1:] == ["compile"]:
        n = compile_catalogs()
        print(f"compiled {n} catalog(s) in {os.path.relpath(LOCALE_DIR)}", file=sys.stderr)
    else:
        print("usage: python -m appliance.i18n compile", file=sys.stderr)
        sys.exit(2)
