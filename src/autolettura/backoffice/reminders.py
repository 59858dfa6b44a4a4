"""Reminders (issue 6): tell customers who opted in when their self-reading window opens,
and again three days before it closes if no reading has arrived for it.

Selection and writes are set-based, one SQL statement per batch of supplies (a range of
ids): the batch's latest bills are found with one join (`DISTINCT ON` on PostgreSQL, a
window function elsewhere), which gives each supply its current window once; the window
says which reminder is due today (opening, or closing in its last three days, then only
for supplies with no reading in it yet); each route the holder chose and has the address
for gives a row, unless it was already reminded. The rows go straight into the outbox
(PENDING, due now), each under the key `reminder:<supply id>:<window's first day>:<kind>:
<route>`: the outbox's unique key is the record that a reminder was given, so a run
repeated the same day, or two runs at once, send nothing twice. The message text is
translated once per kind, route and language and filled in by the database for each row.
The outbox's periodic flush (`outbox_flush`) sends them.

WhatsApp follows Meta's rule for business-initiated messages, as outcomes do
(readings/notifications.py): a text while the customer's 24 hours since their last message
are open; after them, the approved template `AUTOLETTURA_WHATSAPP_REMINDER_TEMPLATE`, whose
name and parameters go in the message's headers for the sender to use (it also switches a
text sent late to the template). With no template, the WhatsApp route is left out for those
customers: their other chosen routes still get the reminder, or, if WhatsApp was their only
one, e-mail (SMS to the same number without an address).
"""

from __future__ import annotations

import functools
import logging
import queue
import re
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, connections, transaction
from django.db.models import Max, Min
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _

from autolettura.backoffice.models import ReminderKind, ReminderRoute
from autolettura.billing.models import Bill
from autolettura.channels.models import WhatsAppConversation
from autolettura.customers.models import Customer, Supply
from autolettura.outbox.models import OutboundMessage
from autolettura.readings import policy
from autolettura.readings.models import Reading, Status
from autolettura.readings.notifications import WHATSAPP_SESSION, WHATSAPP_SESSION_MARGIN
from autolettura.rules.window import rome_today

logger = logging.getLogger(__name__)

# The closing reminder goes out this many days before the window's last day.
CLOSING_DAYS_BEFORE = 3
BATCH_SIZE = 50_000
# Batches queued side by side on PostgreSQL: one a core of a small database server.
WORKERS = 2
# PostgreSQL's memory for a batch's selection, sorts and hashes (see _BatchSql.run).
_WORK_MEM = "64MB"

# Route -> (the customer's opt-in flag, the contact field it needs).
_ROUTES = {
    ReminderRoute.EMAIL: ("notify_by_email", "email"),
    ReminderRoute.SMS: ("notify_by_sms", "phone"),
    ReminderRoute.WHATSAPP: ("notify_by_whatsapp", "phone"),
}
# The order of the summary's keys, as the runs have always given them.
_KINDS = (ReminderKind.CLOSING, ReminderKind.OPENING)


@dataclass
class ReminderSummary:
    sent: dict[str, int] = field(default_factory=dict)  # "KIND ROUTE" -> messages queued
    # Reminders whose WhatsApp route was left out: outside the 24 hours, no template.
    whatsapp_skipped: int = 0

    @property
    def total(self) -> int:
        return sum(self.sent.values())


def _reading_link(supply_code: str) -> str:
    base = getattr(settings, "AUTOLETTURA_PUBLIC_BASE_URL", "http://127.0.0.1:8000")
    return f"{base}{reverse('portal:reading_new')}?supply={supply_code}"


@functools.cache
def _templates(kind: str, route: str, language: str) -> tuple[str, str]:
    """(subject, body) with %(...)s placeholders, translated once per kind, route and
    language rather than once per customer."""
    with translation.override(language):
        if kind == ReminderKind.OPENING:
            subject = _("Send your water meter reading by %(end)s")
            intro = _(
                "%(utility)s: the self-reading window of supply %(supply)s is open from "
                "%(start)s to %(end)s."
            )
        else:
            subject = _("Three days left to send your meter reading")
            intro = _(
                "%(utility)s: we have not received the reading of supply %(supply)s yet. "
                "The self-reading window closes on %(end)s."
            )
        if route == ReminderRoute.EMAIL:
            action = _("Send it in a minute here: %(link)s")
        else:
            action = _(
                "Reply with %(format)sREADING, writing only the black digits of the meter, "
                "for example %(format)s00123."
            )
    return subject, f"{intro} {action}"


def reminder_text(
    *,
    kind: str,
    route: str,
    language: str,
    supply_code: str,
    customer_code: str,
    window_start: date,
    window_end: date,
    link_base: str | None = None,
) -> tuple[str, str]:
    """(subject, body) of a reminder, in the customer's language: a direct link to the
    portal's "Comunica la lettura" page by e-mail, the exact reply format by SMS and
    WhatsApp. The bulk path fills the same templates in SQL (see _text_sql)."""
    subject, body = _templates(kind, route, language)
    params = {
        "supply": supply_code,
        "start": f"{window_start:%d/%m/%Y}",
        "end": f"{window_end:%d/%m/%Y}",
        "link": f"{link_base}{supply_code}" if link_base else _reading_link(supply_code),
        "format": f"{supply_code}#{customer_code}#",
        "utility": settings.AUTOLETTURA_UTILITY_NAME,
    }
    return subject % params, body % params


def reminders_send(
    *, now: datetime, batch_size: int = BATCH_SIZE, workers: int = WORKERS
) -> ReminderSummary:
    """Queue today's reminders: opening ones for windows open today (until three days
    before they close), closing ones in the last three days for supplies with no reading
    in the window yet. Idempotent per supply, window, kind and route.

    On PostgreSQL, outside a transaction, `workers` batches at a time, each on a
    connection of its own: the work is the database's, and one statement uses one core.
    """
    today = rome_today(now)
    summary = ReminderSummary(sent={f"{k} {r}": 0 for k in _KINDS for r in _ROUTES})
    bounds = Supply.objects.aggregate(low=Min("pk"), high=Max("pk"))
    if bounds["low"] is None:
        summary.sent = {}
        return summary
    low, high = bounds["low"], bounds["high"]
    languages = sorted(Customer.objects.order_by().values_list("language", flat=True).distinct())
    batch = _BatchSql(today=today, now=now, languages=languages)
    ranges = [(first, first + batch_size) for first in range(low, high + 1, batch_size)]
    for kind, route, count in _batches_queue(batch, ranges, workers):
        if route == _SKIPPED:
            summary.whatsapp_skipped += count
        else:
            summary.sent[f"{kind} {route}"] += count
    logger.info("reminders %s", summary.sent)
    if summary.whatsapp_skipped:
        logger.warning(
            "reminders: %d WhatsApp reminders were outside the customer's 24 hours and no "
            "template is configured (AUTOLETTURA_WHATSAPP_REMINDER_TEMPLATE); they went by "
            "the customer's other routes instead",
            summary.whatsapp_skipped,
        )
    return summary


def _batches_queue(
    batch: _BatchSql, ranges: list[tuple[int, int]], workers: int
) -> Iterator[tuple[str, str, int]]:
    """Every batch's (kind, route, count) rows. Batches are independent (their own
    supplies, their own transaction), so they may run side by side; not on SQLite (one
    writer at a time) nor inside a caller's transaction (other connections would not see
    its rows)."""
    if workers <= 1 or len(ranges) <= 1 or not batch.postgresql or connection.in_atomic_block:
        for lo, hi in ranges:
            yield from _batch_queue(batch, lo, hi)
        return

    todo: queue.SimpleQueue[tuple[int, int]] = queue.SimpleQueue()
    for bounds in ranges:
        todo.put(bounds)
    failed = threading.Event()

    def worker() -> list[tuple[str, str, int]]:
        """Batches taken in turn on one connection of this thread's own, kept from one
        batch to the next (a new backend a batch would start cold, its catalog caches
        empty), closed at the end. After a failure no worker takes another batch."""
        rows: list[tuple[str, str, int]] = []
        try:
            while not failed.is_set():
                try:
                    lo, hi = todo.get_nowait()
                except queue.Empty:
                    break
                rows += _batch_queue(batch, lo, hi)
        except BaseException:
            failed.set()
            raise
        finally:
            connections.close_all()  # this thread's own connection
        return rows

    # The statements' text is built once, here, before the threads share it.
    batch.statements()
    count = min(workers, len(ranges))
    with ThreadPoolExecutor(max_workers=count, thread_name_prefix="reminders") as pool:
        futures = [pool.submit(worker) for _ in range(count)]
        for future in futures:
            yield from future.result()


def _batch_queue(batch: _BatchSql, lo: int, hi: int) -> list[tuple[str, str, int]]:
    """Queue one batch in its own transaction. The rows go in with plain INSERTs, each
    row's unique key checked once by the insert: what was already queued is left out by
    the selection, or, for a batch none of whose first messages is queued yet (the
    window's first run), trusted to the unique key alone. Only when a key is taken (queued
    meanwhile by another run, or before by one that the batch's first messages did not
    show) is the batch done again leaving out, row by row, what is already there: nothing
    is ever queued twice."""
    try:
        with transaction.atomic():
            return batch.run(lo, hi, on_conflict=False)
    except IntegrityError:
        # A check or foreign key failing again here is a real error, and raised.
        with transaction.atomic():
            return batch.run(lo, hi, on_conflict=True)


# --- The SQL -------------------------------------------------------------------------------

# The route `run` reports WhatsApp reminders left out under (never a real route).
_SKIPPED = "SKIPPED"
# How many of a batch's first messages are looked up to tell whether it was queued before.
_PROBE = 100
_PLACEHOLDER = re.compile(r"%\((\w+)\)s|%%")
# A day as the messages print it, and as the outbox key has it (strftime's terms).
_DAY = "%d/%m/%Y"
_KEY_DAY = "%Y-%m-%d"
# The columns of the selection with the window's days as text: first day, last day, and
# the first day for the outbox key.
_TEXT_COLUMNS = ("start_text", "end_text", "start_key")


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _literal(value: str) -> str:
    """A constant of this module (a kind, a route) as an SQL string literal."""
    if not re.fullmatch(r"[A-Za-z_]+", value):
        raise ValueError(f"not a constant: {value!r}")
    return f"'{value}'"


class _BatchSql:
    """The statement that selects and queues one batch's reminders, built once per run."""

    def __init__(self, *, today: date, now: datetime, languages: Iterable[str]) -> None:
        self.postgresql = connection.vendor == "postgresql"
        ops = connection.ops
        self.today = ops.adapt_datefield_value(today)
        self.closing_from = ops.adapt_datefield_value(today + timedelta(days=CLOSING_DAYS_BEFORE))
        self.now = ops.adapt_datetimefield_value(now)
        window = policy.window_policy().window_containing(today)
        # The policy's window applies to supplies without a billed window still running.
        self.policy_window = (
            None
            if window is None
            else (ops.adapt_datefield_value(window.start), ops.adapt_datefield_value(window.end))
        )
        # Its days as the messages print them, and its first day as the outbox key has it:
        # written once here rather than by the database for each row.
        self.policy_texts = (
            None
            if window is None
            else (
                f"{window.start:{_DAY}}",
                f"{window.end:{_DAY}}",
                f"{window.start:{_KEY_DAY}}",
            )
        )
        self.languages = list(languages)
        self.link_base = _reading_link("")
        self.template = settings.AUTOLETTURA_WHATSAPP_REMINDER_TEMPLATE
        # A customer whose last WhatsApp message is later than this can still get a text.
        self.session_from = ops.adapt_datetimefield_value(
            now - WHATSAPP_SESSION + WHATSAPP_SESSION_MARGIN
        )

    # Pieces that differ between PostgreSQL and SQLite.
    def _date_text(self, column: str, pattern: str) -> tuple[str, list[Any]]:
        """`column` (a date) as text; `pattern` in strftime's terms."""
        if self.postgresql:
            pg = pattern.replace("%d", "DD").replace("%m", "MM").replace("%Y", "YYYY")
            # As a timestamp without time zone: the same day, with no time zone to apply.
            return f"to_char(CAST({column} AS timestamp), %s)", [pg]
        return f"strftime(%s, {column})", [pattern]

    def _session_ends(self, column: str) -> tuple[str, list[Any]]:
        """When the 24 hours from `column` (a datetime) end, as ISO 8601 text in UTC."""
        hours = int(WHATSAPP_SESSION.total_seconds() // 3600)
        if self.postgresql:
            return (
                f"to_char(({column} + interval '{hours} hours') AT TIME ZONE 'UTC', %s)",
                ['YYYY-MM-DD"T"HH24:MI:SS"+00:00"'],
            )
        return f"strftime(%s, {column}, '+{hours} hours')", ["%Y-%m-%dT%H:%M:%S+00:00"]

    def _latest_bills(self) -> str:
        """Each supply of the batch with bills: its latest bill's window. Params: lo, hi."""
        bill = _q(Bill._meta.db_table)
        if self.postgresql:
            return (
                "SELECT DISTINCT ON (b.supply_id) b.supply_id, b.next_window_start, "
                f"b.next_window_end FROM {bill} b "
                "WHERE b.supply_id >= %s AND b.supply_id < %s "
                "ORDER BY b.supply_id, b.period_end DESC"
            )
        return (
            "SELECT supply_id, next_window_start, next_window_end FROM ("
            "SELECT b.supply_id, b.next_window_start, b.next_window_end, ROW_NUMBER() OVER "
            "(PARTITION BY b.supply_id ORDER BY b.period_end DESC) AS n "
            f"FROM {bill} b WHERE b.supply_id >= %s AND b.supply_id < %s) t WHERE n = 1"
        )

    def _selection(self, lo: int, hi: int) -> tuple[str, str, list[Any]]:
        """CTEs ending in `wanted`: one row per reminder due (supply_id, supply_code,
        customer_code, language, the window's days as text: start_text and end_text, kind,
        route, customer_name, wa_ends, recipient, and dedupe_key, its outbox key); the
        condition on a row of it (`k`) that it is not queued yet; and the params."""
        supply, customer = _q(Supply._meta.db_table), _q(Customer._meta.db_table)
        reading = _q(Reading._meta.db_table)
        conversation = _q(WhatsAppConversation._meta.db_table)
        ends, ends_params = self._session_ends("wc.updated_at")
        params: list[Any] = [lo, hi]
        latest = self._latest_bills()
        if self.policy_window is None:
            policy_start = policy_end = "NULL"
        else:
            policy_start = policy_end = "%s"
        # The window's days as text, as the messages print them: the billed window's
        # written by the database, the policy's given.
        billed_texts = [
            self._date_text(f"l.{column}", pattern)
            for column, pattern in (
                ("next_window_start", _DAY),
                ("next_window_end", _DAY),
                ("next_window_start", _KEY_DAY),
            )
        ]
        texts = ", ".join(
            f"CASE WHEN l.next_window_end >= %s THEN {sql} ELSE {policy_start} END AS {name}"
            for (sql, _params), name in zip(billed_texts, _TEXT_COLUMNS, strict=True)
        )
        # R5: the window printed on the latest bill applies while it has not ended;
        # otherwise the policy's window (only on a day inside one of them).
        windowed = (
            "SELECT s.id AS supply_id, s.supply_code, c.customer_code, c.language, "
            "c.email, c.phone, c.notify_by_email, c.notify_by_sms, c.notify_by_whatsapp, "
            f"CASE WHEN l.next_window_end >= %s THEN l.next_window_start ELSE {policy_start} "
            "END AS window_start, "
            f"CASE WHEN l.next_window_end >= %s THEN l.next_window_end ELSE {policy_end} "
            f"END AS window_end, {texts}, c.name AS customer_name, "
            "CASE WHEN wc.updated_at > %s THEN 1 ELSE 0 END AS wa_open, "
            f"{ends} AS wa_ends "
            f"FROM {supply} s JOIN {customer} c ON c.id = s.holder_id "
            "LEFT JOIN latest l ON l.supply_id = s.id "
            f"LEFT JOIN {conversation} wc ON wc.phone = c.phone "
            "WHERE s.id >= %s AND s.id < %s AND s.activated_on <= %s"
        )
        params += [self.today]
        if self.policy_window is not None:
            params.append(self.policy_window[0])
        params += [self.today]
        if self.policy_window is not None:
            params.append(self.policy_window[1])
        for index, (_sql, text_params) in enumerate(billed_texts):
            params += [self.today, *text_params]
            if self.policy_texts is not None:
                params.append(self.policy_texts[index])
        params += [self.session_from, *ends_params, lo, hi, self.today]
        opening, closing = _literal(ReminderKind.OPENING), _literal(ReminderKind.CLOSING)
        statuses = ", ".join(_literal(s) for s in (Status.ACCEPTED, Status.UNDER_REVIEW))
        # A window that applies today calls for exactly one kind of reminder: the opening
        # one until three days before it ends, the closing one after, if nothing arrived.
        kind = f"CASE WHEN w.window_end > %s THEN {opening} ELSE {closing} END"
        # The reminder's outbox key but its route (see models.reminder_key).
        prefix = (
            "'reminder:' || CAST(w.supply_id AS TEXT) || ':' || w.start_key || ':' || "
            f"{kind} || ':'"
        )
        due = (
            f"SELECT w.*, {kind} AS kind, {prefix} AS key_prefix FROM windowed w "
            "WHERE w.window_start <= %s AND w.window_end >= %s "
            "AND (w.window_end > %s OR NOT EXISTS ("
            f"SELECT 1 FROM {reading} g WHERE g.supply_id = w.supply_id "
            "AND g.read_on >= w.window_start AND g.read_on <= w.window_end "
            f"AND g.voided_at IS NULL AND g.status IN ({statuses})))"
        )
        params += [self.closing_from, self.closing_from, self.today, self.today]
        params.append(self.closing_from)
        routes = " UNION ALL ".join(f"SELECT {_literal(route)} AS route" for route in _ROUTES)
        has = {
            route: f"(d.{flag} AND d.{contact} <> '')" for route, (flag, contact) in _ROUTES.items()
        }
        email, sms, whatsapp = ReminderRoute.EMAIL, ReminderRoute.SMS, ReminderRoute.WHATSAPP
        wants = dict(has)
        skipped = ""
        if not self.template:
            # Outside the 24 hours WhatsApp can send nothing: the other routes, or else
            # e-mail, or else SMS to the same number. And once the customer had this
            # reminder another way, a conversation opened later does not repeat it.
            reminded = self._queued(
                " OR ".join(f"o.dedupe_key = d.key_prefix || {_literal(r)}" for r in _ROUTES)
            )
            wants[whatsapp] = f"({has[whatsapp]} AND d.wa_open = 1 AND NOT {reminded})"
            only = (
                f"({has[whatsapp]} AND d.wa_open = 0 AND NOT {has[email]} AND NOT {has[sms]} "
                f"AND NOT {reminded})"
            )
            wants[email] = f"({has[email]} OR ({only} AND d.email <> ''))"
            wants[sms] = f"({has[sms]} OR ({only} AND d.email = ''))"
            skipped = f"{has[whatsapp]} AND d.wa_open = 0 AND NOT {reminded}"
        chosen = " OR ".join(
            f"(r.route = {_literal(route)} AND {wants[route]})" for route in _ROUTES
        )
        recipient = " ".join(
            f"WHEN {_literal(route)} THEN d.{contact}" for route, (_f, contact) in _ROUTES.items()
        )
        wanted = (
            "SELECT d.supply_id, d.supply_code, d.customer_code, d.language, "
            "d.start_text, d.end_text, d.kind, r.route, d.customer_name, d.wa_ends, "
            f"CASE r.route {recipient} END AS recipient, "
            "d.key_prefix || r.route AS dedupe_key "
            f"FROM due d JOIN ({routes}) r ON ({chosen}){self._fence}"
        )
        # Left out (see run): what is already in the outbox (given by an earlier run),
        # looked up for the rows wanted only.
        unqueued = f"NOT {self._queued('o.dedupe_key = k.dedupe_key')}"
        sql = (
            f"WITH latest AS ({latest}), windowed AS ({windowed}), due AS ({due}), "
            f"wanted AS ({wanted})"
        )
        # Set once it is known (batches running side by side read it): always the same.
        self.skipped = skipped
        return sql, unqueued, params

    @property
    def _fence(self) -> str:
        """Ends a subquery that PostgreSQL is to plan on its own: without it, the look-up
        of what is already queued is moved below the joins, to every supply and route
        before the routes not chosen and the customers are left out (three times the
        look-ups, and of the customers)."""
        return " OFFSET 0" if self.postgresql else ""

    def _queued(self, condition: str) -> str:
        """Whether the outbox has a message meeting `condition` (on its keys, as `o`): one
        look-up in its unique index a row, whatever the outbox's size (`OFFSET 0` keeps
        PostgreSQL from turning it into a join, which would read the whole outbox, and
        its statistics may not yet know how large it has grown)."""
        outbox = _q(OutboundMessage._meta.db_table)
        return f"EXISTS (SELECT 1 FROM {outbox} o WHERE {condition}{self._fence})"

    def statements(self) -> None:
        """Build every statement once: the templates translated, `skipped` known."""
        self._selection(0, 0)
        self._writes(on_conflict=False)
        self._writes(on_conflict=True)

    def _text_sql(self, which: int) -> tuple[str, list[Any]]:
        """The subject (`which` 0) or body (1) of each row of `sel`, from the templates
        translated once per kind, route and language."""
        values: dict[str, tuple[str, list[Any]]] = {
            "supply": ("sel.supply_code", []),
            "start": ("sel.start_text", []),
            "end": ("sel.end_text", []),
            "link": ("%s || sel.supply_code", [self.link_base]),
            "format": ("sel.supply_code || '#' || sel.customer_code || '#'", []),
            "utility": ("%s", [settings.AUTOLETTURA_UTILITY_NAME]),
        }
        # Nested by kind, route and language: each row compares each of them once.
        params: list[Any] = []
        kinds = []
        for kind in _KINDS:
            routes = []
            for route in _ROUTES:
                if which == 0 and route != ReminderRoute.EMAIL:
                    continue  # only e-mails have a subject; the default below is ''
                languages = []
                for language in self.languages:
                    text, text_params = _template_sql(
                        _templates(kind, route, language)[which], values
                    )
                    languages.append(f"WHEN %s THEN {text}")
                    params += [language, *text_params]
                routes.append(
                    f"WHEN {_literal(route)} THEN CASE sel.language {' '.join(languages)} "
                    "ELSE '' END"
                )
            kinds.append(
                f"WHEN {_literal(kind)} THEN CASE sel.route {' '.join(routes)} ELSE '' END"
            )
        return f"CASE sel.kind {' '.join(kinds)} ELSE '' END", params

    def _headers_sql(self) -> tuple[str, list[Any]]:
        """The outbox headers of each row of `sel`: for WhatsApp with a template
        configured, the template (name, language and body parameters: {{1}} the customer's
        name, {{2}} the supply code, {{3}} and {{4}} the window's first and last day) and
        when the customer's 24 hours end (none: they are over), for the sender to choose
        between text and template as it does for outcomes."""
        if not self.template:
            return "'{}'", []
        build = "jsonb_build_object" if self.postgresql else "json_object"
        array = "jsonb_build_array" if self.postgresql else "json_array"
        # As template_parameter: Meta refuses new lines and tabs, and more than 1,024 characters.
        name = "COALESCE(NULLIF(TRIM(sel.customer_name), ''), '-')"
        breaks = ["\r", "\n", "\t"]
        for _break in breaks:
            name = f"REPLACE({name}, %s, ' ')"
        template = (
            f"{build}('name', CAST(%s AS TEXT), 'language', sel.language, 'parameters', "
            f"{array}(SUBSTR({name}, 1, 1024), sel.supply_code, sel.start_text, sel.end_text))"
        )
        sql = (
            f"CASE WHEN sel.route = {_literal(ReminderRoute.WHATSAPP)} THEN "
            f"{build}('whatsapp_template', {template}, 'whatsapp_session_ends_at', sel.wa_ends) "
            "ELSE '{}' END"
        )
        return sql, [self.template, *breaks]

    def _writes(self, *, on_conflict: bool) -> tuple[str, list[Any]]:
        """(INSERT of the outbox messages, reading `sel`, and its params); with
        `on_conflict`, a row whose key is taken is left out (speculative insertion: every
        unique index probed twice a row, and a WAL record more), otherwise it fails the
        statement."""
        tail = " ON CONFLICT DO NOTHING" if on_conflict else ""
        outbox = OutboundMessage._meta.db_table
        subject, subject_params = self._text_sql(0)
        body, body_params = self._text_sql(1)
        pending = _literal(OutboundMessage.Status.PENDING)
        headers, headers_params = self._headers_sql()
        outbox_sql = (
            f"INSERT INTO {_q(outbox)} (route, recipient, subject, body, language, headers, "
            "dedupe_key, status, attempts, next_attempt_at, last_error, "
            "provider_message_id, created_at) "
            f"SELECT sel.route, sel.recipient, {subject}, {body}, sel.language, {headers}, "
            f"sel.dedupe_key, {pending}, 0, %s, '', '', %s FROM sel WHERE 1 = 1{tail}"
        )
        outbox_params = [
            *subject_params,
            *body_params,
            *headers_params,
            self.now,
            self.now,
        ]
        return outbox_sql, outbox_params

    def _skipped_sql(self) -> str:
        """The WhatsApp reminders left out, counted by kind (reads `due`)."""
        return (
            f"SELECT d.kind, {_literal(_SKIPPED)}, COUNT(*) FROM due d WHERE {self.skipped} "
            "GROUP BY d.kind"
        )

    def _fresh(self, cursor: Any, ctes: str, unqueued: str, params: list[Any]) -> bool:
        """Whether none of the batch's first messages wanted is queued yet: the window's
        first run for the batch, whose rows need not be looked up one by one (a run
        repeated the same day finds its first messages already queued)."""
        cursor.execute(
            f"{ctes} SELECT COUNT(*) FROM (SELECT k.dedupe_key FROM wanted k LIMIT {_PROBE}) k "
            f"WHERE NOT ({unqueued})",
            params,
        )
        return int(cursor.fetchone()[0]) == 0

    def run(self, lo: int, hi: int, *, on_conflict: bool) -> list[tuple[str, str, int]]:
        """Queue the reminders of supplies lo <= id < hi; (kind, route, count) for each
        pair with some. See _writes for `on_conflict`."""
        ctes, unqueued, params = self._selection(lo, hi)
        outbox_sql, outbox_params = self._writes(on_conflict=on_conflict)
        with connection.cursor() as cursor:
            # `sel`, what the insert reads: the rows wanted, less those already queued,
            # looked up one by one unless the batch has none queued yet (then a taken key
            # fails the insert, and _batch_queue does the batch again).
            if on_conflict or not self._fresh(cursor, ctes, unqueued, params):
                ctes += f", sel AS (SELECT * FROM wanted k WHERE {unqueued})"
            else:
                ctes += ", sel AS (SELECT * FROM wanted k)"
            if self.postgresql:
                # The messages inserted are counted by kind (the key's fourth part) and
                # route as the insert returns them: the selection is read once, by the
                # insert, and never kept (a data-modifying CTE always runs to completion).
                kind = "split_part(q.dedupe_key, ':', 4)"
                count_sql = (
                    f"SELECT {kind}, q.route, COUNT(*) FROM queued q GROUP BY {kind}, q.route"
                )
                if self.skipped:
                    count_sql += f" UNION ALL {self._skipped_sql()}"
                # What the statement keeps for its end (the returned keys; with no
                # template, the due supplies the skipped count reads again) stays in
                # memory: at the default 4 MB a batch of 50,000 supplies spills it to a
                # temporary file. For this transaction only.
                cursor.execute(f"SET LOCAL work_mem = '{_WORK_MEM}'")
                cursor.execute(
                    f"{ctes}, queued AS ({outbox_sql} RETURNING route, dedupe_key) {count_sql}",
                    [*params, *outbox_params],
                )
                return [(k, r, int(n)) for k, r, n in cursor.fetchall()]
            # SQLite has no INSERT in a CTE: the selection goes to a temporary table.
            count_sql = "SELECT sel.kind, sel.route, COUNT(*) FROM sel GROUP BY sel.kind, sel.route"
            skipped: list[tuple[str, str, int]] = []
            if self.skipped:
                cursor.execute(f"{ctes} {self._skipped_sql()}", params)
                skipped = [(k, r, int(n)) for k, r, n in cursor.fetchall()]
            cursor.execute("DROP TABLE IF EXISTS temp.reminder_batch")
            cursor.execute(f"CREATE TEMP TABLE reminder_batch AS {ctes} SELECT * FROM sel", params)
            with_sel = "WITH sel AS (SELECT * FROM temp.reminder_batch) "
            cursor.execute(with_sel + outbox_sql, outbox_params)
            cursor.execute(with_sel + count_sql)
            rows = [(k, r, int(n)) for k, r, n in cursor.fetchall()]
            cursor.execute("DROP TABLE temp.reminder_batch")
            return rows + skipped


def _template_sql(template: str, values: dict[str, tuple[str, list[Any]]]) -> tuple[str, list[Any]]:
    """A %(name)s template as an SQL concatenation: its text as parameters, each
    placeholder as the expression `values` gives for it."""
    parts: list[str] = []
    params: list[Any] = []
    literal: list[str] = []

    def flush() -> None:
        text = "".join(literal)
        literal.clear()
        if text:
            parts.append("%s")
            params.append(text)

    position = 0
    for match in _PLACEHOLDER.finditer(template):
        literal.append(_plain(template, template[position : match.start()]))
        position = match.end()
        if match.group(0) == "%%":
            literal.append("%")
            continue
        flush()
        sql, sql_params = values[match.group(1)]
        parts.append(f"({sql})")
        params += sql_params
    literal.append(_plain(template, template[position:]))
    flush()
    return " || ".join(parts) or "''", params


def _plain(template: str, text: str) -> str:
    if "%" in text:  # as `template % params` would refuse it
        raise ValueError(f"a stray % in the template {template!r}")
    return text
