"""Certificates for the tests, built from the real erasure records (Disk, Outcome...)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from appliance import certify
from appliance.inventory import parse_dmidecode
from erasure.disk import Disk, Hpa
from erasure.erase import Outcome
from erasure.methods.base import EraseResult, IoErrorRange
from erasure.verify import VerifyResult

FIXTURES = Path(__file__).parent.parent / "fixtures"


def nvme_disk() -> Disk:
    return Disk(path="/dev/nvme0n1", id="nvme-eui.0025385b91b0f0a1", model="KBG40ZPZ256G TOSHIBA",
                serial="X9PPT1MFQBB1", size_bytes=256060514304, logical_block_size=512,
                transport="nvme", firmware="AEGA0102", rotational=False,
                wwn="eui.0025385b91b0f0a1")


def sata_disk() -> Disk:
    return Disk(path="/dev/sda", id="wwn-0x50014ee2b5e1a3c4", model="WDC WD5000LPLX-60ZNTT1",
                serial="WD-WXK1A6879JZT", size_bytes=500107862016, logical_block_size=512,
                transport="sata", firmware="02.01A02", rotational=True,
                wwn="0x50014ee2b5e1a3c4", hpa=Hpa(976771055, 976773168))


def host():  # type: ignore[no-untyped-def]
    return parse_dmidecode((FIXTURES / "dmidecode" / "surface-pro-7.txt").read_text())


def context() -> certify.CertContext:
    return certify.CertContext(organisation="OPEQ", location="Québec, QC",
                               operator="Élodie Tremblay", contact="atelier@opeq.example",
                               batch="2026-11-B17", donor="Acme Québec inc.",
                               destination="reuse (donation)", image_build="20261120-1")


def nvme_outcome(status: str = "erased", verify_result: str = "pass") -> Outcome:
    erase = EraseResult(method="nvme-sanitize-crypto", status="erased" if status == "erased"
                        else status, technique="cryptographic erase", seconds=14.2,
                        tool="nvme-cli 2.4")
    verify = VerifyResult(mode="sample", result=verify_result, bytes_checked=25606051840,
                          sample_share=0.1, subsections=1000)
    return Outcome(disk=nvme_disk(), level="purge", plan=None, method="nvme-sanitize-crypto",
                   pattern="zero", status=status, erase=erase, verify=verify,
                   attempts=[erase], started=1795036800.0, finished=1795036843.5)


def sata_overwrite_outcome() -> Outcome:
    erase = EraseResult(method="overwrite", status="failed", technique="overwrite",
                        bytes_written=499000000000, seconds=4012.0, tool="ardoise overwrite",
                        errors=["I/O error at 499000000000"],
                        io_errors=[IoErrorRange(499000000000, 1048576, "EIO")])
    verify = VerifyResult(mode="none", result="not-done")
    return Outcome(disk=sata_disk(), level="clear", plan=None, method="overwrite",
                   pattern="zero", status="failed", erase=erase, verify=verify,
                   errors=["write failed: Input/output error"], attempts=[erase],
                   started=1795030000.0, finished=1795034012.0)


def image() -> dict[str, Any]:
    return {"name": "debian-12-xfce", "version": "12.8-2026.11", "status": "imaged",
            "manifest_hash":
            "9f2c4b1a" * 8, "root_hash": "1b2c3d4e" * 8, "readback_hash": "1b2c3d4e" * 8,
            "verified": True, "bytes_written": 4817158144}


def document(**kw: Any) -> dict[str, Any]:
    """An unsigned certificate for the NVMe tablet disk."""
    return certify.build_certificate(outcome=kw.pop("outcome", None) or nvme_outcome(),
                                     host=host(), context=context(),
                                     image=kw.pop("image", image()), **kw)
