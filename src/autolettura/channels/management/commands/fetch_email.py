from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from autolettura import clock
from autolettura.channels.email import (
    FETCH_LIMIT,
    MailboxNotConfigured,
    MailboxUnavailable,
    email_fetch,
)


class Command(BaseCommand):
    help = (
        "Read the unseen mails of the readings mailbox (AUTOLETTURA_IMAP_*), take their "
        "readings in charge and answer each in its thread. Safe to run again: a mail already "
        "taken is never taken twice. Run it from cron where there is no Celery beat."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--limit",
            type=int,
            default=FETCH_LIMIT,
            help=f"mails to take at most in this run (default {FETCH_LIMIT})",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["limit"] < 1:
            raise CommandError("--limit must be at least 1")
        try:
            summary = email_fetch(now=clock.now(), limit=options["limit"])
        except (MailboxNotConfigured, MailboxUnavailable) as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"{summary.fetched} e-mails: {summary.readings} readings taken in charge, "
            f"{summary.rejected} answered with what to fix, {summary.ignored} not answered "
            f"(automatic or bulk mail)"
            + (
                f", {summary.failed} failed (left unread for the next run)"
                if summary.failed
                else ""
            )
        )
        if summary.failed:
            raise CommandError(
                f"{summary.failed} e-mails could not be taken in charge: see the log"
            )
