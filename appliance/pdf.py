"""The certificate as a PDF an auditor files: one A4 page per disk (fpdf2, DejaVu, segno QR).

Every label goes through the translation layer, so `ardoise --lang fr cert pdf` gives a
French page; numbers, sizes and dates follow the reader's locale. The QR code links to
the ledger's record of the certificate (`{ledger}/certificates/{id}`).

    pdf.render([document, ...], Path("out.pdf"), ledger_url="https://ledger.example")
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import segno
from fpdf import FPDF

from appliance import pdf_receipt
from appliance.i18n import _, format_datetime, format_number, format_rate, format_size
from appliance.words import (
    image_outcome,
    image_word,
    level_word,
    status_badge,
    technique_word,
    verify_mode_word,
    verify_result_word,
)

FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"))
FONT = "DejaVu"

# status → badge colour (RGB)
_STATUS_RGB = {"erased": (22, 120, 60), "unverified": (200, 110, 0), "failed": (180, 30, 30),
               "refused": (110, 110, 110), "incomplete": (200, 110, 0)}
_RED, _GREY, _ORANGE = (180, 30, 30), (110, 110, 110), (200, 110, 0)


class FontMissing(Exception):
    pass


def font_path(name: str) -> Path:
    for d in FONT_DIRS:
        if (d / name).exists():
            return d / name
    raise FontMissing(f"{name} not found (install fonts-dejavu-core)")


def record_url(ledger_url: str | None, cert_id: str) -> str:
    if ledger_url:
        return f"{ledger_url.rstrip('/')}/certificates/{cert_id}"
    return f"urn:uuid:{cert_id}"


def _dt(value: str | None) -> str:
    if not value:
        return "—"
    when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return format_datetime(when, "medium") + " UTC"


def _text(value: Any) -> str:
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    return str(value)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, sec = divmod(rem, 60)
    return f"{h:d} h {m:02d} min {sec:02d} s" if h else f"{m:d} min {sec:02d} s"


def _product(host: dict[str, Any]) -> str | None:
    """Product name, with the version when it reads as a model name (Lenovo puts
    "ThinkPad A485" there; others put build codes)."""
    product, version = host.get("product"), host.get("version")
    if version and len(version) <= 32 and ":" not in version and version != product:
        return " ".join(x for x in (product, version) if x)
    return product


def _known(text: str) -> str:
    """A text the certificate carries in English, in the reader's language when the
    catalogue knows it (the cryptographic erase condition does)."""
    return _(text)


def _verify_method(value: str | None) -> str:
    return {"pattern": _("the written pattern"), "uniform-fill": _("a uniform fill"),
            "markers": _("marker blocks written before the erase: all gone"),
            "before-after": _("samples read before the erase: all changed"),
            "scrambled-or-fill": _("ciphertext or the drive's deallocated value")}.get(
        value or "", "—")


def _media_type(value: str) -> str:
    return {"magnetic": _("magnetic (hard disk)"), "flash": _("flash (SSD, NVMe, eMMC)"),
            "unknown": _("unknown")}.get(value, value)


class CertificatePdf(FPDF):
    def __init__(self) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.add_font(FONT, "", str(font_path("DejaVuSans.ttf")))
        self.add_font(FONT, "B", str(font_path("DejaVuSans-Bold.ttf")))
        self.add_font(FONT + "Mono", "", str(font_path("DejaVuSansMono.ttf")))
        self.set_margins(16, 14, 16)
        self.set_auto_page_break(False)
        self.footer_text = ""
        self.invalid: str | None = None  # why this page's certificate does not verify

    def header(self) -> None:
        if not self.invalid:
            return
        # a watermark under the content, and a red band above it: on every page
        with self.local_context():
            self.set_font(FONT, "B", 90)
            self.set_text_color(250, 215, 215)
            with self.rotation(55, self.w / 2, self.h / 2):
                word = _("INVALID")
                self.text(self.w / 2 - self.get_string_width(word) / 2, self.h / 2 + 12, word)
        self.set_fill_color(*_RED)
        self.rect(0, 0, self.w, 12.5, style="F")
        self.set_text_color(255, 255, 255)
        self.set_xy(self.l_margin, 1.2)
        self.set_font(FONT, "B", 9.5)
        self.cell(0, 5, _("INVALID CERTIFICATE: do not rely on this record"),
                  new_x="LMARGIN", new_y="NEXT")
        self.set_font(FONT, "", 7.5)
        self.cell(0, 4.5, self.invalid[:150], new_x="LMARGIN", new_y="NEXT")
        self.set_text_color(0, 0, 0)

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(FONT, "", 7)
        self.set_text_color(110, 110, 110)
        self.cell(0, 4, self.footer_text, align="L")
        self.set_x(self.l_margin)
        self.cell(0, 4, _("Page {page} of {pages}").format(page=self.page_no(),
                                                            pages="{nb}"), align="R")

    # ------------------------------------------------------------ blocks

    def section(self, title: str) -> None:
        self.ln(1.5)
        self.set_font(FONT, "B", 9.5)
        self.set_text_color(30, 50, 80)
        self.cell(0, 5.5, title.upper(), new_x="LMARGIN", new_y="NEXT")
        self.set_draw_color(30, 50, 80)
        self.set_line_width(0.3)
        self.line(self.l_margin, self.get_y(), self.w - self.r_margin, self.get_y())
        self.ln(1)

    def rows(self, pairs: Sequence[tuple[str, str]], columns: int = 2) -> None:
        """Label/value pairs laid out in `columns` columns; long values wrap."""
        width = self.w - self.l_margin - self.r_margin
        col_w = width / columns
        label_w = width / 2 * 0.34
        line = 4.4
        x0 = self.l_margin
        for i in range(0, len(pairs), columns):
            y = self.get_y()
            height = line
            for c, (label, value) in enumerate(pairs[i:i + columns]):
                x = x0 + c * col_w
                value_w = col_w - label_w - 2
                self.set_font(FONT, "", 7.5)
                self.set_text_color(90, 90, 90)
                self.set_xy(x, y)
                label_lines = self._lines(label, label_w - 1)
                self.multi_cell(label_w - 1, line, label, align="L")
                self.set_font(FONT, "", 8.5)
                self.set_text_color(0, 0, 0)
                self.set_xy(x + label_w, y)
                value_lines = self._lines(value, value_w)
                self.multi_cell(value_w, line, value, align="L")
                height = max(height, line * max(label_lines, value_lines))
            self.set_xy(x0, y + height)

    def badge(self, text: str, rgb: tuple[int, int, int], y: float, size: float,
              height: float) -> float:
        """A filled label against the right margin at `y`; returns its width."""
        self.set_fill_color(*rgb)
        self.set_text_color(255, 255, 255)
        self.set_font(FONT, "B", size)
        w = self.get_string_width(text) + 12 * size / 13
        self.set_xy(self.w - self.r_margin - w, y)
        self.cell(w, height, text, align="C", fill=True)
        return w

    def _lines(self, text: str, width: float) -> int:
        lines: list[str] = self.multi_cell(  # type: ignore[assignment]
            width, 4.4, text, dry_run=True, output="LINES")
        return max(1, len(lines))


def _image_badge(pdf: CertificatePdf, image: dict[str, Any] | None) -> None:
    """Under the status badge: the image write's outcome, so a failed or skipped write is
    seen next to the erase result, not only at the bottom of the page."""
    label, reason, tone = image_outcome(image)
    rgb = {"ok": (22, 120, 60), "grey": _GREY, "bad": _RED, "warn": _ORANGE}[tone]
    pdf.badge(label, rgb, 26.5, 8, 5.5)
    if reason:
        pdf.set_font(FONT, "", 7)
        pdf.set_text_color(*rgb)
        width = 78
        text = "— " + reason
        while len(text) > 3 and pdf.get_string_width(text) > width * 2 - 4:
            text = text[:-2]
        pdf.set_xy(pdf.w - pdf.r_margin - width, 32.5)
        pdf.multi_cell(width, 3.2, text, align="R")
    pdf.set_text_color(0, 0, 0)


def _page(pdf: CertificatePdf, doc: dict[str, Any], ledger_url: str | None,
          invalid: str | None = None, receipt: str | None = None) -> None:
    san, ver, media, host = doc["sanitization"], doc["verification"], doc["media"], doc["host"]
    pdf.footer_text = "ardoise {v} · {build} · {schema}".format(
        v=doc["appliance"]["version"], build=doc["appliance"].get("image_build") or "-",
        schema=doc["schema"])
    pdf.invalid = invalid
    pdf.add_page()
    # title and status
    pdf.set_font(FONT, "B", 17)
    pdf.set_text_color(20, 30, 50)
    pdf.cell(0, 9, _("Certificate of media sanitization"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT, "", 8.5)
    pdf.set_text_color(80, 80, 80)
    pdf.cell(0, 4.5, _("Record per NIST SP 800-88 Rev. 2 (the fields of Rev. 1, Appendix G)"),
             new_x="LMARGIN", new_y="NEXT")
    status = san["status"]
    pdf.badge(status_badge(status), _STATUS_RGB.get(status, (80, 80, 80)), 15, 13, 10)
    _image_badge(pdf, doc.get("image"))
    pdf.set_xy(pdf.l_margin, 30)
    pdf.set_text_color(0, 0, 0)
    pdf.rows([(_("Certificate"), doc["id"]), (_("Issued"), _dt(doc["issued_at"]))],
             columns=1)

    pdf.section(_("Organisation"))
    pdf.rows([
        (_("Organisation"), _text(doc["organisation"])),
        (_("Location"), _text(doc["location"])),
        (_("Operator"), _text(doc["operator"])),
        (_("Contact"), _text(doc["contact"])),
        (_("Batch"), _text(doc["batch"])),
        (_("Donor"), _text(doc["donor"])),
        (_("Destination"), _text(doc["destination"])),
        (_("Job"), _text(doc["job_id"])),
    ])

    pdf.section(_("Computer"))
    bios = " ".join(x for x in (host.get("bios_vendor"), host.get("bios_version"),
                                host.get("bios_date")) if x)
    pdf.rows([
        (_("Manufacturer"), _text(host["manufacturer"])),
        (_("Product"), _text(_product(host))),
        (_("Serial number"), _text(host["serial"])),
        (_("Chassis"), _text(host["chassis"])),
        (_("UUID"), _text(host["uuid"])),
        (_("BIOS"), _text(bios)),
    ])

    pdf.section(_("Media"))
    hpa = media.get("hpa")
    if hpa is None:
        hpa_text = _("not reported")
    elif hpa["enabled"]:
        hpa_text = _("present: {hidden} hidden sectors").format(
            hidden=format_number(hpa["native_max_sectors"] - hpa["current_max_sectors"], 0))
    else:
        hpa_text = _("none")
    dco = media.get("dco")
    dco_text = _("not reported") if dco is None else (
        _("present") if dco.get("restricted") else _("none"))
    pdf.rows([
        (_("Model"), _text(media["model"])),
        (_("Serial number"), _text(media["serial"])),
        (_("Capacity"), "{size} ({n} {b})".format(
            size=format_size(media["size_bytes"]), n=format_number(media["size_bytes"], 0),
            b=_("bytes"))),
        (_("Media type"), _media_type(media["type"])),
        (_("Interface"), media["transport"].upper()),
        (_("Firmware"), _text(media["firmware"])),
        (_("WWN"), _text(media["wwn"])),
        (_("Device"), _text(media["path"])),
        (_("Hidden area (HPA)"), hpa_text),
        (_("Overlay (DCO)"), dco_text),
    ])

    pdf.section(_("Sanitization"))
    rate = san.get("throughput_bytes_per_s")
    standard = " · ".join(x for x in (san.get("standard"), san.get("technique_standard")) if x)
    pdf.rows([
        (_("NIST level"), level_word(san["level"])),
        (_("Result"), status_badge(status)),
        (_("Standard"), _text(standard or None)),
        (_("Method"), _text(san["method"])),
        (_("Technique"), technique_word(san["technique"])),
        (_("Pattern"), _text(san["pattern"])),
        (_("Tool"), _text(san.get("tool_version") or san["tool"])),
        (_("Resumed"), "—" if san.get("resumed") is None else
         _("yes: an operation already running was waited for") if san["resumed"] else _("no")),
        (_("Started"), _dt(san["started_at"])),
        (_("Ended"), _dt(san["ended_at"])),
        (_("Duration"), _duration(san["seconds"])),
        (_("Bytes written"), format_size(san["bytes_written"]) if san["bytes_written"]
         else _("none (done by the drive's firmware)") if san["method"] not in
         (None, "overwrite") else "0"),
        (_("Throughput"), format_rate(rate) if rate else "—"),
        (_("I/O errors"), format_number(len(san["io_errors"]), 0)),
    ])
    commands = [" ".join(c["argv"]) + ("" if c["returncode"] == 0 else
                                       "  → " + _("exit status {n}").format(n=c["returncode"]))
                for c in san.get("commands") or []]
    if commands:
        pdf.rows([(_("Commands"), "\n".join(commands[-4:]))], columns=1)
    if san.get("condition"):
        pdf.rows([(_("Condition"), _known(san["condition"]))], columns=1)
    if san["errors"]:
        pdf.rows([(_("Errors"), "\n".join(san["errors"][:6]))], columns=1)

    pdf.section(_("Verification"))
    share = ver.get("sample_share")
    pdf.rows([
        (_("Mode"), verify_mode_word(ver["mode"])),
        (_("Result"), verify_result_word(ver["result"])),
        (_("Share read back"), "—" if share is None or ver["mode"] == "none" else
         format_number(share * 100, 2) + "\u00a0%"),
        (_("Bytes checked"), format_size(ver["bytes_checked"]) if ver["bytes_checked"]
         else "0"),
        (_("Compared"), _verify_method(ver.get("method"))),
        (_("Ranges read"), "—" if not ver.get("subsections") else
         format_number(ver["subsections"], 0)),
    ])

    pdf.section(_("Operating system image"))
    image = doc.get("image")
    if image:
        pdf.rows([
            (_("Image"), " ".join(x for x in (image["name"], image.get("version")) if x)),
            (_("Result"), image_word(image.get("status")) if image.get("status") else "—"),
            (_("Verified"), _("yes: read-back hash matches") if image["verified"] else _("no")),
            (_("Manifest hash"), _text(image.get("manifest_hash"))),
            (_("Read-back hash"), _text(image.get("readback_hash"))),
        ] + ([(_("Errors"), "\n".join(image["errors"][:4]))] if image.get("errors") else []),
            columns=1)
    else:
        pdf.rows([(_("Image"), _("no image written"))], columns=1)

    # signature block with QR code
    info = pdf_receipt.summary(receipt)
    url = record_url(ledger_url, doc["id"])
    top = max(pdf.get_y() + 3, 222)
    pdf.set_y(top)
    pdf.section(_("Signature"))
    y = pdf.get_y()
    qr = segno.make(pdf_receipt.qr_payload(url, info), error="m")
    buf = io.BytesIO()
    qr.save(buf, kind="png", scale=6, border=2)
    buf.seek(0)
    qr_size = 30
    pdf.image(buf, x=pdf.w - pdf.r_margin - qr_size, y=y, w=qr_size, h=qr_size)
    text_w = pdf.w - pdf.l_margin - pdf.r_margin - qr_size - 4
    sig = doc["signature"]
    pdf.set_xy(pdf.l_margin, y)
    pdf.set_font(FONT, "", 7.5)
    pdf.set_text_color(60, 60, 60)
    pdf.multi_cell(text_w, 3.8, _(
        "Signed electronically with the appliance's Ed25519 key over the RFC 8785 canonical "
        "JSON of this record. Check it with \u201cardoise cert verify\u201d or at the ledger "
        "address in the QR code."), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(FONT + "Mono", "", 6.5)
    pdf.set_text_color(0, 0, 0)
    pdf.multi_cell(text_w, 3.3, _("Key id: {key_id}").format(key_id=sig["key_id"]),
                   new_x="LMARGIN", new_y="NEXT")
    pdf.multi_cell(text_w, 3.3, _("Signature: {value}").format(value=sig["value"]),
                   new_x="LMARGIN", new_y="NEXT")
    pdf.multi_cell(text_w, 3.3, url, new_x="LMARGIN", new_y="NEXT")
    if info is not None:
        pdf.set_font(FONT, "", 6.5)
        for line in pdf_receipt.lines(info, doc["id"]):
            pdf.multi_cell(text_w, 3.3, line, align="L", new_x="LMARGIN", new_y="NEXT")
    # a line for the technician's hand signature (NIST Appendix G)
    line_y = y + qr_size + 9
    pdf.set_draw_color(0, 0, 0)
    pdf.set_line_width(0.2)
    half = (pdf.w - pdf.l_margin - pdf.r_margin) / 2
    pdf.line(pdf.l_margin, line_y, pdf.l_margin + half - 8, line_y)
    pdf.line(pdf.l_margin + half, line_y, pdf.w - pdf.r_margin, line_y)
    pdf.set_font(FONT, "", 7)
    pdf.set_text_color(90, 90, 90)
    pdf.set_xy(pdf.l_margin, line_y + 0.5)
    pdf.cell(half - 8, 4, _("Operator signature"))
    pdf.set_xy(pdf.l_margin + half, line_y + 0.5)
    pdf.cell(half, 4, _("Date"))


def render(documents: Sequence[dict[str, Any]], out: Path | str,
           ledger_url: str | None = None,
           invalid: Sequence[str | None] | None = None,
           receipts: Sequence[str | None] | None = None) -> Path:
    """One page per certificate into `out`. `invalid[i]`, when set, says why document i
    does not verify: its page carries the INVALID banner and watermark."""
    pdf = CertificatePdf()
    pdf.set_title(_("Certificate of media sanitization"))
    pdf.set_creator("ardoise")
    if documents:
        issued = documents[0]["issued_at"]
        pdf.set_creation_date(datetime.fromisoformat(issued.replace("Z", "+00:00")))
    reasons = list(invalid or [None] * len(documents))
    proofs = list(receipts or [None] * len(documents))
    for doc, why, receipt in zip(documents, reasons, proofs, strict=True):
        _page(pdf, doc, ledger_url, why, receipt)
    out = Path(out)
    pdf.output(str(out))
    return out
