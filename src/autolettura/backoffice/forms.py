"""The back office's forms. They only collect input: the services decide."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

from autolettura.readings.messages import reason_label
from autolettura.readings.models import Channel
from autolettura.rules.outcomes import REVIEW_DISCARD_REASONS, Reason
from autolettura.service.models import FaultStatus


class OperatorLoginForm(AuthenticationForm):
    """Django's sign-in, for operators only: a customer's account is refused here."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "not_operator": _("This account is not an operator's: customers sign in to their area."),
    }

    def confirm_login_allowed(self, user: Any) -> None:
        super().confirm_login_allowed(user)
        if not user.is_staff:
            raise forms.ValidationError(self.error_messages["not_operator"], code="not_operator")


class SearchForm(forms.Form):
    q = forms.CharField(
        label=_("Code, name, address or meter serial"), max_length=100, required=False
    )


class CounterReadingForm(forms.Form):
    """A paper form handed in at the counter or a reading given on a call: both codes,
    the reading and its date, as the customer wrote or said them."""

    channel = forms.ChoiceField(
        label=_("How it arrived"),
        choices=[
            (Channel.COUNTER.value, _("paper form at the counter")),
            (Channel.CALL_CENTRE.value, _("phone call to the call centre")),
        ],
        widget=forms.RadioSelect,
        initial=Channel.COUNTER.value,
    )
    supply_code = forms.CharField(label=_("Supply code"), max_length=40)
    customer_code = forms.CharField(label=_("Customer code"), max_length=40)
    reading = forms.CharField(label=_("Reading (m³, black digits)"), max_length=20)
    read_on = forms.CharField(label=_("Reading date (dd/mm/yyyy)"), max_length=20)


class ReviewForm(forms.Form):
    """Accept, or discard with the reason the customer is told (in the words of
    readings.messages); the note stays in the audit trail."""

    decision = forms.ChoiceField(
        choices=[("accept", _("Accept")), ("discard", _("Discard"))], widget=forms.HiddenInput
    )
    reason = forms.ChoiceField(
        label=_("Why it is discarded (the customer is told)"),
        choices=[],
        required=False,
        widget=forms.Select(attrs={"class": "form-select"}),
    )
    note = forms.CharField(
        label=_("Note for the audit trail (not sent to the customer)"),
        max_length=1000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        reason_field = self.fields["reason"]
        assert isinstance(reason_field, forms.ChoiceField)
        reason_field.choices = [("", _("Choose the reason"))] + [
            (reason.value, reason_label(reason.value)) for reason in REVIEW_DISCARD_REASONS
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("decision") != "discard":
            return data
        reason = data.get("reason")
        if not reason:
            self.add_error("reason", _("Choose why the reading is discarded."))
        elif reason == Reason.OPERATOR_DISCARDED and not (data.get("note") or "").strip():
            self.add_error("note", _("Say why the reading is discarded."))
        return data


class VoidForm(forms.Form):
    reason = forms.CharField(
        label=_("Why the reading is voided"),
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def clean_reason(self) -> str:
        reason: str = self.cleaned_data["reason"].strip()
        if not reason:
            raise forms.ValidationError(_("Say why the reading is voided."))
        return reason


class FaultAdvanceForm(forms.Form):
    to_status = forms.ChoiceField(choices=FaultStatus.choices, widget=forms.HiddenInput)
    note = forms.CharField(max_length=1000, required=False)
    confirm = forms.BooleanField(
        label=_("I confirm that the fault is resolved: the reporter will be told."),
        required=False,
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        # Resolving closes the report and tells the reporter: never by a stray click.
        if data.get("to_status") == FaultStatus.RESOLVED and not data.get("confirm"):
            self.add_error("confirm", _("Tick the box to confirm that the fault is resolved."))
        return data


class FaultFilterForm(forms.Form):
    state = forms.ChoiceField(
        label=_("Show"),
        choices=[
            ("open", _("open reports")),
            ("resolved", _("resolved reports")),
            ("all", _("all reports")),
        ],
        required=False,
    )
    q = forms.CharField(
        label=_("Ticket, address, description or reporter"), max_length=100, required=False
    )
