"""Render the example certificate pages shown in docs/ (docs/certificate-en.png, -fr.png).

    .venv/bin/python -m tests.tools.certificate_docs [--lang en|fr] [--out docs/]

Builds a certificate from the same records the tests use (a Surface Pro 7 NVMe
crypto-sanitize with sampled read-back and an image), signs it with a throw-away key,
prints it with `ardoise cert pdf` and converts page 1 with pdftoppm (poppler-utils).
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


def render(lang: str, out_dir: Path) -> Path:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        host = dataclasses.replace(certsample.host(), serial="011561294053",
                                   uuid="6f1d1b2e-8a43-4e0b-9a3f-0c5e2b7d1a44")
        doc = certify.build_certificate(
            outcome=certsample.nvme_outcome(), host=host, context=certsample.context(),
            image=certsample.image(), job_id="20261118T212000Z-3fa2c1.nvme-eui.0025385b91b0f0a1",
            issued_at="2026-11-18T21:21:05Z")
        cert = certify.issue(doc, data)
        pdf = data / "certificate.pdf"
        rc = ardoise(["--lang", lang, "cert", "pdf", str(cert), "--out", str(pdf),
                      "--ledger", "https://ledger.opeq.example", "--data", str(data)])
        if rc != 0:
            raise SystemExit(rc)
        stem = out_dir / f"certificate-{lang}"
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
