"""Fault reports in the admin: for looking. Changes go through the services, which keep the
lifecycle order and the audit trail (the actions below call them)."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from django.contrib import admin, messages
from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.http import HttpRequest

from autolettura import clock
from autolettura.look_only_admin import LookOnly, LookOnlyAdmin
from autolettura.service import selectors, services
from autolettura.service.models import FaultEvent, FaultReport, FaultStatus


class FaultEventInline(LookOnly, admin.TabularInline):
    model = FaultEvent
    fields = ("at", "kind", "status", "urgency", "by", "note")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ["at", "id"]


def _advance(to_status: str) -> Callable[..., None]:
    """An admin action moving the selected reports to `to_status` through the service."""

    def action(
        modeladmin: FaultReportAdmin, request: HttpRequest, queryset: QuerySet[FaultReport]
    ) -> None:
        done = 0
        for report in queryset:
            try:
                services.fault_report_advance(
                    report=report, to_status=to_status, by=cast(User, request.user), now=clock.now()
                )
                done += 1
            except services.FaultTransitionRefused as exc:
                modeladmin.message_user(request, str(exc), messages.WARNING)
        if done:
            modeladmin.message_user(request, f"{done} report(s) now {to_status}.")

    action.__name__ = f"advance_to_{to_status.lower()}"
    return admin.action(
        description=f"Move to {FaultStatus(to_status).label}", permissions=["advance"]
    )(action)


@admin.register(FaultReport)
class FaultReportAdmin(LookOnlyAdmin):
    list_display = [
        "ticket",
        "urgency",
        "status",
        "category",
        "received_at",
        "on_site_at",
        "channel",
        "address",
    ]
    list_filter = ["urgency", "status", "category", "channel"]
    search_fields = ["ticket", "address", "contact_phone", "contact_email"]
    date_hierarchy = "received_at"
    inlines = [FaultEventInline]
    actions = [
        _advance(s) for s in (FaultStatus.DISPATCHED, FaultStatus.ON_SITE, FaultStatus.RESOLVED)
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[FaultReport]:
        # The queue's order: emergencies first, then the oldest (a column sorted by a click
        # comes first).
        return FaultReport.objects.annotate(urgency_rank=selectors.URGENCY_RANK).order_by(
            "urgency_rank", "received_at"
        )

    def has_advance_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("service.change_faultreport")
