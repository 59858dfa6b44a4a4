"""The portal's forms: what was typed, kept as typed. The rules (R1 to R3, the photo, the
preferences) are checked by the services; their errors come back here beside each field."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth import password_validation
from django.contrib.auth.forms import AuthenticationForm, PasswordResetForm, SetPasswordForm
from django.contrib.auth.models import User
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django_stubs_ext import StrOrPromise

from autolettura.customers.models import Supply
from autolettura.rules.errors import FieldError
from autolettura.service.models import Category as FaultCategory


def style_widgets(form: forms.BaseForm) -> None:
    """Bootstrap Italia's classes on every input."""
    for field in form.fields.values():
        widget = field.widget
        if isinstance(widget, forms.CheckboxInput | forms.RadioSelect):
            continue
        css = "form-select" if isinstance(widget, forms.Select) else "form-control"
        widget.attrs["class"] = f"{widget.attrs.get('class', '')} {css}".strip()


class PortalForm(forms.Form):
    """Errors from a service, mapped to the form's fields (the rest at the top)."""

    # The service's field names that are called differently here.
    field_map: dict[str, str] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        style_widgets(self)

    def add_service_errors(
        self, errors: Iterable[FieldError], message: Callable[[FieldError], str]
    ) -> None:
        for error in errors:
            field = self.field_map.get(error.field, error.field)
            self.add_error(field if field in self.fields else None, message(error))


def _code_field(label: StrOrPromise, help_text: StrOrPromise) -> forms.CharField:
    return forms.CharField(
        label=label,
        max_length=40,
        help_text=help_text,
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"}
        ),
    )


class CodesForm(PortalForm):
    customer_code = _code_field(
        _("Customer code"), _("Codice utente: on page 1 of the bill, top right.")
    )
    supply_code = _code_field(
        _("Supply code"), _("Codice utenza: on page 1 of the bill, under the customer code.")
    )


class SignupForm(CodesForm):
    email = forms.EmailField(
        label=_("E-mail"),
        max_length=150,
        help_text=_("We send a link here to confirm it: you will sign in with it."),
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    password1 = forms.CharField(
        label=_("Password"),
        strip=False,
        help_text=_("At least 8 characters, not only digits, not a common word."),
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password2 = forms.CharField(
        label=_("Password again"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    privacy = forms.BooleanField(
        label=_("I have read the privacy notice"),
        error_messages={
            "required": _("To sign up, confirm that you have read the privacy notice.")
        },
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        first, second = data.get("password1"), data.get("password2")
        if first and second and first != second:
            self.add_error("password2", _("The two passwords differ: type the same one twice."))
        elif first:
            probe = User(username=data.get("email", ""), email=data.get("email", ""))
            try:
                password_validation.validate_password(first, probe)
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return data


class SupplyAddForm(CodesForm):
    pass


class SignInForm(AuthenticationForm):
    """Django's sign-in form: the e-mail or the username, and the password."""

    username = forms.CharField(
        label=_("E-mail or username"),
        max_length=150,
        widget=forms.TextInput(attrs={"autocomplete": "username", "autocapitalize": "none"}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        style_widgets(self)

    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": _(
            "The e-mail (or username) or the password is not correct. If you have just "
            "signed up, first follow the link in the e-mail we sent you."
        ),
    }


class ResetRequestForm(PasswordResetForm):
    """Django's password reset, with the portal's words and styles."""

    email = forms.EmailField(
        label=_("E-mail"),
        max_length=254,
        help_text=_("The one you signed up with."),
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        style_widgets(self)


class NewPasswordForm(SetPasswordForm):
    """The new password, typed twice, with the rules said as on the sign-up form."""

    error_messages = {
        **SetPasswordForm.error_messages,
        "password_mismatch": _("The two passwords differ: type the same one twice."),
    }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["new_password1"].label = _("New password")
        self.fields["new_password1"].help_text = _(
            "At least 8 characters, not only digits, not a common word."
        )
        self.fields["new_password2"].label = _("New password again")
        self.fields["new_password2"].help_text = ""
        style_widgets(self)


class ReadingForm(PortalForm):
    field_map = {"supply_code": "supply", "codes": "supply"}

    supply = forms.ChoiceField(label=_("Supply"))
    reading = forms.CharField(
        label=_("Reading (m³)"),
        max_length=20,
        required=False,
        strip=False,
        help_text=_("Only the black digits, leading zeros included; leave out the red ones."),
        widget=forms.TextInput(
            attrs={"inputmode": "numeric", "autocomplete": "off", "spellcheck": "false"}
        ),
    )
    read_on = forms.CharField(
        label=_("Reading date"),
        max_length=20,
        required=False,
        help_text=_("Day/month/year, for example 20/12/2026."),
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )
    photo = forms.FileField(
        label=_("Photo of the meter (optional)"),
        required=False,
        help_text=_("JPEG, PNG or HEIC, at most 5 MB. It is kept with the reading as evidence."),
        # On a phone: the rear camera straight away (or the gallery, the browser asks).
        widget=forms.ClearableFileInput(attrs={"accept": "image/*", "capture": "environment"}),
    )
    # The photo read on the previous page, kept by the server for this session: the
    # customer confirms or corrects the value without sending the photo again.
    photo_token = forms.RegexField(
        regex=r"^[0-9a-f]{64}$", required=False, widget=forms.HiddenInput
    )

    def __init__(self, *args: Any, supplies: Iterable[Supply], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["supply"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [
            (s.supply_code, f"{s.supply_code} \N{EN DASH} {s.address}") for s in supplies
        ]
        self.fields["supply"].widget.attrs.update(
            {
                "hx-get": reverse("portal:window_note"),
                "hx-target": "#window-note",
                "hx-swap": "outerHTML",
                "hx-trigger": "change",
            }
        )


class PreferencesForm(PortalForm):
    language = forms.ChoiceField(
        label=_("Language"), choices=settings.LANGUAGES, widget=forms.RadioSelect
    )
    email = forms.CharField(
        label=_("E-mail for reminders and outcomes"),
        max_length=254,
        required=False,
        help_text=_(
            "A new address takes effect once you open the link we send to it: until then we "
            "keep writing to this one."
        ),
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    phone = forms.CharField(
        label=_("Mobile phone number"),
        max_length=32,
        required=False,
        help_text=_("Needed for SMS and WhatsApp, for example +39 347 1234567."),
        widget=forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel"}),
    )
    notify_by_email = forms.BooleanField(label=_("E-mail"), required=False)
    notify_by_sms = forms.BooleanField(label=_("SMS"), required=False)
    notify_by_whatsapp = forms.BooleanField(label=_("WhatsApp"), required=False)


class FaultForm(PortalForm):
    """A fault reported from the portal: what, where, how to reach the reporter, a photo."""

    field_map = {"location": "address", "contact": "contact_phone"}

    category = forms.ChoiceField(
        label=_("What is wrong"), choices=FaultCategory.choices, widget=forms.RadioSelect
    )
    description = forms.CharField(
        label=_("Describe it (optional)"),
        max_length=2000,
        required=False,
        help_text=_("What you see and since when; required if you chose “other”."),
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    address = forms.CharField(
        label=_("Where"),
        max_length=300,
        required=False,
        help_text=_("Street, house number and town, or a landmark nearby."),
        widget=forms.TextInput(attrs={"autocomplete": "street-address"}),
    )
    contact_name = forms.CharField(
        label=_("Your name (optional)"),
        max_length=200,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    contact_phone = forms.CharField(
        label=_("Phone number"),
        max_length=32,
        required=False,
        help_text=_("The crew may call you: a phone number, an e-mail or both."),
        widget=forms.TextInput(attrs={"autocomplete": "tel", "inputmode": "tel"}),
    )
    contact_email = forms.CharField(
        label=_("E-mail"),
        max_length=254,
        required=False,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    photo = forms.FileField(
        label=_("Photo (optional)"),
        required=False,
        help_text=_("JPEG, PNG or HEIC, at most 5 MB."),
        widget=forms.ClearableFileInput(attrs={"accept": "image/jpeg,image/png,image/heic,.heic"}),
    )


class FaultFollowForm(PortalForm):
    ticket = forms.CharField(
        label=_("Report number"),
        max_length=32,
        help_text=_("For example GU-2026-000042."),
        widget=forms.TextInput(attrs={"autocapitalize": "characters", "spellcheck": "false"}),
    )
    contact = forms.CharField(
        label=_("Phone number or e-mail given with the report"),
        max_length=254,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
