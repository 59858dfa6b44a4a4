"""What every channel tells a reporter or a caller, in Italian or English (R13).

Channels (the API, the portal, the phone line, WhatsApp, the outbox) render these texts in
their own way but never write their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time
from typing import Any

from django.conf import settings
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from autolettura.rules.contacts import OpeningHours
from autolettura.rules.errors import FieldError
from autolettura.rules.hours import SUNDAY, OfficeHours
from autolettura.service.models import FaultReport, FaultStatus, Urgency


def field_label(field: str) -> str:
    labels = {
        "description": _("description"),
        "address": _("address"),
        "contact_name": _("name"),
    }
    return labels.get(field, field)


def fault_error_message(error: FieldError) -> str:
    """The message for one problem with a fault report, saying what is needed."""
    params: dict[str, Any] = {"field": field_label(error.field), **error.params}
    texts = {
        "location_required": _(
            "Say where the fault is: an address, or a position (latitude and longitude)."
        ),
        "position_incomplete": _("A position needs both the latitude and the longitude."),
        "latitude_invalid": _("The latitude must be a number between -90 and 90."),
        "longitude_invalid": _("The longitude must be a number between -180 and 180."),
        "contact_required": _("Leave a phone number or an e-mail so we can reach you."),
        "phone_invalid": _(
            "The phone number is not valid: write it with digits, for example 347 1234567."
        ),
        "email_invalid": _("The e-mail address is not valid: check it."),
        "category_invalid": _(
            "Choose the kind of fault: leak, no water, low pressure, water quality, damaged "
            "meter or other."
        ),
        "channel_invalid": _("The channel must be app or web: leave it out for the app."),
        "description_required": _("Describe the fault: what you see, and since when."),
        "too_long": _("The %(field)s is too long: at most %(max)s characters."),
        "photo_type": _("The photo must be a picture: JPEG, PNG, WebP or HEIC."),
        "photo_too_large": _("The photo is too large: at most %(max_mb)s MB."),
        "photo_too_many_pixels": _(
            "The photo has more than %(megapixels)s million pixels: send a smaller one, or no "
            "photo at all."
        ),
        "photo_already_attached": _("This report already has a photo."),
        "report_resolved": _("This report is already resolved: make a new report."),
        "contact_mismatch": _(
            "No report with this ticket for this contact: write the ticket number and the "
            "phone number or e-mail given with the report."
        ),
    }
    return texts.get(error.code, _("The %(field)s is not valid.")) % params


def fault_received_message(report: FaultReport) -> str:
    """What the reporter is told at once: the ticket, and what happens next."""
    params = {"ticket": report.ticket, "phone": settings.AUTOLETTURA_PHONE_FAULTS}
    if report.urgency == Urgency.EMERGENCY:
        return (
            _(
                "Report received with ticket %(ticket)s. It is an emergency: a crew will be "
                "sent as soon as possible. If there is danger to people or property, also call "
                "the fault line %(phone)s, free, 24 hours a day."
            )
            % params
        )
    return (
        _(
            "Report received with ticket %(ticket)s. We will tell you when a crew is sent; "
            "you can follow the report with its ticket number."
        )
        % params
    )


def fault_follow_text(url: str) -> str:
    """Where the reporter follows the report: a page that asks for the ticket's contact."""
    return _(
        "Follow the report here, with its number and the phone number or e-mail you left: %(url)s"
    ) % {"url": url}


def fault_status_message(*, ticket: str, status: str) -> str:
    """What the reporter is told of a report in `status`: the outbox sends this for each
    notification, with the status of its event, in the report's language."""
    texts = {
        FaultStatus.RECEIVED: _(
            "Report %(ticket)s has been received and is waiting for a crew to be sent."
        ),
        FaultStatus.DISPATCHED: _("Report %(ticket)s: a crew has been sent."),
        FaultStatus.ON_SITE: _("Report %(ticket)s: the crew has reached the place."),
        FaultStatus.RESOLVED: _(
            "Report %(ticket)s: the fault has been resolved. Thank you for telling us."
        ),
    }
    return texts[FaultStatus(status)] % {"ticket": ticket}


# --- Office hours --------------------------------------------------------------------------


def _weekday(iso_day: int) -> str:
    names = {
        1: pgettext("weekday in a sentence", "Monday"),
        2: pgettext("weekday in a sentence", "Tuesday"),
        3: pgettext("weekday in a sentence", "Wednesday"),
        4: pgettext("weekday in a sentence", "Thursday"),
        5: pgettext("weekday in a sentence", "Friday"),
        6: pgettext("weekday in a sentence", "Saturday"),
        7: pgettext("weekday in a sentence", "Sunday"),
    }
    return names[iso_day]


def _month(month: int) -> str:
    names = {
        1: pgettext("month in a date", "January"),
        2: pgettext("month in a date", "February"),
        3: pgettext("month in a date", "March"),
        4: pgettext("month in a date", "April"),
        5: pgettext("month in a date", "May"),
        6: pgettext("month in a date", "June"),
        7: pgettext("month in a date", "July"),
        8: pgettext("month in a date", "August"),
        9: pgettext("month in a date", "September"),
        10: pgettext("month in a date", "October"),
        11: pgettext("month in a date", "November"),
        12: pgettext("month in a date", "December"),
    }
    return names[month]


def date_in_words(day: date) -> str:
    """A day as people write it in a letter: "6 dicembre 2026", "6 December 2026"."""
    return f"{day.day} {_month(day.month)} {day.year}"


def _and(items: list[str]) -> str:
    if len(items) == 1:
        return items[0]
    return _("%(list)s and %(last)s") % {"list": ", ".join(items[:-1]), "last": items[-1]}


def _clock(moment: time) -> str:
    return f"{moment.hour}:{moment.minute:02d}"


def _days(weekdays: frozenset[int]) -> str:
    days = sorted(weekdays)
    if len(days) == 7:
        return _("every day")
    contiguous = days == list(range(days[0], days[-1] + 1))
    # "dal lunedì al venerdì": a run of three or more days reads as a range.
    if contiguous and len(days) >= 3 and days[-1] != SUNDAY:
        return _("from %(first)s to %(last)s") % {
            "first": _weekday(days[0]),
            "last": _weekday(days[-1]),
        }
    return _and([_weekday(d) for d in days])


def office_hours_text(hours: OfficeHours) -> str:
    """The calendar in words, such as "From Monday to Friday, 8:15-12:00 and 14:15-16:57;
    closed on public holidays and on the patron saint's day (10 November)"."""
    sessions = _and(
        [f"{_clock(opens)}\N{EN DASH}{_clock(closes)}" for opens, closes in hours.sessions]
    )
    params = {"days": _days(hours.weekdays), "sessions": sessions}
    if hours.patron_day is None:
        return capfirst(_("%(days)s, %(sessions)s; closed on public holidays.") % params)
    month, day = hours.patron_day
    text = _(
        "%(days)s, %(sessions)s; closed on public holidays and on the patron saint's day "
        "(%(patron_day)s)."
    ) % {**params, "patron_day": f"{day} {_month(month)}"}
    return capfirst(text)


def opening_text(*, open_now: bool, opens_at: datetime | None, closes_at: datetime | None) -> str:
    """Whether the line is open now, for a caller: "open until 12:00" or "opens on ..."."""
    if open_now and closes_at is not None:
        return _("Open now, until %(time)s.") % {"time": _clock(closes_at.time())}
    if opens_at is None:
        return _("Closed now.")
    return _("Closed now; opens on %(day)s %(date)s at %(time)s.") % {
        "day": _weekday(opens_at.isoweekday()),
        "date": f"{opens_at.day} {_month(opens_at.month)}",
        "time": _clock(opens_at.time()),
    }


def opening_hours_text(hours: Sequence[OpeningHours]) -> str:
    """A counter's week in words, such as "From Monday to Friday, 8:30-12:30; Tuesday and
    Thursday, 14:30-16:30; closed on public holidays" (with en dashes)."""
    groups = [
        _("%(days)s, %(sessions)s")
        % {
            "days": _days(group.weekdays),
            "sessions": _and([f"{_clock(a)}\N{EN DASH}{_clock(b)}" for a, b in group.sessions]),
        }
        for group in hours
    ]
    return capfirst(_("%(groups)s; closed on public holidays.") % {"groups": "; ".join(groups)})
