from django.contrib import admin

from autolettura.look_only_admin import LookOnlyAdmin
from autolettura.outbox.models import OutboundMessage


@admin.register(OutboundMessage)
class OutboundMessageAdmin(LookOnlyAdmin):
    """Messages are written by the services and sent by the outbox, never by hand."""

    list_display = ["created_at", "route", "recipient", "status", "attempts", "sent_at"]
    list_filter = ["route", "status"]
    search_fields = ["recipient", "dedupe_key", "provider_message_id"]
