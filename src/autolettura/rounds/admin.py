"""Looking only: attempts are planned by `reading-plan` and recorded by the readers."""

from __future__ import annotations

from django.contrib import admin

from autolettura.look_only_admin import LookOnlyAdmin
from autolettura.rounds.models import ReadingAttempt


@admin.register(ReadingAttempt)
class ReadingAttemptAdmin(LookOnlyAdmin):
    list_display = ("supply", "planned_on", "slot", "state", "cause")
    list_filter = ("state", "slot")
    search_fields = ("supply__supply_code",)
