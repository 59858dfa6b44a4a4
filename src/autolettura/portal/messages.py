"""The portal's own texts for customers: account errors and short reason labels.

Outcomes and format errors of a reading come from `readings.messages` (and a photo's from
`readings.photos`), as on every channel; these are the texts only the web area needs.
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from autolettura.readings.messages import error_message
from autolettura.readings.photos import photo_error_message
from autolettura.rules.errors import FieldError
from autolettura.service.messages import fault_error_message


def account_error_message(error: FieldError) -> str:
    """The message for one problem with a sign-up, an added supply or the preferences."""
    texts = {
        "account_exists": _(
            "An account already exists for these codes: sign in, or reset the password if "
            "you have forgotten it."
        ),
        "already_yours": _("This supply is already in your account."),
        "other_account": _(
            "These codes are already registered to another account. If the supply is yours, "
            "call the toll-free number."
        ),
        "link_invalid": _(
            "The confirmation link is not valid or has expired: sign up again to get a new one."
        ),
        "email_link_invalid": _(
            "The link is not valid or has expired: write the new address in your preferences "
            "again to get a new one."
        ),
        "email_taken": _(
            "Another account already uses this e-mail address: choose another one in your "
            "preferences."
        ),
        "email_required": _("To get reminders and outcomes by e-mail, write your e-mail address."),
        "email_invalid": _("The e-mail address is not valid: check it."),
        "phone_required": _("To get messages by SMS or WhatsApp, write your mobile phone number."),
        "phone_invalid": _("Write the phone number with digits only, for example +39 347 1234567."),
        "language_invalid": _("Choose Italian or English."),
    }
    if error.code in texts:
        return texts[error.code]
    return submission_error_message(error)


def throttled_message(retry_after: int) -> str:
    """Too many sign-ups or added supplies from one address or for one code."""
    minutes = max(1, -(-retry_after // 60))
    return _("Too many attempts: please try again in %(minutes)s minutes.") % {"minutes": minutes}


def submission_error_message(error: FieldError) -> str:
    """The message for one format error of a reading sent from the portal."""
    if error.field == "photo":
        return photo_error_message(error)
    return error_message(error)


def fault_form_error_message(error: FieldError) -> str:
    """The message for one problem with a fault reported from the portal."""
    if error.field == "photo" and error.code in ("photo_too_large", "photo_type_invalid"):
        if error.code == "photo_too_large":
            return photo_error_message(error)
        return _("The photo must be a picture: JPEG, PNG or HEIC.")
    return fault_error_message(error)
