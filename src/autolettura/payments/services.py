"""pagoPA: the bills' notices (R16), the checkout, and the reporting flows imported (R17)."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from autolettura import db
from autolettura.payments.models import Outcome, Payment, PaymentNotice, ReportingFlow
from autolettura.rules import pagopa, rendicontazione

logger = logging.getLogger(__name__)


# --- Notices (made with the bills) -----------------------------------------------------------


def pagopa_enabled() -> bool:
    return bool(settings.AUTOLETTURA_PAGOPA_CREDITOR_FISCAL_CODE)


NOTICE_COLUMNS = [
    "bill_id",
    "iuv",
    "notice_number",
    "creditor_fiscal_code",
    "amount_cents",
    "due_on",
]


def notice_rows(bills: Iterable[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """The notices of new bills (dicts with id, year, sequence, total_eur, due_on), in
    NOTICE_COLUMNS order: one for each bill with something to pay, none for a credit."""
    if not pagopa_enabled():
        return []
    creditor = settings.AUTOLETTURA_PAGOPA_CREDITOR_FISCAL_CODE
    segregation = settings.AUTOLETTURA_PAGOPA_SEGREGATION_CODE
    rows = []
    for bill in bills:
        cents = pagopa.euro_to_cents(Decimal(bill["total_eur"]))
        if cents <= 0:
            continue
        notice = pagopa.bill_notice(
            creditor_fiscal_code=creditor,
            segregation_code=segregation,
            year=bill["year"],
            sequence=bill["sequence"],
            amount_cents=cents,
        )
        rows.append(
            (
                bill["id"],
                notice.iuv,
                notice.notice_number,
                creditor,
                cents,
                bill["due_on"],
            )
        )
    return rows


def notices_write(bills: list[dict[str, Any]]) -> int:
    """Insert the notices of bills being written, in the caller's transaction."""
    rows = notice_rows(bills)
    if not rows:
        return 0
    table = PaymentNotice._meta.db_table
    if db.is_postgresql():
        db.copy_text(
            table,
            NOTICE_COLUMNS,
            "".join("\t".join(db.copy_value(v) for v in row) + "\n" for row in rows),
        )
        return len(rows)
    return db.insert_rows(table, NOTICE_COLUMNS, rows)


def notice_of(notice: PaymentNotice) -> pagopa.Notice:
    """A stored notice as the rules' value (its QR payload, its number)."""
    return pagopa.Notice(
        creditor_fiscal_code=notice.creditor_fiscal_code,
        segregation_code=notice.notice_number[1:3],
        iuv=notice.iuv,
        amount_cents=notice.amount_cents,
    )


# --- The checkout ----------------------------------------------------------------------------


class CheckoutUnavailable(Exception):
    """pagoPA checkout did not give an address to send the customer to."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None  # the 302 is the answer: its Location is where the customer goes


def checkout_start(
    *,
    notice: PaymentNotice,
    description: str,
    ok_url: str,
    cancel_url: str,
    error_url: str,
    email: str = "",
) -> str:
    """Post the notice to pagoPA checkout as a cart of one; returns the checkout page's
    address the customer is sent to (the Location of checkout's 302 answer)."""
    cart: dict[str, Any] = {
        "paymentNotices": [
            {
                "noticeNumber": notice.notice_number,
                "fiscalCode": notice.creditor_fiscal_code,
                "amount": notice.amount_cents,
                "companyName": settings.AUTOLETTURA_UTILITY_NAME[:140],
                "description": description[:140],
            }
        ],
        "returnUrls": {
            "returnOkUrl": ok_url,
            "returnCancelUrl": cancel_url,
            "returnErrorUrl": error_url,
        },
        "idCart": notice.iuv,
    }
    if email:
        cart["emailNotice"] = email
    request = urllib.request.Request(
        settings.AUTOLETTURA_PAGOPA_CHECKOUT_URL,
        data=json.dumps(cart).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=settings.AUTOLETTURA_PROVIDER_TIMEOUT) as response:
            status, location = response.status, response.headers.get("Location")
    except urllib.error.HTTPError as exc:
        status, location = exc.code, exc.headers.get("Location")
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise CheckoutUnavailable(f"checkout not reached: {exc}") from exc
    if status not in (301, 302, 303) or not location:
        raise CheckoutUnavailable(f"checkout answered {status} with no address")
    # The customer is sent where checkout says, but only to checkout's own sites.
    if _origin(location) not in checkout_origins():
        raise CheckoutUnavailable(f"checkout sent to {_origin(location)}, not one of its sites")
    return location


def _origin(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def checkout_origins() -> list[str]:
    """The sites a customer may be sent to pay: checkout's pages, and its carts API's."""
    return sorted(
        {
            _origin(settings.AUTOLETTURA_PAGOPA_CHECKOUT_SITE),
            _origin(settings.AUTOLETTURA_PAGOPA_CHECKOUT_URL),
        }
    )


# --- Reporting flows -------------------------------------------------------------------------


class FlowAlreadyImported(Exception):
    """The same flow (PSP and flow id) was imported before: nothing is done again."""


class FlowNotOurs(Exception):
    """A flow addressed to another creditor."""


@dataclass
class FlowImported:
    flow: ReportingFlow
    counts: dict[str, int] = field(default_factory=dict)


def flow_import(*, data: bytes, file_name: str = "", now: datetime) -> FlowImported:
    """Import one reporting flow: each payment matched to a bill by IUV, or listed for the
    billing office. Raises FlowInvalid (the file), FlowAlreadyImported, FlowNotOurs."""
    parsed = rendicontazione.flow_parse(data)
    creditor = settings.AUTOLETTURA_PAGOPA_CREDITOR_FISCAL_CODE
    if creditor and parsed.receiver_id != creditor:
        raise FlowNotOurs(
            f"the flow is for the creditor {parsed.receiver_id}, not {creditor}: "
            "it was sent here by mistake"
        )
    iuvs = sorted({p.iuv for p in parsed.payments})
    try:
        with transaction.atomic():
            flow = ReportingFlow.objects.create(
                flow_id=parsed.flow_id,
                sender_id=parsed.sender_id,
                sender_name=parsed.sender_name,
                flow_at=_aware(parsed.flow_at),
                regulation_id=parsed.regulation_id,
                regulation_on=parsed.regulation_on,
                receiver_id=parsed.receiver_id,
                total_count=parsed.total_count,
                total_cents=parsed.total_cents,
                file_name=file_name[:255],
                imported_at=now,
            )
            # Lock the notices paid here, in a fixed order: two flows imported at once
            # that pay the same bill wait for each other, and the second sees it paid.
            notices = {
                n.iuv: n
                for n in PaymentNotice.objects.select_for_update()
                .filter(iuv__in=iuvs)
                .order_by("iuv")
            }
            paid = set(
                Payment.objects.filter(
                    notice__in=list(notices.values()), outcome=Outcome.MATCHED
                ).values_list("notice_id", flat=True)
            )
            known = {
                iuv: rendicontazione.KnownNotice(n.pk, n.amount_cents, n.pk in paid)
                for iuv, n in notices.items()
            }
            counted = frozenset(
                Payment.objects.filter(iuv__in=iuvs).values_list("iuv", "iur", "index")
            )
            matched = rendicontazione.payments_match(parsed.payments, known, counted)
            Payment.objects.bulk_create(
                Payment(
                    flow=flow,
                    position=position,
                    iuv=payment.iuv,
                    iur=payment.iur,
                    index=payment.index,
                    amount_cents=payment.amount_cents,
                    outcome_code=payment.outcome_code,
                    outcome_on=payment.outcome_on,
                    outcome=outcome.value,
                    notice_id=notice_id,
                )
                for position, (payment, outcome, notice_id) in enumerate(matched, start=1)
            )
    except IntegrityError as exc:
        if ReportingFlow.objects.filter(
            sender_id=parsed.sender_id, flow_id=parsed.flow_id
        ).exists():
            raise FlowAlreadyImported(
                f"flow {parsed.flow_id} of {parsed.sender_id} was already imported"
            ) from None
        raise exc
    counts: dict[str, int] = {o.value: 0 for o in Outcome}
    for _payment, outcome, _notice in matched:
        counts[outcome.value] += 1
    return FlowImported(flow=flow, counts=counts)


def _aware(value: datetime) -> datetime:
    """dataOraFlusso usually has no offset: it is Italian time."""
    if timezone.is_naive(value):
        return timezone.make_aware(value, ZoneInfo("Europe/Rome"))
    return value


@dataclass
class FolderImport:
    imported: list[tuple[str, FlowImported]] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)


def flows_import_folder(*, folder: Path, now: datetime) -> FolderImport:
    """Import every *.xml file in `folder`, oldest name first; each is then moved into
    imported/ or refused/ (with a .txt beside it saying why), so it is read only once."""
    result = FolderImport()
    for path in sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".xml"):
        try:
            done = flow_import(data=path.read_bytes(), file_name=path.name, now=now)
        except (rendicontazione.FlowInvalid, FlowAlreadyImported, FlowNotOurs) as exc:
            reason = str(exc)
            result.refused.append((path.name, reason))
            _move(path, folder / "refused", reason)
            continue
        result.imported.append((path.name, done))
        _move(path, folder / "imported", None)
    return result


def _move(path: Path, into: Path, reason: str | None) -> None:
    into.mkdir(exist_ok=True)
    target = into / path.name
    if target.exists():  # a file of the same name came before: keep both
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        target = into / f"{path.stem}.{digest}{path.suffix}"
    shutil.move(str(path), target)
    if reason is not None:
        target.with_suffix(".txt").write_text(reason + "\n", encoding="utf-8")
