"""The outbox: stored first, sent after commit, retried with backoff, never lost."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

from autolettura.outbox import services
from autolettura.outbox.models import OutboundMessage, Route
from tests.conftest import rome

NOW = rome(2026, 12, 20, 10, 0)


def enqueue(key: str = "reading:1:outcome", **kwargs: object) -> OutboundMessage:
    fields: dict[str, object] = {
        "route": Route.EMAIL,
        "recipient": "mario.rossi@example.org",
        "subject": "La tua lettura",
        "body": "Lettura presa in carico.",
        "dedupe_key": key,
        "now": NOW,
        **kwargs,
    }
    return services.outbox_enqueue(**fields)  # type: ignore[arg-type]


class TestOutboxEnqueue:
    @pytest.mark.django_db(transaction=True)
    def test_sends_an_email_once_the_transaction_commits(self) -> None:
        # The worker sends at the real time, so the message is due now.
        with transaction.atomic():
            message = enqueue(now=timezone.now(), headers={"In-Reply-To": "<abc@example.org>"})
            assert mail.outbox == []

        message.refresh_from_db()
        assert message.status == OutboundMessage.Status.SENT
        [sent] = mail.outbox
        assert sent.to == ["mario.rossi@example.org"]
        assert sent.extra_headers["In-Reply-To"] == "<abc@example.org>"

    def test_the_same_key_again_is_the_same_message(self, db: None) -> None:
        first = enqueue()
        again = enqueue(body="something else")

        assert again.pk == first.pk
        assert OutboundMessage.objects.count() == 1

    @pytest.mark.django_db(transaction=True)
    def test_a_broker_outage_leaves_the_message_for_the_flush(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def broker_down(message_id: int) -> None:
            raise ConnectionError("broker unreachable")

        monkeypatch.setattr("autolettura.outbox.tasks.outbox_send_task.delay", broker_down)
        message = enqueue()
        message.refresh_from_db()
        assert message.status == OutboundMessage.Status.PENDING
        assert mail.outbox == []

        assert services.outbox_flush(now=NOW + timedelta(minutes=1)) == 1

        message.refresh_from_db()
        assert message.status == OutboundMessage.Status.SENT
        assert len(mail.outbox) == 1


class TestOutboxSend:
    def test_a_failure_is_retried_later_with_backoff(
        self, db: None, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        message = enqueue(route=Route.SMS, recipient="+393471234567")
        OutboundMessage.objects.filter(pk=message.pk).update(status="PENDING", sent_at=None)
        # SMS is not configured here, so the sender refuses: a transient failure.

        assert services.outbox_send(message_id=message.pk, now=NOW) is False

        message.refresh_from_db()
        assert message.status == OutboundMessage.Status.PENDING
        assert message.attempts == 1
        assert message.next_attempt_at == NOW + timedelta(seconds=60)
        assert "not configured" in message.last_error
        # Not due yet: nothing happens before the backoff has passed.
        assert services.outbox_send(message_id=message.pk, now=NOW + timedelta(seconds=59)) is False
        message.refresh_from_db()
        assert message.attempts == 1

    def test_gives_up_after_the_last_attempt(self, db: None, settings: object) -> None:
        settings.AUTOLETTURA_OUTBOX_MAX_ATTEMPTS = 1  # type: ignore[attr-defined]
        message = enqueue(route=Route.WHATSAPP, recipient="+393471234567")
        OutboundMessage.objects.filter(pk=message.pk).update(status="PENDING", sent_at=None)

        services.outbox_send(message_id=message.pk, now=NOW)

        message.refresh_from_db()
        assert message.status == OutboundMessage.Status.FAILED

    def test_a_message_already_sent_is_not_sent_again(self, db: None) -> None:
        message = enqueue()
        services.outbox_send(message_id=message.pk, now=NOW)
        count = len(mail.outbox)

        assert services.outbox_send(message_id=message.pk, now=NOW + timedelta(hours=1)) is False
        assert len(mail.outbox) == count
