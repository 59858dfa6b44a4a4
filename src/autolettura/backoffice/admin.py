"""The audit trail and reminders in the admin: for looking only. Nobody, not even a
superuser, can add, change or delete an entry here."""

from __future__ import annotations

from django.contrib import admin

from autolettura.backoffice.models import AuditEntry, ReminderSent
from autolettura.look_only_admin import LookOnlyAdmin


@admin.register(AuditEntry)
class AuditEntryAdmin(LookOnlyAdmin):
    list_display = ["at", "action", "reading", "by", "status_before", "status_after", "note"]
    list_filter = ["action"]
    search_fields = ["reading__receipt", "by__username"]
    date_hierarchy = "at"


@admin.register(ReminderSent)
class ReminderSentAdmin(LookOnlyAdmin):
    list_display = ["supply", "window_start", "kind", "route", "recipient", "created_at"]
    list_filter = ["kind", "route", "window_start"]
