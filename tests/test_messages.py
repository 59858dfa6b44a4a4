"""Translations: Italian by default, English on request, and no string left untranslated."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import polib
import pytest
from django.test import Client
from django.utils import translation

from autolettura.customers.models import Supply, Usage
from autolettura.readings.messages import error_message, outcome_message
from autolettura.readings.services import reading_submit
from autolettura.rules.errors import FieldError
from tests.api_helpers import Clock, codes, post_reading
from tests.conftest import rome

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "autolettura"
PO_PATH = PACKAGE / "locale" / "it" / "LC_MESSAGES" / "django.po"
MO_PATH = PO_PATH.with_suffix(".mo")
PLACEHOLDER = re.compile(r"%(?:\((\w+)\))?[sd]")
# gettext functions, and the positions of their msgid arguments.
GETTEXT_ARGS = {
    "_": (0,),
    "gettext": (0,),
    "gettext_lazy": (0,),
    "gettext_noop": (0,),
    "ngettext": (0, 1),
    "ngettext_lazy": (0, 1),
    "pgettext": (1,),
    "pgettext_lazy": (1,),
}

DECEMBER_20 = rome(2026, 12, 20, 10, 0)


@pytest.fixture(scope="module")
def po() -> polib.POFile:
    return polib.pofile(str(PO_PATH))


def translations(entry: Any) -> list[str]:
    """An entry's Italian text: its msgstr, or each of its plural forms; [] if any is empty."""
    if entry.msgid_plural:
        forms = [entry.msgstr_plural[n] for n in sorted(entry.msgstr_plural)]
    else:
        forms = [entry.msgstr]
    return forms if forms and all(form.strip() for form in forms) else []


def source_msgids() -> set[str]:
    """Every string passed to a gettext function in the package's Python code."""
    found: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            for position in GETTEXT_ARGS.get(name or "", ()):
                if position < len(node.args):
                    arg = node.args[position]
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                        found.add(arg.value)
    return found


class TestItalianCatalogue:
    def test_every_message_has_an_italian_translation(self, po: polib.POFile) -> None:
        untranslated = [e.msgid for e in po if not e.obsolete and not translations(e)]
        fuzzy = [e.msgid for e in po if "fuzzy" in e.flags]

        assert untranslated == []
        assert fuzzy == []
        assert po.obsolete_entries() == []
        assert po.metadata["Language"] == "it"

    def test_every_string_marked_in_the_code_is_in_the_catalogue(self, po: polib.POFile) -> None:
        catalogue = {e.msgid for e in po} | {e.msgid_plural for e in po if e.msgid_plural}

        missing = sorted(source_msgids() - catalogue)

        assert missing == [], (
            "run `autolettura makemessages -l it --add-location=file` from src/autolettura, "
            "translate, then `python scripts/compile_messages.py`"
        )

    def test_translations_keep_every_placeholder(self, po: polib.POFile) -> None:
        for entry in po:
            source = entry.msgid_plural or entry.msgid
            for text in translations(entry):
                assert sorted(PLACEHOLDER.findall(text)) == sorted(PLACEHOLDER.findall(source)), (
                    entry.msgid
                )

    def test_the_compiled_catalogue_is_up_to_date(self, po: polib.POFile) -> None:
        compiled = polib.mofile(str(MO_PATH))

        def pairs(entries: Iterable[Any]) -> dict[tuple[str | None, str], list[str]]:
            return {(e.msgctxt, e.msgid): translations(e) for e in entries if e.msgid}

        assert pairs(compiled) == pairs(po.translated_entries()), (
            "run `python scripts/compile_messages.py`"
        )


class TestMessageLanguage:
    def test_a_format_error_speaks_italian_or_english(self) -> None:
        error = FieldError("reading", "decimals_not_allowed")

        with translation.override("it"):
            italian = error_message(error)
        with translation.override("en"):
            english = error_message(error)

        assert italian.startswith("Comunica la lettura senza i decimali:")
        assert english.startswith("Send the reading without decimals:")

    def test_codes_mismatch_points_to_page_one_of_the_bill(self) -> None:
        with translation.override("it"):
            message = error_message(FieldError("codes", "codes_mismatch"))

        assert message == (
            "I codici non corrispondono: controlla il codice utenza e il codice utente sulla "
            "prima pagina della bolletta."
        )

    def test_a_field_name_inside_a_message_is_translated_too(self) -> None:
        with translation.override("it"):
            message = error_message(FieldError("read_on", "required"))

        assert message == "Manca il campo data di lettura: compilalo, per favore."

    def test_choice_labels_are_translated(self) -> None:
        with translation.override("it"):
            assert str(Usage.DOMESTIC_RESIDENT.label) == "domestico residente"
        with translation.override("en"):
            assert str(Usage.DOMESTIC_RESIDENT.label) == "domestic, resident"

    @pytest.mark.django_db
    def test_an_outcome_speaks_italian_or_english(self, supply: Supply) -> None:
        submission = reading_submit(
            channel="APP", reading="12", read_on="20/12/2026", now=DECEMBER_20, **codes(supply)
        )

        with translation.override("it"):
            italian = outcome_message(submission.reading, submission.window)
        with translation.override("en"):
            english = outcome_message(submission.reading, submission.window)

        receipt = submission.reading.receipt
        assert italian.startswith(f"Lettura ricevuta con protocollo {receipt} e accettata")
        assert english.startswith(f"Reading received with receipt {receipt} and accepted")


@pytest.mark.django_db
class TestApiLanguage:
    @pytest.fixture(autouse=True)
    def _clock(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr("autolettura.clock.now", Clock(DECEMBER_20))

    def post_decimals(self, api: Client, supply: Supply, **headers: str) -> str:
        response = api.post(
            "/api/v1/readings",
            {**codes(supply), "reading": "123,5", "read_on": "20/12/2026"},
            content_type="application/json",
            headers=headers,
        )
        assert response.status_code == 422, response.content
        (error,) = response.json()["errors"]
        assert (error["field"], error["code"]) == ("reading", "decimals_not_allowed")
        message: str = error["message"]
        return message

    def test_answers_in_italian_by_default(self, api: Client, supply: Supply) -> None:
        assert self.post_decimals(api, supply).startswith("Comunica la lettura senza i decimali")

    def test_answers_in_english_when_asked(self, api: Client, supply: Supply) -> None:
        message = self.post_decimals(api, supply, **{"Accept-Language": "en"})

        assert message.startswith("Send the reading without decimals")

    def test_answers_in_english_to_a_browser_preferring_british_english(
        self, api: Client, supply: Supply
    ) -> None:
        message = self.post_decimals(api, supply, **{"Accept-Language": "en-GB,en;q=0.9"})

        assert message.startswith("Send the reading without decimals")

    def test_answers_in_italian_to_a_language_it_does_not_speak(
        self, api: Client, supply: Supply
    ) -> None:
        message = self.post_decimals(api, supply, **{"Accept-Language": "fr-FR,fr;q=0.9"})

        assert message.startswith("Comunica la lettura senza i decimali")

    def test_an_accepted_reading_is_told_in_the_language_asked(
        self, api: Client, supply: Supply
    ) -> None:
        body = {**codes(supply), "reading": "12", "read_on": "20/12/2026"}

        italian = post_reading(api, body)
        english = api.post(
            "/api/v1/readings",
            {**body, "reading": "13"},
            content_type="application/json",
            headers={"Accept-Language": "en"},
        )

        assert italian.status_code == 201, italian.content
        assert italian.json()["message"].startswith("Lettura ricevuta con protocollo")
        assert english.status_code == 201, english.content
        assert english.json()["message"].startswith("Reading received with receipt")
