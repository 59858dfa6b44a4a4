from django.contrib import admin

from autolettura.look_only_admin import LookOnlyAdmin
from autolettura.readings.models import InboundMessage, Reading


@admin.register(Reading)
class ReadingAdmin(LookOnlyAdmin):
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
class InboundMessageAdmin(LookOnlyAdmin):
    list_display = ["channel", "provider_message_id", "sender", "received_at", "processed_at"]
    list_filter = ["channel"]
    search_fields = ["provider_message_id", "sender"]
