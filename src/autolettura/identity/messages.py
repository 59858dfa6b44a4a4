"""What customers read when a SPID or CIE sign-in does not go through."""

from __future__ import annotations

import re

from django.utils.translation import gettext as _

from autolettura.portal.messages import account_error_message
from autolettura.rules.errors import FieldError


def provider_error_message(provider_status: str) -> str:
    """The page's words for a refused sign-in: for the identity provider's own errors
    (SPID's "ErrorCode nr19" to "nr25"), what happened there, as the SPID rules ask."""
    found = re.search(r"nr\s*(\d+)", provider_status or "")
    code = found.group(1) if found else ""
    texts = {
        "19": _(
            "Sign-in failed: the credentials were entered wrongly too many times. Try again "
            "later, or ask your identity provider."
        ),
        "20": _(
            "Your digital identity has no credentials of the security level this service "
            "asks for: ask your identity provider for them, then try again."
        ),
        "21": _("The time to sign in ran out: please start again."),
        "22": _(
            "You did not consent to your data being sent to this service, so you are not signed in."
        ),
        "23": _(
            "Your digital identity is suspended or revoked, or its credentials are blocked: "
            "ask your identity provider."
        ),
        "25": _("You cancelled the sign-in."),
    }
    return texts.get(
        code,
        _(
            "The sign-in could not be completed, and you are not signed in. Please start "
            "again from the sign-in page."
        ),
    )


def identity_error_message(error: FieldError) -> str:
    """The message for one problem with the bill's codes at the first SPID or CIE sign-in."""
    if error.code == "other_fiscal_code":
        return _(
            "These codes belong to a customer registered with another fiscal code. If the "
            "supply is yours, call the toll-free number."
        )
    if error.code == "account_exists":
        return _(
            "This customer already has an account: sign in with its e-mail and password "
            "(or reset the password if you have forgotten it)."
        )
    return account_error_message(error)
