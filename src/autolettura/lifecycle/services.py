"""Retention: removing or anonymising what is past its time, in batches.

Each kind of data is handled in batches of AUTOLETTURA_RETENTION_BATCH rows, each batch in a
transaction of its own, so the task never holds a long lock on a busy table and a run cut
short simply leaves the rest for the next one. Files are removed only once the rows that
named them are committed (so retention_run is never called inside a transaction). Nothing an
open review (a reading UNDER_REVIEW) or a kept bill still needs is touched: see each step.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import secrets
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from autolettura.backoffice.models import AuditEntry
from autolettura.billing.models import Bill
from autolettura.channels.models import PhoneCall, WhatsAppConversation, WhatsAppPhotoProposal
from autolettura.customers.models import Customer, Supply
from autolettura.lifecycle.models import (
    AccessEntry,
    AccessKind,
    DataExport,
    ErasureRequest,
    RetentionKind,
    RetentionRun,
)
from autolettura.outbox.models import OutboundMessage, Route
from autolettura.outbox.services import outbox_enqueue
from autolettura.readings.models import InboundMessage, Reading, Status
from autolettura.rules.retention import (
    Horizons,
    RetentionPolicy,
    ValidReading,
    horizons,
    readings_the_profile_needs,
)
from autolettura.rules.rights import answer_due_on
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
        (RetentionKind.PENDING_PHOTOS, lambda _limits, _size: _pending_photos(now)),
        (RetentionKind.BILLS, _bills),
        (RetentionKind.READINGS, _readings),
        (RetentionKind.DATA_EXPORTS, lambda _limits, size: data_exports_expire(now=now)),
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
        .exclude(Exists(Reading.objects.filter(_open_review(), pk=OuterRef("reading_id"))))
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
    number and the draft go (a new message starts a new conversation), with the readings
    proposed from its photos. A number its owner asked us to remember stays while they are
    a customer; its proposals past their time go."""
    candidates = WhatsAppConversation.objects.filter(
        updated_at__lt=limits.messages_before, remembered_customer__isnull=True
    )
    done = 0
    for ids in _batches(candidates, size):
        with transaction.atomic():
            photos = _conversation_photos(WhatsAppConversation.objects.filter(pk__in=ids))
            # Counted as conversations: their proposals go with them.
            done += _conversations_delete(WhatsAppConversation.objects.filter(pk__in=ids))
        _remove_files(photos)
    old_proposals = WhatsAppPhotoProposal.objects.filter(created_at__lt=limits.messages_before)
    for ids in _batches(old_proposals, size):
        with transaction.atomic():
            proposals = WhatsAppPhotoProposal.objects.filter(pk__in=ids)
            photos = list(
                proposals.exclude(
                    Exists(WhatsAppConversation.objects.filter(photo=OuterRef("photo")))
                ).values_list("photo", flat=True)
            )
            proposals.delete()
        _remove_files(sorted(set(photos)))
    return done


def _conversations_delete(conversations: QuerySet[WhatsAppConversation]) -> int:
    return conversations.delete()[1].get(WhatsAppConversation._meta.label, 0)


def _conversation_photos(conversations: QuerySet[WhatsAppConversation]) -> list[str]:
    """The files of these conversations' draft photos and of the photos their proposals
    were read from, but those a reading keeps."""
    kept = Exists(Reading.objects.filter(photo=OuterRef("photo")))
    drafts = conversations.exclude(photo="").exclude(kept).values_list("photo", flat=True)
    proposed = (
        WhatsAppPhotoProposal.objects.filter(conversation__in=conversations)
        .exclude(kept)
        .values_list("photo", flat=True)
    )
    return sorted({*drafts, *proposed})


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


def _pending_photos(now: datetime) -> int:
    """Photos "Comunica la lettura" read and kept for the customer to confirm, never sent
    with a reading: gone once no session can still send them (AUTOLETTURA_SESSION_HOURS)."""
    from autolettura.portal.services import PENDING_FOLDER

    try:
        _dirs, names = default_storage.listdir(PENDING_FOLDER)
    except FileNotFoundError:
        return 0
    before = now - timedelta(seconds=settings.SESSION_COOKIE_AGE)
    stale = [
        f"{PENDING_FOLDER}/{name}"
        for name in names
        if default_storage.get_modified_time(f"{PENDING_FOLDER}/{name}") < before
    ]
    _remove_files(stale)
    return len(stale)


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
            photos = list(rows.exclude(photo="").values_list("photo", flat=True))
            # The messages that made these readings go with them; those that only repeated
            # one stay, without it: their provider message id still turns away a late repeat.
            answered = InboundMessage.objects.filter(reading_id__in=removable)
            answered.filter(made_reading=True).delete()
            answered.update(reading=None)
            rows.delete()
            done += len(removable)
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
    (lifecycle.view_accessentry) and close accounts on request
    (lifecycle.handle_erasurerequest). Runs after the back office's own roles sync, which sets
    each role's back-office permissions and nothing else."""
    from django.contrib.auth.management import create_permissions
    from django.contrib.auth.models import Group, Permission

    from autolettura.backoffice.roles import ADMINISTRATOR

    create_permissions(kwargs["app_config"], verbosity=0, using=kwargs.get("using", "default"))
    permissions = Permission.objects.filter(
        content_type__app_label="lifecycle",
        codename__in=["view_accessentry", "handle_erasurerequest"],
    )
    if not permissions:
        return
    group, _created = Group.objects.get_or_create(name=ADMINISTRATOR)
    group.permissions.add(*permissions)


# --- The customer's rights (GDPR articles 15 to 20) ---------------------------------------

README_TEMPLATE = "lifecycle/export_readme.txt"


class RightsRefused(Exception):
    """A data export or erasure request that cannot be taken: `code` says why
    (`password_wrong`, `export_pending`, `no_customer`, `already_done`)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def _rights_mail(
    *, user: User, to: str, template: str, context: dict[str, Any], key: str, now: datetime
) -> None:
    """One e-mail through the outbox (sent after commit, retried), in the customer's
    language, from lifecycle/email/<template>_subject.txt and _body.txt."""
    from autolettura.portal.selectors import account_language

    language = account_language(user) or settings.LANGUAGE_CODE
    with translation.override(language):
        context = {
            "utility_name": settings.AUTOLETTURA_UTILITY_NAME,
            "rights_url": settings.AUTOLETTURA_PUBLIC_BASE_URL + reverse("rights:page"),
            **context,
        }
        subject = render_to_string(f"lifecycle/email/{template}_subject.txt", context)
        body = render_to_string(f"lifecycle/email/{template}_body.txt", context)
    outbox_enqueue(
        route=Route.EMAIL,
        recipient=to,
        subject=" ".join(subject.split()),
        body=body,
        dedupe_key=key,
        language=language,
        now=now,
    )


def data_export_request(*, user: User, now: datetime) -> DataExport:
    """Ask for the account's data (GDPR art. 15 and 20): an export row, prepared by
    `data_export_prepare` in a background task once this commits. While one is being
    prepared, that one is returned. Raises RightsRefused `no_customer` for an account that
    acts for no customer."""
    from autolettura.lifecycle.tasks import data_export_prepare_task
    from autolettura.portal.selectors import account_customers

    if not account_customers(user).exists():
        raise RightsRefused("no_customer")
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).first()
        pending = DataExport.objects.filter(user=user, status=DataExport.Status.PENDING).first()
        if pending is not None:
            return pending
        export = DataExport.objects.create(
            user=user, token=secrets.token_urlsafe(24), requested_at=now
        )
        # Robust: without a broker the task runs here, and a failure (recorded on the
        # export, which the page then shows) must not turn the customer's request into an
        # error page.
        transaction.on_commit(lambda: data_export_prepare_task.delay(export.pk), robust=True)
    logger.info("data export %s asked for by account %s", export.pk, user.pk)
    return export


def _export_dir() -> Path:
    path = Path(settings.AUTOLETTURA_EXPORT_DIR)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def _csv_text(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\r\n")
        writer.writeheader()
        writer.writerows(rows)
    # A byte-order mark: spreadsheets then read the accents right.
    return "\ufeff" + out.getvalue()


def data_export_prepare(*, export_id: int, now: datetime) -> DataExport:
    """Write the export's zip (data.json, a CSV per table, the bills' PDFs, the meter
    photos, a README in the customer's language) under AUTOLETTURA_EXPORT_DIR, offer it for
    AUTOLETTURA_EXPORT_DAYS days, remove the account's earlier ones and e-mail the customer
    that it is ready. An export already prepared is left as it is."""
    from autolettura.billing.pdf import bill_pdf
    from autolettura.lifecycle.selectors import account_data
    from autolettura.portal.selectors import account_language

    export = DataExport.objects.select_related("user").get(pk=export_id)
    if export.status != DataExport.Status.PENDING:
        return export
    user = export.user
    data = account_data(user)
    folder = _export_dir()
    name = f"{export.token}.zip"
    partial = folder / f"{name}.partial"
    language = account_language(user) or settings.LANGUAGE_CODE
    try:
        with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            with translation.override(language):
                readme = render_to_string(
                    README_TEMPLATE,
                    {
                        "utility_name": settings.AUTOLETTURA_UTILITY_NAME,
                        "now": now,
                        "tables": list(data.tables),
                    },
                )
            archive.writestr("README.txt", readme)
            archive.writestr(
                "data.json", json.dumps(data.tables, ensure_ascii=False, indent=2) + "\n"
            )
            for table, rows in data.tables.items():
                archive.writestr(f"csv/{table}.csv", _csv_text(rows))
            for pdf_name, bill in data.bills:
                archive.writestr(pdf_name, bill_pdf(bill))
            for zip_name, stored in data.photos:
                try:
                    with default_storage.open(stored, "rb") as photo:
                        archive.writestr(zip_name, photo.read())
                except OSError:
                    logger.warning("data export %s: photo %s is missing", export.pk, stored)
        os.chmod(partial, 0o600)
        os.replace(partial, folder / name)
    except Exception:
        partial.unlink(missing_ok=True)
        DataExport.objects.filter(pk=export.pk).update(status=DataExport.Status.FAILED)
        logger.exception("data export %s could not be prepared", export.pk)
        raise
    earlier = list(
        DataExport.objects.filter(user=user, status=DataExport.Status.READY).exclude(pk=export.pk)
    )
    with transaction.atomic():
        export.status = DataExport.Status.READY
        export.ready_at = now
        export.expires_at = now + timedelta(days=settings.AUTOLETTURA_EXPORT_DAYS)
        export.file_name = name
        export.size_bytes = (folder / name).stat().st_size
        export.save()
        for old in earlier:
            _export_expire(old)
        if user.email:
            _rights_mail(
                user=user,
                to=user.email,
                template="export_ready",
                context={"expires_at": export.expires_at},
                key=f"data-export-ready-{export.pk}",
                now=now,
            )
    logger.info("data export %s ready: %d bytes", export.pk, export.size_bytes)
    return export


def _export_expire(export: DataExport) -> None:
    """Remove an export's file and mark it gone (the row stays: it was given)."""
    if export.file_name:
        (Path(settings.AUTOLETTURA_EXPORT_DIR) / export.file_name).unlink(missing_ok=True)
    DataExport.objects.filter(pk=export.pk).update(
        status=DataExport.Status.EXPIRED, file_name="", expires_at=None
    )


def data_exports_expire(*, now: datetime) -> int:
    """Remove the exports past their time (a step of the retention run), and any file in
    AUTOLETTURA_EXPORT_DIR that no export offers any more and is older than their time (a
    task killed while writing, an account removed in the admin). Returns how many."""
    done = 0
    for export in DataExport.objects.filter(status=DataExport.Status.READY, expires_at__lte=now):
        _export_expire(export)
        done += 1
    folder = Path(settings.AUTOLETTURA_EXPORT_DIR)
    if folder.is_dir():
        offered = set(
            DataExport.objects.filter(status=DataExport.Status.READY).values_list(
                "file_name", flat=True
            )
        )
        oldest = (now - timedelta(days=settings.AUTOLETTURA_EXPORT_DAYS)).timestamp()
        for path in folder.iterdir():
            if path.is_file() and path.name not in offered and path.stat().st_mtime < oldest:
                path.unlink(missing_ok=True)
                done += 1
    return done


def erasure_request_create(*, user: User, password: str, now: datetime) -> ErasureRequest:
    """The customer asks to close their online account and erase what the law does not keep
    (GDPR art. 17), confirming with their password. The answer is due within a month
    (art. 12(3)); the customer gets an acknowledgement by e-mail. Asking again while a
    request waits returns it. Raises RightsRefused `password_wrong` or `no_customer`."""
    from autolettura.portal.selectors import account_customers

    if not user.check_password(password):
        raise RightsRefused("password_wrong")
    codes = list(account_customers(user).values_list("customer_code", flat=True))
    if not codes:
        raise RightsRefused("no_customer")
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=user.pk).first()
        waiting = ErasureRequest.objects.filter(
            user=user, status=ErasureRequest.Status.PENDING
        ).first()
        if waiting is not None:
            return waiting
        request = ErasureRequest.objects.create(
            user=user,
            customer_codes=", ".join(codes),
            requested_at=now,
            due_on=answer_due_on(rome_today(now)),
        )
        if user.email:
            _rights_mail(
                user=user,
                to=user.email,
                template="erasure_received",
                context={"due_on": request.due_on},
                key=f"erasure-received-{request.pk}",
                now=now,
            )
    logger.info("erasure asked for by account %s (request %s)", user.pk, request.pk)
    return request


def erasure_carry_out(*, request_id: int, by: User, now: datetime) -> ErasureRequest:
    """Close the account of an erasure request and erase what the law does not keep, in
    one transaction, then tell the customer by e-mail.

    Kept: the customers (name, codes, address: the contract and its bills), the readings
    and their photos (AUTOLETTURA_RETENTION_READINGS_YEARS), the bills
    (AUTOLETTURA_RETENTION_BILLS_YEARS), the operators' audit trail and access record.
    Erased: the account's sign-in data (deactivated, its name and address removed, no
    password), its API tokens, data exports and added customers, the customers' contacts
    and preferences, the raw messages they sent and the texts sent to them (but those of a
    reading still under review), the WhatsApp numbers remembered for them, the recipients
    and texts of their supplies' reminders, and the sign-in attempts under their name. The
    request keeps who did it, when, and the counts. Raises RightsRefused `already_done`."""
    from autolettura.accounts.models import ApiToken
    from autolettura.backoffice.models import reminder_key_prefix
    from autolettura.lifecycle.selectors import messages_sent
    from autolettura.portal.models import LinkedCustomer
    from autolettura.portal.selectors import account_customers

    photos: list[str] = []
    files: list[str] = []
    with transaction.atomic():
        request = (
            ErasureRequest.objects.select_for_update().select_related("user").get(pk=request_id)
        )
        if request.status != ErasureRequest.Status.PENDING:
            raise RightsRefused("already_done")
        user = request.user
        customers = list(account_customers(user))
        address = user.email
        username = user.get_username()
        contacts = {user.email} | {c.email for c in customers} | {c.phone for c in customers}
        contacts.discard("")
        supplies = Supply.objects.filter(holder__in=customers)
        readings = Reading.objects.filter(supply__in=supplies)
        open_review = Reading.objects.filter(_open_review(), supply__in=supplies)
        counts: dict[str, int] = {}

        messages = (
            InboundMessage.objects.filter(Q(reading__in=readings) | Q(sender__in=contacts))
            .exclude(reading__in=open_review)
            .filter(~Q(sender="") | ~Q(payload={}))
        )
        counts["inbound_messages"] = InboundMessage.objects.filter(
            pk__in=list(messages.values_list("pk", flat=True))
        ).update(payload={}, sender="")
        counts["phone_calls"] = (
            PhoneCall.objects.filter(Q(reading__in=readings) | Q(caller__in=contacts))
            .exclude(reading__in=open_review)
            .update(caller="", gathered={}, last_response="")
        )
        sent = messages_sent(user, customers, list(readings)).filter(
            status__in=[OutboundMessage.Status.SENT, OutboundMessage.Status.FAILED]
        )
        counts["outbound_messages"] = sent.exclude(recipient="-", body="").update(
            recipient="-", subject="", body="", headers={}
        )
        conversations = WhatsAppConversation.objects.filter(
            Q(remembered_customer__in=customers)
            | Q(identified_customer__in=customers)
            | Q(phone__in=contacts)
        )
        photos = _conversation_photos(conversations)
        counts["whatsapp_conversations"] = _conversations_delete(conversations)
        # The reminders given for their supplies (their outbox messages), to whatever
        # address or number they went: those sent or given up on, as above.
        reminder_keys = Q()
        for supply_id in supplies.values_list("pk", flat=True):
            reminder_keys |= Q(dedupe_key__startswith=reminder_key_prefix(supply_id))
        counts["reminder_recipients"] = (
            OutboundMessage.objects.filter(
                reminder_keys,
                status__in=[OutboundMessage.Status.SENT, OutboundMessage.Status.FAILED],
            )
            .exclude(recipient="-", body="")
            .update(recipient="-", subject="", body="", headers={})
            if reminder_keys
            else 0
        )
        counts["api_tokens"] = ApiToken.objects.filter(user=user).delete()[0]
        # Ready ones lose their file; one still being prepared is never finished (the task
        # leaves an export that is no longer PENDING alone).
        exports = list(
            DataExport.objects.filter(
                user=user, status__in=[DataExport.Status.PENDING, DataExport.Status.READY]
            )
        )
        files = [e.file_name for e in exports if e.file_name]
        DataExport.objects.filter(pk__in=[e.pk for e in exports]).update(
            status=DataExport.Status.EXPIRED, file_name="", expires_at=None
        )
        counts["data_exports"] = len(exports)
        counts["linked_customers"] = LinkedCustomer.objects.filter(user=user).delete()[0]
        counts["customers"] = Customer.objects.filter(pk__in=[c.pk for c in customers]).update(
            user=None,
            email="",
            phone="",
            language=settings.LANGUAGE_CODE,
            notify_by_email=False,
            notify_by_sms=False,
            notify_by_whatsapp=False,
        )
        counts["sign_in_attempts"] = _sign_in_records_remove(username, address)
        user.username = f"closed-{user.pk}"
        user.email = ""
        user.first_name = ""
        user.last_name = ""
        user.is_active = False
        user.last_login = None
        user.set_unusable_password()
        user.save()
        request.status = ErasureRequest.Status.DONE
        request.handled_at = now
        request.handled_by = by
        request.counts = counts
        request.save()
        if address:
            _rights_mail(
                user=user,
                to=address,
                template="erasure_done",
                context={
                    "readings_years": settings.AUTOLETTURA_RETENTION_READINGS_YEARS,
                    "bills_years": settings.AUTOLETTURA_RETENTION_BILLS_YEARS,
                },
                key=f"erasure-done-{request.pk}",
                now=now,
            )
    _remove_files(photos)
    for name in files:
        (Path(settings.AUTOLETTURA_EXPORT_DIR) / name).unlink(missing_ok=True)
    logger.info(
        "erasure %s carried out by user=%s for customers %s: %s",
        request.pk,
        by.pk,
        request.customer_codes,
        ", ".join(f"{k}={n}" for k, n in counts.items()),
    )
    return request


def _sign_in_records_remove(*names: str) -> int:
    """django-axes' records of sign-ins under the account's names."""
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog

    names_ = [n for n in names if n]
    done = 0
    for model in (AccessAttempt, AccessLog, AccessFailureLog):
        done += model.objects.filter(username__in=names_).delete()[0]
    return done
