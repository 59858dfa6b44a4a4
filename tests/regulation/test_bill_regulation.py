"""What the regulator requires on the bill, read back from the real PDF: the user code, the
reading attempts for the CMA, the kind of each reading, the compensation credited as its own
line, the utility's legal details, the fault and info numbers, how to complain and reach the
conciliation service, the social bonus, the average cost per m³, the meter serial; wording
from the settings."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from django.test import override_settings

from autolettura.billing.models import Bill
from autolettura.billing.pdf import bill_pdf
from autolettura.regulation.services import obligations_tick
from tests.billing.support import add_reading, bill_run, load_tariffs
from tests.conftest import make_supply, rome
from tests.test_bill_pdf import pdf_text

pytestmark = pytest.mark.django_db


@pytest.fixture
def credited_bill() -> Bill:
    """A supply whose December bill came late (day 51): its February bill credits 30 euro."""
    load_tariffs(2025, 2026)
    supply = make_supply(installed_on=date(2025, 11, 1))
    add_reading(supply, date(2025, 12, 20), 30)
    bill_run(through=date(2025, 12, 31), issued_on=date(2026, 2, 20))
    obligations_tick(now=rome(2026, 2, 21, 5, 15))
    add_reading(supply, date(2026, 2, 27), 52)
    bill_run(through=date(2026, 2, 28), issued_on=date(2026, 3, 5))
    return Bill.objects.get(supply=supply, period_end=date(2026, 2, 28))


class TestTheBillSays:
    def test_the_compensation_is_its_own_line_outside_vat(self, credited_bill: Bill) -> None:
        text = pdf_text(bill_pdf(credited_bill))
        assert "Indennizzo automatico ARERA (fuori campo IVA) -30,00 €" in text
        assert "Questa bolletta ti accredita 30,00 € di indennizzo automatico" in text
        total = f"{credited_bill.total_eur:.2f}".replace(".", ",")
        assert credited_bill.total_eur == (
            credited_bill.net_eur + credited_bill.vat_eur - Decimal("30")
        )
        assert f"Totale bolletta {total} €" in text

    def test_everything_the_regulator_asks_for(self, credited_bill: Bill) -> None:
        supply = credited_bill.supply
        text = pdf_text(bill_pdf(credited_bill))
        assert f"Codice utente ARERA {supply.user_code}" in text
        assert "almeno 2 volte l'anno" in text
        assert "Acque di Valmora S.p.A." in text and "P. IVA 01234567890" in text
        assert "Sede legale Piazza del Municipio 1" in text
        assert "Servizio Conciliazione" in text
        assert "Bonus sociale idrico" in text
        assert "Guasti e pronto intervento: 800 000 111" in text
        assert "Informazioni: 800 000 222" in text
        assert f"Contatore n. {supply.meters.get().serial}" in text
        assert "rilevata" in text  # the kind of the reading the bill rests on
        per_m3 = (credited_bill.total_eur + 30) / credited_bill.billed_m3
        assert "Costo medio di questa bolletta:" in text
        assert f"{per_m3:.4f}".replace(".", ",")[:4] in text

    @override_settings(
        AUTOLETTURA_BILL_SOCIAL_BONUS_TEXT="Chiedi il bonus idrico allo sportello.",
        AUTOLETTURA_UTILITY_VAT_NUMBER="09876543210",
    )
    def test_the_wording_comes_from_the_settings(self, credited_bill: Bill) -> None:
        text = pdf_text(bill_pdf(credited_bill))
        assert "Chiedi il bonus idrico allo sportello." in text
        assert "P. IVA 09876543210" in text

    def test_a_bill_without_compensation_says_nothing_of_one(self) -> None:
        load_tariffs(2025, 2026)
        supply = make_supply(installed_on=date(2025, 11, 1))
        bill_run(through=date(2025, 12, 31), issued_on=date(2026, 1, 10))
        text = pdf_text(bill_pdf(Bill.objects.get(supply=supply)))
        assert "Indennizzo" not in text and "indennizzo" not in text
