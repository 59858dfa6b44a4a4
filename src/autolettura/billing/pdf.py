"""The bill as a PDF (R11), in Italian, whatever language the request came in.

WeasyPrint renders the template billing/bill.html. Everything the page needs is in the
template (CSS inline, the chart as inline SVG, fonts from the system), so rendering never
reaches the network.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.conf import settings
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from autolettura.billing import selectors
from autolettura.billing.models import COMPENSATION_LINE, Bill, BillLine, RegisterSource
from autolettura.customers.models import Usage
from autolettura.customers.selectors import meter_current
from autolettura.payments.models import PaymentNotice
from autolettura.payments.services import notice_of
from autolettura.rules import pagopa
from autolettura.rules.obligations import reading_attempts_required
from autolettura.service.selectors import contact_channels

MONTHS_SHORT = ("gen", "feb", "mar", "apr", "mag", "giu", "lug", "ago", "set", "ott", "nov", "dic")


# --- Italian formatting ------------------------------------------------------------------------


def format_number(value: Decimal | int, places: int = 0) -> str:
    """`1234.5` as `1.234,50` (Italian separators), rounded half-up."""
    quantized = Decimal(value).quantize(Decimal(1).scaleb(-places), ROUND_HALF_UP)
    english = f"{quantized:,.{places}f}"
    return english.translate(str.maketrans(",.", ".,"))


def format_eur(amount: Decimal) -> str:
    """`1234.56` as `1.234,56 €`."""
    return f"{format_number(amount, 2)} €"


def format_price(price: Decimal) -> str:
    """A unit price with as many decimals as it has (at least two, at most six)."""
    places = max(2, min(6, -price.normalize().as_tuple().exponent))  # type: ignore[operator]
    return f"{format_number(price, places)} €"


def format_date(day: date) -> str:
    return f"{day:%d/%m/%Y}"


def format_register(value: int, digits: int) -> str:
    """A register as the meter shows it, its leading zeros kept: 1404 on five digits is
    `01404`, as the customer typed it."""
    return f"{value:0{digits}d}"


def source_label(source: str) -> str:
    """rilevata, autolettura, tra due letture or stimata."""
    return str(RegisterSource(source).label)


@dataclass(frozen=True)
class ReadingRow:
    label: str
    value: str  # with its leading zeros
    on: str
    source: str  # the source's label
    kind: str  # the source's code in lower case, for the badge's style


def _register_row(label: str, value: int, digits: int, on: date, source: str) -> ReadingRow:
    return ReadingRow(
        label, format_register(value, digits), format_date(on), source_label(source), source.lower()
    )


def reading_rows(bill: Bill) -> list[ReadingRow]:
    """The register at the previous end, every valid reading of the period with its source,
    and the register at the period's end (unless it is the period's last reading itself)."""
    supply_id = bill.supply_id
    rows = [
        _register_row(
            "Lettura precedente",
            bill.previous_register,
            selectors.meter_digits_on(supply_id, bill.previous_register_on),
            bill.previous_register_on,
            bill.previous_register_source,
        )
    ]
    for reading in bill.readings:
        on = date.fromisoformat(reading["on"])
        if on == bill.current_register_on:
            continue  # the current register below is this reading
        rows.append(
            _register_row("Lettura", reading["value"], reading["digits"], on, reading["source"])
        )
    rows.append(
        _register_row(
            "Lettura attuale",
            bill.current_register,
            selectors.meter_digits_on(supply_id, bill.current_register_on),
            bill.current_register_on,
            bill.current_register_source,
        )
    )
    return rows


def consumption_words(bill: Bill) -> list[str]:
    """Which part of the consumption rests on readings and which is estimated, in words:
    effective up to the last valid reading (or to the period's end, when a reading follows
    it), estimated at the CMA for the days after the last valid reading (R10, R11)."""
    estimated = bill.current_register_source == RegisterSource.ESTIMATE
    last_read = bill.current_reading_on if estimated else bill.current_register_on
    words = []
    if last_read is None or last_read < bill.period_start:
        words.append("Consumo effettivo: nessuna lettura valida nel periodo.")
        estimated_from = bill.period_start
    else:
        words.append(
            f"Consumo effettivo: {format_number(bill.effective_m3)} m³, "
            f"dal {format_date(bill.previous_register_on)} al {format_date(last_read)}, "
            "tra le letture."
        )
        estimated_from = last_read + timedelta(days=1)
    if estimated:
        words.append(
            f"Consumo stimato: {format_number(bill.estimated_m3)} m³, "
            f"dal {format_date(estimated_from)} al {format_date(bill.period_end)}, "
            "in base al tuo consumo medio annuo."
        )
    if bill.adjustment_m3 > 0:
        words.append(
            f"Conguaglio: {format_number(bill.adjustment_m3)} m³ in più di quanto stimato "
            "nelle bollette precedenti, ora che le letture lo dicono."
        )
    elif bill.adjustment_m3 < 0:
        words.append(
            f"Conguaglio: {format_number(-bill.adjustment_m3)} m³ a tuo favore, stimati in più "
            "nelle bollette precedenti."
        )
    return words


def period_label(start: date, end: date) -> str:
    first, last = MONTHS_SHORT[start.month - 1], MONTHS_SHORT[end.month - 1]
    return first if (start.year, start.month) == (end.year, end.month) else f"{first}-{last}"


# --- The consumption chart ---------------------------------------------------------------------


@dataclass(frozen=True)
class ChartBar:
    label: str  # the period's months, "nov-dic"
    year: int
    m3: int  # the billed m³ (negative for a credit)
    estimated: bool  # no actual reading in the period
    current: bool  # the bill this chart is printed on


def chart_bars(bills: Sequence[Bill], current: Bill) -> list[ChartBar]:
    return [
        ChartBar(
            label=period_label(b.period_start, b.period_end),
            year=b.period_end.year,
            m3=b.billed_m3,
            estimated=b.effective_m3 == 0,
            current=b.pk == current.pk,
        )
        for b in bills
    ]


BAR_REAL = "#7fa7cf"
BAR_CURRENT = "#0b4f8a"
BAR_ESTIMATED = "#e3ebf3"


def consumption_chart_svg(
    bars: Sequence[ChartBar], *, width: int = 340, height: int = 132
) -> SafeString:
    """A bar chart of billed m³ by period, as inline SVG: periods without an actual reading
    pale and dashed, the current bill dark (or outlined, when estimated). Negative bars
    (credits) hang below the zero line."""
    top, bottom, side = 16, 30, 6
    plot_height = height - top - bottom
    high = max([b.m3 for b in bars] + [1])
    low = min([b.m3 for b in bars] + [0])
    # A credit's value is written under its bar: keep room for it above the period labels.
    scale = (plot_height - (10 if low < 0 else 0)) / (high - low)
    zero_y = top + high * scale
    slot = (width - 2 * side) / max(len(bars), 1)
    bar_width = min(slot * 0.62, 44)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="DejaVu Sans" font-size="8">'
    ]
    for index, bar in enumerate(bars):
        x = side + index * slot + (slot - bar_width) / 2
        centre = x + bar_width / 2
        bar_height = max(abs(bar.m3) * scale, 0.8)
        y = zero_y - bar_height if bar.m3 >= 0 else zero_y
        if bar.estimated and bar.current:
            style = f'fill="{BAR_ESTIMATED}" stroke="{BAR_CURRENT}" stroke-width="1.6"'
        elif bar.estimated:
            style = (
                f'fill="{BAR_ESTIMATED}" stroke="{BAR_CURRENT}" stroke-width="0.7" '
                'stroke-dasharray="2,1.5"'
            )
        else:
            style = f'fill="{BAR_CURRENT if bar.current else BAR_REAL}" stroke="none"'
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_width:.1f}" '
            f'height="{bar_height:.1f}" {style}/>'
        )
        value_y = y - 3 if bar.m3 >= 0 else y + bar_height + 9
        weight = "bold" if bar.current else "normal"
        parts.append(
            f'<text x="{centre:.1f}" y="{value_y:.1f}" text-anchor="middle" '
            f'font-weight="{weight}">{escape(format_number(bar.m3))}</text>'
        )
        parts.append(
            f'<text x="{centre:.1f}" y="{height - bottom + 12}" text-anchor="middle" '
            f'font-weight="{weight}">{escape(bar.label)}</text>'
        )
        parts.append(
            f'<text x="{centre:.1f}" y="{height - bottom + 22}" text-anchor="middle" '
            f'fill="#555">{bar.year}</text>'
        )
    parts.append(
        f'<line x1="{side}" y1="{zero_y:.1f}" x2="{width - side}" y2="{zero_y:.1f}" '
        'stroke="#333" stroke-width="0.6"/>'
    )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # every text in it is escaped above


# --- The page ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class LineRow:
    description: str
    quantity: str
    unit_price: str
    amount: str


def _line_row(line: BillLine) -> LineRow:
    if line.kind == COMPENSATION_LINE:
        return LineRow(f"{line.description} (fuori campo IVA)", "", "", format_eur(line.amount))
    if line.kind == "FIXED":
        quantity = f"{format_number(line.quantity)} giorni"
        unit = f"{format_price(line.unit_price)}/giorno"
    else:
        quantity = f"{format_number(line.quantity, 2)} m³"
        unit = f"{format_price(line.unit_price)}/m³"
    return LineRow(line.description, quantity, unit, format_eur(line.amount))


def _vat_percent(bill: Bill) -> str:
    if not bill.net_eur:
        return ""
    rate = (bill.vat_eur / bill.net_eur * 100).quantize(Decimal("0.1"), ROUND_HALF_UP)
    return f"{format_number(rate, 0 if rate == rate.to_integral() else 1)}%"


def bill_context(bill: Bill) -> dict[str, Any]:
    """What billing/bill.html shows, formatted the Italian way."""
    supply = bill.supply
    customer = bill.customer
    meter = meter_current(supply)
    digits = meter.digits if meter else settings.AUTOLETTURA_METER_DIGITS
    history = selectors.bill_history(bill)
    start, end = bill.next_window_start, bill.next_window_end
    contacts = contact_channels()  # what the portal's contact pages show too
    lines = selectors.bill_lines(bill)
    return {
        "utility": settings.AUTOLETTURA_UTILITY_NAME,
        "bill": bill,
        "number": bill.number,
        "issued_on": format_date(bill.issued_on),
        "issued_on_iso": bill.issued_on.isoformat(),
        "due_on": format_date(bill.due_on),
        "customer_name": customer.name,
        "customer_code": customer.customer_code,
        "supply_code": supply.supply_code,
        "address": supply.address,
        "usage": str(Usage(supply.usage).label),
        "household_members": supply.household_members,
        "period_start": format_date(bill.period_start),
        "period_end": format_date(bill.period_end),
        "period_days": (bill.period_end - bill.period_start).days + 1,
        "reading_rows": reading_rows(bill),
        "consumption_words": consumption_words(bill),
        "effective_m3": format_number(bill.effective_m3),
        "estimated_m3": format_number(bill.estimated_m3),
        "adjustment_m3": format_number(bill.adjustment_m3),
        "adjustment_is_credit": bill.adjustment_m3 < 0,
        "billed_m3": format_number(bill.billed_m3),
        "cma_m3": format_number(bill.cma_m3, 2),
        "lines": [_line_row(line) for line in lines if line.kind != COMPENSATION_LINE],
        "regulation": regulation_context(
            bill, lines=lines, meter_serial=meter.serial if meter else ""
        ),
        "net": format_eur(bill.net_eur),
        "vat": format_eur(bill.vat_eur),
        "vat_percent": _vat_percent(bill),
        "total": format_eur(bill.total_eur),
        "is_credit": bill.total_eur < 0,
        "window_start": format_date(start),
        "window_end": format_date(end),
        "window_text": f"Comunica la lettura dal {format_date(start)} al {format_date(end)}",
        "contacts": contacts,
        "sms_example": contacts.sms_text_for(supply.supply_code, customer.customer_code),
        "chart": consumption_chart_svg(chart_bars(history, bill)),
        "chart_has_estimates": any(b.effective_m3 == 0 for b in history),
        "chart_has_real": any(b.effective_m3 != 0 and b.pk != bill.pk for b in history),
        "meter_serial": meter.serial if meter else "",
        "digit_boxes": range(digits),
        "date_boxes": ["g", "g", "/", "m", "m", "/", "a", "a", "a", "a"],
        "pagopa": pagopa_context(bill),
    }


def regulation_context(
    bill: Bill, *, lines: Sequence[BillLine], meter_serial: str
) -> dict[str, Any]:
    """What the regulator requires on every bill (billing/partials/regulation.html), in the
    wording of the settings: the user code, the reading attempts for the CMA, the
    compensation credited, the utility's legal details, how to complain, the social bonus,
    the average cost per m³, the meter serial."""
    credited = [line for line in lines if line.kind == COMPENSATION_LINE]
    compensation = -sum((line.amount for line in credited), Decimal(0))
    attempts = reading_attempts_required(
        bill.cma_m3, threshold_m3=settings.AUTOLETTURA_ARERA_READING_ATTEMPTS_CMA_M3
    )
    cma = format_number(bill.cma_m3, 2)
    return {
        "user_code": bill.supply.user_code or "",
        "compensation_rows": [_line_row(line) for line in credited],
        "compensation_text": (
            settings.AUTOLETTURA_BILL_COMPENSATION_TEXT.format(amount=format_eur(compensation))
            if credited
            else ""
        ),
        "attempts_text": settings.AUTOLETTURA_BILL_READING_ATTEMPTS_TEXT.format(
            cma=cma, attempts=attempts
        ),
        "legal_name": settings.AUTOLETTURA_UTILITY_LEGAL_NAME,
        "vat_number": settings.AUTOLETTURA_UTILITY_VAT_NUMBER,
        "registered_office": settings.AUTOLETTURA_UTILITY_REGISTERED_OFFICE,
        "faults": settings.AUTOLETTURA_PHONE_FAULTS,
        "toll_free": settings.AUTOLETTURA_PHONE_TOLL_FREE,
        "complaints_text": settings.AUTOLETTURA_BILL_COMPLAINTS_TEXT,
        "conciliation_text": settings.AUTOLETTURA_BILL_CONCILIATION_TEXT,
        "social_bonus_text": settings.AUTOLETTURA_BILL_SOCIAL_BONUS_TEXT,
        # The bill's total (before any compensation) over its m³: what a m³ cost.
        "average_cost": (
            f"{format_price((bill.total_eur + compensation) / bill.billed_m3)}/m³"
            if bill.billed_m3 > 0
            else ""
        ),
        "meter_serial": meter_serial,
    }


def pagopa_context(bill: Bill) -> dict[str, Any] | None:
    """The bill's pagoPA notice as its payment section prints it (R16), or None when the
    bill has none (a credit, or a bill made before pagoPA was configured)."""
    notice = PaymentNotice.objects.filter(bill_id=bill.pk).first()
    if notice is None:
        return None
    value = notice_of(notice)
    return {
        "notice_number": pagopa.format_notice_number(value.notice_number),
        "creditor_fiscal_code": value.creditor_fiscal_code,
        "amount": format_eur(Decimal(value.amount_cents) / 100),
        "due_on": format_date(notice.due_on),
        "qr": qr_svg(value.qr_payload),
    }


def qr_svg(payload: str) -> SafeString:
    """The QR code of `payload` as inline SVG, sized by the page's CSS: error correction M
    and a quiet zone of four modules, as the pagoPA notice asks, black on white."""
    import io

    import segno

    code = segno.make_qr(payload, error="m", boost_error=False)
    out = io.BytesIO()
    code.save(
        out,
        kind="svg",
        xmldecl=False,
        svgns=True,
        nl=False,
        omitsize=True,
        border=4,
        dark="#000",
        light="#fff",
        title="Codice QR pagoPA",
    )
    return mark_safe(out.getvalue().decode())  # made by segno from digits and "|" only


def _no_fetch(url: str, *args: object, **kwargs: object) -> dict[str, Any]:
    # The template carries everything it needs: nothing is to be fetched, from the network
    # or from disk, whatever a customer's name or address may contain.
    raise ValueError(f"the bill refers to {url!r}: nothing is fetched when rendering a bill")


# PDF/A-3b, for archiving (fonts embedded, the sRGB output intent, XMP metadata), with the
# structure tree of a tagged PDF, so a screen reader reads the bill in order and in Italian.
PDF_VARIANT = "pdf/a-3b"
BILL_LANGUAGE = "it"


def _xmp_language(rdf: bytes, language: str) -> bytes:
    """WeasyPrint's XMP packet with the document's language (dc:language) added, which
    PDF/A and screen readers look for beside the catalog's /Lang."""
    from xml.etree.ElementTree import SubElement, fromstring, tostring

    rdf_ns = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
    dc_ns = "http://purl.org/dc/elements/1.1/"
    root = fromstring(rdf)
    description = SubElement(root, f"{{{rdf_ns}}}Description", {f"{{{rdf_ns}}}about": ""})
    bag = SubElement(SubElement(description, f"{{{dc_ns}}}language"), f"{{{rdf_ns}}}Bag")
    SubElement(bag, f"{{{rdf_ns}}}li").text = language
    return tostring(root, encoding="utf-8")


def bill_pdf(bill: Bill) -> bytes:
    """The bill as a PDF/A document (A4, in Italian, tagged)."""
    # WeasyPrint takes a while to import and needs Pango: only the processes that render
    # a bill load it (scripts/install-system-deps.sh installs Pango).
    from weasyprint import HTML
    from weasyprint.pdf.metadata import DocumentMetadata

    class BillMetadata(DocumentMetadata):
        def generate_rdf_metadata(self, variant: str, version: int, conformance: str) -> bytes:
            rdf = super().generate_rdf_metadata(variant, version, conformance)
            return _xmp_language(rdf, self.lang or BILL_LANGUAGE)

    with translation.override(BILL_LANGUAGE):
        html = render_to_string("billing/bill.html", bill_context(bill))
    document = HTML(string=html, url_fetcher=_no_fetch).render(pdf_tags=True)
    document.metadata = BillMetadata(**vars(document.metadata))
    pdf: bytes = document.write_pdf(pdf_variant=PDF_VARIANT, pdf_tags=True)
    return pdf


def bill_filename(bill: Bill) -> str:
    return f"bolletta-{bill.year}-{bill.sequence:06d}.pdf"
