"""What the customer is told about the readers' visits: the notice 2 to 5 working days before
(standard SP) with the day and the time slot, on the routes they chose, once; the invitation
to self-read after a failed visit; another visit after two failures in a row; and the
regulator's clock keeping the notice obligation."""

from __future__ import annotations

from datetime import date, datetime
from io import StringIO

import pytest
from django.core.management import call_command

from autolettura.customers.models import Customer
from autolettura.outbox.models import OutboundMessage, Route
from autolettura.readings.models import Source, Status
from autolettura.regulation.models import Obligation, ObligationKind, ObligationState
from autolettura.regulation.services import obligations_tick
from autolettura.rounds.models import AttemptState, ReadingAttempt, Slot
from autolettura.rounds.notices import rounds_notices_send
from autolettura.rounds.tasks import rounds_notices_task
from tests.billing.support import add_reading
from tests.conftest import make_supply, rome

pytestmark = pytest.mark.django_db

# Thursday 10 December 2026: Tuesday 8 December is a holiday (Immacolata), so the notice
# window runs from Wednesday 2 December (5 working days before) to Monday 7 (2 before).
VISIT = date(2026, 12, 10)


def at(day: date, hour: int = 9) -> datetime:
    return rome(day.year, day.month, day.day, hour, 20)


def customer(**fields: object) -> Customer:
    n = Customer.objects.count() + 1
    fields.setdefault("email", f"cliente{n}@example.it")
    return Customer.objects.create(customer_code=f"C{n:05d}", name=f"Maria Rossi {n}", **fields)


def attempt(supply, day: date = VISIT, slot: str = Slot.MORNING, **fields) -> ReadingAttempt:  # type: ignore[no-untyped-def]
    return ReadingAttempt.objects.create(
        supply=supply, planned_on=day, slot=slot, created_at=rome(2026, 11, 1), **fields
    )


def messages_to(recipient: str) -> list[OutboundMessage]:
    return list(OutboundMessage.objects.filter(recipient=recipient).order_by("id"))


class TestVisitNotice:
    def test_the_customer_is_told_the_day_and_slot_five_working_days_before_once(self) -> None:
        holder = customer()
        supply = make_supply(customer=holder, address="Via Dante 4, Alessandria")
        visit = attempt(supply)

        rounds_notices_send(now=at(date(2026, 12, 1)))  # 6 working days before: not yet
        assert messages_to(holder.email) == []

        report = rounds_notices_send(now=at(date(2026, 12, 2)))
        (message,) = messages_to(holder.email)
        assert report.noticed == 1
        assert message.route == Route.EMAIL
        assert "giovedì 10 dicembre 2026" in message.subject
        assert "giovedì 10 dicembre 2026, di mattina, tra le 8:00 e le 13:00" in message.body
        assert supply.supply_code in message.body and "Via Dante 4" in message.body
        assert f"/area-clienti/comunica-la-lettura/?supply={supply.supply_code}" in message.body
        visit.refresh_from_db()
        assert visit.noticed_at == at(date(2026, 12, 2))

        again = rounds_notices_send(now=at(date(2026, 12, 3)))
        assert again.noticed == 0
        assert len(messages_to(holder.email)) == 1

    def test_an_english_speaker_who_chose_sms_gets_an_sms_in_english(self) -> None:
        holder = customer(email="", phone="+393331234567", notify_by_sms=True, language="en")
        attempt(make_supply(customer=holder), slot=Slot.AFTERNOON)
        rounds_notices_send(now=at(date(2026, 12, 4)))
        (message,) = messages_to(holder.phone)
        assert message.route == Route.SMS
        assert message.language == "en"
        assert "Thursday 10 December 2026, in the afternoon, between 13:00 and 18:00" in (
            message.body
        )

    def test_no_notice_for_a_visit_already_made_or_past_nor_for_a_customer_without_address(
        self,
    ) -> None:
        made = customer()
        attempt(make_supply(customer=made), state=AttemptState.MADE)
        unreachable = make_supply(customer=customer(email=""))
        silent = attempt(unreachable)
        rounds_notices_send(now=at(date(2026, 12, 3)))
        assert OutboundMessage.objects.count() == 0
        silent.refresh_from_db()
        assert silent.noticed_at is None

    def test_a_visit_planned_at_short_notice_is_still_announced(self) -> None:
        holder = customer()
        attempt(make_supply(customer=holder))
        rounds_notices_send(now=at(date(2026, 12, 9)))  # the day before
        assert len(messages_to(holder.email)) == 1

    def test_the_command_and_the_task_say_what_they_did(self) -> None:
        holder = customer()
        attempt(make_supply(customer=holder))
        out = StringIO()
        call_command("rounds_notices", stdout=out)  # today's clock: nothing of 2026 due
        assert "visits announced:" in out.getvalue()
        assert rounds_notices_task.apply().get() == 0


class TestVisitNoticeObligation:
    def test_told_in_time_is_met_told_late_is_late_and_untold_is_late_after_its_day(
        self,
    ) -> None:
        in_time = attempt(make_supply(customer=customer()))
        late = attempt(make_supply(customer=customer()))
        untold = attempt(make_supply(customer=customer(email="")))
        of = {
            a.pk: Obligation.objects.filter(
                kind=ObligationKind.VISIT_NOTICE, subject=f"visit:{a.pk}"
            )
            for a in (in_time, late, untold)
        }

        obligations_tick(now=rome(2026, 12, 1, 5, 15))
        assert not Obligation.objects.filter(kind=ObligationKind.VISIT_NOTICE).exists()
        obligations_tick(now=rome(2026, 12, 2, 5, 15))  # the window opens: all due
        notices = Obligation.objects.filter(kind=ObligationKind.VISIT_NOTICE)
        assert {o.state for o in notices} == {ObligationState.OPEN}
        due = of[in_time.pk].get()
        assert due.standard == "2-5wd before"
        assert due.due_at == rome(2026, 12, 8, 0, 0)  # by the end of Monday 7 December

        rounds_notices_send(now=at(date(2026, 12, 2)))  # tells in_time (and late, below)
        ReadingAttempt.objects.filter(pk=late.pk).update(noticed_at=rome(2026, 12, 9, 9))
        obligations_tick(now=rome(2026, 12, 3, 5, 15))
        assert of[in_time.pk].get().state == ObligationState.MET
        assert of[late.pk].get().state == ObligationState.LATE  # told the day before
        assert of[untold.pk].get().state == ObligationState.OPEN
        obligations_tick(now=rome(2026, 12, 8, 5, 15))
        untold_one = of[untold.pk].get()
        assert untold_one.state == ObligationState.LATE
        assert "not told yet" in untold_one.evidence
        obligations_tick(now=rome(2026, 12, 8, 6, 15))
        assert Obligation.objects.filter(kind=ObligationKind.VISIT_NOTICE).count() == 3

    def test_the_back_office_lists_the_notice_due_today_in_plain_words(
        self, client, monkeypatch
    ) -> None:  # type: ignore[no-untyped-def]
        from autolettura.backoffice.roles import BILLING
        from tests.backoffice.support import BACKEND, operator

        supply = make_supply(customer=customer(email=""))
        attempt(supply)
        obligations_tick(now=rome(2026, 12, 2, 5, 15))
        client.force_login(operator(BILLING), backend=BACKEND)
        monkeypatch.setattr("autolettura.clock.now", lambda: rome(2026, 12, 7, 9, 0))
        html = client.get("/backoffice/obblighi/").content.decode()
        due_today = html.split('id="due-today"')[1].split("</table>")[0]
        assert supply.supply_code in due_today
        assert "Avvisare il cliente del passaggio del letturista da 2 a 5 giorni" in due_today
        assert "10 dicembre 2026" in due_today


class TestFailedVisit:
    def test_the_customer_is_invited_once_to_send_the_reading_from_the_portal(self) -> None:
        holder = customer()
        supply = make_supply(customer=holder)
        failed = attempt(supply, state=AttemptState.FAILED, cause="assente", noticed_at=at(VISIT))
        report = rounds_notices_send(now=at(VISIT, 15))
        (message,) = messages_to(holder.email)
        assert report.invited == 1
        assert "Non siamo riusciti a leggere il tuo contatore" in message.subject
        assert "giovedì 10 dicembre 2026" in message.body
        assert (
            f"http://127.0.0.1:8000/area-clienti/comunica-la-lettura/?supply={supply.supply_code}"
            in message.body
        )
        failed.refresh_from_db()
        assert failed.invited_at == at(VISIT, 15)
        assert rounds_notices_send(now=at(VISIT, 16)).invited == 0
        assert len(messages_to(holder.email)) == 1

    def test_a_failure_of_long_ago_is_not_invited(self) -> None:
        holder = customer()
        attempt(make_supply(customer=holder), day=date(2026, 9, 10), state="FAILED", cause="x")
        rounds_notices_send(now=at(VISIT))
        assert messages_to(holder.email) == []


class TestFollowup:
    def two_failures(self, supply) -> ReadingAttempt:  # type: ignore[no-untyped-def]
        attempt(supply, day=date(2026, 6, 10), state=AttemptState.FAILED, cause="assente")
        return attempt(supply, day=VISIT, state=AttemptState.FAILED, cause="assente")

    def test_two_failures_in_a_row_plan_one_visit_next_month_at_the_other_time(self) -> None:
        supply = make_supply(customer=customer())
        second = self.two_failures(supply)
        assert rounds_notices_send(now=at(VISIT, 15)).followups == 1
        followup = ReadingAttempt.objects.get(follows=second)
        assert followup.planned_on == date(2027, 1, 11)  # 10 January 2027 is a Sunday
        assert followup.slot == Slot.AFTERNOON
        assert followup.state == AttemptState.PLANNED
        assert rounds_notices_send(now=at(VISIT, 16)).followups == 0
        assert ReadingAttempt.objects.filter(supply=supply).count() == 3

    def test_a_reading_from_the_customer_between_the_failures_asks_for_no_other_visit(
        self,
    ) -> None:
        supply = make_supply(customer=customer())
        add_reading(supply, date(2026, 7, 1), 120, source=Source.SELF, status=Status.ACCEPTED)
        self.two_failures(supply)
        assert rounds_notices_send(now=at(VISIT, 15)).followups == 0

    def test_a_visit_made_between_the_failures_asks_for_no_other_visit(self) -> None:
        supply = make_supply(customer=customer())
        attempt(supply, day=date(2026, 6, 10), state=AttemptState.FAILED, cause="assente")
        attempt(supply, day=date(2026, 9, 10), state=AttemptState.MADE)
        attempt(supply, day=VISIT, state=AttemptState.FAILED, cause="assente")
        assert rounds_notices_send(now=at(VISIT, 15)).followups == 0

    def test_a_follow_up_that_fails_too_asks_for_no_other(self) -> None:
        supply = make_supply(customer=customer())
        second = self.two_failures(supply)
        rounds_notices_send(now=at(VISIT, 15))
        ReadingAttempt.objects.filter(follows=second).update(
            state=AttemptState.FAILED, cause="assente"
        )
        assert rounds_notices_send(now=at(date(2027, 1, 11), 15)).followups == 0
        assert ReadingAttempt.objects.filter(supply=supply).count() == 3


class TestSchedule:
    def test_celery_beat_runs_the_notices_every_hour_of_the_working_day(self) -> None:
        from django.conf import settings

        entry = settings.CELERY_BEAT_SCHEDULE["rounds-notices"]
        assert entry["task"] == rounds_notices_task.name
        assert entry["schedule"].hour == set(range(8, 21))


class TestChosenRoutes:
    @pytest.mark.parametrize(
        ("fields", "routes"),
        [
            ({}, [Route.EMAIL]),
            ({"notify_by_email": False, "notify_by_sms": True, "phone": "+393331"}, [Route.SMS]),
            # WhatsApp chosen: an SMS to the same phone (a template would be needed).
            ({"notify_by_whatsapp": True, "phone": "+393331"}, [Route.EMAIL, Route.SMS]),
            # Nothing chosen that reaches them: e-mail all the same.
            ({"notify_by_email": False}, [Route.EMAIL]),
            ({"email": "", "notify_by_sms": True}, []),
        ],
    )
    def test_the_notice_goes_on_the_routes_the_customer_chose(
        self, fields: dict[str, object], routes: list[str]
    ) -> None:
        holder = customer(**fields)
        attempt(make_supply(customer=holder))
        rounds_notices_send(now=at(date(2026, 12, 2)))
        assert [m.route for m in OutboundMessage.objects.order_by("route")] == routes
