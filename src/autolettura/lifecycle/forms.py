"""The form that asks to close the online account."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from autolettura.portal.forms import PortalForm


class AccountCloseForm(PortalForm):
    password = forms.CharField(
        label=_("Your password"),
        strip=False,
        help_text=_("The one you sign in with: it tells us that you are the one asking."),
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        error_messages={"required": _("Type your password to confirm.")},
    )
    understood = forms.BooleanField(
        label=_(
            "I understand that I will no longer be able to sign in, and that readings and "
            "bills stay for as long as the law requires."
        ),
        error_messages={"required": _("Tick the box to confirm that you want to go ahead.")},
    )
