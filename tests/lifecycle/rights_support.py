"""A customer with everything an export holds and an erasure touches, and another whose
data must stay out of both."""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from datetime import date

from django.contrib.auth.models import User
from django.core.files.base import ContentFile

from autolettura.accounts import services as account_services
from autolettura.backoffice.models import ReminderSent
from autolettura.channels.models import WhatsAppConversation
from autolettura.customers.models import Supply
from autolettura.outbox.models import OutboundMessage, Route
from autolettura.outbox.services import outbox_enqueue
from autolettura.readings.models import InboundMessage, Reading
from autolettura.readings.services import inbound_reading_submit
from tests.portal.support import (
    DECEMBER_20,
    PASSWORD,
    customer_with_supply,
    with_account,
    with_bills,
    with_history,
)

PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00"
    b"\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff"
    b"\x89\x99=\x1d\x00\x00\x00\x00IEND\xaeB`\x82"
)


@dataclass
class Household:
    supply: Supply
    user: User
    photographed: Reading  # a reading with a photo of the meter
    by_sms: Reading  # a reading that came in by SMS, logged in the inbound log
    reviewed: Reading  # a reading still under review, with its inbound message


def household(
    *,
    customer_code: str = "1004127",
    supply_code: str = "400120734",
    name: str = "Giulia Ferrari",
    email: str = "giulia@example.org",
    phone: str = "+393471234567",
    bills: bool = True,
) -> Household:
    supply = customer_with_supply(customer_code=customer_code, supply_code=supply_code, name=name)
    readings = with_history(supply)
    user = with_account(supply, email=email)
    customer = supply.holder
    customer.phone = phone
    customer.notify_by_sms = True
    customer.save(update_fields=["phone", "notify_by_sms"])
    photographed = readings[-1]
    photographed.photo.save("meter.png", ContentFile(PNG), save=True)
    if bills:
        with_bills(through=date(2026, 10, 31))
    by_sms = inbound_reading_submit(
        channel="SMS",
        provider_message_id=f"SM-{supply_code}",
        payload={
            "supply_code": supply_code,
            "customer_code": customer_code,
            "reading": "430",
            "read_on": "16/12/2026",
            "Body": f"{supply_code}#{customer_code}#430#16/12/2026",
        },
        sender=phone,
        now=DECEMBER_20.replace(day=16),
    ).submission
    assert by_sms is not None
    # High consumption, by SMS too: under review, with its message in the inbound log.
    reviewed = inbound_reading_submit(
        channel="SMS",
        provider_message_id=f"SM-{supply_code}-2",
        payload={
            "supply_code": supply_code,
            "customer_code": customer_code,
            "reading": "600",
            "read_on": "20/12/2026",
            "Body": f"{supply_code}#{customer_code}#600",
        },
        sender=phone,
        now=DECEMBER_20,
    ).submission
    assert reviewed is not None and reviewed.reading.status == "UNDER_REVIEW"
    outbox_enqueue(
        route=Route.SMS,
        recipient=phone,
        body=f"Lettura {by_sms.reading.receipt} presa in carico.",
        dedupe_key=f"reading:{by_sms.reading.pk}:sms",
        now=DECEMBER_20,
    )
    outbox_enqueue(
        route=Route.EMAIL,
        recipient=email,
        subject="Si apre la finestra di autolettura",
        body="Dal 15 al 30 dicembre puoi comunicare la lettura.",
        dedupe_key=f"reminder-{supply_code}",
        now=DECEMBER_20,
    )
    OutboundMessage.objects.filter(recipient__in=[email, phone]).update(
        status=OutboundMessage.Status.SENT, sent_at=DECEMBER_20
    )
    account_services.token_create(username=email, password=PASSWORD, now=DECEMBER_20)
    WhatsAppConversation.objects.create(
        phone=phone,
        remembered_customer=customer,
        remembered_at=DECEMBER_20,
        updated_at=DECEMBER_20,
    )
    ReminderSent.objects.create(
        supply=supply,
        window_start=date(2026, 12, 15),
        kind="OPENING",
        route="EMAIL",
        recipient=email,
        created_at=DECEMBER_20,
    )
    return Household(supply, user, photographed, by_sms.reading, reviewed.reading)


def inbound_of(reading: Reading) -> InboundMessage:
    return InboundMessage.objects.get(reading=reading)


def open_zip(content: bytes) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(content))
