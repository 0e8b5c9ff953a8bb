"""The signature table against structures made by the real tools, and the fast search."""

from __future__ import annotations

import email.message
import io
import mailbox
import random
import sqlite3
import zipfile
from pathlib import Path

import pytest

from erasure.blockdev import AlignedBuffer, MiB
from erasure.scan import find_signatures
from erasure.signatures import SECTOR, SIGNATURES, match

FIXTURES = Path(__file__).parent.parent / "fixtures" / "audit"

CAPTURED = {
    "ext4-superblock.bin": "ext-superblock",
    "fat32-boot.bin": "fat",
    "fat16-boot.bin": "fat",
    "ntfs-boot.bin": "ntfs",
    "ntfs-mft-record.bin": "ntfs-mft-record",
    "xfs-superblock.bin": "xfs",
    "btrfs-superblock.bin": "btrfs",
    "gpt-header.bin": "gpt",
    "mbr.bin": "mbr",
    "jpeg-jfif.bin": "jpeg",
    "png.bin": "png",
}


def _pdf() -> bytes:
    from fpdf import FPDF

    doc = FPDF()
    doc.add_page()
    doc.set_font("helvetica", size=12)
    doc.cell(text="donor's tax return")
    return bytes(doc.output())


def _docx() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", "<w:document/>")
    return out.getvalue()


def _sqlite(tmp: Path) -> bytes:
    path = tmp / "contacts.sqlite"
    with sqlite3.connect(path) as db:
        db.execute("create table person (name text)")
        db.execute("insert into person values ('A. Tremblay')")
    return path.read_bytes()


def _mbox(tmp: Path) -> bytes:
    box = mailbox.mbox(tmp / "inbox")
    msg = email.message.EmailMessage()
    msg["From"] = "a@example.org"
    msg["To"] = "b@example.org"
    msg["Subject"] = "bank details"
    msg.set_content("hello")
    box.add(msg)
    box.close()
    return (tmp / "inbox").read_bytes()


def _eml() -> bytes:
    msg = email.message.EmailMessage()
    msg["Message-ID"] = "<1@example.org>"
    msg["From"] = "a@example.org"
    msg.set_content("hello")
    return msg.as_bytes()


@pytest.mark.parametrize("name", sorted(CAPTURED))
def test_structures_made_by_the_real_tools_are_recognised(name: str) -> None:
    found = match((FIXTURES / name).read_bytes())
    assert found is not None and found.name == CAPTURED[name]


def test_files_made_by_their_producers_are_recognised(tmp_path: Path) -> None:
    made = {"pdf": _pdf(), "zip": _docx(), "sqlite": _sqlite(tmp_path), "mbox": _mbox(tmp_path),
            "mail": _eml()}
    for name, data in made.items():
        found = match(data[:4096])
        assert found is not None and found.name == name, name


def test_every_entry_names_its_testdisk_source() -> None:
    assert all(s.source.startswith("testdisk src/") for s in SIGNATURES)
    assert all(0 <= s.at and s.at + len(s.magic) <= SECTOR for s in SIGNATURES)


def _buffer(data: bytes) -> AlignedBuffer:
    buf = AlignedBuffer(len(data))
    buf.view[:len(data)] = data
    return buf


def test_search_names_the_sector_of_each_planted_structure(tmp_path: Path) -> None:
    data = bytearray(random.Random(7).randbytes(16 * MiB))
    planted = {}
    for i, name in enumerate(sorted(CAPTURED)):
        offset = (i * 2917 + 5) * SECTOR
        data[offset:offset + 4096] = (FIXTURES / name).read_bytes()
        planted[offset] = CAPTURED[name]
    pdf_at = 16 * MiB - 8 * SECTOR
    data[pdf_at:pdf_at + 64] = _pdf()[:64]
    planted[pdf_at] = "pdf"
    data[SECTOR * 9 + 1:SECTOR * 9 + 65] = _pdf()[:64]  # not at a sector start: no finding
    buf = _buffer(bytes(data))
    try:
        found = {offset: sig.name for offset, sig in find_signatures(buf, len(data), 0)}
    finally:
        buf.close()
    # a planted structure may carry a second one further in (the NTFS boot region holds
    # its backup, the GPT 4 KiB its entries...): every planted one is found where it was
    assert {o: found.get(o) for o in planted} == planted
    assert SECTOR * 9 not in found


def test_search_agrees_with_the_sector_by_sector_check() -> None:
    rng = random.Random(11)
    data = bytearray(rng.randbytes(2 * MiB))
    pieces = [(FIXTURES / n).read_bytes() for n in sorted(CAPTURED)]
    for _ in range(200):
        piece = rng.choice(pieces)
        at = rng.randrange(0, len(data) - 4096) // SECTOR * SECTOR
        data[at:at + 4096] = piece
    buf = _buffer(bytes(data))
    try:
        fast = [(o, s.name) for o, s in find_signatures(buf, len(data), 1 << 30)]
    finally:
        buf.close()
    slow = []
    for sector in range(0, len(data), SECTOR):
        sig = match(bytes(data[sector:min(len(data), sector + 4096)]))
        if sig is not None:
            slow.append(((1 << 30) + sector, sig.name))
    assert fast == slow and len(fast) >= 200


def test_random_data_holds_no_signature() -> None:
    """64 MiB of random data (what a crypto-erased disk reads as): no false alarm."""
    data = random.Random(2026).randbytes(64 * MiB)
    buf = _buffer(data)
    try:
        assert find_signatures(buf, len(data), 0) == []
    finally:
        buf.close()
