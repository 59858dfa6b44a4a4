"""GET /api/v1/me/supplies/{supply_code}/bills and each bill's PDF (token only).

A bill that is not the signed-in customer's answers 404, exactly like one that does not
exist, and so does a supply they neither hold nor were billed for.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from django.http import Http404, HttpRequest, HttpResponse
from django.urls import reverse
from ninja import Router, Schema

from autolettura.accounts.apis import CustomerToken
from autolettura.billing import pdf, selectors
from autolettura.billing.models import Bill
from autolettura.customers.models import Customer
from autolettura.readings.apis import WindowOut
from autolettura.schemas import ErrorsOut, Text

router = Router(tags=["bills"], auth=CustomerToken())


class BillOut(Schema):
    number: str
    period_start: date
    period_end: date
    issued_on: date
    due_on: date
    billed_m3: int
    effective_m3: int
    estimated_m3: int
    adjustment_m3: int
    cma_m3: Decimal
    net_eur: Decimal
    vat_eur: Decimal
    total_eur: Decimal
    # operator (rilevata), self (autolettura), interpolated (between two valid readings: the
    # consumption between them spread over the days) or estimate (stimata, R10)
    current_register_source: str
    next_window: WindowOut
    pdf: str


def _customer(request: HttpRequest) -> Customer:
    customer: Customer = request.auth  # type: ignore[attr-defined]
    return customer


def _pdf_path(bill: Bill) -> str:
    return reverse(
        "api-v1:bill_pdf",
        kwargs={
            "supply_code": bill.supply.supply_code,
            "year": bill.year,
            "sequence": f"{bill.sequence:06d}",
        },
    )


@router.get(
    "/supplies/{supply_code}/bills",
    response={200: list[BillOut], 401: ErrorsOut, 404: ErrorsOut, 422: ErrorsOut},
    url_name="bill_list",
)
def my_bills(request: HttpRequest, supply_code: Text) -> list[BillOut]:
    """The customer's bills on one of their supplies, latest first. `pdf` is the path of
    each bill's PDF on this server."""
    bills = selectors.customer_supply_bills(customer=_customer(request), supply_code=supply_code)
    if bills is None:
        raise Http404
    return [
        BillOut(
            number=bill.number,
            period_start=bill.period_start,
            period_end=bill.period_end,
            issued_on=bill.issued_on,
            due_on=bill.due_on,
            billed_m3=bill.billed_m3,
            effective_m3=bill.effective_m3,
            estimated_m3=bill.estimated_m3,
            adjustment_m3=bill.adjustment_m3,
            cma_m3=bill.cma_m3,
            net_eur=bill.net_eur,
            vat_eur=bill.vat_eur,
            total_eur=bill.total_eur,
            current_register_source=bill.current_register_source.lower(),
            next_window=WindowOut(start=bill.next_window_start, end=bill.next_window_end),
            pdf=_pdf_path(bill),
        )
        for bill in bills
    ]


_PDF_RESPONSE = {
    "responses": {
        200: {
            "description": "The bill as a PDF (A4, in Italian).",
            "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
        }
    }
}


@router.get(
    "/supplies/{supply_code}/bills/{int:year}/{int:sequence}.pdf",
    # 200: the PDF itself, in _PDF_RESPONSE.
    response={401: ErrorsOut, 404: ErrorsOut, 422: ErrorsOut},
    url_name="bill_pdf",
    openapi_extra=_PDF_RESPONSE,
)
def my_bill_pdf(request: HttpRequest, supply_code: Text, year: int, sequence: int) -> HttpResponse:
    """Bill `year/sequence` as a PDF, the number as printed on it (`2027/000001` is
    `.../bills/2027/000001.pdf`)."""
    bill = selectors.customer_bill(
        customer=_customer(request), supply_code=supply_code, year=year, sequence=sequence
    )
    if bill is None:
        raise Http404
    response = HttpResponse(pdf.bill_pdf(bill), content_type="application/pdf")
    response["Content-Disposition"] = f'inline; filename="{pdf.bill_filename(bill)}"'
    return response
