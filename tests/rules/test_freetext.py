"""Free text: the four items of a reading out of what customers write (e-mail, WhatsApp, SMS)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autolettura.rules.freetext import (
    ParsedMessage,
    clean_text,
    guess_language,
    parse_message,
    parse_sms,
)

from .support import properties

FULL = ParsedMessage("400120734", "1004127", "01234", "20/12/2026")


def items(parsed: ParsedMessage) -> tuple[str | None, ...]:
    return (parsed.supply_code, parsed.customer_code, parsed.reading, parsed.read_on)


class TestParseMessage:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            (
                "codice utenza 400120734, codice utente 1004127, lettura 01234 del 20/12/2026",
                ("400120734", "1004127", "01234", "20/12/2026"),
            ),
            (
                "Utenza: 400120734 / Utente: 1004127 / Lettura contatore: 1234 mc / "
                "Data: 20-12-2026",
                ("400120734", "1004127", "1234", "20-12-2026"),
            ),
            (
                "buongiorno, vi comunico la lettura 1234 (mc) per l'utenza 400120734 codice "
                "cliente 1004127",
                ("400120734", "1004127", "1234", None),
            ),
            (
                "supply code 400120734, customer code 1004127, reading 1234, date 20/12/2026",
                ("400120734", "1004127", "1234", "20/12/2026"),
            ),
            (
                "cod. utenza 400120734 n. utente 1004127 lettura del contatore 01234",
                ("400120734", "1004127", "01234", None),
            ),
            (
                "Codice utenza n° 400120734\nCodice cliente nr. 1004127\nLettura del "
                "20.12.2026: 01234",
                ("400120734", "1004127", "01234", "20.12.2026"),
            ),
            (
                "Hello, my meter reading is 1234 m3, supply number 400120734, customer "
                "number 1004127. I read it on December 18, 2026.",
                ("400120734", "1004127", "1234", "18/12/2026"),
            ),
            (
                "lettura 1234 del 18 dicembre 2026, utenza 400120734, utente 1004127",
                ("400120734", "1004127", "1234", "18/12/2026"),
            ),
            (
                "Il contatore segna 1234. Utenza 400120734, utente 1004127",
                ("400120734", "1004127", "1234", None),
            ),
        ],
    )
    def test_finds_the_four_items_in_common_phrasings(
        self, text: str, expected: tuple[str | None, ...]
    ) -> None:
        assert items(parse_message(text)) == expected

    def test_keeps_decimals_as_written_so_that_r2_can_refuse_them(self) -> None:
        parsed = parse_message("utenza 400120734 utente 1004127 lettura 1234,5 mc")

        assert parsed.reading == "1234,5"

    def test_keeps_a_two_digit_year_as_written_so_that_r3_can_refuse_it(self) -> None:
        parsed = parse_message("utenza 400120734 utente 1004127 lettura 1234 data 20/12/26")

        assert parsed.read_on == "20/12/26"

    def test_ignores_the_meter_serial_the_phone_and_the_address(self) -> None:
        text = (
            "Codice utenza (si trova sulla prima pagina della bolletta): 400120734\n"
            "Codice utente: 1004127\n"
            "Matricola contatore 12345678\n"
            "Lettura del 18/12/2026: 01234\n"
            "Tel. 347 123 4567\n"
            "Via Roma 12"
        )

        assert items(parse_message(text)) == ("400120734", "1004127", "01234", "18/12/2026")

    def test_a_matricola_alone_is_not_the_reading(self) -> None:
        parsed = parse_message("utenza 400120734 utente 1004127 matricola 12345678")

        assert parsed.reading is None
        assert parsed.missing == ["reading", "read_on"]

    def test_the_date_of_the_reading_beats_the_date_of_the_bill(self) -> None:
        parsed = parse_message(
            "Bolletta del 10/11/2026. Lettura 1234 del 20/12/2026, utenza 400120734, "
            "cliente 1004127"
        )

        assert parsed.read_on == "20/12/2026"

    def test_takes_bare_values_in_the_order_of_the_bill(self) -> None:
        parsed = parse_message("Buongiorno,\n400120734\n1004127\n01234\n\nMario Rossi")

        assert items(parsed) == ("400120734", "1004127", "01234", None)

    def test_a_lone_number_fills_the_one_item_missing(self) -> None:
        parsed = parse_message("codice utenza 400120734, codice utente 1004127\n\n01234")

        assert parsed.reading == "01234"

    def test_does_not_guess_when_bare_numbers_and_missing_items_do_not_match(self) -> None:
        parsed = parse_message("lettura 1234. Mario Rossi, 15121 Alessandria")

        assert (parsed.supply_code, parsed.customer_code) == (None, None)

    def test_a_number_in_cubic_metres_is_the_reading(self) -> None:
        assert parse_message("utenza 400120734 utente 1004127: 1234mc").reading == "1234"

    def test_ignores_quoted_replies(self) -> None:
        text = "lettura 01234\n\n> codice utenza 999999999\n> codice utente 8888888\n"

        assert items(parse_message(text)) == (None, None, "01234", None)

    def test_ignores_a_quoted_reply_under_its_attribution_line(self) -> None:
        text = (
            "utenza 400120734 utente 1004127 lettura 1234\n\n"
            "Il giorno lun 20 dic 2026 alle ore 10:00 Acque di Valmora\n"
            "<letture@acquedivalmora.example> ha scritto:\n\n"
            "Esempio: codice utenza 123456789, lettura 9999 del 01/01/2026\n"
        )

        assert items(parse_message(text)) == ("400120734", "1004127", "1234", None)

    def test_ignores_an_outlook_reply_block(self) -> None:
        text = (
            "lettura 1234\n\n"
            "Da: Acque di Valmora <letture@acquedivalmora.example>\n"
            "Inviato: lunedì 20 dicembre 2026 10:00\n"
            "A: Mario Rossi\n"
            "Oggetto: La tua lettura\n\n"
            "codice utenza 123456789 del 01/01/2026"
        )

        assert items(parse_message(text)) == (None, None, "1234", None)

    def test_ignores_the_signature(self) -> None:
        text = "lettura 1234\n-- \nMario Rossi\nutenza 555555 cell. 347 1234567"

        assert items(parse_message(text)) == (None, None, "1234", None)

    def test_a_receipt_in_the_subject_of_a_reply_is_no_reading(self) -> None:
        assert parse_message("Re: La tua lettura AL-2026-000123").empty

    def test_reads_the_subject_for_what_the_text_lacks(self) -> None:
        parsed = parse_message("codice utente 1004127, lettura 1234", subject="Utenza 400120734")

        assert items(parsed) == ("400120734", "1004127", "1234", None)

    def test_the_text_wins_over_the_subject(self) -> None:
        parsed = parse_message(
            "codice utenza 400120734, codice utente 1004127",
            subject="Lettura 1234 utenza 999999",
        )

        assert (parsed.supply_code, parsed.reading) == ("400120734", "1234")

    def test_an_item_written_twice_keeps_its_first_value(self) -> None:
        parsed = parse_message("lettura 1234, utenza 400120734, utente 1004127, lettura 5678")

        assert parsed.reading == "1234"

    def test_says_what_is_missing_and_that_the_date_may_default(self) -> None:
        parsed = parse_message("lettura 1234 per l'utenza 400120734")

        assert parsed.missing == ["customer_code", "read_on"]
        assert parsed.read_on_defaulted
        assert not parsed.complete

    def test_a_message_with_nothing_in_it_lacks_everything(self) -> None:
        parsed = parse_message("Buongiorno, come faccio a comunicare la lettura?")

        assert parsed.empty
        assert parsed.missing == ["supply_code", "customer_code", "reading", "read_on"]

    def test_a_complete_message_lacks_nothing(self) -> None:
        assert FULL.missing == []
        assert FULL.complete and not FULL.read_on_defaulted

    def test_reads_the_sms_shape_in_an_email_too(self) -> None:
        assert items(parse_message("400120734#1004127#01234#20/12/2026\n")) == items(FULL)

    def test_ignores_digits_of_other_scripts(self) -> None:
        assert parse_message("lettura ١٢٣٤").reading is None


class TestParseSms:
    def test_reads_the_four_items_by_position(self) -> None:
        assert items(parse_sms("400120734#1004127#01234#20/12/2026")) == items(FULL)

    def test_the_date_is_optional(self) -> None:
        parsed = parse_sms("400120734#1004127#01234")

        assert items(parsed) == ("400120734", "1004127", "01234", None)
        assert parsed.read_on_defaulted

    def test_takes_spaces_around_the_hashes_and_a_trailing_hash(self) -> None:
        assert parse_sms(" 400120734 # 1004127 # 01234 # ").reading == "01234"

    def test_takes_spaces_instead_of_hashes(self) -> None:
        assert items(parse_sms("400120734 1004127 01234 20/12/2026")) == items(FULL)

    def test_an_empty_item_is_missing(self) -> None:
        parsed = parse_sms("400120734##01234")

        assert parsed.missing == ["customer_code", "read_on"]

    def test_keeps_decimals_as_written(self) -> None:
        assert parse_sms("400120734#1004127#1234,5").reading == "1234,5"

    def test_a_full_stop_closing_the_message_is_no_decimal_point(self) -> None:
        assert parse_sms("400120734 1004127 1234.").reading == "1234"

    def test_reads_labelled_items_as_free_text(self) -> None:
        parsed = parse_sms("lettura 1234 utenza 400120734 utente 1004127")

        assert items(parsed) == ("400120734", "1004127", "1234", None)

    def test_reads_labelled_items_between_hashes(self) -> None:
        parsed = parse_sms("utenza 400120734#utente 1004127#lettura 1234")

        assert items(parsed) == ("400120734", "1004127", "1234", None)


class TestCleanText:
    def test_keeps_what_the_customer_wrote(self) -> None:
        assert clean_text("Buongiorno,\nlettura 1234\n") == "Buongiorno,\nlettura 1234\n"

    def test_drops_quoted_lines_and_everything_below_the_signature(self) -> None:
        assert clean_text("a\n> b\nc\n-- \nd") == "a\nc"

    def test_drops_an_original_message_block(self) -> None:
        assert clean_text("a\n-----Original Message-----\nb") == "a"


class TestGuessLanguage:
    def test_english(self) -> None:
        assert guess_language("Hello, please find my meter reading below. Thanks") == "en"

    def test_italian(self) -> None:
        assert guess_language("Buongiorno, vi invio la lettura del contatore. Grazie") == "it"

    def test_italian_when_nothing_tells(self) -> None:
        assert guess_language("400120734 1004127 1234") == "it"


# --- Properties ------------------------------------------------------------------------------

SUPPLY_PHRASES = [
    "codice utenza {}",
    "Codice utenza: {}",
    "cod. utenza {}",
    "n. utenza {}",
    "numero utenza {}",
    "Utenza: {}",
    "per l'utenza {}",
    "codice utenza n. {}",
    "supply code {}",
    "Supply number: {}",
]
CUSTOMER_PHRASES = [
    "codice utente {}",
    "Codice utente: {}",
    "cod. utente {}",
    "codice cliente {}",
    "Utente: {}",
    "cliente n. {}",
    "customer code {}",
    "Customer number: {}",
]
READING_PHRASES = [
    "lettura {}",
    "Lettura contatore: {} mc",
    "Lettura: {}",
    "la lettura è {}",
    "vi comunico la lettura {} (mc)",
    "autolettura {}",
    "il contatore segna {}",
    "meter reading {}",
    "reading: {}",
    "my reading is {} m3",
    "{} mc",
]
DATE_PHRASES = [
    "del {}",
    "data {}",
    "Data: {}",
    "in data {}",
    "data lettura {}",
    "date {}",
    "reading date: {}",
    "letta il {}",
]
SEPARATORS = [", ", "\n", " / ", ". ", "; ", " - ", "\n\n"]
OPENINGS = ["", "Buongiorno,\n", "Salve, ", "Hello,\n", "Gentili signori,\n\n"]
CLOSINGS = [
    "",
    "\nGrazie",
    "\n\nCordiali saluti\nMario Rossi",
    "\n-- \nMario Rossi\nutenza 999999999 lettura 5555",
    "\nMario Rossi, cell. 347 1234567",
    "\nMatricola contatore 12345678",
    "\n\n> codice utenza 999999999\n> lettura 5555 del 01/01/2026",
]

codes = st.from_regex(r"[1-9][0-9]{3,10}|[A-Z][0-9]{4,9}", fullmatch=True)
readings = st.from_regex(r"[0-9]{1,6}|[0-9]{1,5}[,.][0-9]{1,3}", fullmatch=True)


@st.composite
def dates(draw: st.DrawFn) -> str:
    day = draw(st.integers(1, 31))
    month = draw(st.integers(1, 12))
    year = draw(st.integers(2000, 2099))
    separator = draw(st.sampled_from("/.-"))
    pad = draw(st.booleans())
    d, m = (f"{day:02d}", f"{month:02d}") if pad else (str(day), str(month))
    return separator.join([d, m, str(year)])


@st.composite
def messages(draw: st.DrawFn) -> tuple[str, tuple[str | None, ...]]:
    supply, customer, reading = draw(codes), draw(codes), draw(readings)
    read_on = draw(st.none() | dates())
    parts = [
        draw(st.sampled_from(SUPPLY_PHRASES)).format(supply),
        draw(st.sampled_from(CUSTOMER_PHRASES)).format(customer),
        draw(st.sampled_from(READING_PHRASES)).format(reading),
    ]
    if read_on is not None:
        parts.append(draw(st.sampled_from(DATE_PHRASES)).format(read_on))
    parts = draw(st.permutations(parts))
    body = "".join(
        part + (draw(st.sampled_from(SEPARATORS)) if i < len(parts) - 1 else "")
        for i, part in enumerate(parts)
    )
    text = draw(st.sampled_from(OPENINGS)) + body + draw(st.sampled_from(CLOSINGS))
    return text, (supply, customer, reading, read_on)


class TestProperties:
    @properties
    @given(st.text(max_size=400))
    def test_no_text_makes_the_parsers_raise(self, text: str) -> None:
        parsed = parse_message(text, subject=text)
        sms = parse_sms(text)

        for result in (parsed, sms):
            assert set(result.missing) <= {"supply_code", "customer_code", "reading", "read_on"}
            assert all(
                value is None or isinstance(value, str)
                for value in (result.supply_code, result.customer_code, result.reading)
            )

    @properties
    @given(
        st.lists(
            st.sampled_from(
                [
                    "utenza",
                    "utente",
                    "lettura",
                    "del",
                    "matricola",
                    "tel.",
                    "mc",
                    "#",
                    "(",
                    ")",
                    "1234",
                    "20/12/2026",
                    ",5",
                    "\n",
                    "> ",
                    "-- ",
                    " ",
                    ": ",
                    "n.",
                ]
            ),
            max_size=60,
        )
    )
    def test_no_mix_of_labels_and_values_makes_the_parser_raise(self, words: list[str]) -> None:
        text = "".join(words)

        parsed = parse_message(text)

        assert parsed.missing == [
            name
            for name in ("supply_code", "customer_code", "reading", "read_on")
            if getattr(parsed, name) is None
        ]

    @properties
    @given(messages())
    def test_gives_back_the_parts_a_message_was_built_from(
        self, message: tuple[str, tuple[str | None, ...]]
    ) -> None:
        text, expected = message

        assert items(parse_message(text)) == expected, text

    @properties
    @given(codes, codes, readings, st.none() | dates(), st.sampled_from(["#", " # ", " "]))
    def test_the_sms_shape_gives_back_its_parts(
        self, supply: str, customer: str, reading: str, read_on: str | None, separator: str
    ) -> None:
        parts = [supply, customer, reading] + ([read_on] if read_on else [])

        assert items(parse_sms(separator.join(parts))) == (supply, customer, reading, read_on)
