"""The inspection book of one device and period as a PDF (fpdf2: pure Python, no system libraries).

Texts are in the requesting user's language (German or English). The PDF core fonts are
written in WinAnsi (Windows-1252): German, typographic quotes and dashes, and the "›" of a
location's path; other characters are replaced rather than failing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from leitstand.formats import format_day, format_moment, format_number
from leitstand.maintenance.models import InspectionAttachment, InspectionEntry, MaintenancePlan
from leitstand.maintenance.traffic_light import Light
from leitstand.i18n import Message, translations

# Where the book's German is not the portal's word for the same English ("Anschrift", not
# "Adresse"), its catalogue entry carries this context.
BOOK = "inspection book"

# The book's words by their place: message ids, German in locale/de/LC_MESSAGES/maintenance.po.
# A checklist result ("ok", "not_ok", "na") and a traffic light ("green", ...) are places too.
LABELS = {
    "title": Message("Inspection book"),
    "device": Message("Device"),
    "serial": Message("Serial number"),
    "site": Message("Site"),
    "address": Message("Address", context=BOOK),
    "period": Message("Period"),
    "created": Message("Created", context=BOOK),
    "plans": Message("Maintenance plans"),
    "plan": Message("Plan"),
    "rule": Message("Rule"),
    "due": Message("Next due"),
    "status": Message("Status"),
    "entries": Message("Inspections"),
    "none": Message("No inspections in this period."),
    "technician": Message("Technician"),
    "checklist": Message("Checklist"),
    "findings": Message("Findings"),
    "signature": Message("Signed by"),
    "attachments": Message("Attachments"),
    "reading": Message("Counter reading"),
    "ok": Message("ok"),
    "not_ok": Message("not ok"),
    "na": Message("n/a"),
    "green": Message("up to date"),
    "yellow": Message("due soon", context=BOOK),
    "red": Message("overdue"),
    "page": Message("Page"),
}


def text(key: str, language: str) -> str:
    return LABELS[key].in_language(language)


def _printable(value: str) -> str:
    """`value` with what the core fonts' Windows-1252 lacks replaced by "?"."""
    return value.encode("cp1252", "replace").decode("cp1252")


def _day(value: date | None, language: str) -> str:
    return format_day(value, language, empty="-")


def _number(value: float | None, language: str) -> str:
    return format_number(value, language, empty="-")


@dataclass(frozen=True)
class BookContents:
    device_name: str
    serial_number: str
    site_name: str  # the full location path, "Parkhaus Hbf › Einfahrt"
    period: tuple[date, date]
    plans: Sequence[tuple[MaintenancePlan, Light | None]]
    entries: Sequence[tuple[InspectionEntry, Sequence[InspectionAttachment]]]
    created_at: datetime
    time_zone: str = "UTC"  # the device's organisation's, in which `created_at` is shown
    site_address: str = ""  # postal address: street, postal code and city


class _Document(FPDF):
    footer_label = ""

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font("Helvetica", size=8)
        self.set_text_color(120)
        self.cell(0, 6, _printable(f"{self.footer_label} {self.page_no()}"), align="R")


def render_book(contents: BookContents, language: str) -> bytes:
    t = lambda key: _printable(text(key, language))  # noqa: E731 - a short local alias keeps the layout readable
    # Shipped plan names and checklist items are English ids with German texts in the portal's catalogue.
    shipped = translations(language).gettext
    pdf = _Document(format="A4")
    # fpdf2 writes core fonts as WinAnsiEncoding but encodes Latin-1 by default, which lacks "›".
    pdf.core_fonts_encoding = "windows-1252"
    pdf.footer_label = t("page")
    pdf.set_auto_page_break(auto=True, margin=16)
    pdf.set_title(_printable(f"{text('title', language)}: {contents.device_name}"))
    pdf.add_page()
    width = pdf.epw

    pdf.set_font("Helvetica", "B", 18)
    pdf.cell(0, 10, t("title"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", size=10)
    start, end = contents.period
    for label, value in (
        ("device", contents.device_name), ("serial", contents.serial_number), ("site", contents.site_name or "-"),
        ("address", contents.site_address or "-"),
        ("period", f"{_day(start, language)} - {_day(end, language)}"),
        ("created", format_moment(contents.created_at, contents.time_zone, language)),
    ):
        pdf.set_font("Helvetica", "B", 10)
        pdf.cell(40, 6, t(label))
        pdf.set_font("Helvetica", size=10)
        pdf.multi_cell(width - 40, 6, _printable(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    pdf.ln(4)
    pdf.set_font("Helvetica", "B", 13)
    pdf.cell(0, 8, t("plans"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font("Helvetica", size=9)
    with pdf.table(col_widths=(40, 25, 20, 15), text_align="LEFT", line_height=5) as table:
        header = table.row()
        for key in ("plan", "rule", "due", "status"):
            header.cell(t(key))
        for plan, light in contents.plans:
            row = table.row()
            row.cell(_printable(shipped(plan.name)))
            if plan.kind == "interval":
                row.cell(_printable(Message("every %(n)s months", n=plan.interval_months).in_language(language)))
                row.cell(_day(plan.due_on, language))
            else:
                row.cell(_printable(Message("every %(n)s %(key)s", n=_number(plan.counter_every, language),
                                            key=plan.counter_key).in_language(language)))
                row.cell(_number(plan.due_count, language))
            row.cell(t(light.name) if light is not None else "-")

    pdf.ln(4)
    pdf.set_font("Helvetica", "B", 13)
    pdf.cell(0, 8, t("entries"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if not contents.entries:
        pdf.set_font("Helvetica", "I", 10)
        pdf.cell(0, 6, t("none"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    for entry, attachments in contents.entries:
        pdf.set_draw_color(180)
        pdf.line(pdf.l_margin, pdf.get_y(), pdf.l_margin + width, pdf.get_y())
        pdf.ln(2)
        pdf.set_font("Helvetica", "B", 11)
        pdf.cell(0, 7, _printable(f"{_day(entry.performed_on, language)} - {entry.technician_name}"),
                 new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_font("Helvetica", size=9)
        if entry.counter_reading is not None:
            pdf.cell(0, 5, _printable(f"{text('reading', language)}: {_number(entry.counter_reading, language)}"),
                     new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        if entry.checklist:
            pdf.set_font("Helvetica", "B", 9)
            pdf.cell(0, 6, t("checklist"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            pdf.set_font("Helvetica", size=9)
            with pdf.table(col_widths=(60, 15, 35), text_align="LEFT", line_height=5, first_row_as_headings=False) as table:
                for check in entry.checklist:
                    row = table.row()
                    row.cell(_printable(shipped(str(check.get("item", "")))))
                    result = str(check.get("result", ""))
                    row.cell(t(result) if result in LABELS else _printable(result))
                    row.cell(_printable(str(check.get("note", ""))))
        if entry.findings:
            pdf.set_font("Helvetica", "B", 9)
            pdf.cell(0, 6, t("findings"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            pdf.set_font("Helvetica", size=9)
            pdf.multi_cell(width, 5, _printable(entry.findings), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        if attachments:
            names = ", ".join(f"{attachment.file_name} (SHA-256 {attachment.sha256[:12]}...)" for attachment in attachments)
            pdf.multi_cell(width, 5, _printable(f"{text('attachments', language)}: {names}"),
                           new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        if entry.signature_name:
            pdf.set_font("Helvetica", "I", 9)
            pdf.cell(0, 6, _printable(f"{text('signature', language)}: {entry.signature_name}"),
                     new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(3)
    return bytes(pdf.output())
