"""An admin for looking only: records that change only through services (readings, the
inbound log, the audit trail), whose rules and audit trail must always apply."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest


class LookOnly:
    """Refuses adding, changing and deleting; for admins and inlines alike."""

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


class LookOnlyAdmin(LookOnly, admin.ModelAdmin):
    pass
