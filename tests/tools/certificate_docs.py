"""Render the example certificate pages shown in docs/ (docs/certificate-en.png, -fr.png,
and docs/certificate-image-failed-en.png, -fr.png).

    .venv/bin/python -m tests.tools.certificate_docs [--lang en|fr] [--out docs/]

Builds a certificate from the same records the tests use (a Surface Pro 7 NVMe
crypto-sanitize with sampled read-back and an image; then the same erase whose image
read-back did not match), signs it with a throw-away key, prints it with `ardoise cert pdf`
and converts page 1 with pdftoppm (poppler-utils).
"""

from __future__ import annotations

import argparse
import dataclasses
import subprocess
import tempfile
from pathlib import Path

from appliance import certify
from appliance.cli import main as ardoise
from tests.unit import certsample

IMAGE_FAILED = {"name": "debian-12-xfce", "version": "12.8-2026.11", "status": "failed",
                "manifest_hash": "9f2c4b1a" * 8, "root_hash": "1b2c3d4e" * 8,
                "readback_hash": None, "verified": False, "bytes_written": 4817158144,
                "errors": ["read-back root hash differs from the manifest"]}


def render(lang: str, out_dir: Path, variant: str = "") -> Path:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        host = dataclasses.replace(certsample.host(), serial="011561294053",
                                   uuid="6f1d1b2e-8a43-4e0b-9a3f-0c5e2b7d1a44")
        doc = certify.build_certificate(
            outcome=certsample.nvme_outcome(), host=host, context=certsample.context(),
            image=IMAGE_FAILED if variant == "image-failed" else certsample.image(), job_id="20261118T212000Z-3fa2c1.nvme-eui.0025385b91b0f0a1",
            issued_at="2026-11-18T21:21:05Z")
        cert = certify.issue(doc, data)
        pdf = data / "certificate.pdf"
        rc = ardoise(["--lang", lang, "cert", "pdf", str(cert), "--out", str(pdf),
                      "--ledger", "https://ledger.opeq.example", "--data", str(data)])
        if rc != 0:
            raise SystemExit(rc)
        stem = out_dir / "-".join(x for x in ("certificate", variant, lang) if x)
        subprocess.run(["pdftoppm", "-r", "110", "-png", "-singlefile", str(pdf), str(stem)],
                       check=True, timeout=60)
        return stem.with_suffix(".png")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--lang", action="append", default=None)
    ap.add_argument("--out", type=Path, default=Path("docs"))
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for lang in args.lang or ["en", "fr"]:
        print(render(lang, args.out))
        print(render(lang, args.out, "image-failed"))
