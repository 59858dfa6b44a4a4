"""The audit trail in the admin: for looking only. Nobody, not even a superuser, can add,
change or delete an entry here. The reminders given are their outbox messages (the outbox's
admin, keys `reminder:...`)."""

from __future__ import annotations

from django.contrib import admin

from autolettura.backoffice.models import AuditEntry
from autolettura.look_only_admin import LookOnlyAdmin


@admin.register(AuditEntry)
class AuditEntryAdmin(LookOnlyAdmin):
    list_display = ["at", "action", "reading", "by", "status_before", "status_after", "note"]
    list_filter = ["action"]
    search_fields = ["reading__receipt", "by__username"]
    date_hierarchy = "at"
