"""Surveys for the preflight and delivery screens, shared by the Pilot and snapshot tests.

- a dashboard whose required image is missing (the check appliance.preflight really makes of
  a manifest path that does not exist) on a machine without network (the ledger check with
  the link down): one problem, one warning;
- a results screen whose first certificate the ledger rejected: the spool's note holds the
  ledger's own answer to a key it never enrolled (HTTP 403 "the signing key is not enrolled",
  checked against the real ledger in tests/ledger/test_preflight_delivery.py); the second
  certificate waits (the ledger is unreachable).
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance import preflight
from appliance.certificate import public_pem
from appliance.certify import generate_key
from appliance.network import Link, NetworkState
from appliance.spool import Spool
from appliance.survey import Survey
from tests.tui.conftest import GOOD_CONFIG, make_survey, results_fixture

MISSING_IMAGE = "/run/ardoise/data/images/debian-12.manifest.json"
PREFLIGHT_CONFIG = GOOD_CONFIG.replace(
    "  manifest: https://images.example.org/debian-12.manifest.json\n",
    f"  manifest: {MISSING_IMAGE}\n  required: true\n")
# the results screen names files of the data partition: a fixed folder keeps the picture still
SNAPSHOT_DATA = Path("/var/tmp/ardoise-snapshot/data")
LEDGER_ANSWER = "the signing key is not enrolled"  # ledger.intake.verify_signed: 403 unknown_key


OFFLINE = NetworkState((Link("enp1s0", "wired", False), Link("wlp2s0", "wireless", False)))


def preflight_survey(tmp_path: Path) -> Survey:
    """As appliance.survey.take checks it, on a machine without a network link."""
    survey = replace(make_survey(tmp_path, PREFLIGHT_CONFIG), network=OFFLINE)
    generate_key(survey.data_dir / "keys")
    assert survey.config.image.manifest == MISSING_IMAGE and not Path(MISSING_IMAGE).exists()
    survey.preflight = preflight.check(survey.config, survey.data_dir, survey.selected,
                                       link_up=lambda: survey.network.online)
    return survey


def warning_survey(tmp_path: Path) -> Survey:
    """Only a warning (offline): the confirmation is offered."""
    survey = replace(make_survey(tmp_path), network=OFFLINE)
    generate_key(survey.data_dir / "keys")
    survey.preflight = preflight.Preflight(preflight.ledger_checks(
        survey.config, survey.data_dir, link_up=lambda: survey.network.online))
    return survey


def rejected_survey(tmp_path: Path, data: Path = SNAPSHOT_DATA, text: str = GOOD_CONFIG) -> Survey:
    shutil.rmtree(data, ignore_errors=True)
    keys = data / "keys"
    keys.mkdir(parents=True)
    key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))  # a still key id
    (keys / "appliance.pub.pem").write_bytes(public_pem(key.public_key()))
    spool = Spool(data)
    first, second = results_fixture()
    for result in (first, second):
        assert result.certificate_id
        spool.put({"id": result.certificate_id})
    assert first.certificate_id
    spool.note(first.certificate_id, {"status": "rejected", "http": 403, "error": "unknown_key",
                                      "reason": LEDGER_ANSWER, "at": "2026-11-25T14:02:43Z"})
    return replace(make_survey(tmp_path, text), data_dir=data)


def clean_snapshot_data() -> None:
    shutil.rmtree(SNAPSHOT_DATA.parent, ignore_errors=True)
