"""Writes about outbound messages: enqueue in the caller's transaction, send after commit."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q

from autolettura.outbox import senders
from autolettura.outbox.models import OutboundMessage, Route

if TYPE_CHECKING:
    from autolettura.customers.models import Customer

logger = logging.getLogger(__name__)

# A message being sent by a worker that died is taken again after this long.
SENDING_LEASE = timedelta(minutes=5)


def outbox_enqueue(
    *,
    route: str,
    recipient: str,
    body: str,
    dedupe_key: str,
    now: datetime,
    subject: str = "",
    language: str = "it",
    headers: dict[str, Any] | None = None,
) -> OutboundMessage:
    """Store a message to send; the same `dedupe_key` again returns the first message.

    Call it inside the transaction that decided the message, so the two commit together.
    A worker is asked to send it once that transaction commits; if the broker is down, the
    periodic flush (`autolettura outbox-flush`) sends it later.
    """
    existing = OutboundMessage.objects.filter(dedupe_key=dedupe_key).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            message = OutboundMessage.objects.create(
                route=route,
                recipient=recipient,
                subject=subject,
                body=body,
                language=language,
                headers=headers or {},
                dedupe_key=dedupe_key,
                next_attempt_at=now,
                created_at=now,
            )
    except IntegrityError:  # enqueued meanwhile by a concurrent retry
        return OutboundMessage.objects.get(dedupe_key=dedupe_key)
    transaction.on_commit(lambda: _dispatch(message.pk))
    return message


# How news reaches a WhatsApp customer, given their phone: (route, recipient, headers).
WhatsAppRoute = Callable[[str], tuple[str, str, dict[str, Any] | None]]


def customer_routes(
    customer: Customer, *, whatsapp: WhatsAppRoute | None = None
) -> list[tuple[str, str, dict[str, Any] | None]]:
    """The (route, recipient, headers) a customer chose to be told on: e-mail and SMS as they
    opted in; WhatsApp through `whatsapp` where the news has a way to go there (a message the
    business starts needs an approved template outside the customer's 24 hours), otherwise
    by SMS to the same phone; e-mail when they chose nothing they can be reached on. Each
    route and recipient once; empty when there is no address at all."""
    routes: list[tuple[str, str, dict[str, Any] | None]] = []
    if customer.notify_by_email and customer.email:
        routes.append((Route.EMAIL.value, customer.email, None))
    if customer.phone:
        if customer.notify_by_sms or (customer.notify_by_whatsapp and whatsapp is None):
            routes.append((Route.SMS.value, customer.phone, None))
        if customer.notify_by_whatsapp and whatsapp is not None:
            routes.append(whatsapp(customer.phone))
    if not routes and customer.email:
        routes.append((Route.EMAIL.value, customer.email, None))
    unique: dict[tuple[str, str], dict[str, Any] | None] = {}
    for route, recipient, headers in routes:
        unique.setdefault((route, recipient), headers)  # WhatsApp's fallback to a route chosen
    return [(route, recipient, headers) for (route, recipient), headers in unique.items()]


def customer_notify(
    *,
    customer: Customer,
    subject: str,
    body: str,
    dedupe_key: str,
    now: datetime,
    whatsapp: WhatsAppRoute | None = None,
) -> list[OutboundMessage]:
    """Queue news the utility starts (a leak, a reader's visit, ...) on the customer's chosen
    routes (`customer_routes`), once per `dedupe_key`, route and recipient. The caller writes
    `subject` and `body` in the customer's language."""
    return [
        outbox_enqueue(
            route=route,
            recipient=recipient,
            subject=subject,
            body=body,
            language=customer.language,
            headers=headers,
            dedupe_key=f"{dedupe_key}:{route}:{recipient}",
            now=now,
        )
        for route, recipient, headers in customer_routes(customer, whatsapp=whatsapp)
    ]


def _dispatch(message_id: int) -> None:
    from autolettura.outbox.tasks import outbox_send_task

    try:
        outbox_send_task.delay(message_id)
    except Exception:  # the broker is down: the message waits for the periodic flush
        logger.warning("broker unavailable, outbound message %s left for the flush", message_id)


def outbox_send(*, message_id: int, now: datetime) -> bool:
    """Send one message if it is due and no one else is sending it. Returns whether it was
    sent now. A failure is recorded and retried later with exponential backoff."""
    claimed = OutboundMessage.objects.filter(
        Q(status=OutboundMessage.Status.PENDING, next_attempt_at__lte=now)
        | Q(status=OutboundMessage.Status.SENDING, claimed_at__lt=now - SENDING_LEASE),
        pk=message_id,
    ).update(status=OutboundMessage.Status.SENDING, claimed_at=now)
    if not claimed:
        return False
    message = OutboundMessage.objects.get(pk=message_id)
    try:
        provider_id = senders.SENDERS[message.route](message)
    except senders.SendFailed as exc:
        attempts = message.attempts + 1
        give_up = exc.permanent or attempts >= settings.AUTOLETTURA_OUTBOX_MAX_ATTEMPTS
        OutboundMessage.objects.filter(pk=message_id).update(
            status=OutboundMessage.Status.FAILED if give_up else OutboundMessage.Status.PENDING,
            attempts=attempts,
            last_error=str(exc)[:2000],
            next_attempt_at=now + timedelta(seconds=30 * 2 ** min(attempts, 10)),
        )
        logger.warning("outbound message %s not sent (attempt %s): %s", message_id, attempts, exc)
        return False
    OutboundMessage.objects.filter(pk=message_id).update(
        status=OutboundMessage.Status.SENT,
        attempts=message.attempts + 1,
        sent_at=now,
        provider_message_id=provider_id[:200],
        last_error="",
    )
    return True


def outbox_flush(*, now: datetime, limit: int = 1000) -> int:
    """Send every due message (those a worker never got, or whose retry time has come)."""
    due = OutboundMessage.objects.filter(
        Q(status=OutboundMessage.Status.PENDING, next_attempt_at__lte=now)
        | Q(status=OutboundMessage.Status.SENDING, claimed_at__lt=now - SENDING_LEASE)
    ).order_by("next_attempt_at")
    sent = 0
    for message_id in due.values_list("id", flat=True)[:limit]:
        sent += outbox_send(message_id=message_id, now=now)
    return sent
