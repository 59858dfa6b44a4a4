"""`autolettura demo`: load the demo data set and print how to sign in."""

from __future__ import annotations

import json
import logging
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from autolettura import clock
from autolettura.demo.regulation import LateBillStory, late_bill_story_load
from autolettura.demo.rounds import RoundStory, round_story_load
from autolettura.demo.services import Credentials, DemoLoad, demo_load
from autolettura.rules.window import rome_today

BASE_URL = "http://127.0.0.1:8000"


class Command(BaseCommand):
    help = "Load a small, realistic demo data set (idempotent) and print how to sign in."

    def handle(self, *args: Any, **options: Any) -> None:
        # One log line per reading of the history is noise here; -v 2 shows them.
        readings_log = logging.getLogger("autolettura.readings")
        level = readings_log.level
        if options["verbosity"] < 2:
            readings_log.setLevel(logging.WARNING)
        try:
            loaded = demo_load(now=clock.now())
            story = late_bill_story_load(now=clock.now())
            rounds = round_story_load(now=clock.now())
        finally:
            readings_log.setLevel(level)
        utility = settings.AUTOLETTURA_UTILITY_NAME
        if loaded.created:
            self.stdout.write(self.style.SUCCESS(f"Demo data for {utility} loaded."))
        else:
            self.stdout.write(f"Demo data for {utility} already loaded: nothing changed.")
        self.stdout.write(sign_in_instructions(loaded))
        if story is not None:
            self.stdout.write(regulator_story(story, year=rome_today(clock.now()).year))
        if rounds is not None:
            self.stdout.write(round_story(rounds))


def _password(credentials: Credentials) -> str:
    if credentials.password_is_demo:
        return credentials.password
    return "(this user existed before the demo: its own password, unchanged)"


def sign_in_instructions(loaded: DemoLoad) -> str:
    """What to do next, the same text every time the demo is loaded on the same day."""
    example = loaded.example
    token_body = json.dumps(
        {"username": loaded.customer.username, "password": loaded.customer.password}
    )
    reading_body = json.dumps(
        {
            "supply_code": example.supply_code,
            "customer_code": example.customer_code,
            "reading": example.reading,
            "read_on": f"{example.read_on:%d/%m/%Y}",
        }
    )
    window = f"{example.window.start:%d/%m/%Y} to {example.window.end:%d/%m/%Y}"
    if example.inside_window:
        outcome = f"Today is inside the self-reading window ({window}): it will be accepted."
    else:
        outcome = (
            "Today is outside the self-reading window: the reading is taken in charge with a "
            f"receipt and discarded (outside_window), and the answer names the next window, "
            f"{window}. AUTOLETTURA_WINDOW_POLICY=lenient accepts readings on any day."
        )
    lines = [
        "",
        "Sportello Online (the customer area)",
        f"  {BASE_URL}/accedi/",
        "",
        "Back office (operators), and the Django admin",
        f"  {BASE_URL}/backoffice/ and {BASE_URL}/admin/",
        f"  username: {loaded.staff.username}",
        f"  password: {_password(loaded.staff)}",
        "",
        "API documentation",
        f"  {BASE_URL}/api/v1/docs",
        "",
        f"Demo customer: {loaded.customer_name} (the Sportello Online and the API)",
        f"  username: {loaded.customer.username}",
        f"  password: {_password(loaded.customer)}",
        f"  customer code (codice utente): {example.customer_code}",
        f"  supply code (codice utenza):   {example.supply_code}",
        "",
        "1. Get an API token:",
        f"  curl -s -X POST {BASE_URL}/api/v1/auth/token \\",
        "    -H 'Content-Type: application/json' \\",
        f"    -d '{token_body}'",
        "",
        "2. Send a reading with the codes printed on the bill:",
        f"  curl -s -X POST {BASE_URL}/api/v1/readings \\",
        "    -H 'Content-Type: application/json' \\",
        f"    -d '{reading_body}'",
        f"  {outcome}",
        "  Add -H 'Accept-Language: en' for the messages in English (Italian by default).",
        "",
        "3. See the customer's supplies and readings with the token:",
        f"  curl -s {BASE_URL}/api/v1/me/supplies -H 'Authorization: Bearer TOKEN'",
        f"  curl -s {BASE_URL}/api/v1/me/supplies/{example.supply_code}/readings \\",
        "    -H 'Authorization: Bearer TOKEN'",
        "",
        f"Bills: {loaded.bills}, issued from {loaded.billing_starts_on:%d/%m/%Y} (the demo's",
        "  migration: the previous system billed the periods before). PDFs in the customer",
        "  area and at /api/v1/me/supplies/SUPPLY/bills. Bill the next period with",
        f"  autolettura bill-run --through {loaded.next_bill_run:%Y-%m-%d}",
        "",
        "Demo supplies (codice utenza, codice utente, holder: what it shows)",
    ]
    lines += [
        f"  {s.supply_code}  {s.customer_code}  {s.holder}: {s.note}" for s in loaded.supplies
    ]
    lines += [
        "",
        "These passwords are for the demo only: never load the demo into a production database.",
    ]
    return "\n".join(lines)


def regulator_story(story: LateBillStory, *, year: int) -> str:
    """The regulator's part of the demo: the late bill, its compensation, the report."""
    credited = (
        f"credited on bill {story.credited_on} as its own line"
        if story.credited_on
        else "to be credited on the supply's next bill"
    )
    return "\n".join(
        [
            "",
            "The regulator (ARERA)",
            f"  Supply {story.supply_code} (codice utente {story.customer_code}, user code",
            f"  {story.user_code}): bill {story.late_bill} came {story.late_days} days after its",
            f"  period (the limit is 45): {story.compensation_eur} EUR of automatic",
            f"  compensation, {credited}.",
            f"  Deadlines due today and late: {BASE_URL}/backoffice/obblighi/",
            "  The daily clock: autolettura obligations-tick",
            f"  The yearly report: autolettura arera-report --year {year} arera-{year}.xlsx",
        ]
    )


def round_story(story: RoundStory) -> str:
    """The readers' part of the demo: the round announced, the failed visit's invitation."""
    invited = (
        "its customer was invited to send the reading from the portal"
        if story.invited
        else "its customer has no address to be invited on"
    )
    return "\n".join(
        [
            "",
            "Reading rounds",
            f"  Visits on {story.visit_on}: {story.noticed} customers told the day and the "
            "time slot.",
            f"  The visit to supply {story.failed_supply_code} failed: {invited}.",
            "  The notices and invitations: autolettura rounds-notices (hourly by Celery beat);",
            "  the plan: autolettura reading-plan --from YYYY-MM-DD --to YYYY-MM-DD",
        ]
    )
