"""The translation layer: every user-facing string is in the catalog and translated to French;
numbers, sizes and dates follow the locale."""

from __future__ import annotations

import ast
import re
import string
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from appliance import i18n

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("erasure", "appliance", "tui", "ledger")
KEYWORDS = {"_": None, "N_": None, "Msg": None, "ngettext": (1, 2),
            "npgettext": ((1, "c"), 2, 3)}
METHOD_MAP = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
PO_FILE = ROOT / "appliance/locale/fr/LC_MESSAGES/ardoise.po"


def extracted() -> dict[str, tuple[str, str | None]]:
    """msgid -> (first place it was found, plural msgid or None), as `make po` extracts."""
    found: dict[str, tuple[str, str | None]] = {}
    for package in PACKAGES:
        for filename, lineno, message, _comments, ctx in extract_from_dir(
            ROOT / package, method_map=METHOD_MAP, keywords=KEYWORDS
        ):
            singular, plural = message if isinstance(message, tuple) else (message, None)
            if singular and ctx:  # npgettext: the catalogue keys it as "context\x04msgid"
                found.setdefault(f"{ctx}\x04{singular}", (f"{package}/{filename}:{lineno}",
                                                          plural))
            elif singular:
                found.setdefault(singular, (f"{package}/{filename}:{lineno}", plural))
    return found


def calls_inside_fstrings() -> dict[str, str]:
    """_("...") written inside an f-string: Babel's extractor does not see these on Python 3.11,
    so `make po` would never put them in the catalog. msgid -> place."""
    found: dict[str, str] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
            for node in ast.walk(tree):
                if not isinstance(node, ast.JoinedStr):
                    continue
                for sub in ast.walk(node):
                    if (isinstance(sub, ast.Call) and sub.args
                            and isinstance(sub.args[0], ast.Constant)
                            and isinstance(sub.args[0].value, str)):
                        name = (sub.func.id if isinstance(sub.func, ast.Name) else
                                sub.func.attr if isinstance(sub.func, ast.Attribute) else "")
                        if name in KEYWORDS:
                            found.setdefault(sub.args[0].value,
                                             f"{path.relative_to(ROOT)}:{sub.lineno}")
    return found


def french_catalog() -> Catalog:
    with PO_FILE.open("rb") as fh:
        return read_po(fh)


def fields(text: str) -> Counter[tuple[str, str, str]]:
    """{name!conv:spec} fields of a str.format template, as a multiset."""
    return Counter((name, conv or "", spec or "")
                   for _lit, name, spec, conv in string.Formatter().parse(text)
                   if name is not None)


def messages(catalog: Catalog) -> list:
    return [m for m in catalog if m.id]


def test_every_user_facing_string_is_in_the_catalog() -> None:
    catalog = french_catalog()
    missing = []
    for msgid, (where, plural) in extracted().items():
        ctx, _sep, plain = msgid.rpartition("\x04")
        entry = catalog.get(plain, context=ctx or None)
        if entry is None:
            missing.append(f"  {where}: {msgid!r}")
        elif plural is not None and (not isinstance(entry.id, tuple) or entry.id[1] != plural):
            missing.append(f"  {where}: plural {plural!r} differs from the catalog")
    assert not missing, "strings missing from the catalog (run `make po`):\n" + "\n".join(
        sorted(missing))


def test_no_translated_string_hides_inside_an_fstring() -> None:
    """f"{_('ERASE')}: ..." is invisible to `make po`: format the translated template instead
    (_("ERASE: {method}").format(...)) so the string reaches the catalog."""
    catalog = french_catalog()
    hidden = {m: where for m, where in calls_inside_fstrings().items() if m not in catalog}
    assert not hidden, "strings inside f-strings, never extracted:\n" + "\n".join(
        f"  {where}: {m!r}" for m, where in sorted(hidden.items(), key=lambda kv: kv[1]))


def test_the_catalog_is_not_empty() -> None:
    # the extraction itself works: several hundred strings from every package
    found = extracted()
    assert len(found) > 300
    for package in PACKAGES:
        assert any(where.startswith(package + "/") for where, _p in found.values()), package


def test_french_catalog_translates_every_message() -> None:
    untranslated = [
        m.id for m in messages(french_catalog())
        if not m.string or (isinstance(m.string, tuple) and not all(m.string)) or m.fuzzy
    ]
    assert not untranslated, f"{len(untranslated)} messages lack French: {untranslated[:20]}"


def test_french_catalog_keeps_placeholders() -> None:
    bad = []
    for m in messages(french_catalog()):
        ids = m.id if isinstance(m.id, tuple) else (m.id,)
        strings = m.string if isinstance(m.string, tuple) else (m.string,)
        for text in strings:
            # each French form carries the fields of the singular or the plural English form
            if not any(fields(text) == fields(i) for i in ids):
                bad.append((ids[0], text))
    assert not bad, bad


def test_french_plural_forms_are_both_given() -> None:
    catalog = french_catalog()
    assert catalog.num_plurals == 2
    plurals = [m for m in messages(catalog) if m.pluralizable]
    assert plurals, "ngettext messages are extracted"
    for m in plurals:
        assert len(m.string) == 2 and all(m.string), m.id


def test_compiled_catalog_matches_the_sources() -> None:
    """The .mo the appliance reads says what the .po says (`make translations` was run)."""
    french = i18n.translations("fr_CA")
    stale = []
    for m in messages(french_catalog()):
        if isinstance(m.id, tuple) and m.context:
            got = (french.npgettext(m.context, m.id[0], m.id[1], 1),
                   french.npgettext(m.context, m.id[0], m.id[1], 2))
            if got != tuple(m.string):
                stale.append(m.id[0])
        elif isinstance(m.id, tuple):
            got = (french.ngettext(m.id[0], m.id[1], 1), french.ngettext(m.id[0], m.id[1], 2))
            if got != tuple(m.string):
                stale.append(m.id[0])
        elif french.gettext(m.id) != m.string:
            stale.append(m.id)
    assert not stale, f"run `make translations`: {len(stale)} stale, e.g. {stale[:5]}"


def test_french_text_has_no_english_leftovers_in_key_words() -> None:
    """Words a trainee acts on are French (a spot check of the field terms)."""
    fr = {m.id: m.string for m in messages(french_catalog()) if isinstance(m.id, str)}
    assert fr["ERASE {n}"] == "EFFACER {n}"
    assert "Purge" in fr["NIST Purge"] and "NIST" in fr["NIST Purge"]
    assert "Clear" in fr["NIST Clear"]
    assert fr["Erased and checked."] == "Effacé et vérifié."
    assert [fr[u] for u in ("B", "kB", "MB", "GB", "TB")] == ["o", "ko", "Mo", "Go", "To"]


TEMPLATE_UNITS = {"s", "min", "/s", "·", "—", "-", "|", "/"}


def test_ledger_templates_have_no_literal_text() -> None:
    """Every word on a ledger page goes through _(): what is left once Jinja code and markup
    are removed is punctuation or SI units (identical in French)."""
    leftovers = []
    for path in sorted((ROOT / "ledger").rglob("templates/*.html")):
        text = path.read_text(encoding="utf-8")
        for attr in re.findall(r'\b(?:title|placeholder|alt|aria-label)="([^"{]*)"', text):
            if re.search(r"[A-Za-z]", attr):
                leftovers.append(f"{path.name}: attribute {attr!r}")
        text = re.sub(r"<(script|style)\b.*?</\1>", " ", text, flags=re.S)
        text = re.sub(r"\{#.*?#\}|\{\{.*?\}\}|\{%.*?%\}", " ", text, flags=re.S)
        text = re.sub(r"<[^>]+>", " ", text)
        text = re.sub(r"&#?\w+;", " ", text)
        for word in text.split():
            if re.search(r"[A-Za-z]", word) and word not in TEMPLATE_UNITS:
                leftovers.append(f"{path.name}: {word!r}")
    assert not leftovers, leftovers


@pytest.mark.parametrize(
    ("lang", "size", "expected"),
    [("en", 1_500_000_000_000, "1.5\u00a0TB"), ("fr", 1_500_000_000_000, "1,5\u00a0To"),
     ("fr_CH", 1_500_000_000_000, "1,5\u00a0To"), ("en", 512, "512\u00a0B"),
     ("fr", 512, "512\u00a0o"), ("fr", 64_000, "64\u00a0ko"), ("fr", 250_059_350_016, "250,1\u00a0Go"),
     ("fr", 8_000_000, "8\u00a0Mo"), ("en", 250_059_350_016, "250.1\u00a0GB")],
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


def test_swiss_and_quebec_numbers() -> None:
    when = datetime(2026, 11, 25, 14, 5, tzinfo=UTC)
    try:
        i18n.set_language("fr_CA")
        assert i18n.format_number(1234567.5) == "1\u00a0234\u00a0567,5"
        assert "novembre" in i18n.format_datetime(when, "long")
        i18n.set_language("fr_CH")
        # Switzerland groups thousands with a narrow no-break space or an apostrophe
        assert i18n.format_number(1234.5).endswith("234,5")
        assert i18n.format_number(1234.5)[1] in "\u202f\u00a0'\u2019"
        assert i18n.format_date(date(2026, 11, 25)) == "25 novembre 2026"
    finally:
        i18n.set_language("en")
    assert i18n.format_number(1234567.5) == "1,234,567.5"


def test_language_names_are_normalised() -> None:
    assert i18n.normalise_language("fr-CH") == "fr_CH"
    assert i18n.normalise_language("fr_CA.UTF-8") == "fr_CA"
    assert i18n.normalise_language("FR") == "fr_CA"
    assert i18n.normalise_language("en") == "en_CA"
    assert i18n.normalise_language("de") is None
    assert i18n.normalise_language(None) is None


def test_msg_from_lower_layers_is_english_in_json_and_french_for_people() -> None:
    from erasure.text import Msg

    msg = Msg("mounted: {node} on {mount}", node="sda1", mount="/mnt")
    assert str(msg) == "mounted: sda1 on /mnt"
    i18n.set_language("fr")
    try:
        assert i18n.tr(msg) == "monté\u00a0: sda1 sur /mnt"
        assert i18n.tr(msg) == i18n._("mounted: {node} on {mount}").format(node="sda1",
                                                                           mount="/mnt")
    finally:
        i18n.set_language("en")
    assert i18n.tr(msg) == "mounted: sda1 on /mnt"


def test_plural_forms_follow_french_rules() -> None:
    """French uses the singular for 0 and 1 (plural=(n > 1))."""
    one, many = "{n} disk will be erased for good.", "{n} disks will be erased for good."
    i18n.set_language("fr")
    try:
        assert i18n.ngettext(one, many, 0).format(n=0).startswith("0 disque sera")
        assert i18n.ngettext(one, many, 1).format(n=1).startswith("1 disque sera")
        assert i18n.ngettext(one, many, 2).format(n=2).startswith("2 disques seront")
    finally:
        i18n.set_language("en")
    assert i18n.ngettext(one, many, 0).format(n=0).startswith("0 disks")
