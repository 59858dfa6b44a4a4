"""Retention: removing or anonymising what is past its time, in batches.

Each kind of data is handled in batches of AUTOLETTURA_RETENTION_BATCH rows, each batch in a
transaction of its own, so the task never holds a long lock on a busy table and a run cut
short simply leaves the rest for the next one. Files are removed only once the rows that
named them are committed (so retention_run is never called inside a transaction). Nothing an
open review (a reading UNDER_REVIEW) or a kept bill still needs is touched: see each step.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from autolettura.backoffice.models import AuditEntry
from autolettura.billing.models import Bill
from autolettura.channels.models import PhoneCall, WhatsAppConversation
from autolettura.customers.models import Supply
from autolettura.lifecycle.models import AccessEntry, AccessKind, RetentionKind, RetentionRun
from autolettura.outbox.models import OutboundMessage
from autolettura.readings.models import InboundMessage, Reading, Status
from autolettura.rules.retention import (
    Horizons,
    RetentionPolicy,
    ValidReading,
    horizons,
    readings_the_profile_needs,
)
from autolettura.rules.window import rome_today

logger = logging.getLogger(__name__)


def retention_policy() -> RetentionPolicy:
    """The policy of the settings (AUTOLETTURA_RETENTION_*)."""
    return RetentionPolicy(
        readings_years=settings.AUTOLETTURA_RETENTION_READINGS_YEARS,
        bills_years=settings.AUTOLETTURA_RETENTION_BILLS_YEARS,
        messages_days=settings.AUTOLETTURA_RETENTION_MESSAGES_DAYS,
        discarded_photos_days=settings.AUTOLETTURA_RETENTION_DISCARDED_PHOTOS_DAYS,
    )


@dataclass(frozen=True)
class RetentionReport:
    run: RetentionRun
    horizons: Horizons
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def retention_run(
    *, now: datetime, policy: RetentionPolicy | None = None, batch_size: int | None = None
) -> RetentionReport:
    """Remove or anonymise everything past its time under `policy` (default: the settings)
    at `now`, and record the counts (RetentionRun, the logs, the metrics).

    Safe to run again and to run after a crash: each step looks for what is still there.
    """
    policy = policy or retention_policy()
    size = batch_size or settings.AUTOLETTURA_RETENTION_BATCH
    limits = horizons(policy, today=rome_today(now), now=now)
    run = RetentionRun.objects.create(started_at=now, counts={})
    counts: dict[str, int] = {}
    # Bills before readings: a bill removed frees the readings it rested on.
    steps: list[tuple[RetentionKind, Callable[[Horizons, int], int]]] = [
        (RetentionKind.INBOUND_MESSAGES, _inbound_messages),
        (RetentionKind.PHONE_CALLS, _phone_calls),
        (RetentionKind.WHATSAPP_CONVERSATIONS, _whatsapp_conversations),
        (RetentionKind.OUTBOUND_MESSAGES, _outbound_messages),
        (RetentionKind.DISCARDED_PHOTOS, _discarded_photos),
        (RetentionKind.READING_PHOTOS, _reading_photos),
        (RetentionKind.BILLS, _bills),
        (RetentionKind.READINGS, _readings),
    ]
    for kind, step in steps:
        counts[kind.value] = step(limits, size)
        # Saved after each step: a run that fails later still shows what it did.
        run.counts = counts
        run.save(update_fields=["counts"])
        logger.info("retention: %s: %d", kind.label, counts[kind.value])
    run.finished_at = timezone.now()
    run.save(update_fields=["finished_at"])
    logger.info(
        "retention run %s: %d items (%s)",
        run.pk,
        sum(counts.values()),
        ", ".join(f"{kind}={n}" for kind, n in counts.items()),
    )
    return RetentionReport(run=run, horizons=limits, counts=counts)


def _batches(queryset: QuerySet[Any], size: int) -> Iterator[list[int]]:
    """The ids of `queryset` in ascending batches: each batch is read after the previous one
    was handled, from where it stopped, so rows a step leaves in place are not seen twice."""
    last = 0
    while True:
        ids = list(queryset.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:size])
        if not ids:
            return
        yield ids
        last = ids[-1]


def _open_review() -> Q:
    return Q(status=Status.UNDER_REVIEW, voided_at__isnull=True)


def _remove_files(names: list[str]) -> None:
    """Remove files whose rows were just committed without them. Called after a batch's
    transaction, never inside it: a rollback must find its files still there."""
    for name in names:
        if not name:
            continue
        try:
            default_storage.delete(name)
        except OSError:
            logger.warning("retention: could not remove the file %s", name, exc_info=True)


# --- The steps: each returns how many items it handled ------------------------------------


def _inbound_messages(limits: Horizons, size: int) -> int:
    """Raw bodies and senders (phone numbers, addresses) of inbound messages past their time,
    except those of a reading still under review, which the reviewer may need. The row stays:
    its provider message id still turns away a late repeat, and its outcome stays known."""
    candidates = (
        InboundMessage.objects.filter(received_at__lt=limits.messages_before)
        .filter(~Q(sender="") | ~Q(payload={}))
        .exclude(
            Exists(
                Reading.objects.filter(_open_review(), pk=OuterRef("reading_id"))
                | Reading.objects.filter(_open_review(), inbound_message=OuterRef("pk"))
            )
        )
    )
    done = 0
    for ids in _batches(candidates, size):
        with transaction.atomic():
            done += InboundMessage.objects.filter(pk__in=ids).update(payload={}, sender="")
    return done


def _phone_calls(limits: Horizons, size: int) -> int:
    """Callers' numbers, the keys they pressed and what was read back to them."""
    candidates = (
        PhoneCall.objects.filter(started_at__lt=limits.messages_before)
        .filter(~Q(caller="") | ~Q(gathered={}) | ~Q(last_response=""))
        .exclude(Exists(Reading.objects.filter(_open_review(), pk=OuterRef("reading_id"))))
    )
    done = 0
    for ids in _batches(candidates, size):
        with transaction.atomic():
            done += PhoneCall.objects.filter(pk__in=ids).update(
                caller="", gathered={}, last_response=""
            )
    return done


def _whatsapp_conversations(limits: Horizons, size: int) -> int:
    """Conversations silent past their time with a number nobody asked us to remember: the
    number and the draft go (a new message starts a new conversation). A number its owner
    asked us to remember stays while they are a customer."""
    candidates = WhatsAppConversation.objects.filter(
        updated_at__lt=limits.messages_before, remembered_customer__isnull=True
    )
    done = 0
    for ids in _batches(candidates, size):
        with transaction.atomic():
            photos = list(
                WhatsAppConversation.objects.filter(pk__in=ids)
                .exclude(photo="")
                .exclude(Exists(Reading.objects.filter(photo=OuterRef("photo"))))
                .values_list("photo", flat=True)
            )
            done += WhatsAppConversation.objects.filter(pk__in=ids).delete()[0]
        _remove_files(photos)
    return done


def _outbound_messages(limits: Horizons, size: int) -> int:
    """Recipients and texts of messages sent (or given up on) past their time. Pending ones
    are never touched: they are still to be sent."""
    candidates = OutboundMessage.objects.filter(
        status__in=[OutboundMessage.Status.SENT, OutboundMessage.Status.FAILED],
        created_at__lt=limits.messages_before,
    ).exclude(recipient="-", body="")
    done = 0
    for ids in _batches(candidates, size):
        with transaction.atomic():
            done += OutboundMessage.objects.filter(pk__in=ids).update(
                recipient="-", subject="", body="", headers={}
            )
    return done


def _photos_removed(candidates: QuerySet[Reading], size: int) -> int:
    done = 0
    for ids in _batches(candidates, size):
        with transaction.atomic():
            rows = Reading.objects.select_for_update().filter(pk__in=ids).exclude(photo="")
            names = list(rows.values_list("photo", flat=True))
            done += Reading.objects.filter(pk__in=ids).exclude(photo="").update(photo="")
        _remove_files(names)
    return done


def _discarded_photos(limits: Horizons, size: int) -> int:
    """Photos of readings discarded or voided past their time: no bill rests on them."""
    candidates = (
        Reading.objects.exclude(photo="")
        .filter(Q(status=Status.DISCARDED) | Q(voided_at__isnull=False))
        .filter(submitted_at__lt=limits.discarded_photos_before)
    )
    return _photos_removed(candidates, size)


def _reading_photos(limits: Horizons, size: int) -> int:
    """The evidence of readings past their time (the reading itself may stay, below)."""
    candidates = (
        Reading.objects.exclude(photo="")
        .filter(read_on__lt=limits.readings_before)
        .exclude(_open_review())
    )
    return _photos_removed(candidates, size)


def _bills(limits: Horizons, size: int) -> int:
    """Bills of the issue years past their time, but never a supply's latest bill: the next
    bill starts from its register."""
    later = Bill.objects.filter(supply=OuterRef("supply"), period_end__gt=OuterRef("period_end"))
    candidates = Bill.objects.filter(year__lt=limits.bills_year_before).filter(Exists(later))
    done = 0
    for ids in _batches(candidates, size):
        with transaction.atomic():
            Bill.objects.filter(pk__in=ids).delete()
            done += len(ids)
    return done


def _readings(limits: Horizons, size: int) -> int:
    """Readings past their time that nothing still needs. Kept, whatever their age: a
    reading under review; one an operator acted on (its audit trail is kept); one a phone
    call made; one inside the period of a bill still kept; and the valid readings the
    supply's profile and next bill rest on (readings_the_profile_needs)."""
    candidates = (
        Reading.objects.filter(read_on__lt=limits.readings_before)
        .exclude(_open_review())
        .exclude(Exists(AuditEntry.objects.filter(reading=OuterRef("pk"))))
        .exclude(Exists(PhoneCall.objects.filter(reading=OuterRef("pk"))))
        .exclude(
            Exists(
                Bill.objects.filter(
                    supply=OuterRef("supply"),
                    previous_register_on__lte=OuterRef("read_on"),
                    period_end__gte=OuterRef("read_on"),
                )
            )
        )
    )
    done = 0
    for ids in _batches(candidates, size):
        removable = _not_needed_by_profile(ids)
        if not removable:
            continue
        with transaction.atomic():
            rows = Reading.objects.filter(pk__in=removable)
            messages = [m for m in rows.values_list("inbound_message_id", flat=True) if m]
            photos = list(rows.exclude(photo="").values_list("photo", flat=True))
            # The inbound message and its reading point at each other: let go of one side.
            InboundMessage.objects.filter(reading_id__in=removable).update(reading=None)
            rows.delete()
            done += len(removable)
            InboundMessage.objects.filter(pk__in=messages).exclude(
                Exists(Reading.objects.filter(inbound_message=OuterRef("pk")))
            ).delete()
        _remove_files(photos)
    return done


def _not_needed_by_profile(ids: list[int]) -> list[int]:
    """`ids` less the valid readings their supplies' profiles still rest on."""
    valid = Q(status=Status.ACCEPTED, voided_at__isnull=True)
    supplies = set(Reading.objects.filter(valid, pk__in=ids).values_list("supply_id", flat=True))
    needed: set[int] = set()
    if supplies:
        by_supply: dict[int, list[ValidReading]] = {}
        rows = Reading.objects.filter(valid, supply_id__in=supplies).values_list(
            "id", "supply_id", "meter_id", "read_on"
        )
        for pk, supply_id, meter_id, read_on in rows:
            by_supply.setdefault(supply_id, []).append(ValidReading(pk, meter_id, read_on))
        for readings in by_supply.values():
            needed |= readings_the_profile_needs(
                readings, cma_min_days=settings.AUTOLETTURA_CMA_MIN_DAYS
            )
    return [pk for pk in ids if pk not in needed]


# --- Operators' access to customers' data -------------------------------------------------


def access_record(
    *, by: User, kind: AccessKind, supply: Supply, now: datetime, item: str = ""
) -> AccessEntry:
    """Record that operator `by` looked at `supply`'s data (its page, a bill, a photo) at
    `now`: one entry, under the supply's holder of the moment."""
    entry = AccessEntry.objects.create(
        at=now, by=by, kind=kind, customer_id=supply.holder_id, supply=supply, item=item
    )
    logger.info(
        "access: %s %s supply=%s %s by user=%s",
        kind.value,
        item,
        supply.supply_code,
        supply.holder_id,
        by.pk,
    )
    return entry


def access_permission_sync(**kwargs: Any) -> None:
    """After every migrate: the administrator role may list who looked at a customer's data
    (lifecycle.view_accessentry). Runs after the back office's own roles sync, which sets
    each role's back-office permissions and nothing else."""
    from django.contrib.auth.management import create_permissions
    from django.contrib.auth.models import Group, Permission

    from autolettura.backoffice.roles import ADMINISTRATOR

    create_permissions(kwargs["app_config"], verbosity=0, using=kwargs.get("using", "default"))
    permission = Permission.objects.filter(
        content_type__app_label="lifecycle", codename="view_accessentry"
    ).first()
    if permission is None:
        return
    group, _created = Group.objects.get_or_create(name=ADMINISTRATOR)
    group.permissions.add(permission)
