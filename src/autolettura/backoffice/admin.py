"""The audit trail and reminders in the admin: for looking only. Nobody, not even a
superuser, can add, change or delete an entry here."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest

from autolettura.backoffice.models import AuditEntry, ReminderSent


class LookOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


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
