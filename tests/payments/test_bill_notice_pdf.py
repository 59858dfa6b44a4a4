"""The bill's pagoPA payment section (R16): printed with its notice data, and its QR code
read back from the rendered page by a barcode reader (ZXing), as a banking app reads it."""

from __future__ import annotations

import io
from datetime import date

import pypdfium2
import pytest
import zxingcpp
from pypdf import PdfReader

from autolettura.billing.models import Bill
from autolettura.billing.pdf import bill_pdf, format_eur
from autolettura.payments.models import PaymentNotice
from tests.billing.support import bill_run, load_tariffs
from tests.conftest import make_supply


def qr_codes(pdf: bytes) -> list[str]:
    """Every QR code found on the PDF's pages, rendered at 200 dpi as a phone sees paper."""
    found = []
    document = pypdfium2.PdfDocument(pdf)
    for page in document:
        image = page.render(scale=200 / 72).to_pil()
        found += [
            r.text
            for r in zxingcpp.read_barcodes(image)
            if r.format == zxingcpp.BarcodeFormat.QRCode
        ]
    return found


@pytest.fixture
def bill() -> Bill:
    load_tariffs(2026)
    supply = make_supply(installed_on=date(2026, 9, 1), initial_reading=500)
    bill_run(through=date(2026, 12, 31), issued_on=date(2027, 1, 12))
    return supply.bills.order_by("-period_end").first()  # type: ignore[return-value]


@pytest.mark.django_db
class TestPagopaSectionOfTheBill:
    def test_qr_code_decodes_to_the_notice(self, bill: Bill) -> None:
        notice = PaymentNotice.objects.get(bill=bill)
        cents = int(bill.total_eur * 100)

        codes = qr_codes(bill_pdf(bill))

        assert codes == [f"PAGOPA|002|{notice.notice_number}|80012345678|{cents}"]
        assert notice.notice_number == f"312{bill.year}{bill.sequence:09d}" + notice.iuv[13:]

    def test_prints_the_notice_data_beside_the_code(self, bill: Bill) -> None:
        notice = PaymentNotice.objects.get(bill=bill)
        pdf = bill_pdf(bill)
        text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
        grouped = " ".join(notice.notice_number[i : i + 4] for i in range(0, 18, 4))

        assert "Avviso di pagamento pagoPA" in text
        # The labels are printed in capitals (text-transform), the values as they are.
        assert f"CODICE AVVISO {grouped}" in text
        assert "CODICE FISCALE ENTE CREDITORE 80012345678" in text
        assert f"OGGETTO DEL PAGAMENTO Bolletta n. {bill.number}" in text
        assert f"IMPORTO {format_eur(bill.total_eur)}" in text
        assert "ENTRO IL 01/02/2027" in text
        assert len(PdfReader(io.BytesIO(pdf)).pages) <= 2

    def test_a_credit_has_no_notice_and_no_code(self, bill: Bill) -> None:
        PaymentNotice.objects.filter(bill=bill).delete()  # as for a credit or an old bill

        pdf = bill_pdf(bill)

        assert qr_codes(pdf) == []
        text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
        assert "pagoPA" not in text
