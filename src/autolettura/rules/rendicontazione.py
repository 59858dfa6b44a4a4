"""pagoPA reporting flows (R17): a PSP's FlussoRiversamento read and checked, and its payments
matched to the bills' notices by IUV.

The format is the one of the SACI ("flusso di rendicontazione", schema FlussoRiversamento
1.0.x, namespace http://www.digitpa.gov.it/schemas/2011/Pagamenti/). Every element is checked
as the schema constrains it, in its order, and the totals against the payments, so a file
that is cut short, edited by hand or of another kind is refused whole, saying what to fix.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any
from xml.etree.ElementTree import Element

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring

NAMESPACE = "http://www.digitpa.gov.it/schemas/2011/Pagamenti/"
MAX_FILE_BYTES = 50 * 1024 * 1024

# codiceEsitoSingoloPagamento: 0 paid, 8 paid while the platform was in stand-in, 9 paid
# without a payment request; 3 revoked, 4 reversed (money going back to the payer).
PAID_CODES = frozenset({"0", "8", "9"})
UNDONE_CODES = frozenset({"3", "4"})

_FLOW_ID = re.compile(r"[a-zA-Z0-9\-_]{1,35}")
_AMOUNT = re.compile(r"\d+\.\d{2}")
_DIGITS = re.compile(r"\d+")


class FlowInvalid(ValueError):
    """A file that is not a well-formed reporting flow; `problems` says each thing to fix."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class FlowPayment:
    iuv: str  # identificativoUnivocoVersamento
    iur: str  # identificativoUnivocoRiscossione: the PSP's own id of the collection
    index: int  # indiceDatiSingoloPagamento (1 when absent)
    amount_cents: int
    outcome_code: str
    outcome_on: date

    @property
    def key(self) -> tuple[str, str, int]:
        """What makes one payment: the same three in another flow are the same payment."""
        return (self.iuv, self.iur, self.index)


@dataclass(frozen=True)
class Flow:
    flow_id: str
    flow_at: datetime
    regulation_id: str  # identificativoUnivocoRegolamento: the SEPA transfer's reference
    regulation_on: date
    sender_type: str
    sender_id: str  # the PSP
    sender_name: str
    receiver_id: str  # the creditor's fiscal code
    receiver_name: str
    total_count: int
    total_cents: int
    payments: tuple[FlowPayment, ...]


def _tag(name: str) -> str:
    return f"{{{NAMESPACE}}}{name}"


class _Reader:
    """Walks an element's children in the schema's order, recording what is wrong."""

    def __init__(self, element: Element, where: str, problems: list[str]) -> None:
        self.children = list(element)
        self.position = 0
        self.where = where
        self.problems = problems

    def take(self, name: str, *, optional: bool = False) -> Element | None:
        if self.position < len(self.children) and self.children[self.position].tag == _tag(name):
            self.position += 1
            return self.children[self.position - 1]
        if not optional:
            found = (
                _local(self.children[self.position].tag)
                if self.position < len(self.children)
                else "the end"
            )
            self.problems.append(f"{self.where}: <{name}> expected, found {found}")
        return None

    def text(self, name: str, pattern: re.Pattern[str], *, optional: bool = False) -> str:
        element = self.take(name, optional=optional)
        if element is None:
            return ""
        value = (element.text or "").strip()
        if len(element):
            self.problems.append(f"{self.where}/{name}: a value is expected, not elements")
        elif not pattern.fullmatch(value):
            self.problems.append(f"{self.where}/{name}: {value[:60]!r} is not allowed here")
        return value

    def finish(self) -> None:
        for extra in self.children[self.position :]:
            self.problems.append(f"{self.where}: unexpected <{_local(extra.tag)}>")
            break


def _local(tag: Any) -> str:
    return str(tag).rsplit("}", 1)[-1] if isinstance(tag, str) else "a comment"


_TEXT35 = re.compile(r".{1,35}", re.S)
_TEXT70 = re.compile(r".{3,70}", re.S)
_TEXT140 = re.compile(r".{1,140}", re.S)
_ANY = re.compile(r".*", re.S)


def _date(value: str, field: str, problems: list[str]) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        if value:
            problems.append(f"{field}: {value[:40]!r} is not a date (YYYY-MM-DD)")
        return date.min


def _datetime(value: str, field: str, problems: list[str]) -> datetime:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        if value:
            problems.append(f"{field}: {value[:40]!r} is not a date and time")
        return datetime.min


def _cents(value: str, field: str, problems: list[str], *, positive: bool) -> int:
    if not _AMOUNT.fullmatch(value):
        return 0  # already reported by the reader
    cents = int(Decimal(value) * 100)
    if cents > 99_999_999_999 or (positive and cents < 1):
        problems.append(f"{field}: {value} is out of range")
    return cents


def flow_parse(data: bytes) -> Flow:
    """Read a FlussoRiversamento file. Raises FlowInvalid listing every problem found."""
    if len(data) > MAX_FILE_BYTES:
        raise FlowInvalid([f"the file has {len(data)} bytes, more than a flow can have"])
    try:
        root = fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException:
        raise FlowInvalid(["the file declares a DTD or entities, which a flow never has"]) from None
    except ParseError as exc:
        raise FlowInvalid([f"the file is not well-formed XML ({exc})"]) from None
    if root.tag != _tag("FlussoRiversamento"):
        raise FlowInvalid(
            [
                f"the root element is <{_local(root.tag)}>, not <FlussoRiversamento> in the "
                f"namespace {NAMESPACE}"
            ]
        )
    problems: list[str] = []
    r = _Reader(root, "FlussoRiversamento", problems)
    r.text("versioneOggetto", re.compile(r"1\.[01]"))
    flow_id = r.text("identificativoFlusso", _FLOW_ID)
    flow_at = _datetime(r.text("dataOraFlusso", _ANY), "dataOraFlusso", problems)
    regulation_id = r.text("identificativoUnivocoRegolamento", _TEXT35)
    regulation_on = _date(r.text("dataRegolamento", _ANY), "dataRegolamento", problems)
    sender_type = sender_id = sender_name = receiver_id = receiver_name = ""
    sender = r.take("istitutoMittente")
    if sender is not None:
        s = _Reader(sender, "istitutoMittente", problems)
        identity = s.take("identificativoUnivocoMittente")
        if identity is not None:
            i = _Reader(identity, "identificativoUnivocoMittente", problems)
            sender_type = i.text("tipoIdentificativoUnivoco", re.compile(r"[GAB]"))
            sender_id = i.text("codiceIdentificativoUnivoco", _TEXT35)
            i.finish()
        sender_name = s.text("denominazioneMittente", _TEXT70, optional=True)
        s.finish()
    r.text("codiceBicBancaDiRiversamento", _TEXT35, optional=True)
    receiver = r.take("istitutoRicevente")
    if receiver is not None:
        s = _Reader(receiver, "istitutoRicevente", problems)
        identity = s.take("identificativoUnivocoRicevente")
        if identity is not None:
            i = _Reader(identity, "identificativoUnivocoRicevente", problems)
            i.text("tipoIdentificativoUnivoco", re.compile(r"G"))
            receiver_id = i.text("codiceIdentificativoUnivoco", _TEXT35)
            i.finish()
        receiver_name = s.text("denominazioneRicevente", _TEXT140, optional=True)
        s.finish()
    count_text = r.text("numeroTotalePagamenti", re.compile(r"[1-9]\d{0,14}"))
    total_text = r.text("importoTotalePagamenti", _AMOUNT)
    total_cents = _cents(total_text, "importoTotalePagamenti", problems, positive=False)
    payments: list[FlowPayment] = []
    number = 0
    while (element := r.take("datiSingoliPagamenti", optional=bool(number))) is not None:
        number += 1
        where = f"datiSingoliPagamenti {number}"
        p = _Reader(element, where, problems)
        iuv = p.text("identificativoUnivocoVersamento", _TEXT35)
        iur = p.text("identificativoUnivocoRiscossione", _TEXT35)
        index = p.text("indiceDatiSingoloPagamento", re.compile(r"[1-5]"), optional=True)
        amount = p.text("singoloImportoPagato", _AMOUNT)
        code = p.text("codiceEsitoSingoloPagamento", re.compile(r"[03489]"))
        on = p.text("dataEsitoSingoloPagamento", _ANY)
        p.finish()
        payments.append(
            FlowPayment(
                iuv=iuv,
                iur=iur,
                index=int(index or 1),
                amount_cents=_cents(
                    amount, f"{where}/singoloImportoPagato", problems, positive=True
                ),
                outcome_code=code,
                outcome_on=_date(on, f"{where}/dataEsitoSingoloPagamento", problems),
            )
        )
    r.finish()
    total_count = int(count_text) if _DIGITS.fullmatch(count_text) else 0
    if not problems:
        if total_count != len(payments):
            problems.append(
                f"numeroTotalePagamenti says {total_count} payments, the file lists {len(payments)}"
            )
        listed = sum(p.amount_cents for p in payments)
        if total_cents != listed:
            problems.append(
                f"importoTotalePagamenti says {Decimal(total_cents) / 100:.2f}, the payments "
                f"listed add up to {Decimal(listed) / 100:.2f}"
            )
    if problems:
        raise FlowInvalid(problems)
    return Flow(
        flow_id=flow_id,
        flow_at=flow_at,
        regulation_id=regulation_id,
        regulation_on=regulation_on,
        sender_type=sender_type,
        sender_id=sender_id,
        sender_name=sender_name,
        receiver_id=receiver_id,
        receiver_name=receiver_name,
        total_count=total_count,
        total_cents=total_cents,
        payments=tuple(payments),
    )


# --- Matching ---------------------------------------------------------------------------------


class Outcome(StrEnum):
    MATCHED = "MATCHED"  # pays its bill: the bill is paid
    UNMATCHED = "UNMATCHED"  # no bill has this IUV
    DUPLICATE = "DUPLICATE"  # its bill was already paid, or this very payment was counted
    WRONG_AMOUNT = "WRONG_AMOUNT"  # the bill's IUV, another amount
    UNDONE = "UNDONE"  # revoked or reversed: no money for the bill


@dataclass(frozen=True)
class KnownNotice:
    notice_id: int
    amount_cents: int
    paid: bool  # a payment is already counted for it


def payments_match(
    payments: Iterable[FlowPayment],
    notices: Mapping[str, KnownNotice],
    counted: frozenset[tuple[str, str, int]] = frozenset(),
) -> list[tuple[FlowPayment, Outcome, int | None]]:
    """Each payment with its outcome and the notice it concerns (None when unmatched).

    `notices`: the bills' notices by IUV; `counted`: the keys of payments already in the
    books. A notice is paid by one payment at most: any further one is a duplicate, to be
    given back to the payer, and never counted twice.
    """
    paid = {iuv for iuv, notice in notices.items() if notice.paid}
    seen = set(counted)
    result: list[tuple[FlowPayment, Outcome, int | None]] = []
    for payment in payments:
        notice = notices.get(payment.iuv)
        notice_id = notice.notice_id if notice else None
        if payment.key in seen:
            outcome = Outcome.DUPLICATE
        elif payment.outcome_code in UNDONE_CODES:
            outcome = Outcome.UNDONE if notice else Outcome.UNMATCHED
        elif notice is None:
            outcome = Outcome.UNMATCHED
        elif payment.iuv in paid:
            outcome = Outcome.DUPLICATE
        elif payment.amount_cents != notice.amount_cents:
            outcome = Outcome.WRONG_AMOUNT
        else:
            outcome = Outcome.MATCHED
            paid.add(payment.iuv)
        seen.add(payment.key)
        result.append((payment, outcome, notice_id))
    return result
