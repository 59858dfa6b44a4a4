"""The Sportello Online through Django's test client: sign-up and its codes, sign-in,
permissions (the owner, another customer, an anonymous visitor), "Comunica la lettura",
added supplies, preferences and the public pages."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import translation
from pytest_django.fixtures import Settings as SettingsWrapper

from autolettura.customers.models import Customer, Supply
from autolettura.outbox.models import OutboundMessage, Route
from autolettura.portal.messages import account_error_message
from autolettura.portal.models import LinkedCustomer
from autolettura.readings.messages import error_message
from autolettura.readings.models import Reading, Status
from autolettura.readings.services import CODES_MISMATCH
from autolettura.rules.errors import FieldError
from tests import pictures
from tests.api_helpers import Clock
from tests.portal.support import (
    DECEMBER_20,
    NOVEMBER_10,
    PASSWORD,
    customer_with_supply,
    with_account,
    with_bills,
    with_history,
)

pytestmark = pytest.mark.django_db

JPEG = pictures.JPEG


@pytest.fixture(autouse=True)
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    pinned = Clock(DECEMBER_20)
    monkeypatch.setattr("autolettura.clock.now", pinned)
    return pinned


@pytest.fixture(autouse=True)
def _media(settings: SettingsWrapper, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def mine() -> Supply:
    return customer_with_supply()


@pytest.fixture
def theirs() -> Supply:
    return customer_with_supply(customer_code="2008811", supply_code="400777001")


@pytest.fixture
def owner(client: Client, mine: Supply) -> Client:
    client.force_login(with_account(mine), backend=settings.AUTHENTICATION_BACKENDS[1])
    return client


def signup_data(**changes: str) -> dict[str, str]:
    return {
        "customer_code": "1004127",
        "supply_code": "400120734",
        "email": "giulia@example.org",
        "password1": PASSWORD,
        "password2": PASSWORD,
        "privacy": "on",
        **changes,
    }


def confirm_link(message: Any) -> str:
    found = re.search(r"http://testserver(/registrati/conferma/\S+/)", message.body)
    assert found is not None, message.body
    return found.group(1)


def texts(response: Any) -> str:
    """The page's text, tags and whitespace folded (for messages split across lines)."""
    return " ".join(re.sub(r"<[^>]+>", " ", response.content.decode()).split())


class TestSignUp:
    def test_starts_with_an_inactive_account_and_a_confirmation_link(
        self, client: Client, mine: Supply
    ) -> None:
        response = client.post("/registrati/", signup_data())

        assert response.status_code == 302
        assert response["Location"] == "/registrati/controlla-la-posta/"
        user = User.objects.get(email="giulia@example.org")
        assert not user.is_active
        assert Customer.objects.get(pk=mine.holder_id).user is None
        (message,) = mail.outbox
        assert message.to == ["giulia@example.org"]
        assert "1004127" in message.body

    def test_the_link_activates_the_account_and_gives_it_the_customer(
        self, client: Client, mine: Supply
    ) -> None:
        client.post("/registrati/", signup_data())

        response = client.get(confirm_link(mail.outbox[0]))

        assert response.status_code == 302
        assert response["Location"] == "/accedi/"
        customer = Customer.objects.get(pk=mine.holder_id)
        assert customer.user is not None
        assert customer.user.is_active
        assert customer.email == "giulia@example.org"
        # Following it again changes nothing.
        assert client.get(confirm_link(mail.outbox[0])).status_code == 302

    def test_an_altered_link_confirms_nothing(self, client: Client, mine: Supply) -> None:
        client.post("/registrati/", signup_data())
        link = confirm_link(mail.outbox[0])

        response = client.get(link.replace("/conferma/", "/conferma/x"))

        assert response.status_code == 400
        assert not User.objects.get(email="giulia@example.org").is_active

    @pytest.mark.parametrize(
        "codes",
        [
            {"customer_code": "1004128"},
            {"supply_code": "400120735"},
            {"customer_code": "2008811"},  # a real customer, not this supply's holder
            {"customer_code": "9999999", "supply_code": "999999999"},
        ],
    )
    def test_codes_that_do_not_match_get_the_apis_one_generic_message(
        self, client: Client, mine: Supply, theirs: Supply, codes: dict[str, str]
    ) -> None:
        response = client.post("/registrati/", signup_data(**codes))

        assert response.status_code == 200
        with translation.override("it"):
            generic = error_message(CODES_MISMATCH)
        assert response.context["form"].non_field_errors() == [generic]
        assert not User.objects.exists()
        assert mail.outbox == []

    def test_a_malformed_code_is_told_beside_its_field(self, client: Client, mine: Supply) -> None:
        response = client.post("/registrati/", signup_data(supply_code="40012€734"))

        form = response.context["form"]
        assert list(form.errors) == ["supply_code"]
        assert form["supply_code"].value() == "40012€734"
        assert form["email"].value() == "giulia@example.org"

    def test_a_customer_with_an_account_is_told_to_sign_in(
        self, client: Client, mine: Supply
    ) -> None:
        with_account(mine, email="someone@example.org")

        response = client.post("/registrati/", signup_data())

        with translation.override("it"):
            expected = account_error_message(FieldError("codes", "account_exists"))
        assert response.context["form"].non_field_errors() == [expected]
        assert mail.outbox == []

    def test_an_address_with_an_account_gets_an_email_and_the_same_page(
        self, client: Client, mine: Supply, theirs: Supply
    ) -> None:
        with_account(theirs, email="giulia@example.org")

        response = client.post("/registrati/", signup_data())

        assert response["Location"] == "/registrati/controlla-la-posta/"
        (message,) = mail.outbox
        assert "/accedi/" in message.body
        assert Customer.objects.get(pk=mine.holder_id).user is None

    def test_a_password_too_weak_or_typed_differently_is_refused(
        self, client: Client, mine: Supply
    ) -> None:
        weak = client.post("/registrati/", signup_data(password1="12345678", password2="12345678"))
        differ = client.post("/registrati/", signup_data(password2=PASSWORD + "x"))

        assert "password1" in weak.context["form"].errors
        assert "password2" in differ.context["form"].errors
        assert not User.objects.exists()

    def test_repeated_tries_are_throttled(
        self, client: Client, mine: Supply, settings: SettingsWrapper
    ) -> None:
        settings.AUTOLETTURA_FAILURES_PER_SOURCE = 3
        for _attempt in range(3):
            client.post("/registrati/", signup_data(supply_code="000000001"))

        response = client.post("/registrati/", signup_data())

        assert response.status_code == 429
        assert not User.objects.exists()


class TestSignIn:
    @pytest.fixture
    def user(self, mine: Supply) -> User:
        user = with_account(mine, email="giulia@example.org")
        user.username = "giulia.ferrari"
        user.save()
        return user

    @pytest.mark.parametrize("name", ["giulia.ferrari", "giulia@example.org", "GIULIA@example.org"])
    def test_with_the_email_or_the_username(self, client: Client, user: User, name: str) -> None:
        response = client.post("/accedi/", {"username": name, "password": PASSWORD})

        assert response.status_code == 302
        assert response["Location"] == "/area-clienti/"

    def test_not_before_the_email_is_confirmed(self, client: Client, user: User) -> None:
        user.is_active = False
        user.save()

        response = client.post("/accedi/", {"username": "giulia.ferrari", "password": PASSWORD})

        assert response.status_code == 200
        assert response.context["form"].non_field_errors()

    def test_sets_the_language_the_customer_chose(self, client: Client, user: User) -> None:
        Customer.objects.filter(user=user).update(language="en")

        response = client.post("/accedi/", {"username": "giulia.ferrari", "password": PASSWORD})

        assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"

    def test_the_session_cookie_is_http_only_and_same_site_lax(
        self, client: Client, user: User
    ) -> None:
        response = client.post("/accedi/", {"username": "giulia.ferrari", "password": PASSWORD})

        cookie = response.cookies[settings.SESSION_COOKIE_NAME]
        assert cookie["httponly"] is True
        assert cookie["samesite"] == "Lax"

    def test_five_failures_lock_the_name_from_that_address(
        self, client: Client, user: User
    ) -> None:
        for attempt in range(4):
            wrong = client.post(
                "/accedi/", {"username": "giulia.ferrari", "password": f"x{attempt}"}
            )
            assert wrong.status_code == 200
        locked = client.post("/accedi/", {"username": "giulia.ferrari", "password": "x5"})
        right = client.post("/accedi/", {"username": "giulia.ferrari", "password": PASSWORD})
        elsewhere = Client(REMOTE_ADDR="192.0.2.7").post(
            "/accedi/", {"username": "giulia.ferrari", "password": PASSWORD}
        )

        assert locked.status_code == 429
        assert right.status_code == 429
        assert elsewhere.status_code == 302  # the lock is on the name and address together

    def test_the_api_token_still_works_without_a_request(self, client: Client, user: User) -> None:
        response = client.post(
            "/api/v1/auth/token",
            {"username": "giulia.ferrari", "password": PASSWORD},
            content_type="application/json",
        )

        assert response.status_code == 200


AREA_PAGES = [
    "/area-clienti/",
    "/area-clienti/comunica-la-lettura/",
    "/area-clienti/preferenze/",
    "/area-clienti/aggiungi-utenza/",
]


class TestPermissions:
    @pytest.mark.parametrize("url", AREA_PAGES)
    def test_an_anonymous_visitor_is_sent_to_sign_in(self, client: Client, url: str) -> None:
        response = client.get(url)

        assert response.status_code == 302
        assert response["Location"] == f"/accedi/?next={url}"

    def test_an_anonymous_visitor_cannot_see_a_supply_a_reading_or_a_bill(
        self, client: Client, mine: Supply
    ) -> None:
        (reading, *_rest) = with_history(mine)
        for url in (
            f"/area-clienti/utenze/{mine.supply_code}/",
            f"/area-clienti/letture/{reading.receipt}/",
            f"/area-clienti/utenze/{mine.supply_code}/bollette/2026/1.pdf",
            f"/area-clienti/comunica-la-lettura/finestra/?supply={mine.supply_code}",
        ):
            response = client.get(url)
            assert response.status_code == 302, url
            assert response["Location"].startswith("/accedi/?next=")

    def test_the_owner_sees_their_supply_and_reading(self, owner: Client, mine: Supply) -> None:
        (reading, *_rest) = with_history(mine)

        supply_page = owner.get(f"/area-clienti/utenze/{mine.supply_code}/")
        receipt_page = owner.get(f"/area-clienti/letture/{reading.receipt}/")

        assert supply_page.status_code == 200
        assert reading.receipt in supply_page.content.decode()
        assert receipt_page.status_code == 200

    def test_another_customers_supply_reading_and_bill_are_not_found(
        self, owner: Client, theirs: Supply
    ) -> None:
        (reading, *_rest) = with_history(theirs)
        with_bills()
        their_bill = theirs.bills.first()
        assert their_bill is not None

        for url in (
            f"/area-clienti/utenze/{theirs.supply_code}/",
            f"/area-clienti/letture/{reading.receipt}/",
            f"/area-clienti/utenze/{theirs.supply_code}/bollette/"
            f"{their_bill.year}/{their_bill.sequence}.pdf",
            f"/area-clienti/comunica-la-lettura/finestra/?supply={theirs.supply_code}",
            "/area-clienti/utenze/NOSUCHSUPPLY/",
        ):
            assert owner.get(url).status_code == 404, url

    def test_a_reading_for_another_customers_supply_is_refused(
        self, owner: Client, theirs: Supply
    ) -> None:
        response = owner.post(
            "/area-clienti/comunica-la-lettura/",
            {"supply": theirs.supply_code, "reading": "12", "read_on": "20/12/2026"},
        )

        assert response.status_code == 200
        assert "supply" in response.context["form"].errors
        assert not Reading.objects.exists()

    def test_the_owner_downloads_their_own_bill(self, owner: Client, mine: Supply) -> None:
        with_history(mine)
        with_bills()
        bill = mine.bills.order_by("-period_end").first()
        assert bill is not None

        page = owner.get(f"/area-clienti/utenze/{mine.supply_code}/")
        url = f"/area-clienti/utenze/{mine.supply_code}/bollette/{bill.year}/{bill.sequence}.pdf"
        response = owner.get(url)

        assert url in page.content.decode()
        assert response.status_code == 200
        assert response["Content-Type"] == "application/pdf"
        assert response.content.startswith(b"%PDF")


class TestSendTheReading:
    def test_the_form_says_the_window_is_open_and_proposes_today(
        self, owner: Client, mine: Supply
    ) -> None:
        response = owner.get("/area-clienti/comunica-la-lettura/")

        form = response.context["form"]
        assert form["read_on"].value() == "20/12/2026"
        assert form["supply"].value() == mine.supply_code
        assert response.context["note"].open_now
        assert 'inputmode="numeric"' in response.content.decode()
        # htmx asks for the window note again when another supply is chosen.
        assert 'hx-get="/area-clienti/comunica-la-lettura/finestra/"' in response.content.decode()

    def test_an_accepted_reading_leads_to_its_receipt_and_outcome(
        self, owner: Client, mine: Supply
    ) -> None:
        with_history(mine)

        response = owner.post(
            "/area-clienti/comunica-la-lettura/",
            {
                "supply": mine.supply_code,
                "reading": "00446",
                "read_on": "20/12/2026",
                "photo": SimpleUploadedFile("meter.jpg", JPEG),
            },
        )

        reading = Reading.objects.get(value=446)
        assert (reading.status, reading.channel, reading.source) == (Status.ACCEPTED, "WEB", "SELF")
        assert pictures.describe(reading.photo.read()) == pictures.describe(JPEG)
        assert response.status_code == 302
        assert response["Location"].startswith(f"/area-clienti/letture/{reading.receipt}/?new=1")
        page = owner.get(response["Location"])
        assert reading.receipt in page.context["message"]
        # The outcome, by e-mail as chosen at sign-up, through the outbox.
        (queued,) = OutboundMessage.objects.all()
        assert (queued.route, queued.recipient) == (Route.EMAIL, "giulia@example.org")
        assert reading.receipt in queued.subject
        assert page.context["message"] in queued.body
        assert "Ti abbiamo inviato l&#x27;esito a giulia@example.org." in page.content.decode()

    def test_format_errors_are_told_beside_their_fields_keeping_what_was_typed(
        self, owner: Client, mine: Supply
    ) -> None:
        response = owner.post(
            "/area-clienti/comunica-la-lettura/",
            {
                "supply": mine.supply_code,
                "reading": "0123,4",
                "read_on": "31/02/2026",
                "photo": SimpleUploadedFile("meter.gif", b"GIF89a" + b"\x00" * 16),
            },
        )

        form = response.context["form"]
        assert set(form.errors) == {"reading", "read_on", "photo"}
        assert form["reading"].value() == "0123,4"
        assert form["read_on"].value() == "31/02/2026"
        assert response.context["photo_dropped"]
        body = response.content.decode()
        assert 'id="error-summary"' in body
        assert 'href="#id_reading"' in body
        assert 'aria-invalid="true"' in body
        assert not Reading.objects.exists()

    def test_outside_the_window_the_page_names_the_next_one(
        self, owner: Client, mine: Supply, clock: Clock
    ) -> None:
        clock.now = NOVEMBER_10

        response = owner.get("/area-clienti/comunica-la-lettura/")

        note = response.context["note"]
        assert not note.open_now
        assert (note.window.start, note.window.end) == (date(2026, 12, 15), date(2026, 12, 30))

    def test_the_window_note_follows_the_supply_chosen(self, owner: Client, mine: Supply) -> None:
        response = owner.get(
            f"/area-clienti/comunica-la-lettura/finestra/?supply={mine.supply_code}"
        )

        assert response.status_code == 200
        assert 'id="window-note"' in response.content.decode()
        assert "15/12/2026" in response.content.decode()


class TestAddSupply:
    def test_a_supply_under_another_customer_code_joins_the_account(
        self, owner: Client, mine: Supply, theirs: Supply
    ) -> None:
        response = owner.post(
            "/area-clienti/aggiungi-utenza/",
            {"customer_code": "2008811", "supply_code": "400777001"},
        )

        assert response.status_code == 302
        assert LinkedCustomer.objects.filter(customer=theirs.holder).exists()
        assert owner.get(f"/area-clienti/utenze/{theirs.supply_code}/").status_code == 200
        dashboard = owner.get("/area-clienti/").content.decode()
        assert mine.supply_code in dashboard and theirs.supply_code in dashboard

    def test_a_reading_for_an_added_supply_is_sent_as_its_holder(
        self, owner: Client, theirs: Supply
    ) -> None:
        owner.post(
            "/area-clienti/aggiungi-utenza/",
            {"customer_code": "2008811", "supply_code": "400777001"},
        )

        owner.post(
            "/area-clienti/comunica-la-lettura/",
            {"supply": theirs.supply_code, "reading": "12", "read_on": "20/12/2026"},
        )

        assert Reading.objects.get().supply == theirs

    def test_codes_that_do_not_match_add_nothing(self, owner: Client, theirs: Supply) -> None:
        response = owner.post(
            "/area-clienti/aggiungi-utenza/",
            {"customer_code": "2008811", "supply_code": "400120734"},
        )

        with translation.override("it"):
            assert response.context["form"].non_field_errors() == [error_message(CODES_MISMATCH)]
        assert not LinkedCustomer.objects.exists()

    def test_a_supply_registered_to_another_account_is_refused(
        self, owner: Client, theirs: Supply
    ) -> None:
        with_account(theirs, email="marco@example.org")

        response = owner.post(
            "/area-clienti/aggiungi-utenza/",
            {"customer_code": "2008811", "supply_code": "400777001"},
        )

        assert response.status_code == 200
        assert response.context["form"].non_field_errors()
        assert not LinkedCustomer.objects.exists()


class TestPreferences:
    def test_saves_language_contacts_and_channels(self, owner: Client, mine: Supply) -> None:
        response = owner.post(
            "/area-clienti/preferenze/",
            {
                "language": "en",
                "email": "giulia@example.org",
                "phone": "0039 347 123.4567",
                "notify_by_sms": "on",
                "notify_by_whatsapp": "on",
            },
        )

        assert response.status_code == 302
        assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
        customer = Customer.objects.get(pk=mine.holder_id)
        assert customer.language == "en"
        assert customer.phone == "+393471234567"
        assert (customer.notify_by_email, customer.notify_by_sms, customer.notify_by_whatsapp) == (
            False,
            True,
            True,
        )
        page = owner.get("/area-clienti/preferenze/")
        assert page.wsgi_request.LANGUAGE_CODE == "en"
        assert "Preferences saved." in page.content.decode()

    def test_sms_without_a_phone_number_is_refused(self, owner: Client, mine: Supply) -> None:
        response = owner.post(
            "/area-clienti/preferenze/",
            {"language": "it", "email": "", "phone": "", "notify_by_sms": "on"},
        )

        form = response.context["form"]
        assert set(form.errors) == {"phone"}
        assert Customer.objects.get(pk=mine.holder_id).notify_by_sms is False

    def test_email_notices_need_an_address_and_a_valid_one(
        self, owner: Client, mine: Supply
    ) -> None:
        missing = owner.post(
            "/area-clienti/preferenze/", {"language": "it", "notify_by_email": "on"}
        )
        invalid = owner.post(
            "/area-clienti/preferenze/", {"language": "it", "email": "giulia@", "phone": "abc"}
        )

        assert set(missing.context["form"].errors) == {"email"}
        assert set(invalid.context["form"].errors) == {"email", "phone"}


class TestLanguage:
    def test_an_anonymous_visitor_switches_to_english_and_back(self, client: Client) -> None:
        english = client.post("/lingua/", {"language": "en", "next": "/quando/"})
        page = client.get("/quando/")

        assert english["Location"] == "/quando/"
        assert page.wsgi_request.LANGUAGE_CODE == "en"
        assert '<html lang="en">' in page.content.decode()
        client.post("/lingua/", {"language": "it"})
        assert '<html lang="it">' in client.get("/").content.decode()

    def test_a_signed_in_customer_keeps_the_language_chosen(
        self, owner: Client, mine: Supply
    ) -> None:
        owner.post("/lingua/", {"language": "en", "next": "/area-clienti/"})

        assert Customer.objects.get(pk=mine.holder_id).language == "en"

    def test_never_redirects_to_another_site(self, client: Client) -> None:
        response = client.post("/lingua/", {"language": "en", "next": "https://evil.example/"})

        assert response["Location"] == "/"


class TestPublicPages:
    @pytest.mark.parametrize(
        "url",
        [
            "/",
            "/come-leggere-il-contatore/",
            "/cosa-serve/",
            "/quando/",
            "/come-comunicare-la-lettura/",
            "/contatti/",
            "/privacy/",
            "/accedi/",
            "/registrati/",
            "/password/dimenticata/",
        ],
    )
    def test_each_page_is_there_in_italian_with_a_skip_link(self, client: Client, url: str) -> None:
        response = client.get(url)

        assert response.status_code == 200
        body = response.content.decode()
        assert '<html lang="it">' in body
        assert 'href="#main"' in body

    def test_the_windows_of_the_year(self, client: Client) -> None:
        response = client.get("/quando/")

        windows = [(w.window.start, w.window.end, w.open_now) for w in response.context["windows"]]
        assert windows[0] == (date(2026, 2, 15), date(2026, 2, 28), False)
        assert windows[-1] == (date(2026, 12, 15), date(2026, 12, 30), True)
        assert len(windows) == 6

    def test_contacts_show_both_lines_and_whether_the_info_line_is_open(
        self, client: Client
    ) -> None:
        body = texts(client.get("/contatti/"))

        assert settings.AUTOLETTURA_PHONE_FAULTS in body
        assert settings.AUTOLETTURA_PHONE_TOLL_FREE in body
        assert settings.AUTOLETTURA_READINGS_EMAIL in body
        assert settings.AUTOLETTURA_WHATSAPP_NUMBER in body

    def test_the_api_admin_and_health_check_are_still_there(self, client: Client) -> None:
        assert client.get("/healthz").json()["status"] == "ok"
        assert client.get("/api/v1/openapi.json").status_code == 200
        assert client.get("/admin/login/").status_code == 200

    def test_a_password_reset_sends_a_link_to_an_active_account(
        self, client: Client, mine: Supply
    ) -> None:
        with_account(mine)

        response = client.post("/password/dimenticata/", {"email": "giulia@example.org"})

        assert response["Location"] == "/password/dimenticata/inviata/"
        (message,) = mail.outbox
        assert "/password/nuova/" in message.body
