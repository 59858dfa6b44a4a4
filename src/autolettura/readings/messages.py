"""What every channel tells a customer, in Italian or English (R7).

Each message says what happened, why, and what to do next. Channels render these texts in
their own way (a page, JSON, speech, an SMS) but never write their own.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.utils.translation import gettext as _

from autolettura.readings.models import Reading, Status
from autolettura.rules.errors import FieldError
from autolettura.rules.parsing import register_text
from autolettura.rules.window import Window


def format_day(day: date) -> str:
    return day.strftime("%d/%m/%Y")


def reading_text(reading: Reading) -> str:
    """The reading as its meter's register shows it, leading zeros kept (`01404`): the one
    way every page, message, PDF and API answer shows a reading (`register_text`)."""
    return register_text(reading.value, reading.meter.digits)


def field_label(field: str) -> str:
    labels = {
        "supply_code": _("supply code"),
        "customer_code": _("customer code"),
        "codes": _("codes"),
        "reading": _("reading"),
        "read_on": _("reading date"),
        "channel": _("channel"),
    }
    return labels.get(field, field)


def error_message(error: FieldError) -> str:
    """The message for one format error (R1 to R3), saying what to fix."""
    params: dict[str, Any] = {"field": field_label(error.field), **error.params}
    if isinstance(params.get("installed_on"), date):
        params["installed_on"] = format_day(params["installed_on"])
    texts = {
        "required": _("The %(field)s is missing: please fill it in."),
        "code_invalid": _(
            "The %(field)s may contain only letters and digits, as printed on page 1 of the bill."
        ),
        "codes_mismatch": _(
            "The codes do not match: check the supply code and the customer code on page 1 "
            "of your bill."
        ),
        "decimals_not_allowed": _(
            "Send the reading without decimals: only the black digits of the meter (the m³), "
            "leaving out the red ones."
        ),
        "reading_invalid": _(
            "The reading must be a whole number, written with digits only as shown on the meter."
        ),
        "too_many_digits": _(
            "The reading has too many digits: this meter shows at most %(digits)s. Leave out "
            "the red digits (the decimals)."
        ),
        "date_invalid": _(
            "Write the reading date in numbers and in full, day/month/year with a four-digit "
            "year, for example 01/01/2026."
        ),
        "date_in_future": _("The reading date cannot be after today."),
        "date_before_meter": _(
            "The reading date is before the meter was installed: check the date."
        ),
        "channel_invalid": _("The channel must be app or web: leave it out for the app."),
        "too_many_attempts": _(
            "Too many attempts with codes that do not match: please try again in "
            "%(minutes)s minutes, with the supply code and the customer code on page 1 of "
            "your bill."
        ),
    }
    return texts.get(error.code, _("The %(field)s is not valid.")) % params


def outcome_message(reading: Reading, window: Window) -> str:
    """The message for a reading taken in charge (R4, R7): receipt, outcome, reason, next step."""
    params: dict[str, Any] = {
        "receipt": reading.receipt or "",
        "consumption": reading.consumption_m3,
        "start": format_day(window.start),
        "end": format_day(window.end),
    }
    if reading.voided_at is not None:
        return (
            _(
                "Reading %(receipt)s was cancelled by our staff. Consumption will be estimated "
                "until a new valid reading arrives."
            )
            % params
        )
    if reading.status == Status.ACCEPTED:
        return (
            _(
                "Reading received with receipt %(receipt)s and accepted: consumption since the "
                "previous reading is %(consumption)s m³. It will be used for your next bill."
            )
            % params
        )
    if reading.status == Status.UNDER_REVIEW and reading.reason == "photo_mismatch":
        params["typed"] = reading_text(reading)
        params["read"] = (
            register_text(reading.photo_value, reading.meter.digits)
            if reading.photo_value is not None
            else ""
        )
        return (
            _(
                "Reading received with receipt %(receipt)s. The value you sent (%(typed)s) is "
                "not the one we read on the photo of your meter (%(read)s), so our staff will "
                "check your reading against the photo and tell you the outcome within 9 "
                "working days. You need not send it again."
            )
            % params
        )
    if reading.status == Status.UNDER_REVIEW and reading.reason == "implausible":
        return (
            _(
                "Reading received with receipt %(receipt)s. The consumption it implies "
                "(%(consumption)s m³) is more than the meter can usually measure in that time, "
                "but the photo of your meter shows the same value: our staff will check the "
                "reading against the photo and tell you the outcome within 9 working days. "
                "Meanwhile check for a possible leak: close every tap and see whether the "
                "meter still moves."
            )
            % params
        )
    if reading.status == Status.UNDER_REVIEW:
        return (
            _(
                "Reading received with receipt %(receipt)s. The consumption "
                "(%(consumption)s m³) is much higher than usual, so our staff will check it "
                "and tell you the outcome within 9 working days. Meanwhile check for a "
                "possible leak: close every tap and see whether the meter still moves."
            )
            % params
        )
    reasons = {
        "outside_window": _(
            "Reading received with receipt %(receipt)s but not accepted: it was not sent and "
            "taken within the self-reading window. Read the meter and send it again between "
            "%(start)s and %(end)s; until then consumption will be estimated."
        ),
        "lower_than_previous": _(
            "Reading received with receipt %(receipt)s but not accepted: the value is lower "
            "than the last valid reading of this meter. Check the black digits and send it again."
        ),
        "older_than_last_reading": _(
            "Reading received with receipt %(receipt)s but not accepted: its date is earlier "
            "than the last valid reading of this meter. Send a reading taken today."
        ),
        "implausible": _(
            "Reading received with receipt %(receipt)s but not accepted: the consumption it "
            "implies (%(consumption)s m³) is more than the meter can measure in that time. "
            "Check that no digit was added (leave out the red digits) and send it again."
        ),
        "operator_discarded": _(
            "Reading received with receipt %(receipt)s was checked by our staff and not "
            "accepted. Consumption will be estimated until a new valid reading arrives."
        ),
        # The reasons an operator gives on review (R7), said to the customer as they are.
        "digits_misread": _(
            "Reading %(receipt)s was checked by our staff and not accepted: the value does "
            "not look like your meter's register, perhaps a digit too many or the red digits "
            "copied too. Read the black digits again, from left to right, and send the "
            "reading again; until then consumption will be estimated."
        ),
        "photo_mismatch": _(
            "Reading %(receipt)s was checked by our staff and not accepted: the value is not "
            "the one the photo of your meter shows. Check the black digits and send the "
            "reading again; until then consumption will be estimated."
        ),
        "wrong_meter": _(
            "Reading %(receipt)s was checked by our staff and not accepted: it seems to be "
            "the reading of another meter, not the one of this supply. Check the serial "
            "number printed on your meter and send the reading of the right one; until then "
            "consumption will be estimated."
        ),
    }
    return reasons.get(reading.reason or "", reasons["operator_discarded"]) % params


def reason_label(reason: str | None) -> str:
    """A reason code (R5, R6, R7) in a few plain words, for the readings table."""
    labels = {
        "outside_window": _("sent outside the self-reading window"),
        "lower_than_previous": _("lower than the previous reading"),
        "older_than_last_reading": _("dated before the last valid reading"),
        "implausible": _("more consumption than the meter can measure"),
        "high_consumption": _("consumption much higher than usual: being checked"),
        "operator_discarded": _("not accepted after a check by our staff"),
        "digits_misread": _("the value does not look like the meter's register"),
        "photo_mismatch": _("the value is not the one the photo shows"),
        "wrong_meter": _("the reading of another meter"),
    }
    return labels.get(reason or "", "")


# --- Outcome e-mails -----------------------------------------------------------------------


def greeting(name: str) -> str:
    """The e-mail's first line, with the customer's name when it is known."""
    name = " ".join(name.split())
    return _("Dear %(name)s,") % {"name": name} if name else _("Dear customer,")


def reading_details(reading: Reading) -> str:
    """The supply, the value and date, and the receipt, one a line, to repeat in a message."""
    supply = reading.supply
    return "\n".join(
        [
            _("Supply: %(code)s, %(address)s")
            % {"code": supply.supply_code, "address": supply.address},
            _("Reading: %(value)s m³ on %(day)s")
            % {"value": reading_text(reading), "day": format_day(reading.read_on)},
            _("Receipt: %(receipt)s") % {"receipt": reading.receipt or ""},
        ]
    )


def supply_page_url(reading: Reading) -> str:
    """The supply's page in the customer area, at the public address."""
    from django.conf import settings
    from django.urls import reverse

    path = reverse("portal:supply_detail", kwargs={"supply_code": reading.supply.supply_code})
    return f"{settings.AUTOLETTURA_PUBLIC_BASE_URL}{path}"


def outcome_email_subject(reading: Reading) -> str:
    params = {"receipt": reading.receipt or ""}
    if reading.voided_at is not None:
        return _("Reading %(receipt)s cancelled") % params
    subjects = {
        Status.ACCEPTED: _("Reading %(receipt)s accepted"),
        Status.UNDER_REVIEW: _("Reading %(receipt)s being checked"),
        Status.DISCARDED: _("Reading %(receipt)s not accepted"),
    }
    return subjects[Status(reading.status)] % params


def outcome_email_body(reading: Reading, window: Window, *, extra: list[str] | None = None) -> str:
    """An outcome e-mail (R7): the customer greeted by name, the outcome and what to do
    next, the supply, value, date and receipt, and the link to the supply's page. `extra`
    paragraphs (a channel's own notes) go after the outcome."""
    from django.conf import settings

    paragraphs = [
        greeting(reading.supply.holder.name),
        outcome_message(reading, window),
        *(extra or []),
        reading_details(reading),
        _("Your readings, consumption and bills for this supply are in your customer area:")
        + "\n"
        + supply_page_url(reading),
        _("%(utility)s, meter reading service") % {"utility": settings.AUTOLETTURA_UTILITY_NAME},
    ]
    return "\n\n".join(paragraphs) + "\n"
