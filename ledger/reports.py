"""Batch and donor reports: every disk with host serial, disk model and serial, method, NIST
level, verification, date and log index, as CSV and as PDF (fpdf2, DejaVu for accents)."""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fpdf import FPDF

from appliance.i18n import _, format_datetime, format_number
from appliance.words import level_word, status_counts, status_word, verify_result_word
from ledger.treehead import TreeHead

FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"))


def columns() -> list[tuple[str, str, float]]:
    """(row attribute, translated heading, PDF column width in mm: 277 in all)."""
    return [
        ("host_serial", _("Host serial"), 30),
        ("media_model", _("Disk model"), 46),
        ("media_serial", _("Disk serial"), 40),
        ("method", _("Method"), 42),
        ("nist_level", _("NIST level"), 30),
        ("status", _("Result"), 22),
        ("verification", _("Verification"), 24),
        ("issued_at", _("Date"), 26),
        ("leaf_index", _("Log index"), 17),
    ]


def status_label(status: str) -> str:
    return status_word(status)


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A cell a spreadsheet will not run: text starting with = + - @ TAB or CR gets a leading
    apostrophe (OWASP "CSV Injection"). Host and disk serials and models come from the
    drives and machines themselves, so anything can be there. Numbers stay numbers."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def cell(attr: str, value: Any) -> str:
    """A row's value as a person reads it (the CSV keeps the codes)."""
    if attr == "status":
        return status_word(value)
    if attr == "nist_level":
        return level_word(value)
    if attr == "verification":
        return verify_result_word(value)
    if attr == "issued_at":
        return str(value)[:16].replace("T", " ")
    return str(value)


def to_csv(rows: Sequence[Any]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    cols = columns()
    writer.writerow(["certificate_id"] + [attr for attr, _h, _w in cols])
    for row in rows:
        writer.writerow([csv_cell(row.id)] + [csv_cell(getattr(row, attr))
                                              for attr, _h, _w in cols])
    return out.getvalue().encode("utf-8")


def _font_dir() -> Path:
    for d in FONT_DIRS:
        if (d / "DejaVuSans.ttf").exists():
            return d
    raise FileNotFoundError("DejaVu fonts not found (install fonts-dejavu-core)")


class _Report(FPDF):
    footer_text = ""

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("DejaVu", "", 7)
        self.set_text_color(110)
        self.cell(0, 5, self.footer_text, align="L")
        self.cell(0, 5, _("Page {n}").format(n=self.page_no()), align="R")


def _headings(pdf: FPDF, cols: list[tuple[str, str, float]]) -> None:
    """The header row; a heading that does not fit its column wraps (never overlaps)."""
    pdf.set_font("DejaVu", "B", 8)
    pdf.set_fill_color(228, 232, 238)
    line = 3.6
    wrapped: list[list[str]] = [pdf.multi_cell(  # type: ignore[misc]
        w - 2, line, h, dry_run=True, output="LINES") for _a, h, w in cols]
    lines = max(len(w) for w in wrapped)
    height = max(7.0, lines * line + 2)
    x, y = pdf.l_margin, pdf.get_y()
    for _attr, heading, width in cols:
        pdf.rect(x, y, width, height, style="DF")
        pdf.set_xy(x + 1, y + 1)
        pdf.multi_cell(width - 2, line, heading, align="L")
        x += width
    pdf.set_xy(pdf.l_margin, y + height)


def qc_summary(qc: Any) -> str:
    """The batch's quality control in one sentence (ledger.qc.BatchQC)."""
    text = _("Quality control: {sampled} of {total} devices drawn for independent validation "
             "(at least {share}), {validated} validated ({coverage} coverage): {passed} passed, "
             "{failed} failed.").format(
        sampled=format_number(len(qc.sampled), 0), total=format_number(qc.sanitized, 0),
        share=format_number(qc.share * 100, 0) + " %",
        validated=format_number(len(qc.validated), 0),
        coverage=format_number(qc.coverage * 100, 1) + " %",
        passed=format_number(qc.passed, 0), failed=format_number(qc.failed, 0))
    if qc.flagged:
        text += " " + _("FLAGGED: a validation failed; check every device of this batch.")
    return text


def to_pdf(rows: Sequence[Any], *, title: str, subject: str, head: TreeHead,
           ledger_url: str = "", qc: Any = None) -> bytes:
    pdf = _Report(orientation="L", unit="mm", format="A4")
    fonts = _font_dir()
    pdf.add_font("DejaVu", "", str(fonts / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(fonts / "DejaVuSans-Bold.ttf"))
    pdf.set_title(title)
    pdf.set_creator("Ardoise ledger")
    pdf.set_auto_page_break(True, margin=16)
    pdf.footer_text = _("Log size {size}, root {root}").format(
        size=head.tree_size, root=head.root_hash.hex())
    pdf.add_page()
    pdf.set_font("DejaVu", "B", 16)
    pdf.cell(0, 10, title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "", 10)
    generated = format_datetime(datetime.now(UTC), "medium")
    pdf.cell(0, 6, subject, new_x="LMARGIN", new_y="NEXT")
    pdf.cell(0, 6, _("Generated {when} from the ledger's verifiable log.").format(when=generated),
             new_x="LMARGIN", new_y="NEXT")
    summary = status_counts(Counter(r.status for r in rows))
    pdf.cell(0, 6, _("{n} disks").format(n=format_number(len(rows), 0))
             + (f" — {summary}" if summary else ""), new_x="LMARGIN", new_y="NEXT")
    if ledger_url:
        pdf.cell(0, 6, _("Each certificate can be checked at {url}").format(url=ledger_url),
                 new_x="LMARGIN", new_y="NEXT")
    if qc is not None and qc.sanitized:
        if qc.flagged:
            pdf.set_text_color(180, 30, 30)
        pdf.multi_cell(0, 6, qc_summary(qc), new_x="LMARGIN", new_y="NEXT")
        pdf.set_text_color(0, 0, 0)
    pdf.ln(3)
    cols = columns()
    _headings(pdf, cols)
    pdf.set_font("DejaVu", "", 7.5)
    for i, row in enumerate(rows):
        fill = i % 2 == 1
        pdf.set_fill_color(246, 247, 250)
        for attr, _heading, width in cols:
            value = getattr(row, attr)
            text = cell(attr, value)
            while text and pdf.get_string_width(text) > width - 2:
                text = text[:-2] + "…"
            if attr == "status" and value != "erased":
                pdf.set_text_color(170, 30, 30)
            pdf.cell(width, 6, text, border=1, fill=fill)
            pdf.set_text_color(0)
        pdf.ln()
    return bytes(pdf.output())
