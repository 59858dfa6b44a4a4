"""The bill as a PDF (R11, issue 3 item 5): made by a real bill run, rendered by WeasyPrint,
and read back with pypdf.

The supply's meter is fitted on 1 January 2026. Bills for 2026 are issued on 12 January
2027, so every bill's next window is 15 to 28 February 2027.
"""

from __future__ import annotations

import io
import re
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from django.template.loader import render_to_string
from django.utils import translation
from pypdf import PdfReader

from autolettura.billing.models import Bill
from autolettura.billing.pdf import (
    ChartBar,
    bill_context,
    bill_pdf,
    consumption_chart_svg,
    format_eur,
    format_number,
)
from autolettura.billing.services import bill_run_in_process, bill_run_start
from autolettura.billing.tariffs import tariffs_load
from autolettura.customers.models import Supply
from autolettura.readings.models import Channel, Reading, Source, Status
from tests.conftest import make_supply, rome

FEBRUARY_WINDOW = "Comunica la lettura dal 15/02/2027 al 28/02/2027"


def read(supply: Supply, on: date, value: int, source: str = Source.OPERATOR) -> Reading:
    """A valid reading, as an import or an accepted self-reading leaves it."""
    return Reading.objects.create(
        supply=supply,
        meter=supply.meters.get(removed_on__isnull=True),
        read_on=on,
        value=value,
        source=source,
        channel=Channel.IMPORT if source == Source.OPERATOR else Channel.APP,
        status=Status.ACCEPTED,
        submitted_at=rome(on.year, on.month, on.day, 12, 0),
    )


def bill_run(*, through: date, issued_on: date) -> None:
    """Run the real bill run in process, as `autolettura bill-run` does without a broker."""
    now = rome(issued_on.year, issued_on.month, issued_on.day, 8, 0)
    run = bill_run_start(through=through, issued_on=issued_on, now=now)
    summary = bill_run_in_process(run=run, now=now)
    assert summary.errors == []


def latest_bill(supply: Supply) -> Bill:
    return (
        Bill.objects.select_related("supply", "customer").filter(supply=supply).latest("period_end")
    )


def pdf_text(document: bytes) -> str:
    """The PDF's text with runs of white space made one space."""
    reader = PdfReader(io.BytesIO(document))
    return " ".join(" ".join(page.extract_text() for page in reader.pages).split())


@pytest.fixture
def tariff_2026(db: None) -> None:
    tariffs_load(year=2026)


@pytest.fixture
def billed_year(tariff_2026: None) -> Supply:
    """A supply read through 2026 (the last reading, an operator's, on 20 December), then
    billed for the whole year in one run: six bimonthly bills."""
    supply = make_supply(installed_on=date(2026, 1, 1), initial_reading=1200, digits=6)
    supply.holder.name = "Maria Rossi"
    supply.holder.save(update_fields=["name"])
    read(supply, date(2026, 2, 20), 1222, Source.SELF)
    read(supply, date(2026, 6, 18), 1290)
    read(supply, date(2026, 10, 22), 1355, Source.SELF)
    read(supply, date(2026, 12, 20), 1371)
    bill_run(through=date(2026, 12, 31), issued_on=date(2027, 1, 12))
    return supply


@pytest.mark.django_db
class TestBillPdf:
    def test_is_a_pdf_on_a4_paper(self, billed_year: Supply) -> None:
        document = bill_pdf(latest_bill(billed_year))

        assert document.startswith(b"%PDF-")
        reader = PdfReader(io.BytesIO(document))
        box = reader.pages[0].mediabox
        assert (round(float(box.width)), round(float(box.height))) == (595, 842)
        assert len(reader.pages) <= 2

    def test_prints_the_utility_the_number_the_dates_and_the_codes(
        self, billed_year: Supply
    ) -> None:
        bill = latest_bill(billed_year)

        text = pdf_text(bill_pdf(bill))

        assert "Acque di Valmora" in text
        assert f"Bolletta n. {bill.number}" in text
        assert "Emessa il 12/01/2027" in text
        assert "entro il 01/02/2027" in text  # 20 days after issue
        assert "Maria Rossi" in text
        assert billed_year.holder.customer_code in text
        assert billed_year.supply_code in text
        assert billed_year.address in text
        assert "Periodo dal 01/11/2026 al 31/12/2026 (61 giorni)" in text

    def test_prints_both_registers_with_their_date_and_source(self, billed_year: Supply) -> None:
        bill = latest_bill(billed_year)
        # The end of October lies between the readings of 22 October and 20 December: the
        # consumption between them spread over the days, no estimate. The end of December
        # carries the operator's reading of 20 December forward by 11 days: an estimate.
        assert (bill.previous_register_source, bill.current_register_source) == (
            "INTERPOLATED",
            "ESTIMATE",
        )

        text = pdf_text(bill_pdf(bill))

        assert f"Lettura precedente {bill.previous_register:06d} 31/10/2026 tra due letture" in text
        assert "Lettura 001371 20/12/2026 rilevata" in text
        assert f"Lettura attuale {bill.current_register:06d} 31/12/2026 stimata" in text
        assert "dal 21/12/2026 al 31/12/2026, in base al tuo consumo medio annuo" in text

    def test_prints_a_read_register_as_rilevata_or_autolettura(self, tariff_2026: None) -> None:
        supply = make_supply(installed_on=date(2026, 9, 1), initial_reading=500)
        read(supply, date(2026, 10, 31), 520, Source.SELF)
        read(supply, date(2026, 12, 31), 541)
        bill_run(through=date(2026, 12, 31), issued_on=date(2027, 1, 12))

        text = pdf_text(bill_pdf(latest_bill(supply)))

        assert "Lettura precedente 00520 31/10/2026 autolettura" in text
        assert "Lettura attuale 00541 31/12/2026 rilevata" in text
        assert "Totale consumo fatturato 21 m³" in text

    def test_splits_the_m3_into_effective_estimated_and_adjustment(
        self, billed_year: Supply
    ) -> None:
        bill = latest_bill(billed_year)

        text = pdf_text(bill_pdf(bill))

        assert f"Consumo effettivo (da letture) {bill.effective_m3} m³" in text
        assert f"Consumo stimato {bill.estimated_m3} m³" in text
        assert f"Conguaglio di consumi stimati in precedenza {bill.adjustment_m3} m³" in text
        assert f"Totale consumo fatturato {bill.billed_m3} m³" in text
        assert f"Consumo medio annuo (CMA): {format_number(bill.cma_m3, 2)} m³" in text

    def test_puts_the_next_self_reading_window_in_evidence(self, billed_year: Supply) -> None:
        text = pdf_text(bill_pdf(latest_bill(billed_year)))

        assert FEBRUARY_WINDOW in text
        assert f"{billed_year.supply_code}#{billed_year.holder.customer_code}#lettura" in text

    def test_prints_the_amounts_by_line_and_the_totals_in_italian_format(
        self, billed_year: Supply
    ) -> None:
        bill = latest_bill(billed_year)

        text = pdf_text(bill_pdf(bill))

        for line in bill.line_items:
            assert f"{line.description} " in text
            assert format_eur(line.amount) in text
        assert f"Totale imponibile {format_eur(bill.net_eur)}" in text
        assert f"IVA 10% {format_eur(bill.vat_eur)}" in text
        assert f"Totale bolletta {format_eur(bill.total_eur)}" in text
        assert re.search(r"Totale da pagare \d+,\d\d €", text)

    def test_prints_the_self_reading_form_with_the_codes(self, billed_year: Supply) -> None:
        text = pdf_text(bill_pdf(latest_bill(billed_year)))

        form = text[text.index("Modulo di autolettura") :]
        assert f"Codice utenza {billed_year.supply_code}" in form
        assert f"Codice utente {billed_year.holder.customer_code}" in form
        assert "da consegnare dal 15/02/2027 al 28/02/2027" in form
        assert "Lettura del contatore (m³, senza decimali)".upper() in form
        assert "Firma".upper() in form

    def test_gives_the_form_a_box_per_meter_digit_and_for_the_date(
        self, billed_year: Supply
    ) -> None:
        html = render_to_string("billing/bill.html", bill_context(latest_bill(billed_year)))

        # 6 for the meter's digits, 2 + 2 + 4 for gg/mm/aaaa.
        assert html.count('<div class="box"></div>') == 6 + 8

    def test_charts_the_last_six_bills(self, billed_year: Supply) -> None:
        context = bill_context(latest_bill(billed_year))

        chart = str(context["chart"])
        assert chart.startswith("<svg") and chart.count("<rect") == 6
        text = pdf_text(bill_pdf(latest_bill(billed_year)))
        assert "gen-feb" in text and "nov-dic" in text

    def test_is_in_italian_whatever_language_is_active(self, billed_year: Supply) -> None:
        with translation.override("en"):
            text = pdf_text(bill_pdf(latest_bill(billed_year)))
            assert translation.get_language() == "en"  # and the caller's language stays

        assert "Uso domestico residente" in text
        assert "Lettura precedente" in text

    def test_prints_what_the_customer_typed_as_text_never_as_markup(
        self, billed_year: Supply
    ) -> None:
        holder = billed_year.holder
        holder.name = '<img src="http://example.invalid/x.png"> Rossi & figli'
        holder.save(update_fields=["name"])

        text = pdf_text(bill_pdf(latest_bill(billed_year)))

        assert '<img src="http://example.invalid/x.png"> Rossi & figli' in text


@pytest.mark.django_db
class TestTheReadingsOfThePeriod:
    """Issue 11: a self-reading sent on 20 October, inside the window, on a meter read at
    01352 when it was fitted on 31 August; the CMA is 365 m³ (one a day)."""

    @pytest.fixture
    def supply(self, tariff_2026: None, settings: Any) -> Supply:
        settings.AUTOLETTURA_CMA_DEFAULT_DOMESTIC_RESIDENT = Decimal("365")
        supply = make_supply(
            installed_on=date(2026, 8, 31), activated_on=date(2026, 9, 1), initial_reading=1352
        )
        read(supply, date(2026, 10, 20), 1404, Source.SELF)
        return supply

    def test_lists_the_self_reading_with_its_value_date_and_source(self, supply: Supply) -> None:
        bill_run(through=date(2026, 10, 31), issued_on=date(2026, 11, 10))
        bill = latest_bill(supply)

        text = pdf_text(bill_pdf(bill))

        assert "Lettura precedente 01352 31/08/2026 rilevata" in text
        assert "Lettura 01404 20/10/2026 autolettura" in text
        assert "Lettura attuale 01415 31/10/2026 stimata" in text

    def test_says_in_words_which_part_is_effective_and_which_estimated(
        self, supply: Supply
    ) -> None:
        bill_run(through=date(2026, 10, 31), issued_on=date(2026, 11, 10))

        text = pdf_text(bill_pdf(latest_bill(supply)))

        assert (
            "Consumo effettivo: 52 m³, dal 31/08/2026 al 20/10/2026, tra le letture. "
            "Consumo stimato: 11 m³, dal 21/10/2026 al 31/10/2026, in base al tuo consumo "
            "medio annuo."
        ) in text

    def test_estimates_nothing_when_a_valid_reading_follows_the_period(
        self, supply: Supply
    ) -> None:
        # Billed late, once the reading of 15 December is known: the end of October lies
        # between two valid readings, and no day of the period is after the last one.
        read(supply, date(2026, 12, 15), 1460)
        bill_run(through=date(2026, 12, 31), issued_on=date(2027, 1, 12))
        bill = Bill.objects.get(supply=supply, period_end=date(2026, 10, 31))

        assert bill.current_register_source == "INTERPOLATED"
        assert (bill.effective_m3, bill.estimated_m3) == (bill.billed_m3, 0)
        text = pdf_text(bill_pdf(bill))
        assert "tra due letture" in text and "stimata" not in text
        assert "Consumo effettivo: " in text and "Consumo stimato:" not in text
        assert "dal 31/08/2026 al 31/10/2026, tra le letture." in text

    def test_keeps_the_readings_it_was_made_on_when_one_is_voided_later(
        self, supply: Supply
    ) -> None:
        bill_run(through=date(2026, 10, 31), issued_on=date(2026, 11, 10))
        Reading.objects.filter(supply=supply).update(
            voided_at=rome(2026, 11, 20, 9, 0), void_reason="misread"
        )

        text = pdf_text(bill_pdf(latest_bill(supply)))

        assert "Lettura 01404 20/10/2026 autolettura" in text

    def test_says_so_when_no_valid_reading_falls_in_the_period(self, tariff_2026: None) -> None:
        supply = make_supply(installed_on=date(2026, 8, 31), activated_on=date(2026, 9, 1))
        bill_run(through=date(2026, 10, 31), issued_on=date(2026, 11, 10))

        text = pdf_text(bill_pdf(latest_bill(supply)))

        assert "Consumo effettivo: nessuna lettura valida nel periodo." in text
        assert "dal 01/09/2026 al 31/10/2026, in base al tuo consumo medio annuo." in text


@pytest.mark.django_db
class TestBillPdfOfAnAdjustment:
    def test_shows_a_late_reading_as_a_credit(self, tariff_2026: None) -> None:
        supply = make_supply(installed_on=date(2026, 1, 1), initial_reading=0)
        # Ten months billed on the default CMA (150 m³ a year) ...
        bill_run(through=date(2026, 10, 31), issued_on=date(2026, 11, 10))
        # ... then a reading shows far less was used.
        read(supply, date(2026, 12, 15), 100)
        bill_run(through=date(2026, 12, 31), issued_on=date(2027, 1, 12))
        bill = latest_bill(supply)
        assert bill.adjustment_m3 < 0 and bill.total_eur < 0

        text = pdf_text(bill_pdf(bill))

        assert f"(a credito) {format_number(bill.adjustment_m3)} m³" in text
        assert f"Importo a credito {format_eur(bill.total_eur)}" in text
        assert "da detrarre dalla prossima bolletta" in text


class TestItalianFormatting:
    @pytest.mark.parametrize(
        ("amount", "text"),
        [
            ("1234.56", "1.234,56 €"),
            ("0.5", "0,50 €"),
            ("1234567.8", "1.234.567,80 €"),
            ("-12.34", "-12,34 €"),
            ("0.005", "0,01 €"),  # half-up, not to even
        ],
    )
    def test_writes_euro_with_a_comma_and_dots(self, amount: str, text: str) -> None:
        assert format_eur(Decimal(amount)) == text

    def test_writes_m3_with_thousands_dots(self) -> None:
        assert format_number(12345) == "12.345"
        assert format_number(Decimal("181.3"), 2) == "181,30"


class TestConsumptionChart:
    def bars(self, *values: int) -> list[ChartBar]:
        return [
            ChartBar(f"p{i}", 2026, m3, estimated=i % 2 == 1, current=i == len(values) - 1)
            for i, m3 in enumerate(values)
        ]

    def test_draws_one_labelled_bar_per_period(self) -> None:
        svg = consumption_chart_svg(self.bars(10, 20, 30))

        assert svg.count("<rect") == 3
        assert all(f">p{i}</text>" in svg for i in range(3))
        assert ">30</text>" in svg

    def test_draws_a_credit_below_the_zero_line(self) -> None:
        svg = consumption_chart_svg(self.bars(20, -10), height=130)

        zero = float(re.search(r'<line x1="[\d.]+" y1="([\d.]+)"', svg).group(1))  # type: ignore[union-attr]
        tops = [float(y) for y in re.findall(r'<rect x="[\d.]+" y="([\d.]+)"', svg)]
        assert tops[0] < zero
        assert tops[1] == pytest.approx(zero)

    def test_escapes_its_labels(self) -> None:
        svg = consumption_chart_svg([ChartBar("<b>", 2026, 5, estimated=False, current=True)])

        assert "<b>" not in svg and "&lt;b&gt;" in svg


@pytest.mark.django_db
class TestBillPdfForArchivesAndScreenReaders:
    """PDF/A-3b (ISO 19005-3) and tagged: what an archive's validator and a screen reader
    look for, read back with pypdf. (veraPDF, the reference validator, is a Java program
    found in neither Debian nor PyPI, so these checks are written out here.)"""

    @pytest.fixture
    def reader(self, billed_year: Supply) -> PdfReader:
        return PdfReader(io.BytesIO(bill_pdf(latest_bill(billed_year))))

    def test_declares_the_srgb_output_intent_with_its_icc_profile(self, reader: PdfReader) -> None:
        (intent,) = [i.get_object() for i in reader.trailer["/Root"]["/OutputIntents"]]

        assert intent["/S"] == "/GTS_PDFA1"
        assert "sRGB" in intent["/OutputConditionIdentifier"]
        profile = intent["/DestOutputProfile"].get_object()
        data = profile.get_data()
        assert data[36:40] == b"acsp"  # an ICC profile's signature
        assert data[16:20] == b"RGB "  # of an RGB colour space
        assert profile["/N"] == 3

    def test_says_it_is_pdf_a_3b_in_its_xmp_metadata(
        self, reader: PdfReader, billed_year: Supply
    ) -> None:
        bill = latest_bill(billed_year)
        xmp = reader.trailer["/Root"]["/Metadata"].get_object().get_data().decode()

        assert 'pdfaid:part="3"' in xmp and 'pdfaid:conformance="B"' in xmp
        title = f"Bolletta {bill.number} \N{EN DASH} Acque di Valmora"
        assert f'<rdf:li xml:lang="x-default">{title}</rdf:li>' in xmp  # dc:title
        assert re.search(r"<dc:language><rdf:Bag><rdf:li>it</rdf:li></rdf:Bag></dc:language>", xmp)
        assert reader.metadata is not None
        assert reader.metadata.title == title
        assert reader.pdf_header == "%PDF-1.7"

    def test_is_tagged_with_a_structure_tree_in_italian(self, reader: PdfReader) -> None:
        root = reader.trailer["/Root"]

        assert root["/MarkInfo"]["/Marked"] == True  # noqa: E712 (a PDF boolean object)
        assert root["/Lang"] == "it"
        tree = root["/StructTreeRoot"].get_object()
        assert "/ParentTree" in tree
        roles = set()

        def walk(node: Any, depth: int = 0) -> None:
            node = node.get_object() if hasattr(node, "get_object") else node
            if isinstance(node, list):
                for child in node:
                    walk(child, depth)
            elif isinstance(node, dict) and "/S" in node and depth < 40:
                roles.add(str(node["/S"]))
                walk(node.get("/K", []), depth + 1)

        walk(tree["/K"])
        assert {"/Document", "/Table", "/TR", "/TH", "/TD", "/P"} <= roles
        assert all(page.get("/StructParents") is not None for page in reader.pages)

    def test_embeds_every_font(self, reader: PdfReader) -> None:
        for page in reader.pages:
            for font in page["/Resources"]["/Font"].values():
                font = font.get_object()
                descendants = font.get("/DescendantFonts")
                described = descendants[0].get_object() if descendants else font
                descriptor = described["/FontDescriptor"].get_object()
                assert {"/FontFile", "/FontFile2", "/FontFile3"} & set(descriptor), font
