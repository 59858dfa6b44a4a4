"""The texts every channel shows, made fit to be spoken by a text-to-speech voice.

The phone line says exactly what the other channels write (readings.messages and
service.messages), with three changes a listener needs: receipts, tickets and codes are
spelled one character at a time ("A, elle; due, zero, due, sei; ..."), dates and hours are
said in words ("20 dicembre 2026", "dalle 8:15 alle 12:00") and "m³" is said in full.
"""

from __future__ import annotations

import copy
import re
from datetime import date

from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import pgettext_lazy

from autolettura.readings.messages import error_message, outcome_message
from autolettura.readings.models import Reading
from autolettura.rules.errors import FieldError
from autolettura.rules.window import Window
from autolettura.service.messages import _month, fault_error_message, fault_received_message
from autolettura.service.models import FaultReport

_CHARACTERS = {
    "0": pgettext_lazy("spoken digit", "zero"),
    "1": pgettext_lazy("spoken digit", "one"),
    "2": pgettext_lazy("spoken digit", "two"),
    "3": pgettext_lazy("spoken digit", "three"),
    "4": pgettext_lazy("spoken digit", "four"),
    "5": pgettext_lazy("spoken digit", "five"),
    "6": pgettext_lazy("spoken digit", "six"),
    "7": pgettext_lazy("spoken digit", "seven"),
    "8": pgettext_lazy("spoken digit", "eight"),
    "9": pgettext_lazy("spoken digit", "nine"),
    "A": pgettext_lazy("spoken letter", "A"),
    "B": pgettext_lazy("spoken letter", "B"),
    "C": pgettext_lazy("spoken letter", "C"),
    "D": pgettext_lazy("spoken letter", "D"),
    "E": pgettext_lazy("spoken letter", "E"),
    "F": pgettext_lazy("spoken letter", "F"),
    "G": pgettext_lazy("spoken letter", "G"),
    "H": pgettext_lazy("spoken letter", "H"),
    "I": pgettext_lazy("spoken letter", "I"),
    "J": pgettext_lazy("spoken letter", "J"),
    "K": pgettext_lazy("spoken letter", "K"),
    "L": pgettext_lazy("spoken letter", "L"),
    "M": pgettext_lazy("spoken letter", "M"),
    "N": pgettext_lazy("spoken letter", "N"),
    "O": pgettext_lazy("spoken letter", "O"),
    "P": pgettext_lazy("spoken letter", "P"),
    "Q": pgettext_lazy("spoken letter", "Q"),
    "R": pgettext_lazy("spoken letter", "R"),
    "S": pgettext_lazy("spoken letter", "S"),
    "T": pgettext_lazy("spoken letter", "T"),
    "U": pgettext_lazy("spoken letter", "U"),
    "V": pgettext_lazy("spoken letter", "V"),
    "W": pgettext_lazy("spoken letter", "W"),
    "X": pgettext_lazy("spoken letter", "X"),
    "Y": pgettext_lazy("spoken letter", "Y"),
    "Z": pgettext_lazy("spoken letter", "Z"),
    "*": pgettext_lazy("spoken key", "star"),
}
_DAY = re.compile(r"\b(\d{2})/(\d{2})/(\d{4})\b", re.ASCII)
_SESSION = re.compile(r"\b(\d{1,2}:\d{2})\N{EN DASH}(\d{1,2}:\d{2})\b", re.ASCII)


def spell(text: str) -> str:
    """Each character said on its own, in the active language: "AL-2026-01" becomes
    "A, elle; due, zero, due, sei; zero, uno". Dashes, slashes and spaces make a pause;
    anything else unknown is said as it is."""
    groups = [group for group in re.split(r"[\s/_-]+", text.upper()) if group]
    return "; ".join(
        ", ".join(str(_CHARACTERS.get(character, character)) for character in group)
        for group in groups
    )


def spoken_date(day: date) -> str:
    """A date in words, "20 dicembre 2026"."""
    return f"{day.day} {_month(day.month)} {day.year}"


def speakable(text: str) -> str:
    """A written message as a voice should say it: dates and hours in words, m³ in full."""
    text = _DAY.sub(lambda m: _spoken_day(m[1], m[2], m[3]) or m[0], text)
    text = _SESSION.sub(
        lambda m: _("from %(opens)s to %(closes)s") % {"opens": m[1], "closes": m[2]}, text
    )
    return text.replace("m³", _("cubic metres"))


def _spoken_day(day: str, month: str, year: str) -> str | None:
    try:
        return spoken_date(date(int(year), int(month), int(day)))
    except ValueError:
        return None


def spoken_error(error: FieldError) -> str:
    """A format error (R1 to R3) as it is written everywhere, to be spoken."""
    return speakable(error_message(error))


def spoken_outcome(reading: Reading, window: Window) -> str:
    """The outcome of a reading taken in charge (R7), its receipt spelled out."""
    spelled = copy.copy(reading)
    spelled.receipt = spell(reading.receipt or "")
    return speakable(outcome_message(spelled, window))


def spoken_fault_error(error: FieldError) -> str:
    return speakable(fault_error_message(error))


def spoken_fault_received(report: FaultReport) -> str:
    """What a reporter is told at once (R13), the ticket spelled out."""
    spelled = copy.copy(report)
    spelled.ticket = spell(report.ticket)
    text = fault_received_message(spelled)
    # The fault line's number, digit by digit, so that it can be written down.
    phone = settings.AUTOLETTURA_PHONE_FAULTS
    return speakable(text.replace(phone, spell(phone)) if phone else text)
