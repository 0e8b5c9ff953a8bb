"""What the certificate PDF says of its receipt (the tlog-proof kept beside it): where the
certificate sits in the ledger's log, the root it was proven under, and how to check it
offline. The QR code then carries the record's address with that size and root, so a
phone shows the record and the numbers to compare with any later checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from appliance.i18n import _
from appliance.tlog import TlogError, parse_proof


def beside(certificate: Path) -> str | None:
    """The receipt kept next to a certificate file (ID.json → ID.tlog-proof), if any."""
    path = certificate.with_suffix(".tlog-proof")
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def summary(proof_text: str | None) -> dict[str, Any] | None:
    if not proof_text:
        return None
    try:
        proof = parse_proof(proof_text)
        checkpoint = proof.checkpoint
    except TlogError:
        return None
    return {"index": proof.index, "size": checkpoint.size, "origin": checkpoint.origin,
            "root": checkpoint.root.hex(), "cosigners": len(proof.note.signatures) - 1}


def lines(info: dict[str, Any], cert_id: str) -> list[str]:
    return [
        _("Receipt: entry {index} of the {size} in the log {origin}, root {root}, "
          "{n} witness cosignature(s).").format(index=info["index"], size=info["size"],
                                                origin=info["origin"], root=info["root"],
                                                n=info["cosigners"]),
        _("Check it offline, without this page: ardoise cert verify {id}.json --proof "
          "{id}.tlog-proof --log-key VKEY (the log's key from /api/v1/log/vkey).")
        .format(id=cert_id),
    ]


def qr_payload(url: str, info: dict[str, Any] | None) -> str:
    return url if info is None else f"{url}#tlog={info['size']}:{info['root']}"
