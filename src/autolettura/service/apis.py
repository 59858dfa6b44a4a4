"""POST /api/v1/faults, GET /api/v1/faults/{ticket}, POST /api/v1/faults/{ticket}/photo and
GET /api/v1/service-hours.

Following a report needs its ticket and the phone number or e-mail address given with it:
tickets are numbered in sequence, so the number alone would let anyone read anyone's report.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from django.conf import settings
from django.http import HttpRequest
from django.utils import translation
from ninja import File, Form, Router, Schema, Status
from ninja.errors import HttpError
from ninja.files import UploadedFile
from pydantic import Field, StrictInt

from autolettura import clock
from autolettura.rules.errors import FieldError
from autolettura.rules.window import ROME
from autolettura.schemas import ErrorsOut, FiniteFloat, StrictText, Text
from autolettura.service import policy, selectors, services
from autolettura.service.messages import (
    fault_error_message,
    fault_received_message,
    fault_status_message,
    office_hours_text,
    opening_text,
)
from autolettura.service.models import FaultReport
from autolettura.service.notifications import fault_follow_url
from autolettura.throttling import client_address, throttle

faults_router = Router(tags=["faults"])
hours_router = Router(tags=["service hours"])

Coordinate = FiniteFloat | StrictInt | StrictText | None


class FaultIn(Schema):
    category: StrictText | None = None  # leak, no_water, low_pressure, water_quality, ...
    description: StrictText | None = None
    address: StrictText | None = None
    latitude: Coordinate = None
    longitude: Coordinate = None
    contact_name: StrictText | None = None
    contact_phone: StrictText | None = None
    contact_email: StrictText | None = None
    # As for readings: the operators' and providers' channels are not the API's to claim.
    channel: Literal["app", "web"] = Field(
        "app", description="`app` (the default) or `web`; any other value is refused (422)."
    )


class FaultOut(Schema):
    ticket: str
    status: str
    category: str
    urgency: str
    message: str
    received_at: datetime
    # The portal's page to follow the report on, with its ticket filled in.
    follow_url: str


class FaultEventOut(Schema):
    status: str
    at: datetime


class FaultDetailOut(FaultOut):
    history: list[FaultEventOut]


def fault_out(report: FaultReport, message: str) -> FaultOut:
    return FaultOut(
        ticket=report.ticket,
        status=report.status.lower(),
        category=report.category.lower(),
        urgency=report.urgency.lower(),
        message=message,
        # Instants in Rome time, as the service hours give them.
        received_at=report.received_at.astimezone(ROME),
        follow_url=fault_follow_url(report.ticket),
    )


@faults_router.post(
    "",
    response={201: FaultOut, 400: ErrorsOut, 422: ErrorsOut, 429: ErrorsOut},
    auth=None,
    summary="Report a fault (24 hours a day)",
)
def fault_create(request: HttpRequest, payload: FaultIn) -> Status[FaultOut]:
    """Report a leak, no water, low pressure, a water quality problem, a damaged meter or
    anything else. Say where (an `address`, or `latitude` and `longitude`) and how to reach
    you (`contact_phone` or `contact_email`). Answers 201 with the ticket to follow it by
    and `follow_url`, the page to follow it on; a photo can then be sent to
    `/faults/{ticket}/photo`. The reporter is told on the contact left when the report is
    received and at each change of its status."""
    throttle(
        "fault-address",
        client_address(request),
        limit=settings.AUTOLETTURA_THROTTLE_FAULTS_PER_ADDRESS,
    )
    report = services.fault_report_create(
        category=(payload.category or "").strip().upper(),
        description=payload.description or "",
        address=payload.address or "",
        latitude=payload.latitude,
        longitude=payload.longitude,
        contact_name=payload.contact_name or "",
        contact_phone=payload.contact_phone or "",
        contact_email=payload.contact_email or "",
        channel=payload.channel.upper(),
        now=clock.now(),
        language=translation.get_language() or settings.LANGUAGE_CODE,
    )
    return Status(201, fault_out(report, fault_received_message(report)))


def _report_for(request: HttpRequest, ticket: str, contact: str) -> FaultReport:
    throttle(
        "fault-address", client_address(request), limit=settings.AUTOLETTURA_THROTTLE_PER_ADDRESS
    )
    report = services.fault_report_follow(
        ticket=ticket, contact=contact, source=f"address:{client_address(request)}"
    )
    if report is None:
        raise HttpError(404, fault_error_message(FieldError("contact", "contact_mismatch")))
    return report


@faults_router.get(
    "/{ticket}",
    response={200: FaultDetailOut, 404: ErrorsOut, 422: ErrorsOut, 429: ErrorsOut},
    auth=None,
    summary="Follow a fault report",
)
def fault_detail(request: HttpRequest, ticket: Text, contact: Text = "") -> FaultDetailOut:
    """The report's status and the history of its status, for whoever holds the ticket and
    the phone number or e-mail address given with it (`?contact=`)."""
    report = _report_for(request, ticket, contact)
    return FaultDetailOut(
        **fault_out(
            report, fault_status_message(ticket=report.ticket, status=report.status)
        ).dict(),
        history=[
            FaultEventOut(status=event.status.lower(), at=event.at.astimezone(ROME))
            for event in selectors.fault_history(report)
        ],
    )


@faults_router.post(
    "/{ticket}/photo",
    response={200: FaultOut, 400: ErrorsOut, 404: ErrorsOut, 422: ErrorsOut, 429: ErrorsOut},
    auth=None,
    summary="Add a photo to a fault report",
)
def fault_photo(
    request: HttpRequest, ticket: Text, contact: Form[Text], photo: File[UploadedFile]
) -> FaultOut:
    """A multipart upload of one photo (JPEG, PNG, WebP or HEIC) for a report taken
    without one, with the report's phone number or e-mail address as `contact`."""
    report = _report_for(request, ticket, contact)
    report = services.fault_report_attach_photo(report=report, photo=photo)
    return fault_out(report, fault_status_message(ticket=report.ticket, status=report.status))


class InfoLineOut(Schema):
    open_now: bool
    opens_at: datetime | None
    closes_at: datetime | None
    hours: str
    message: str
    phone: str


class FaultLineOut(Schema):
    open_now: bool
    phone: str


class ServiceHoursOut(Schema):
    info_line: InfoLineOut
    fault_line: FaultLineOut


@hours_router.get(
    "", response=ServiceHoursOut, auth=None, summary="Whether the phone lines are open"
)
def service_hours(request: HttpRequest) -> ServiceHoursOut:
    """The info line: open now and until when (`closes_at`), or when it opens next
    (`opens_at`), with its hours in words. The fault line is open at all hours."""
    status = selectors.info_line_status(clock.now())
    return ServiceHoursOut(
        info_line=InfoLineOut(
            open_now=status.open_now,
            opens_at=status.opens_at,
            closes_at=status.closes_at,
            hours=office_hours_text(policy.info_line_hours()),
            message=opening_text(
                open_now=status.open_now, opens_at=status.opens_at, closes_at=status.closes_at
            ),
            phone=settings.AUTOLETTURA_PHONE_TOLL_FREE,
        ),
        fault_line=FaultLineOut(open_now=True, phone=settings.AUTOLETTURA_PHONE_FAULTS),
    )
