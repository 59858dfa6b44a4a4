from django.contrib import admin

from autolettura.look_only_admin import LookOnlyAdmin
from autolettura.payments.models import Payment, PaymentNotice, ReportingFlow


@admin.register(PaymentNotice)
class PaymentNoticeAdmin(LookOnlyAdmin):
    list_display = ["notice_number", "bill", "amount_cents", "due_on"]
    search_fields = ["notice_number", "iuv"]


@admin.register(ReportingFlow)
class ReportingFlowAdmin(LookOnlyAdmin):
    list_display = ["flow_id", "sender_id", "flow_at", "total_count", "imported_at"]


@admin.register(Payment)
class PaymentAdmin(LookOnlyAdmin):
    list_display = ["iuv", "iur", "amount_cents", "outcome", "flow"]
    list_filter = ["outcome"]
    search_fields = ["iuv", "iur"]
