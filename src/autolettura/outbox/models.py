"""The outbox: every message to a customer is stored first and sent after.

A provider or broker outage only delays a message: it stays here, pending, until a worker
or the periodic flush sends it.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class Route(models.TextChoices):
    EMAIL = "EMAIL", "e-mail"
    SMS = "SMS", "SMS"
    WHATSAPP = "WHATSAPP", "WhatsApp"


class OutboundMessage(models.Model):
    class Status(models.TextChoices):
        PENDING = "PENDING"
        SENDING = "SENDING"
        SENT = "SENT"
        FAILED = "FAILED"  # gave up after the last attempt; an operator can retry it

    route = models.CharField(max_length=16, choices=Route.choices)
    recipient = models.CharField(max_length=254)
    subject = models.CharField(max_length=300, blank=True)
    body = models.TextField()
    language = models.CharField(max_length=8, default="it")
    # Route-specific extras: e-mail threading headers (In-Reply-To, References), and the like.
    headers = models.JSONField(default=dict, blank=True)
    # Enqueuing the same notification twice (a retried webhook) keeps one message: unique
    # by `outbox_dedupe_key_unique` below.
    dedupe_key = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    claimed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    provider_message_id = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField()
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="outbox_due")]
        constraints = [
            # One index for both uses of the key: its uniqueness, and the look-ups of a
            # reading's or a fault's messages by its prefix (`startswith`), which the
            # pattern operators serve on PostgreSQL. A plain unique key would come with a
            # second index for those, and each queued message would write both.
            models.UniqueConstraint(
                fields=["dedupe_key"],
                name="outbox_dedupe_key_unique",
                opclasses=["varchar_pattern_ops"],
            ),
            models.CheckConstraint(condition=~Q(recipient=""), name="outbox_has_recipient"),
            models.CheckConstraint(
                condition=Q(status="SENT", sent_at__isnull=False) | ~Q(status="SENT"),
                name="outbox_sent_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.route} to {self.recipient}: {self.status}"
