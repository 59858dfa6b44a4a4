"""E-mail, without a database: which mails are answered (RFC 3834), ids, senders, HTML text."""

from __future__ import annotations

from datetime import date
from email import message_from_string
from email.message import Message

import pytest

from autolettura.channels.email import (
    auto_reply_reason,
    html_text,
    internal_date,
    provider_message_id,
    sender_address,
    sent_on,
)
from tests.conftest import rome

OWN = {"letture@acquedivalmora.example", "noreply@acquedivalmora.example"}


def mail(**headers: str) -> Message:
    """A mail as it arrives (compat32, as imap_tools parses it), with these headers."""
    fields = {
        "From": "Mario Rossi <mario.rossi@example.org>",
        "To": "letture@acquedivalmora.example",
        "Subject": "Lettura contatore",
        "Message-ID": "<m1@example.org>",
        **{name.replace("_", "-"): value for name, value in headers.items()},
    }
    head = "".join(f"{name}: {value}\r\n" for name, value in fields.items())
    return message_from_string(
        head + "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        "codice utenza S1, codice utente U1, lettura 123\r\n"
    )


class TestAutoReplyReason:
    def test_answers_a_persons_mail(self) -> None:
        assert auto_reply_reason(mail(), own_addresses=OWN) is None

    def test_answers_a_mail_that_says_it_is_not_automatic(self) -> None:
        assert auto_reply_reason(mail(Auto_Submitted="no"), own_addresses=OWN) is None

    @pytest.mark.parametrize(
        "headers",
        [
            {"Auto_Submitted": "auto-replied"},
            {"Auto_Submitted": "auto-generated"},
            {"Auto_Submitted": "auto-notified; owner-email=x@example.org"},
            {"X_Autoreply": "yes"},
            {"X_Autorespond": "Out of office"},
            {"X_Auto_Response_Suppress": "All"},
            {"X_Auto_Response_Suppress": "DR, OOF, AutoReply"},
            {"Subject": "Risposta automatica: Lettura contatore"},
            {"Subject": "Automatic reply: Lettura contatore"},
            {"Subject": "Out of Office: Lettura contatore"},
        ],
    )
    def test_does_not_answer_an_automatic_reply(self, headers: dict[str, str]) -> None:
        assert auto_reply_reason(mail(**headers), own_addresses=OWN) == "auto_submitted"

    @pytest.mark.parametrize("precedence", ["bulk", "junk", "list", "Bulk"])
    def test_does_not_answer_bulk_mail(self, precedence: str) -> None:
        assert auto_reply_reason(mail(Precedence=precedence), own_addresses=OWN) == "bulk"

    @pytest.mark.parametrize(
        "headers",
        [{"List_Id": "<news.example.org>"}, {"List_Unsubscribe": "<mailto:x@example.org>"}],
    )
    def test_does_not_answer_a_mailing_list(self, headers: dict[str, str]) -> None:
        assert auto_reply_reason(mail(**headers), own_addresses=OWN) == "mailing_list"

    def test_does_not_answer_a_bounce(self) -> None:
        assert auto_reply_reason(mail(Return_Path="<>"), own_addresses=OWN) == "bounce"

    def test_does_not_answer_a_delivery_report(self) -> None:
        report = mail()
        report.replace_header("Content-Type", 'multipart/report; report-type="delivery-status"')

        assert auto_reply_reason(report, own_addresses=OWN) == "bounce"

    def test_answers_a_mail_with_a_return_path(self) -> None:
        message = mail(Return_Path="<mario.rossi@example.org>")

        assert auto_reply_reason(message, own_addresses=OWN) is None

    @pytest.mark.parametrize(
        "sender",
        [
            "MAILER-DAEMON@mx.example.org",
            "postmaster@example.org",
            "noreply@example.org",
            "no-reply@shop.example.org",
            "do-not-reply@example.org",
            "owner-news@lists.example.org",
            "news-request@lists.example.org",
        ],
    )
    def test_does_not_answer_a_robots_address(self, sender: str) -> None:
        assert auto_reply_reason(mail(From=sender), own_addresses=OWN) == "system_sender"

    def test_does_not_answer_its_own_address(self) -> None:
        message = mail(From="Acque di Valmora <Letture@AcqueDiValmora.example>")

        assert auto_reply_reason(message, own_addresses=OWN) == "own_address"

    def test_does_not_answer_a_mail_without_a_sender(self) -> None:
        assert auto_reply_reason(mail(From="undisclosed-recipients:;"), own_addresses=OWN) == (
            "no_sender"
        )


class TestSenderAddress:
    def test_is_the_from_address_with_its_domain_in_lower_case(self) -> None:
        assert sender_address(mail(From="Mario <Mario.Rossi@Example.ORG>")) == (
            "Mario.Rossi@example.org"
        )

    @pytest.mark.parametrize("sender", ["", "Mario Rossi", "mario@", "a@b@example.org", "x@local"])
    def test_is_empty_when_it_cannot_be_written_back_to(self, sender: str) -> None:
        assert sender_address(mail(From=sender)) == ""


class TestProviderMessageId:
    def test_is_the_message_id(self) -> None:
        assert provider_message_id(mail()) == "<m1@example.org>"

    def test_is_a_hash_of_the_mail_without_one(self) -> None:
        first, second = mail(Message_ID=""), mail(Message_ID="", Subject="Another")

        assert provider_message_id(first).startswith("sha256:")
        assert provider_message_id(first) == provider_message_id(first)
        assert provider_message_id(first) != provider_message_id(second)


class TestSentOn:
    def test_is_the_mails_date_in_rome(self) -> None:
        message = mail(Date="Sun, 20 Dec 2026 23:30:00 +0000")  # 00:30 on the 21st in Rome

        assert sent_on(message, arrived_at=rome(2026, 12, 21, 9, 0)) == date(2026, 12, 21)

    def test_is_never_after_the_mail_arrived(self) -> None:
        message = mail(Date="Thu, 31 Dec 2026 10:00:00 +0100")

        assert sent_on(message, arrived_at=rome(2026, 12, 20, 9, 0)) == date(2026, 12, 20)

    def test_is_the_day_it_arrived_when_the_date_is_unreadable(self) -> None:
        message = mail(Date="yesterday")

        assert sent_on(message, arrived_at=rome(2026, 12, 20, 9, 0)) == date(2026, 12, 20)


class TestHtmlText:
    def test_keeps_what_is_seen_and_drops_quotes_and_styles(self) -> None:
        html = (
            "<html><head><style>p {color: red}</style></head><body>"
            "<p>Lettura <b>1234</b></p><div>utenza S1<br>utente U1</div>"
            "<blockquote>codice utenza 999</blockquote></body></html>"
        )

        text = html_text(html)

        assert "1234" in text and "utenza S1" in text and "utente U1" in text
        assert "999" not in text and "color" not in text


class TestInternalDate:
    def test_reads_the_arrival_time_an_imap_server_gives(self) -> None:
        line = b'1 (UID 7 INTERNALDATE " 8-Oct-2026 23:50:00 +0200")'

        assert internal_date(line) == rome(2026, 10, 8, 23, 50)

    def test_is_none_for_a_month_it_does_not_know(self) -> None:
        assert internal_date(b'1 (UID 7 INTERNALDATE "08-Okt-2026 23:50:00 +0200")') is None
