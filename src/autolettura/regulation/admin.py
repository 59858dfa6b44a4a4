"""Looking only: obligations and compensations are made by the daily clock job."""

from __future__ import annotations

from django.contrib import admin

from autolettura.look_only_admin import LookOnlyAdmin
from autolettura.regulation.models import Compensation, Obligation


@admin.register(Obligation)
class ObligationAdmin(LookOnlyAdmin):
    list_display = ("kind", "subject", "state", "started_at", "due_at", "met_at")
    list_filter = ("kind", "state")
    search_fields = ("subject", "supply__supply_code")


@admin.register(Compensation)
class CompensationAdmin(LookOnlyAdmin):
    list_display = ("supply", "customer", "amount_eur", "times", "created_on", "bill")
    search_fields = ("supply__supply_code",)
