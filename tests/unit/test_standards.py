"""The one mapping table (erasure.standards) drives the planner and is what the README shows."""

from __future__ import annotations

import re
from pathlib import Path

from erasure import methods, standards
from erasure.plan import STRENGTH, level_of

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_shows_exactly_the_mapping_table() -> None:
    text = README.read_text()
    found = re.search(r"<!-- mapping:begin[^\n]*-->\n(.*?)<!-- mapping:end -->", text, re.S)
    assert found, "README has no generated mapping block"
    assert found.group(1) == standards.mapping_markdown()
    assert "## Erase methods and NIST levels" in text


def test_every_method_has_a_row_and_every_row_a_source() -> None:
    rows = {row.method for row in standards.MAPPING}
    assert rows == set(STRENGTH) == set(methods.names())
    for row in standards.MAPPING:
        assert row.sources and all(s in standards.SOURCES for s in row.sources)
        assert row.level in ("clear", "purge")
        assert row.technique in ("overwrite", "block erase", "cryptographic erase")


def test_one_row_per_method_and_media() -> None:
    seen = [(row.method, m) for row in standards.MAPPING for m in row.media]
    assert len(seen) == len(set(seen))


def test_planner_levels_are_the_table() -> None:
    for row in standards.MAPPING:
        for media in standards.MEDIA_NAMES:
            assert level_of(row.method, media) == standards.level_for(row.method, media)
            if media in row.media:
                assert level_of(row.method, media) == row.level


def test_the_readings_the_issue_asks_about() -> None:
    assert level_of("nvme-format-user", "nvme") == "purge"
    assert level_of("nvme-format-crypto", "nvme") == "purge"
    assert level_of("ata-secure-erase-enhanced", "ata-hdd") == "purge"
    assert level_of("ata-secure-erase-enhanced", "ata-flash") == "clear"
    assert level_of("ata-secure-erase", "ata-hdd") == "clear"
    assert level_of("mmc-sanitize", "mmc") == "clear"
    assert level_of("overwrite", "ata-hdd") == "clear"
    assert level_of("opal-psid-revert", "nvme") == "purge"
    # a drive command off its media reaches nothing
    assert level_of("nvme-sanitize-block", "ata-flash") is None
    assert level_of("ata-sanitize-block", "usb") is None
