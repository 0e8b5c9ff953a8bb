"""ardoise.yaml validation: every error names the file, the line and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.config import Config, ConfigError, load, load_from, locate, parse

FULL = """\
organisation: OPEQ
location: Québec
operator: trainee-07
batch: 2026-11-25
donor: Acme Inc.
destination: reuse
language: fr_CA
data: /run/ardoise/data
erase:
  level: purge
  method: auto
  fallback_to_clear: true
  pattern: zero
  verify: full
  remove_hpa: true
image:
  manifest: images/debian-12.manifest.json
  trust: [keys/publisher.pem]
  required: true
unattended:
  enabled: true
  countdown_seconds: 20
  after: poweroff
ledger:
  url: https://ledger.example.org/
  ca_file: keys/ca.pem
wifi:
  - ssid: atelier
    psk: correct horse battery
battery:
  min_percent: 40
"""


def test_full_config_is_read_into_dataclasses(tmp_path: Path) -> None:
    cfg = parse(FULL, source="ardoise.yaml", base=tmp_path)
    assert cfg.organisation == "OPEQ" and cfg.batch == "2026-11-25"  # a date stays text
    assert cfg.language == "fr_CA"
    assert cfg.erase.level == "purge" and cfg.erase.fallback_to_clear and cfg.erase.remove_hpa
    assert cfg.image.manifest == str(tmp_path / "images/debian-12.manifest.json")
    assert cfg.image.trust == (tmp_path / "keys/publisher.pem",)
    assert cfg.unattended.enabled and cfg.unattended.countdown_seconds == 20
    assert cfg.unattended.after == "poweroff"
    assert cfg.ledger.url == "https://ledger.example.org"  # no trailing slash
    assert cfg.ledger.ca_file == tmp_path / "keys/ca.pem"
    assert cfg.wifi[0].ssid == "atelier"
    assert cfg.battery.min_percent == 40


def test_empty_file_means_defaults() -> None:
    cfg = parse("", source="x.yaml")
    assert cfg.erase.level == "clear" and cfg.erase.verify == "sample"
    assert not cfg.unattended.enabled  # never unattended unless the config says so
    assert not cfg.erase.fallback_to_clear  # never a silent downgrade
    assert cfg.erase.overwrite_passes == 1  # not the drives' own default of 16


def test_overwrite_passes() -> None:
    assert parse("erase:\n  overwrite_passes: 3\n", source="x.yaml").erase.overwrite_passes == 3


@pytest.mark.parametrize(("text", "line", "key", "reason"), [
    ("erase:\n  levle: clear\n", 2, "erase.levle", "unknown key"),
    ("colour: blue\n", 1, "colour", "unknown key"),
    ("erase:\n  level: strong\n", 2, "erase.level", "must be one of clear, purge"),
    ("erase:\n  method: magnet\n", 2, "erase.method", "must be one of auto, overwrite"),
    ("erase:\n  verify: [full]\n", 2, "erase.verify", "expected a single value"),
    ("unattended:\n  enabled: maybe\n", 2, "unattended.enabled", "expected true or false"),
    ("unattended:\n  countdown_seconds: -1\n", 2, "unattended.countdown_seconds",
     "between 0 and 3600"),
    ("unattended:\n  countdown_seconds: soon\n", 2, "unattended.countdown_seconds",
     "whole number"),
    ("unattended:\n  after: explode\n", 2, "unattended.after", "poweroff, reboot, stay"),
    ("erase:\n  overwrite_passes: 17\n", 2, "erase.overwrite_passes", "between 1 and 16"),
    ("erase:\n  overwrite_passes: 0\n", 2, "erase.overwrite_passes", "between 1 and 16"),
    ("battery: 5\n", 1, "battery", "expected a mapping"),
    ("battery:\n  min_percent: 150\n", 2, "battery.min_percent", "between 0 and 100"),
    ("ledger:\n  url: ftp://x\n", 2, "ledger.url", "http"),
    ("image:\n  manifest: s3://bucket/x\n", 2, "image.manifest", "http"),
    ("wifi:\n  - ssid: a\n    psk: short\n", 3, "wifi[0].psk", "8 to 63"),
    ("wifi:\n  - psk: longenough\n", 2, "wifi[0].ssid", "ssid"),
    ("language: de\n", 1, "language", "fr, en"),
    ("erase:\n  level: clear\n  fallback_to_clear: true\n", 3, "erase.fallback_to_clear",
     "only meaningful with level: purge"),
    ("erase:\n  method: nvme-format-crypto\n  pattern: random\n", 3, "erase.pattern",
     "overwrite method only"),
    ("organisation: a\norganisation: b\n", 2, "organisation", "given twice"),
    ("operator: [a, b]\n", 1, "operator", "expected a single value"),
])
def test_errors_name_line_and_key(text: str, line: int, key: str, reason: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse(text, source="/run/ardoise/data/ardoise.yaml")
    error = info.value
    assert (error.line, error.key) == (line, key)
    assert reason in error.reason
    assert str(error).startswith(f"/run/ardoise/data/ardoise.yaml:{line}: {key}: ")


def test_broken_yaml_names_the_line() -> None:
    with pytest.raises(ConfigError) as info:
        parse("erase:\n  level: [clear\n", source="a.yaml")
    assert info.value.line is not None and "not valid YAML" in str(info.value)


def test_load_missing_file_and_locations(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load(tmp_path / "nope.yaml")
    assert locate(None, tmp_path, None) is None
    assert load_from(None) == Config()
    (tmp_path / "ardoise.yaml").write_text("organisation: OPEQ\n")
    assert locate(None, tmp_path, None) == str(tmp_path / "ardoise.yaml")
    assert locate(None, tmp_path, "/media/x.yaml") == "/media/x.yaml"  # ardoise.config=
    assert locate(tmp_path / "y.yaml", tmp_path, "/media/x.yaml") == str(tmp_path / "y.yaml")
    assert load_from(str(tmp_path / "ardoise.yaml")).organisation == "OPEQ"
