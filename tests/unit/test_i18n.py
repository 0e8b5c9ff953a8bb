"""The translation layer: every user-facing string is in the catalog and translated to French;
numbers, sizes and dates follow the locale."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from appliance import i18n

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("erasure", "appliance", "tui", "ledger")
KEYWORDS = {"_": None, "N_": None, "Msg": None, "ngettext": (1, 2)}
METHOD_MAP = [("**/templates/**.html", "jinja2"), ("**.py", "python")]


def extracted() -> dict[str, str]:
    """msgid -> first place it was found."""
    found: dict[str, str] = {}
    for package in PACKAGES:
        for filename, lineno, message, _comments, _ctx in extract_from_dir(
            ROOT / package, method_map=METHOD_MAP, keywords=KEYWORDS
        ):
            msgids = message if isinstance(message, tuple) else (message,)
            for msgid in msgids:
                if msgid:
                    found.setdefault(msgid, f"{package}/{filename}:{lineno}")
    return found


def french_catalog():
    with (ROOT / "appliance/locale/fr/LC_MESSAGES/ardoise.po").open("rb") as fh:
        return read_po(fh)


def test_every_user_facing_string_is_in_the_catalog() -> None:
    catalog = french_catalog()
    missing = {m: where for m, where in extracted().items() if m not in catalog}
    assert not missing, "strings missing from the catalog (run `make po`):\n" + "\n".join(
        f"  {where}: {m!r}" for m, where in sorted(missing.items(), key=lambda kv: kv[1])
    )


def test_french_catalog_translates_every_message() -> None:
    untranslated = [
        m.id for m in french_catalog()
        if m.id and (not m.string or (isinstance(m.string, tuple) and not all(m.string)))
    ]
    assert not untranslated, f"{len(untranslated)} messages lack French: {untranslated[:20]}"


def test_french_catalog_keeps_placeholders() -> None:
    import string

    bad = []
    for m in french_catalog():
        if not m.id or isinstance(m.id, tuple):
            continue
        names = {f[1] for f in string.Formatter().parse(m.id) if f[1] is not None}
        got = {f[1] for f in string.Formatter().parse(str(m.string)) if f[1] is not None}
        if names != got:
            bad.append((m.id, m.string))
    assert not bad, bad


@pytest.mark.parametrize(
    ("lang", "size", "expected"),
    [("en", 1_500_000_000_000, "1.5\u00a0TB"), ("fr", 1_500_000_000_000, "1,5\u00a0To"),
     ("fr_CH", 1_500_000_000_000, "1,5\u00a0To"), ("en", 512, "512\u00a0B")],
)
def test_sizes_follow_the_locale(lang: str, size: int, expected: str) -> None:
    i18n.set_language(lang)
    try:
        assert i18n.format_size(size) == expected
    finally:
        i18n.set_language("en")


def test_dates_follow_the_locale() -> None:
    day = date(2026, 11, 25)
    i18n.set_language("fr")
    try:
        assert i18n.format_date(day) == "25 novembre 2026"
    finally:
        i18n.set_language("en")
    assert i18n.format_date(day) == "November 25, 2026"


def test_language_names_are_normalised() -> None:
    assert i18n.normalise_language("fr-CH") == "fr_CH"
    assert i18n.normalise_language("fr_CA.UTF-8") == "fr_CA"
    assert i18n.normalise_language("de") is None
    assert i18n.normalise_language(None) is None


def test_msg_from_lower_layers_is_english_in_json_and_french_for_people() -> None:
    from erasure.text import Msg

    msg = Msg("mounted: {node} on {mount}", node="sda1", mount="/mnt")
    assert str(msg) == "mounted: sda1 on /mnt"
    i18n.set_language("fr")
    try:
        assert i18n.tr(msg) == i18n._("mounted: {node} on {mount}").format(node="sda1", mount="/mnt")
    finally:
        i18n.set_language("en")
