"""Reconciliation (R17): pagoPA reporting flows, in the FlussoRiversamento format, imported
by IUV; unmatched and duplicate payments listed for the billing office; a bill is paid once
in the books."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, transaction

from autolettura.payments import selectors, services
from autolettura.payments.models import Outcome, Payment, PaymentNotice, ReportingFlow
from autolettura.payments.tasks import flows_import_task
from autolettura.rules.rendicontazione import FlowInvalid, flow_parse
from tests.billing.support import bill_run, load_tariffs
from tests.conftest import make_supply
from tests.payments.support import FIRST_FLOW, SECOND_FLOW, imported_at, make_bill


@pytest.fixture
def bills() -> list[Any]:
    """Bills 2027/000001 to 000003, as the fixture flows pay them."""
    return [
        make_bill(total="123.45", sequence=1),
        make_bill(total="67.80", sequence=2),
        make_bill(total="10.00", sequence=3),
    ]


def outcomes(flow: ReportingFlow) -> list[tuple[str, str, int | None]]:
    return list(
        Payment.objects.filter(flow=flow)
        .order_by("position")
        .values_list("iuv", "outcome", "notice_id")
    )


@pytest.mark.django_db
class TestFlowImport:
    def test_pays_each_bill_by_its_iuv_and_lists_the_unknown_one(self, bills: list[Any]) -> None:
        done = services.flow_import(
            data=FIRST_FLOW.read_bytes(), file_name=FIRST_FLOW.name, now=imported_at()
        )

        assert done.flow.flow_id == "2027-02-03BCITITMM-S0001"
        assert done.flow.sender_id == "BCITITMM" and done.flow.total_cents == 24125
        assert outcomes(done.flow) == [
            ("202700000000187", "MATCHED", bills[0].pk),
            ("202700000000288", "MATCHED", bills[1].pk),
            ("202700000009992", "UNMATCHED", None),
        ]
        status = selectors.bills_payment(bills, today=date(2027, 2, 10))
        assert status[bills[0].pk].status == "paid"
        assert status[bills[0].pk].paid_on == date(2027, 2, 1)
        assert status[bills[1].pk].status == "paid"
        assert status[bills[2].pk].status == "overdue"  # due on 1 February, not paid

    def test_lists_duplicates_and_never_pays_a_bill_twice(self, bills: list[Any]) -> None:
        services.flow_import(data=FIRST_FLOW.read_bytes(), now=imported_at())

        done = services.flow_import(data=SECOND_FLOW.read_bytes(), now=imported_at())

        assert [(iuv, outcome) for iuv, outcome, _ in outcomes(done.flow)] == [
            ("202700000000187", "DUPLICATE"),  # bill 1 paid again at a post office
            ("202700000000389", "MATCHED"),  # bill 3
            ("202700000000389", "DUPLICATE"),  # ... listed twice in the same flow
            ("202700000000288", "DUPLICATE"),  # the first flow's payment, reported again
        ]
        assert done.counts == {
            "MATCHED": 1,
            "UNMATCHED": 0,
            "DUPLICATE": 3,
            "WRONG_AMOUNT": 0,
            "UNDONE": 0,
        }
        for bill in bills:
            assert Payment.objects.filter(notice__bill=bill, outcome=Outcome.MATCHED).count() == 1
        listed = [(p.iuv, p.outcome) for p in selectors.payments_to_check()]
        assert ("202700000009992", "UNMATCHED") in listed
        assert listed.count(("202700000000187", "DUPLICATE")) == 1
        assert len(listed) == 4

    def test_imports_a_flow_once(self, bills: list[Any]) -> None:
        services.flow_import(data=FIRST_FLOW.read_bytes(), now=imported_at())

        with pytest.raises(services.FlowAlreadyImported, match="already imported"):
            services.flow_import(data=FIRST_FLOW.read_bytes(), now=imported_at())

        assert Payment.objects.count() == 3

    def test_keeps_a_payment_of_another_amount_for_the_office(self, bills: list[Any]) -> None:
        data = FIRST_FLOW.read_bytes().replace(b"67.80", b"60.00").replace(b"241.25", b"233.45")

        done = services.flow_import(data=data, now=imported_at())

        assert [o for _, o, _ in outcomes(done.flow)] == ["MATCHED", "WRONG_AMOUNT", "UNMATCHED"]
        assert selectors.bill_payment(bills[1], today=date(2027, 1, 20)).status == "to_pay"

    def test_a_revoked_payment_pays_nothing(self, bills: list[Any]) -> None:
        data = FIRST_FLOW.read_bytes().replace(
            b"<codiceEsitoSingoloPagamento>0</codiceEsitoSingoloPagamento>\n"
            b"    <dataEsitoSingoloPagamento>2027-02-01",
            b"<codiceEsitoSingoloPagamento>3</codiceEsitoSingoloPagamento>\n"
            b"    <dataEsitoSingoloPagamento>2027-02-01",
        )

        done = services.flow_import(data=data, now=imported_at())

        assert outcomes(done.flow)[0][1] == "UNDONE"
        assert selectors.bill_payment(bills[0], today=date(2027, 1, 20)).status == "to_pay"

    def test_refuses_a_flow_for_another_creditor(self, bills: list[Any]) -> None:
        data = FIRST_FLOW.read_bytes().replace(b">80012345678<", b">80099999999<")

        with pytest.raises(services.FlowNotOurs, match="80099999999"):
            services.flow_import(data=data, now=imported_at())
        assert not ReportingFlow.objects.exists()

    def test_the_books_refuse_a_second_payment_of_a_bill(self, bills: list[Any]) -> None:
        services.flow_import(data=FIRST_FLOW.read_bytes(), now=imported_at())
        paid = Payment.objects.get(outcome=Outcome.MATCHED, notice__bill=bills[0])

        # Whatever the code above did, the database itself keeps a bill paid once.
        with pytest.raises(IntegrityError), transaction.atomic():
            Payment.objects.create(
                flow=paid.flow,
                position=99,
                iuv=paid.iuv,
                iur="another",
                index=1,
                amount_cents=paid.amount_cents,
                outcome_code="0",
                outcome_on=paid.outcome_on,
                outcome=Outcome.MATCHED,
                notice=paid.notice,
            )


def good() -> bytes:
    return FIRST_FLOW.read_bytes()


MALFORMED: list[tuple[str, bytes, str]] = [
    ("cut short", good()[:900], "not well-formed XML"),
    ("not XML", b"IUV;importo\n202700000000187;123,45\n", "not well-formed XML"),
    (
        "another document",
        good().replace(b"FlussoRiversamento", b"RicevutaTelematica"),
        "not <FlussoRiversamento>",
    ),
    (
        "no namespace",
        good().replace(b' xmlns="http://www.digitpa.gov.it/schemas/2011/Pagamenti/"', b""),
        "namespace",
    ),
    ("count", good().replace(b">3</numeroTotale", b">2</numeroTotale"), "says 2 payments"),
    ("total", good().replace(b">241.25<", b">241.20<"), "add up to 241.25"),
    ("comma", good().replace(b">67.80<", b">67,80<"), "singoloImportoPagato: '67,80'"),
    ("zero", good().replace(b">50.00<", b">0.00<"), "out of range"),
    (
        "date",
        good().replace(b">2027-02-02</dataEsito", b">02/02/2027</dataEsito", 1),
        "not a date",
    ),
    (
        "missing IUR",
        good().replace(
            b"<identificativoUnivocoRiscossione>0000012345678903</identificativoUnivocoRiscossione>",
            b"",
        ),
        "<identificativoUnivocoRiscossione> expected",
    ),
    ("order", good().replace(b"<versioneOggetto>1.0</versioneOggetto>", b""), "expected"),
    ("outcome", good().replace(b">9</codiceEsito", b">7</codiceEsito"), "codiceEsito"),
    (
        "no payments",
        good()[: good().index(b"  <datiSingoliPagamenti>")] + b"</FlussoRiversamento>\n",
        "<datiSingoliPagamenti> expected",
    ),
    (
        "entities",
        b'<?xml version="1.0"?>\n<!DOCTYPE lol [<!ENTITY lol "lol"><!ENTITY lol2 '
        b'"&lol;&lol;&lol;&lol;">]>\n<FlussoRiversamento>&lol2;</FlussoRiversamento>',
        "DTD or entities",
    ),
    (
        "external entity",
        b'<?xml version="1.0"?>\n<!DOCTYPE f [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b"<FlussoRiversamento>&x;</FlussoRiversamento>",
        "DTD or entities",
    ),
]


class TestMalformedFlows:
    @pytest.mark.parametrize(("case", "data", "words"), MALFORMED, ids=[m[0] for m in MALFORMED])
    def test_is_refused_whole_saying_what_to_fix(self, case: str, data: bytes, words: str) -> None:
        with pytest.raises(FlowInvalid) as raised:
            flow_parse(data)

        assert words in str(raised.value), raised.value.problems

    def test_the_fixture_flows_are_valid(self) -> None:
        assert len(flow_parse(FIRST_FLOW.read_bytes()).payments) == 3
        second = flow_parse(SECOND_FLOW.read_bytes())  # with a prefix, as some PSPs write
        assert second.sender_id == "POSOIT22" and second.payments[3].index == 1


@pytest.mark.django_db
class TestImportCommandAndDailyTask:
    def test_command_imports_and_says_what_each_payment_did(
        self, bills: list[Any], capsys: pytest.CaptureFixture[str]
    ) -> None:
        call_command("pagopa_flows_import", str(FIRST_FLOW), str(SECOND_FLOW))

        out = capsys.readouterr().out
        assert "3 payments: 2 bills paid, 1 with no bill, 0 duplicates" in out
        assert "4 payments: 1 bills paid, 0 with no bill, 3 duplicates" in out

    def test_command_refuses_a_malformed_file_and_goes_on(
        self, bills: list[Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        bad = tmp_path / "bad.xml"
        bad.write_bytes(good().replace(b">241.25<", b">1.00<"))

        with pytest.raises(CommandError, match="1 of 2 files not imported"):
            call_command("pagopa_flows_import", str(bad), str(FIRST_FLOW))

        err = capsys.readouterr().err
        assert "bad.xml: not imported" in err and "importoTotalePagamenti says 1.00" in err
        assert Payment.objects.filter(outcome=Outcome.MATCHED).count() == 2

    def test_daily_task_imports_the_folder_and_sets_each_file_aside(
        self, bills: list[Any], tmp_path: Path, settings: Any
    ) -> None:
        settings.AUTOLETTURA_PAGOPA_FLOWS_DIR = str(tmp_path)
        (tmp_path / FIRST_FLOW.name).write_bytes(FIRST_FLOW.read_bytes())
        (tmp_path / "again.xml").write_bytes(FIRST_FLOW.read_bytes())
        (tmp_path / "cut.xml").write_bytes(good()[:500])

        assert flows_import_task.delay().get() == {"imported": 1, "refused": 2}

        assert (tmp_path / "imported" / FIRST_FLOW.name).exists()
        assert "already imported" in (tmp_path / "refused" / "again.txt").read_text()
        assert "not well-formed" in (tmp_path / "refused" / "cut.txt").read_text()
        assert not list(tmp_path.glob("*.xml"))
        assert flows_import_task.delay().get() == {"imported": 0, "refused": 0}


@pytest.mark.django_db
def test_a_bill_run_gives_each_bill_to_pay_its_notice() -> None:
    load_tariffs(2026)
    supply = make_supply(installed_on=date(2026, 9, 1), initial_reading=500)
    bill_run(through=date(2026, 12, 31), issued_on=date(2027, 1, 12))

    bills = list(supply.bills.order_by("sequence"))
    assert bills
    for bill in bills:
        notice = PaymentNotice.objects.get(bill=bill)
        assert notice.iuv.startswith(f"{bill.year}{bill.sequence:09d}")
        assert notice.notice_number == "312" + notice.iuv
        assert notice.amount_cents == int(bill.total_eur * 100)
        assert notice.due_on == bill.due_on
        assert notice.creditor_fiscal_code == "80012345678"


@pytest.mark.django_db
def test_a_bill_removed_past_its_time_takes_its_notice_and_payments(bills: list[Any]) -> None:
    services.flow_import(data=FIRST_FLOW.read_bytes(), now=imported_at())

    bills[0].delete()  # as retention removes a bill of a year past its time

    assert not PaymentNotice.objects.filter(bill_id=bills[0].pk).exists()
    assert not Payment.objects.filter(iuv="202700000000187").exists()
    assert Payment.objects.filter(iuv="202700000000288", outcome=Outcome.MATCHED).exists()


SCHEMA = Path(__file__).resolve().parent / "schema" / "flusso_riversamento.xsd"


@pytest.fixture(scope="module")
def schema() -> Any:
    import xmlschema

    return xmlschema.XMLSchema(SCHEMA)


def schema_valid(schema: Any, data: bytes) -> bool:
    """Whether the validator takes `data` (read as a file, never as a path or address)."""
    from xml.etree.ElementTree import ParseError

    try:
        return bool(schema.is_valid(io.BytesIO(data)))
    except ParseError:
        return False  # not even XML


class TestAgainstTheSchema:
    """The fixture flows are valid by an XML schema validator (xmlschema) reading a schema of
    the format written from the specification; the malformed ones that break the format
    (not only its arithmetic) are refused by the validator as by the importer."""

    @pytest.mark.parametrize("path", [FIRST_FLOW, SECOND_FLOW], ids=["first", "second"])
    def test_the_fixture_flows_are_valid(self, schema: Any, path: Path) -> None:
        assert schema_valid(schema, path.read_bytes())

    @pytest.mark.parametrize(
        ("case", "data", "words"),
        [m for m in MALFORMED if m[0] not in ("count", "total", "entities", "external entity")],
        ids=[
            m[0] for m in MALFORMED if m[0] not in ("count", "total", "entities", "external entity")
        ],
    )
    def test_the_validator_refuses_what_the_importer_refuses(
        self, schema: Any, case: str, data: bytes, words: str
    ) -> None:
        assert not schema_valid(schema, data)
