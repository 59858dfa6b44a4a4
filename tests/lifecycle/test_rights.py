"""The customer's rights (GDPR articles 15 to 20): the data export, checked file by file
against the database, and the erasure of a closed account: what stays, what goes."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from axes.models import AccessAttempt
from django.contrib.auth import authenticate
from django.contrib.auth.models import User
from django.core.files.storage import default_storage
from django.test import Client
from pytest_django.fixtures import Settings as SettingsWrapper

from autolettura.accounts.models import ApiToken
from autolettura.backoffice.models import reminder_key_prefix
from autolettura.backoffice.roles import ADMINISTRATOR, COUNTER
from autolettura.billing.models import Bill
from autolettura.channels.models import WhatsAppConversation
from autolettura.customers.models import Customer
from autolettura.lifecycle import services
from autolettura.lifecycle.models import DataExport, ErasureRequest
from autolettura.lifecycle.services import (
    RightsRefused,
    data_export_request,
    erasure_carry_out,
    erasure_request_create,
    retention_run,
)
from autolettura.outbox.models import OutboundMessage
from autolettura.readings.models import InboundMessage, Reading
from tests.api_helpers import Clock
from tests.backoffice.support import operator
from tests.lifecycle.rights_support import (
    Household,
    assert_export_matches,
    household,
    inbound_of,
    open_zip,
)
from tests.portal.support import DECEMBER_20, PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _files(tmp_path: Path, settings: SettingsWrapper) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.AUTOLETTURA_EXPORT_DIR = tmp_path / "exports"


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    pinned = Clock(DECEMBER_20)
    monkeypatch.setattr("autolettura.clock.now", pinned)
    return pinned


@pytest.fixture
def mine() -> Household:
    return household()


@pytest.fixture
def theirs() -> Household:
    return household(
        customer_code="2008811",
        supply_code="400777001",
        name="Marco Bianchi",
        email="marco@example.org",
        phone="+393339876543",
        bills=False,
    )


def prepared(user: User, captured: Any) -> DataExport:
    with captured(execute=True):
        export = data_export_request(user=user, now=DECEMBER_20)
    export.refresh_from_db()
    return export


def zip_of(export: DataExport, settings: SettingsWrapper) -> Any:
    path = Path(settings.AUTOLETTURA_EXPORT_DIR) / export.file_name
    return open_zip(path.read_bytes())


class TestDataExport:
    def test_the_zip_holds_every_file_and_matches_the_database(
        self,
        mine: Household,
        theirs: Household,
        settings: SettingsWrapper,
        django_capture_on_commit_callbacks: Any,
    ) -> None:
        export = prepared(mine.user, django_capture_on_commit_callbacks)

        assert export.status == DataExport.Status.READY
        assert export.expires_at == DECEMBER_20 + timedelta(days=7)
        assert_export_matches(zip_of(export, settings), mine, foreign=theirs)

    def test_the_customer_is_told_by_email_when_it_is_ready(
        self,
        mine: Household,
        django_capture_on_commit_callbacks: Any,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr("autolettura.billing.pdf.bill_pdf", lambda bill: b"%PDF-1.7 quick")
        export = prepared(mine.user, django_capture_on_commit_callbacks)

        mail = OutboundMessage.objects.get(dedupe_key=f"data-export-ready-{export.pk}")
        assert mail.recipient == "giulia@example.org"
        assert "/area-clienti/i-miei-dati/" in mail.body
        assert "27/12/2026" in mail.body  # offered for 7 days

    def test_asking_again_while_it_is_prepared_gives_the_same_export(self, mine: Household) -> None:
        first = data_export_request(user=mine.user, now=DECEMBER_20)
        again = data_export_request(user=mine.user, now=DECEMBER_20)

        assert again.pk == first.pk
        assert DataExport.objects.count() == 1

    def test_a_new_export_removes_the_previous_file(
        self,
        mine: Household,
        settings: SettingsWrapper,
        django_capture_on_commit_callbacks: Any,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr("autolettura.billing.pdf.bill_pdf", lambda bill: b"%PDF-1.7 quick")
        first = prepared(mine.user, django_capture_on_commit_callbacks)
        second = prepared(mine.user, django_capture_on_commit_callbacks)

        first.refresh_from_db()
        assert first.status == DataExport.Status.EXPIRED and first.file_name == ""
        assert [p.name for p in Path(settings.AUTOLETTURA_EXPORT_DIR).iterdir()] == [
            second.file_name
        ]

    def test_the_retention_run_removes_it_once_its_time_is_over(
        self,
        mine: Household,
        settings: SettingsWrapper,
        django_capture_on_commit_callbacks: Any,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr("autolettura.billing.pdf.bill_pdf", lambda bill: b"%PDF-1.7 quick")
        export = prepared(mine.user, django_capture_on_commit_callbacks)
        path = Path(settings.AUTOLETTURA_EXPORT_DIR) / export.file_name

        retention_run(now=DECEMBER_20 + timedelta(days=6))
        assert path.exists()
        report = retention_run(now=DECEMBER_20 + timedelta(days=7))

        assert not path.exists()
        assert report.counts["data_exports"] == 1
        export.refresh_from_db()
        assert export.status == DataExport.Status.EXPIRED

    def test_an_account_with_no_customer_has_nothing_to_export(self) -> None:
        staff = operator(COUNTER)

        with pytest.raises(RightsRefused) as refused:
            data_export_request(user=staff, now=DECEMBER_20)

        assert refused.value.code == "no_customer"


class TestExportThrottle:
    def test_an_account_asks_at_most_the_limit_in_an_hour(
        self, mine: Household, settings: SettingsWrapper
    ) -> None:
        settings.AUTOLETTURA_EXPORT_PER_HOUR = 2
        owner = Client()
        owner.force_login(mine.user)

        answers = [
            owner.post("/area-clienti/i-miei-dati/scarica/", follow=True).content.decode()
            for _ in range(3)
        ]

        assert all("Stiamo preparando i tuoi dati" in a for a in answers[:2])
        assert "Troppi tentativi" in answers[2]
        assert DataExport.objects.filter(user=mine.user).count() == 1


class TestDownload:
    def test_only_the_account_that_asked_downloads_it(
        self,
        mine: Household,
        theirs: Household,
        django_capture_on_commit_callbacks: Any,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr("autolettura.billing.pdf.bill_pdf", lambda bill: b"%PDF-1.7 quick")
        export = prepared(mine.user, django_capture_on_commit_callbacks)
        url = f"/area-clienti/i-miei-dati/scarica/{export.token}/dati.zip"
        owner, other, anonymous = Client(), Client(), Client()
        owner.force_login(mine.user)
        other.force_login(theirs.user)

        response = owner.get(url)

        assert response.status_code == 200
        assert response["Content-Type"] == "application/zip"
        assert "attachment" in response["Content-Disposition"]
        assert "data.json" in open_zip(b"".join(response.streaming_content)).namelist()
        assert other.get(url).status_code == 404
        assert anonymous.get(url).status_code == 302

    def test_an_expired_export_is_not_found(
        self,
        mine: Household,
        clock: Clock,
        django_capture_on_commit_callbacks: Any,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr("autolettura.billing.pdf.bill_pdf", lambda bill: b"%PDF-1.7 quick")
        export = prepared(mine.user, django_capture_on_commit_callbacks)
        owner = Client()
        owner.force_login(mine.user)
        clock.now = DECEMBER_20 + timedelta(days=7)

        response = owner.get(f"/area-clienti/i-miei-dati/scarica/{export.token}/dati.zip")

        assert response.status_code == 404


class TestErasureRequest:
    def test_a_wrong_password_is_refused(self, mine: Household) -> None:
        with pytest.raises(RightsRefused) as refused:
            erasure_request_create(user=mine.user, password="not-mine", now=DECEMBER_20)

        assert refused.value.code == "password_wrong"
        assert not ErasureRequest.objects.exists()

    def test_the_answer_is_due_in_a_month_and_the_customer_is_told(self, mine: Household) -> None:
        request = erasure_request_create(user=mine.user, password=PASSWORD, now=DECEMBER_20)

        assert request.due_on.isoformat() == "2027-01-20"
        assert request.customer_codes == "1004127"
        mail = OutboundMessage.objects.get(dedupe_key=f"erasure-received-{request.pk}")
        assert "20/01/2027" in mail.body
        again = erasure_request_create(user=mine.user, password=PASSWORD, now=DECEMBER_20)
        assert again.pk == request.pk

    def test_the_back_office_home_shows_administrators_the_deadline(
        self, mine: Household, clock: Clock
    ) -> None:
        erasure_request_create(user=mine.user, password=PASSWORD, now=DECEMBER_20)
        admin, counter = Client(), Client()
        admin.force_login(operator(ADMINISTRATOR))
        counter.force_login(operator(COUNTER))
        clock.now = DECEMBER_20 + timedelta(days=30)

        page = admin.get("/backoffice/").content.decode()
        late = admin.get("/backoffice/chiusure-account/").content.decode()

        assert "1004127" in page and "20/01/2027" in page and "1 giorno" in page
        assert "1004127" in late
        assert "1004127" not in counter.get("/backoffice/").content.decode()
        clock.now = DECEMBER_20 + timedelta(days=33)
        assert "2 giorni di ritardo" in admin.get("/backoffice/").content.decode()


class TestErasure:
    def test_the_account_closes_and_what_the_law_does_not_keep_goes(
        self,
        mine: Household,
        theirs: Household,
        settings: SettingsWrapper,
        django_capture_on_commit_callbacks: Any,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr("autolettura.billing.pdf.bill_pdf", lambda bill: b"%PDF-1.7 quick")
        export = prepared(mine.user, django_capture_on_commit_callbacks)
        AccessAttempt.objects.create(
            username="giulia@example.org", ip_address="192.0.2.1", failures_since_start=2
        )
        readings_before = list(Reading.objects.order_by("pk").values())
        bills_before = list(Bill.objects.order_by("pk").values())
        theirs_before = {
            "customer": list(Customer.objects.filter(pk=theirs.supply.holder_id).values()),
            "inbound": list(InboundMessage.objects.filter(sender="+393339876543").values()),
            "sent": list(OutboundMessage.objects.filter(recipient="marco@example.org").values()),
            "tokens": ApiToken.objects.filter(user=theirs.user).count(),
        }
        request = erasure_request_create(user=mine.user, password=PASSWORD, now=DECEMBER_20)
        admin = operator(ADMINISTRATOR)

        done = erasure_carry_out(request_id=request.pk, by=admin, now=DECEMBER_20)

        # Kept: readings (with their photos) and bills, as they were.
        assert list(Reading.objects.order_by("pk").values()) == readings_before
        assert list(Bill.objects.order_by("pk").values()) == bills_before
        assert default_storage.exists(mine.photographed.photo.name)
        customer = Customer.objects.get(pk=mine.supply.holder_id)
        assert (customer.customer_code, customer.name) == ("1004127", "Giulia Ferrari")
        # Gone: the account, its contacts and preferences, tokens, the export.
        user = User.objects.get(pk=mine.user.pk)
        assert not user.is_active and not user.has_usable_password()
        assert (user.username, user.email) == (f"closed-{user.pk}", "")
        assert authenticate(username="giulia@example.org", password=PASSWORD) is None
        assert (customer.user_id, customer.email, customer.phone) == (None, "", "")
        assert not (customer.notify_by_email or customer.notify_by_sms)
        assert not ApiToken.objects.filter(user=user).exists()
        assert not (Path(settings.AUTOLETTURA_EXPORT_DIR) / export.file_name).exists()
        assert not AccessAttempt.objects.filter(username="giulia@example.org").exists()
        assert not WhatsAppConversation.objects.filter(phone="+393471234567").exists()
        # The reminders given for the supply, to whatever address or number they went.
        reminders = OutboundMessage.objects.filter(
            dedupe_key__startswith=reminder_key_prefix(mine.supply.pk)
        )
        assert set(reminders.values_list("route", "recipient", "body")) == {
            ("EMAIL", "-", ""),
            ("SMS", "-", ""),
        }
        assert done.counts["reminder_recipients"] == 1  # the other, by the address, above
        # Messages: the raw texts and senders go, but a reading under review keeps its own.
        sms = inbound_of(mine.by_sms)
        assert (sms.payload, sms.sender) == ({}, "")
        assert inbound_of(mine.reviewed).payload != {}
        assert not OutboundMessage.objects.filter(
            status=OutboundMessage.Status.SENT,
            recipient__in=["giulia@example.org", "+393471234567"],
        ).exists()
        assert OutboundMessage.objects.filter(recipient="-").count() >= 2
        # The record, and the customer told at the address they had.
        assert done.status == ErasureRequest.Status.DONE
        assert (done.handled_by, done.handled_at) == (admin, DECEMBER_20)
        assert done.counts["api_tokens"] == 1 and done.counts["inbound_messages"] >= 1
        told = OutboundMessage.objects.get(dedupe_key=f"erasure-done-{request.pk}")
        assert told.recipient == "giulia@example.org"
        assert "5" in told.body and "10" in told.body
        # The other customer's data are untouched.
        assert theirs_before == {
            "customer": list(Customer.objects.filter(pk=theirs.supply.holder_id).values()),
            "inbound": list(InboundMessage.objects.filter(sender="+393339876543").values()),
            "sent": list(OutboundMessage.objects.filter(recipient="marco@example.org").values()),
            "tokens": ApiToken.objects.filter(user=theirs.user).count(),
        }

    def test_an_export_still_being_prepared_is_never_finished(self, mine: Household) -> None:
        pending = data_export_request(user=mine.user, now=DECEMBER_20)  # the task not run yet
        request = erasure_request_create(user=mine.user, password=PASSWORD, now=DECEMBER_20)
        erasure_carry_out(request_id=request.pk, by=operator(ADMINISTRATOR), now=DECEMBER_20)

        services.data_export_prepare(export_id=pending.pk, now=DECEMBER_20)  # it runs late

        pending.refresh_from_db()
        assert (pending.status, pending.file_name) == (DataExport.Status.EXPIRED, "")

    def test_a_request_is_carried_out_once(self, mine: Household) -> None:
        request = erasure_request_create(user=mine.user, password=PASSWORD, now=DECEMBER_20)
        admin = operator(ADMINISTRATOR)
        erasure_carry_out(request_id=request.pk, by=admin, now=DECEMBER_20)

        with pytest.raises(services.RightsRefused) as refused:
            erasure_carry_out(request_id=request.pk, by=admin, now=DECEMBER_20)

        assert refused.value.code == "already_done"


class TestExportFilesSwept:
    def test_a_file_no_export_offers_goes_once_it_is_older_than_their_time(
        self, settings: SettingsWrapper
    ) -> None:
        folder = Path(settings.AUTOLETTURA_EXPORT_DIR)
        folder.mkdir(parents=True)
        stray = folder / "left-by-a-killed-task.zip.partial"
        stray.write_bytes(b"PK")
        made = DECEMBER_20.timestamp()
        os.utime(stray, (made, made))

        assert services.data_exports_expire(now=DECEMBER_20 + timedelta(days=6)) == 0
        assert stray.exists()
        assert services.data_exports_expire(now=DECEMBER_20 + timedelta(days=8)) == 1
        assert not stray.exists()


class TestExportFailure:
    def test_a_failed_export_is_recorded_and_leaves_no_file(
        self,
        mine: Household,
        settings: SettingsWrapper,
        django_capture_on_commit_callbacks: Any,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        def broken(bill: Bill) -> bytes:
            raise OSError("no space left on device")

        monkeypatch.setattr("autolettura.billing.pdf.bill_pdf", broken)

        export = prepared(mine.user, django_capture_on_commit_callbacks)

        assert export.status == DataExport.Status.FAILED
        assert list(Path(settings.AUTOLETTURA_EXPORT_DIR).iterdir()) == []
        owner = Client()
        owner.force_login(mine.user)
        page = owner.get("/area-clienti/i-miei-dati/").content.decode()
        assert "Non siamo riusciti a preparare il file" in page


class TestPrivacyPage:
    def test_it_says_how_long_each_kind_of_data_is_kept_from_the_settings(
        self, settings: SettingsWrapper
    ) -> None:
        settings.AUTOLETTURA_RETENTION_READINGS_YEARS = 6
        settings.AUTOLETTURA_RETENTION_BILLS_YEARS = 11
        settings.AUTOLETTURA_RETENTION_MESSAGES_DAYS = 90
        settings.AUTOLETTURA_RETENTION_DISCARDED_PHOTOS_DAYS = 60
        settings.AUTOLETTURA_EXPORT_DAYS = 3

        page = Client().get("/privacy/").content.decode()

        assert "6 anni dalla data della lettura" in page
        assert "11 anni dalla fine dell'anno di emissione" in page
        assert "90 giorni; dopo conserviamo solo la lettura" in page
        assert "60 giorni dall'invio" in page
        assert "3 giorni." in page
        assert 'href="/area-clienti/i-miei-dati/"' in page

    def test_the_rights_page_says_how_to_correct_the_data(self, mine: Household) -> None:
        owner = Client()
        owner.force_login(mine.user)

        page = owner.get("/area-clienti/i-miei-dati/").content.decode()

        assert 'href="/area-clienti/preferenze/"' in page
        assert "800 000 222" in page and "sportello" in page
