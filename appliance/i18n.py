"""The translation layer: every string a person reads goes through here.

gettext catalogs (domain ``ardoise``) kept as .po sources under appliance/locale and
compiled to .mo by ``python -m appliance.i18n compile`` (run by ``make venv``, the image
build, and the wheel build: setup.py). A tree without a .mo (an editable install, a
checkout), or with a .mo older than its .po, reads the .po itself; a language whose
catalogue cannot be found says so once on stderr rather than speak English silently.
argparse's own words ("usage:", "error:", "invalid choice") go through the same catalogue
(`route_argparse`). Locale-aware numbers, sizes and dates come from Babel. JSON never goes
through here.
"""

from __future__ import annotations

import argparse
import gettext as _gettext
import io
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
_LOAD_LOCK = threading.Lock()

__all__ = ["N_", "Msg", "_", "ngettext", "npgettext", "set_language", "get_language", "translations",
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


def _load_catalogue(lang: str) -> _gettext.NullTranslations:
    """The compiled .mo when it is at least as new as its .po; else the .po, compiled in
    memory (Babel); else English, with one warning on stderr."""
    po = LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
    mo = po.with_suffix(".mo")
    try:
        # stale: the .po was edited after compiling (an install writes both within a moment)
        if mo.exists() and (not po.exists() or mo.stat().st_mtime + 2 >= po.stat().st_mtime):
            with mo.open("rb") as fh:
                return _gettext.GNUTranslations(fh)
        if po.exists():
            from babel.messages.mofile import write_mo
            from babel.messages.pofile import read_po

            with po.open("rb") as fh:
                catalog = read_po(fh, locale=lang)
            buf = io.BytesIO()
            write_mo(buf, catalog)
            buf.seek(0)
            return _gettext.GNUTranslations(buf)
        problem = f"no catalogue at {mo} or {po}"
    except (OSError, ValueError) as exc:
        problem = f"cannot read the catalogue {mo}: {exc}"
    print(f"ardoise: {problem}: messages stay in English (language {lang!r} asked)",
          file=sys.stderr, flush=True)
    return _gettext.NullTranslations()


def translations(locale_name: str) -> _gettext.NullTranslations:
    lang = locale_name.split("_")[0]
    if lang not in _cache:
        with _LOAD_LOCK:
            if lang not in _cache:
                _cache[lang] = (_gettext.NullTranslations() if lang == "en"
                                else _load_catalogue(lang))
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


def npgettext(context: str, singular: str, plural: str, n: int) -> str:
    """A plural word that has a singular elsewhere in the catalogue ("erased" under a
    count reads "effacés")."""
    return translations(get_language()).npgettext(context, singular, plural, n)


def tr(message: Any) -> str:
    """Translate a Msg from the lower layers (or a plain marked string)."""
    if message is None:
        return ""
    if isinstance(message, Msg):
        from appliance.words import msg_params  # words imports this module

        text = _(message.template)
        return text.format(**msg_params(message.params)) if message.params else text
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


# argparse's own words, in our catalogue (Python 3.11-3.13 argparse.py, its _() calls that
# a person can meet on the command line).
ARGPARSE_MESSAGES = (
    N_("usage: "), N_("%(prog)s: error: %(message)s\n"), N_("positional arguments"),
    N_("options"), N_("show this help message and exit"),
    N_("show program's version number and exit"),
    N_("argument %(argument_name)s: %(message)s"), N_("unrecognized arguments: %s"),
    N_("the following arguments are required: %s"), N_("one of the arguments %s is required"),
    N_("not allowed with argument %s"), N_("ignored explicit argument %r"),
    N_("expected one argument"), N_("expected at most one argument"),
    N_("expected at least one argument"), N_("ambiguous option: %(option)s could match %(matches)s"),
    N_("unexpected option string: %s"), N_("invalid %(type)s value: %(value)r"),
    N_("invalid choice: %(value)r (choose from %(choices)s)"),
    N_("can't open '%(filename)s': %(error)s"),
    N_("unknown parser %(parser_name)r (choices: %(choices)s)"),
)


def posix_language() -> str | None:
    """The POSIX locale's language for messages: LC_ALL, else LC_MESSAGES, else LANG
    ("C" and "POSIX" read English)."""
    return next((os.environ[v] for v in ("LC_ALL", "LC_MESSAGES", "LANG") if os.environ.get(v)),
                None)


def route_argparse() -> None:
    """argparse translates with gettext's global domain at call time (`argparse._`,
    `argparse.ngettext`): send those calls through this catalogue and language."""
    argparse._ = _  # type: ignore[attr-defined]
    argparse.ngettext = ngettext  # type: ignore[attr-defined]


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
