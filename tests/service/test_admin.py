"""The admin shows the queue and moves reports only through the service."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from autolettura.service.models import FaultReport, FaultStatus
from tests.service.conftest import APRIL_15, report_fault

pytestmark = pytest.mark.django_db


def staff(*permissions: str) -> Client:
    user = User.objects.create_user(username="staff", password="x", is_staff=True)
    for codename in permissions:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    client = Client()
    client.force_login(user)
    return client


class TestFaultReportAdmin:
    def test_lists_emergencies_first(self) -> None:
        leak = report_fault(category="LEAK", now=APRIL_15)
        normal = report_fault(category="LOW_PRESSURE", now=APRIL_15 + timedelta(minutes=1))
        later_leak = report_fault(category="NO_WATER", now=APRIL_15 + timedelta(minutes=2))
        client = staff("view_faultreport")

        response = client.get("/admin/service/faultreport/")

        assert response.status_code == 200
        page = response.content.decode()
        assert page.index(leak.ticket) < page.index(later_leak.ticket) < page.index(normal.ticket)

    def test_shows_a_report_with_its_events_read_only(self) -> None:
        report = report_fault()
        client = staff("view_faultreport")

        response = client.get(f"/admin/service/faultreport/{report.pk}/change/")

        assert response.status_code == 200
        assert report.ticket in response.content.decode()
        assert "_save" not in response.content.decode()

    def test_an_operator_with_the_permission_dispatches_through_the_service(self) -> None:
        report = report_fault()
        client = staff("view_faultreport", "change_faultreport")

        client.post(
            "/admin/service/faultreport/",
            {"action": "advance_to_dispatched", "_selected_action": [report.pk]},
        )

        report.refresh_from_db()
        assert report.status == FaultStatus.DISPATCHED
        assert report.events.get(status="DISPATCHED").by.username == "staff"  # type: ignore[union-attr]

    def test_an_operator_who_may_only_look_cannot_dispatch(self) -> None:
        report = report_fault()
        client = staff("view_faultreport")

        client.post(
            "/admin/service/faultreport/",
            {"action": "advance_to_dispatched", "_selected_action": [report.pk]},
        )

        assert FaultReport.objects.get().status == FaultStatus.RECEIVED
