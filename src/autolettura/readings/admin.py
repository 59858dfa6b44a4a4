from django.contrib import admin
from django.db.models import Model
from django.http import HttpRequest

from autolettura.readings.models import InboundMessage, Reading


class ReadOnlyAdmin(admin.ModelAdmin):
    """Readings are changed only through services (review, void), which keep the audit trail."""

    def has_add_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return False


@admin.register(Reading)
class ReadingAdmin(ReadOnlyAdmin):
    list_display = [
        "receipt",
        "supply",
        "read_on",
        "value",
        "source",
        "channel",
        "status",
        "reason",
    ]
    list_filter = ["status", "source", "channel", "reason"]
    search_fields = ["receipt", "supply__supply_code"]
    date_hierarchy = "read_on"


@admin.register(InboundMessage)
class InboundMessageAdmin(ReadOnlyAdmin):
    list_display = ["channel", "provider_message_id", "sender", "received_at", "processed_at"]
    list_filter = ["channel"]
    search_fields = ["provider_message_id", "sender"]
