"""A customer with everything an export holds and an erasure touches, and another whose
data must stay out of both."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from autolettura.accounts import services as account_services
from autolettura.backoffice.models import reminder_key
from autolettura.billing.models import Bill
from autolettura.channels.models import WhatsAppConversation
from autolettura.customers.models import Customer, Supply
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
        dedupe_key=reminder_key(supply.pk, date(2026, 12, 15), "OPENING", "EMAIL"),
        now=DECEMBER_20,
    )
    # A reminder by SMS to the number the customer had before.
    earlier_phone = f"+39340{customer_code}"
    outbox_enqueue(
        route=Route.SMS,
        recipient=earlier_phone,
        body="Dal 15 al 30 dicembre puoi comunicare la lettura.",
        dedupe_key=reminder_key(supply.pk, date(2026, 12, 15), "OPENING", "SMS"),
        now=DECEMBER_20,
    )
    OutboundMessage.objects.filter(recipient__in=[email, phone, earlier_phone]).update(
        status=OutboundMessage.Status.SENT, sent_at=DECEMBER_20
    )
    account_services.token_create(username=email, password=PASSWORD, now=DECEMBER_20)
    WhatsAppConversation.objects.create(
        phone=phone,
        remembered_customer=customer,
        remembered_at=DECEMBER_20,
        updated_at=DECEMBER_20,
    )
    return Household(supply, user, photographed, by_sms.reading, reviewed.reading)


def inbound_of(reading: Reading) -> InboundMessage:
    return InboundMessage.objects.get(reading=reading)


def open_zip(content: bytes) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(content))


TABLES = [
    "account",
    "customers",
    "supplies",
    "meters",
    "readings",
    "consumption",
    "bills",
    "bill_lines",
    "messages_sent",
    "messages_received",
]


def csv_rows(archive: zipfile.ZipFile, table: str) -> list[dict[str, str]]:
    text = archive.read(f"csv/{table}.csv").decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def assert_export_matches(archive: zipfile.ZipFile, home: Household, *, foreign: Household) -> None:
    """The export of `home`'s account, checked file by file against the database: every
    file there and nothing else, the JSON and each CSV alike, the tables as the database
    holds them, the PDFs PDFs, the photos the very files stored; nothing of `foreign`."""
    customer = Customer.objects.get(pk=home.supply.holder_id)
    bills = list(Bill.objects.filter(customer=customer).order_by("year", "sequence"))
    readings = list(
        Reading.objects.filter(supply=home.supply)
        .select_related("meter")
        .order_by("read_on", "submitted_at", "pk")
    )
    photographed = [r for r in readings if r.photo]
    assert bills, "the bill run made no bill"
    assert photographed, "no reading has a photo"
    assert set(archive.namelist()) == {
        "README.txt",
        "data.json",
        *(f"csv/{t}.csv" for t in TABLES),
        *(f"bills/bolletta-{b.year}-{b.sequence:06d}.pdf" for b in bills),
        *(f"photos/{r.receipt}.png" for r in photographed),
    }
    data = json.loads(archive.read("data.json"))
    assert list(data) == TABLES
    for table in TABLES:  # the CSV says what the JSON says
        as_text = [{k: str(v) for k, v in row.items()} for row in data[table]]
        assert as_text == csv_rows(archive, table), table

    assert data["account"] == [
        {
            "username": home.user.username,
            "email": home.user.email,
            "date_joined": home.user.date_joined.isoformat(),
            "last_login": User.objects.get(pk=home.user.pk).last_login.isoformat()
            if User.objects.get(pk=home.user.pk).last_login
            else "",
        }
    ]
    assert data["customers"] == [
        {
            "customer_code": customer.customer_code,
            "name": customer.name,
            "email": customer.email,
            "phone": customer.phone,
            "language": customer.language,
            "notify_by_email": customer.notify_by_email,
            "notify_by_sms": customer.notify_by_sms,
            "notify_by_whatsapp": customer.notify_by_whatsapp,
            "created_at": customer.created_at.isoformat(),
        }
    ]
    supply = home.supply
    assert data["supplies"] == [
        {
            "supply_code": supply.supply_code,
            "customer_code": customer.customer_code,
            "address": supply.address,
            "usage": supply.usage,
            "household_members": supply.household_members,
            "activated_on": supply.activated_on.isoformat(),
        }
    ]
    meter = supply.meters.get()
    assert [(m["serial"], m["digits"], m["installed_on"]) for m in data["meters"]] == [
        (meter.serial, meter.digits, meter.installed_on.isoformat())
    ]
    assert [
        (
            r["receipt"],
            r["read_on"],
            r["reading"],
            r["source"],
            r["channel"],
            r["status"],
            r["reason"],
            r["consumption_m3"],
            r["submitted_at"],
        )
        for r in data["readings"]
    ] == [
        (
            r.receipt or "",
            r.read_on.isoformat(),
            str(r.value).zfill(r.meter.digits),
            r.source,
            r.channel,
            r.status,
            r.reason or "",
            "" if r.consumption_m3 is None else r.consumption_m3,
            r.submitted_at.isoformat(),
        )
        for r in readings
    ]
    for row in data["readings"]:
        if row["photo"]:
            reading = next(r for r in readings if r.receipt == row["receipt"])
            with default_storage.open(reading.photo.name, "rb") as stored:
                assert archive.read(row["photo"]) == stored.read()
    assert data["consumption"][0]["supply_code"] == supply.supply_code
    assert Decimal(data["consumption"][0]["cma_m3"]) > 0
    segments = data["consumption"][1:]
    assert segments and all(int(s["consumption_m3"]) >= 0 for s in segments)
    assert [
        (b["number"], b["period_start"], b["period_end"], b["billed_m3"], b["total_eur"])
        for b in data["bills"]
    ] == [
        (
            b.number,
            b.period_start.isoformat(),
            b.period_end.isoformat(),
            b.billed_m3,
            str(b.total_eur),
        )
        for b in bills
    ]
    for row in data["bills"]:
        pdf = archive.read(row["pdf"])
        assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF"), row["pdf"]
    assert len(data["bill_lines"]) == sum(len(b.line_items) for b in bills)
    contacts = [customer.email, customer.phone]
    sent = OutboundMessage.objects.filter(recipient__in=contacts).exclude(
        dedupe_key__startswith="data-export-ready-"
    )
    assert sorted((m["route"], m["recipient"], m["body"]) for m in data["messages_sent"]) == sorted(
        (m.route, m.recipient, m.body) for m in sent
    )
    received = InboundMessage.objects.filter(reading__supply=supply).order_by("received_at", "pk")
    assert [
        (m["channel"], m["sender"], json.loads(m["content"])) for m in data["messages_received"]
    ] == [(m.channel, m.sender, m.payload) for m in received]
    assert {m["receipt"] for m in data["messages_received"]} == {
        home.by_sms.receipt,
        home.reviewed.receipt,
    }
    everything = json.dumps(data)
    other = foreign.supply.holder
    for theirs in (
        other.name,
        other.customer_code,
        foreign.supply.supply_code,
        other.email,
        other.phone,
    ):
        assert theirs not in everything, theirs
    readme = archive.read("README.txt").decode()
    assert all(table in readme for table in TABLES)
