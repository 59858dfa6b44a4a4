from django.contrib import admin

from autolettura.outbox.models import OutboundMessage


@admin.register(OutboundMessage)
class OutboundMessageAdmin(admin.ModelAdmin):
    list_display = ["created_at", "route", "recipient", "status", "attempts", "sent_at"]
    list_filter = ["route", "status"]
    search_fields = ["recipient", "dedupe_key", "provider_message_id"]
    readonly_fields = [f.name for f in OutboundMessage._meta.fields]
