"""A reading's outcome reaches the customer through the outbox (R7)."""

from __future__ import annotations

import pytest

from autolettura.outbox.models import OutboundMessage, Route
from autolettura.readings.models import Channel
from autolettura.readings.notifications import reading_notify, reading_outcome_notify
from autolettura.readings.services import inbound_reading_submit, reading_submit
from tests.conftest import make_supply, rome

NOW = rome(2026, 12, 20, 10, 0)


def submit_by(channel: str, sender: str = "") -> object:
    supply = make_supply()
    outcome = inbound_reading_submit(
        channel=channel,
        provider_message_id=f"{channel}-1",
        payload={
            "supply_code": supply.supply_code,
            "customer_code": supply.holder.customer_code,
            "reading": "00010",
            "read_on": "20/12/2026",
        },
        sender=sender,
        now=NOW,
    )
    assert outcome.submission is not None
    return outcome.submission.reading


class TestReadingOutcomeNotify:
    def test_answers_an_email_reading_to_its_sender(self, db: None) -> None:
        reading = submit_by(Channel.EMAIL, "mario.rossi@example.org")

        [message] = reading_outcome_notify(reading=reading, now=NOW)  # type: ignore[arg-type]

        assert (message.route, message.recipient) == (Route.EMAIL, "mario.rossi@example.org")
        assert reading.receipt in message.body  # type: ignore[attr-defined]
        assert "accettata" in message.body  # Italian, the holder's language

    @pytest.mark.parametrize(
        ("channel", "expected"),
        [
            # The app answers by e-mail, like the customer area.
            (Channel.APP, {(Route.EMAIL, "anna@example.org")}),
            # The counter has no address of its own: the customer's chosen routes.
            (
                Channel.COUNTER,
                {(Route.EMAIL, "anna@example.org"), (Route.SMS, "+393470000001")},
            ),
        ],
    )
    def test_answers_an_app_or_counter_reading_by_e_mail_or_on_the_chosen_routes(
        self, db: None, channel: str, expected: set[tuple[str, str]]
    ) -> None:
        supply = make_supply()
        holder = supply.holder
        holder.email, holder.phone = "anna@example.org", "+393470000001"
        holder.notify_by_email, holder.notify_by_sms = True, True
        holder.language = "en"
        holder.save()
        reading = reading_submit(
            channel=channel,
            reading="00010",
            read_on="20/12/2026",
            supply_code=supply.supply_code,
            customer_code=holder.customer_code,
            now=NOW,
        ).reading

        messages = reading_outcome_notify(reading=reading, now=NOW)

        assert {(m.route, m.recipient) for m in messages} == expected
        assert all("accepted" in m.body for m in messages)

    def test_the_same_outcome_is_told_once(self, db: None) -> None:
        reading = submit_by(Channel.WHATSAPP, "+393471234567")

        first = reading_notify(
            reading=reading, route=Route.WHATSAPP, recipient="+393471234567", now=NOW
        )  # type: ignore[arg-type]
        again = reading_notify(
            reading=reading, route=Route.WHATSAPP, recipient="+393471234567", now=NOW
        )  # type: ignore[arg-type]

        assert first.pk == again.pk
        assert OutboundMessage.objects.count() == 1

    def test_a_void_after_the_outcome_is_told_too(self, db: None) -> None:
        reading = submit_by(Channel.EMAIL, "mario.rossi@example.org")
        [told] = reading_outcome_notify(reading=reading, now=NOW)  # type: ignore[arg-type]

        reading.voided_at = NOW  # type: ignore[attr-defined]
        [voided] = reading_outcome_notify(reading=reading, now=NOW)  # type: ignore[arg-type]

        assert voided.pk != told.pk
