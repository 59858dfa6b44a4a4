"""Reading what customers write: the four items of a submission out of free text.

An e-mail, a WhatsApp or an SMS message names the supply code, the customer code, the
reading and its date (the four items the bill asks for) in any order and in the customer's
own words, Italian or English. This module finds them and hands each back as written, so
that R1 to R3 judge them afterwards, in `reading_submit`, exactly as they judge a form:
"1234,5 mc" comes back as "1234,5" and gets `decimals_not_allowed`. It finds; it never
validates. Plain functions over strings, no Django.

How: quoted replies and signatures are dropped; dates, e-mail addresses, links, times and
receipt numbers are set aside; each label ("codice utenza", "lettura", "customer code", ...)
takes the value that follows it, with only filler words between ("n.", "è", ":", "del
contatore"); labels of numbers that are none of the four ("matricola", "tel.", "via", "CAP")
take theirs out of the way; a number followed by "mc" or "m³" is the reading; and values
left without a label fill what is still missing only when they are exactly as many, in the
order of the bill (supply code, customer code, reading): "400120734 1004127 01234".
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field

# The four items of the seed, in the order the bill and the SMS format give them.
SUPPLY_CODE, CUSTOMER_CODE, READING, READ_ON = "supply_code", "customer_code", "reading", "read_on"
ITEMS = (SUPPLY_CODE, CUSTOMER_CODE, READING, READ_ON)
SMS_FIELDS = ITEMS
# Without a date a reading is still complete: the channel takes the message's own date.
REQUIRED_FIELDS = (SUPPLY_CODE, CUSTOMER_CODE, READING)

# Enough for any message a person writes; the rest of a longer one is not read.
MAX_CHARS = 20_000


@dataclass(frozen=True)
class ParsedMessage:
    """What a message gives, each item as written (None where it gives nothing).

    `missing` lists the items of the seed the message lacks, in the bill's order, the date
    included. A message without a date is still complete (`read_on_defaulted`): its
    channel takes the date the message was sent, and should tell the customer so.
    """

    supply_code: str | None = None
    customer_code: str | None = None
    reading: str | None = None
    read_on: str | None = None
    missing: list[str] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        missing = [name for name in ITEMS if getattr(self, name) is None]
        object.__setattr__(self, "missing", missing)

    @property
    def read_on_defaulted(self) -> bool:
        """No date was written: the date of the message stands for it."""
        return self.read_on is None

    @property
    def complete(self) -> bool:
        """Every required item is there (the date may still default)."""
        return all(getattr(self, name) is not None for name in REQUIRED_FIELDS)

    @property
    def empty(self) -> bool:
        """Nothing of a reading was found at all."""
        return len(self.missing) == len(ITEMS)


# --- Cleaning: what the customer wrote now, without what they quoted or signed -------------

_QUOTED = re.compile(r"^\s*>")
_SIGNATURE = re.compile(r"^(?:--|_{10,}|-{10,})\s*$")
_ORIGINAL = re.compile(
    r"^\s*-{3,}\s*(?:original message|messaggio originale|mensaje original)\s*-{3,}\s*$", re.I
)
_WROTE = re.compile(r"(?:wrote|ha scritto|scrive)\s*:\s*$", re.I)
_WROTE_START = re.compile(r"^\s*(?:on|il|in data|am|le|el)\b", re.I)
# An Outlook reply quotes the message under a block of its headers, one a line.
_HEADER_BLOCK = re.compile(
    r"^\s*(?:from|da|sent|inviato|to|a|cc|subject|oggetto|date|data)\s*:", re.I
)
_HEADER_BLOCK_START = re.compile(r"^\s*(?:from|da)\s*:", re.I)


def clean_text(text: str) -> str:
    """The text the customer wrote now: no quoted lines ("> ..."), nothing from the
    signature delimiter ("-- ") or a quoted reply's header ("Il giorno ... ha scritto:",
    "-----Original Message-----", an Outlook "Da: ... Inviato: ...") down."""
    lines = text[:MAX_CHARS].replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept: list[str] = []
    for index, line in enumerate(lines):
        if _SIGNATURE.match(line) or _ORIGINAL.match(line):
            break
        if _WROTE.search(line):
            # "On Mon, 20 Dec 2026 at 10:00, Mario <mario@example.org> wrote:" may be
            # wrapped over two lines: drop its first half too.
            if not _WROTE_START.match(line) and kept and _WROTE_START.match(kept[-1]):
                kept.pop()
            break
        if _HEADER_BLOCK_START.match(line) and _is_header_block(lines[index : index + 4]):
            break
        if _QUOTED.match(line):
            continue
        kept.append(line)
    return "\n".join(kept)


def _is_header_block(lines: list[str]) -> bool:
    return sum(1 for line in lines if _HEADER_BLOCK.match(line)) >= 3


# --- What is set aside before looking for values ---------------------------------------------

_MONTHS = {
    "gennaio": 1, "gen": 1, "january": 1, "jan": 1,
    "febbraio": 2, "feb": 2, "february": 2,
    "marzo": 3, "mar": 3, "march": 3,
    "aprile": 4, "apr": 4, "april": 4,
    "maggio": 5, "mag": 5, "may": 5,
    "giugno": 6, "giu": 6, "june": 6, "jun": 6,
    "luglio": 7, "lug": 7, "july": 7, "jul": 7,
    "agosto": 8, "ago": 8, "august": 8, "aug": 8,
    "settembre": 9, "set": 9, "sett": 9, "september": 9, "sep": 9, "sept": 9,
    "ottobre": 10, "ott": 10, "october": 10, "oct": 10,
    "novembre": 11, "nov": 11, "november": 11,
    "dicembre": 12, "dic": 12, "december": 12, "dec": 12,
}  # fmt: skip
_MONTH_NAMES = "|".join(sorted(_MONTHS, key=len, reverse=True))
# Numbers are ASCII digits: a register shows no other script's.
_NUMERIC_DATE = re.compile(
    r"(?<![0-9/.-])(?:[0-9]{1,2}([/.-])[0-9]{1,2}\1[0-9]{2,4}|[0-9]{4}-[0-9]{1,2}-[0-9]{1,2})"
    r"(?![0-9]|[/.-][0-9])"
)
_WORD_DATE = re.compile(
    rf"(?<![0-9A-Za-z])(?:(?P<day>[0-9]{{1,2}})(?:°|º|st|nd|rd|th)?\s+(?:di\s+|of\s+)?"
    rf"(?P<month>{_MONTH_NAMES})\.?,?\s+(?P<year>[0-9]{{4}})"
    rf"|(?P<month2>{_MONTH_NAMES})\.?\s+(?P<day2>[0-9]{{1,2}})(?:st|nd|rd|th)?,?\s+"
    rf"(?P<year2>[0-9]{{4}}))(?![0-9A-Za-z])",
    re.I,
)
_ASIDE = re.compile(
    r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)+"  # e-mail addresses
    r"|(?:https?://|www\.)\S+"  # links
    r"|(?<![0-9])[0-9]{1,2}:[0-9]{2}(?::[0-9]{2})?(?![0-9])"  # times of day
    r"|\b[A-Z]{1,5}-[0-9]{4}-[0-9]{4,}\b"  # receipts and tickets (AL-2026-000123)
    r"|\+[0-9][0-9 ]{6,}[0-9]",  # international phone numbers
    re.I,
)
_TOKEN = re.compile(
    r"(?<![A-Za-z0-9])(?P<value>[0-9]+(?:[.,][0-9]+)+|[A-Za-z0-9]*[0-9][A-Za-z0-9]*"
    r"(?:[/_-][A-Za-z0-9]+)*)"
    r"(?P<unit>\s*\(?\s*(?:mc|m3|m³|m\^3|metri\s+cubi|cubic\s+met(?:er|re)s?)\)?(?![A-Za-z]))?",
    re.I,
)
_GLUED_UNIT = re.compile(r"([0-9]+)(mc|m3)", re.I)
_NUMBER = re.compile(r"[0-9]+(?:[.,][0-9]+)*")

# --- Labels -----------------------------------------------------------------------------------

_NUM = r"(?:n(?:umero|um|r|o)?\.?|n°|nº|\#)"
_OF = r"(?:\s*(?:dell[a']?|del|di|d')\s*)?"
_LABELS = re.compile(
    rf"""
    (?<![^\W_])(?:
    (?P<ignore>
        matricola(?:\s+(?:del\s+)?(?:contatore|misuratore))?
      | {_NUM}\s*{_OF}(?:contatore|misuratore)\b
      | (?:contatore|misuratore)\s+{_NUM}
      | (?:meter\s+)?serial(?:\s+(?:number|no\.?))?
      | meter\s+(?:number|no\.?|id)
      | s/n
      | tel(?:efono|\.)? | cell(?:ulare|\.)? | phone | mobile | whatsapp | fax
      | c\.?a\.?p\.? | zip(?:\s+code)?
      | via | viale | piazza | p\.zza | corso | c\.so | vicolo | strada | localit[àa] | loc\.
      | street | road | avenue
      | interno | int\. | scala | piano | civico
      | codice\s+fiscale | c\.\s?f\. | partita\s+iva | p\.\s?iva | iban
      | (?:fattura|bolletta|bill|invoice)(?:\s+{_NUM})?
      | {_NUM}\s*(?:fattura|bolletta)
      | protocollo | ricevuta | receipt | ticket
    )
  | (?P<supply>
        (?:cod(?:ice|\.)?|{_NUM})\s*{_OF}(?:utenz[ae]|fornitura)
      | utenz[ae]
      | supply(?:\s+point)?(?:\s+(?:code|number|no\.?|id))?
    )
  | (?P<customer>
        (?:cod(?:ice|\.)?|{_NUM})\s*{_OF}(?:utente|cliente)
      | utente | cliente
      | (?:customer|client)(?:\s+(?:code|number|no\.?|id))?
      | user\s+code
    )
  | (?P<reading>
        (?:auto)?lettur[ae](?:\s+(?:del\s+)?(?:contatore|misuratore))?
      | (?:meter\s+)?reading(?!\s+date)
      | segna | indica
    )
  | (?P<date>
        data(?:\s+(?:della\s+|di\s+)?lettura)? | date(?:\s+of\s+(?:the\s+)?reading)?
      | reading\s+date | letta\s+il | rilevata\s+il | in\s+data | read\s+on
      | (?P<weak_date>del|il|on)
    )
    )(?![^\W_])
    """,
    re.I | re.X,
)

# What may stand between a label and its value: punctuation, "n.", articles, "è", the
# meter's name, a remark in brackets ("(prima pagina della bolletta)").
_FILLER_WORDS = (
    "n|nr|no|num|numero|è|e|is|was|are|number|code|codice|id|mio|mia|my|our|the|il|la|lo|l|"
    "di|del|della|dello|dell|d|of|pari|a|al|alla|as|segna|segnava|indica|shows|reads|"
    "contatore|misuratore|meter|water|acqua|attuale|current|odierna|today|oggi|comunicata|"
    "value|valore|for|sul|sulla|in|mc|m3|data|date|ad"
)
_FILLER = re.compile(
    rf"(?:\([^()\n]{{0,60}}\)|[\s:=#.,;'\u2019\"\[\]*\u2013\u2014/-]|n°|nº|°"
    rf"|(?<![^\W\d_])(?:{_FILLER_WORDS})(?![^\W\d_]))*",
    re.I,
)
_MAX_GAP = 100
# Between the parts of one phone number or address: spaces, dashes, dots, brackets.
_JOINER = re.compile(r"[\s./()-]{1,3}")


@dataclass
class _Token:
    start: int
    end: int
    value: str
    unit: bool
    number: bool
    used: bool = False


@dataclass
class _Date:
    start: int
    end: int
    value: str
    used: bool = False


def parse_message(text: str, *, subject: str = "") -> ParsedMessage:
    """The supply code, customer code, reading and date a free-text message gives.

    Each item is the text found, unchanged (a date written in words comes back as
    dd/mm/yyyy); an item written twice keeps its first value. `subject` (an e-mail's) is
    read after the text, only for what the text lacks. A message in the SMS shape
    (`codice utenza#codice utente#lettura[#data]`) is read by position. Never raises.
    """
    try:
        parsed = _parse(str(text))
        if subject and not parsed.complete:
            extra = _parse(str(subject))
            parsed = ParsedMessage(
                **{name: getattr(parsed, name) or getattr(extra, name) for name in ITEMS}
            )
        return parsed
    except RecursionError:  # pragma: no cover - the patterns nest nothing deep
        return ParsedMessage()


def _parse(text: str) -> ParsedMessage:
    cleaned = clean_text(text)
    sms = _sms_shape(cleaned)
    if sms is not None:
        return sms
    masked, dates = _set_aside(cleaned)
    tokens = [_make_token(m) for m in _TOKEN.finditer(masked)]
    found: dict[str, str] = {}
    preferred_dates: list[tuple[int, int, _Date]] = []

    for label in _LABELS.finditer(masked):
        kind = label.lastgroup if label.lastgroup != "weak_date" else "date"
        end = label.end()
        if kind == "date":
            date = _date_after(masked, end, dates)
            if date is not None:
                strength = 1 if label.group("weak_date") else 0
                preferred_dates.append((strength, date.start, date))
            continue
        if kind == "ignore":
            _ignore_after(masked, end, tokens, dates)
            continue
        item = {"supply": SUPPLY_CODE, "customer": CUSTOMER_CODE, "reading": READING}[kind or ""]
        token = _token_after(masked, end, tokens)
        if token is None or token.used or (item == READING and not token.number):
            continue
        token.used = True
        found.setdefault(item, token.value)

    if READING not in found:
        for token in tokens:
            if token.unit and token.number and not token.used:
                token.used = True
                found[READING] = token.value
                break

    missing = [name for name in REQUIRED_FIELDS if name not in found]
    loose = [token for token in tokens if not token.used]
    if missing and len(loose) == len(missing):
        for name, token in zip(missing, loose, strict=True):
            found[name] = token.value

    free = [d for d in dates if not d.used]
    if preferred_dates:
        found[READ_ON] = min(preferred_dates, key=lambda p: (p[0], p[1]))[2].value
    elif free:
        found[READ_ON] = free[0].value
    return ParsedMessage(**{name: found.get(name) for name in ITEMS})


def _set_aside(text: str) -> tuple[str, list[_Date]]:
    """`text` with dates and things that are no values blanked out (same length), and the
    dates found, each as written (or as dd/mm/yyyy when written in words)."""
    chars = list(text)
    dates: list[_Date] = []

    def blank(start: int, end: int) -> None:
        chars[start:end] = " " * (end - start)

    for match in _WORD_DATE.finditer(text):
        day = match.group("day") or match.group("day2")
        month = _MONTHS[(match.group("month") or match.group("month2")).lower()]
        year = match.group("year") or match.group("year2")
        dates.append(_Date(match.start(), match.end(), f"{int(day):02d}/{month:02d}/{year}"))
        blank(match.start(), match.end())
    masked = "".join(chars)
    for match in _NUMERIC_DATE.finditer(masked):
        dates.append(_Date(match.start(), match.end(), match.group()))
        blank(match.start(), match.end())
    masked = "".join(chars)
    for match in _ASIDE.finditer(masked):
        blank(match.start(), match.end())
    dates.sort(key=lambda d: d.start)
    return "".join(chars), dates


def _make_token(match: re.Match[str]) -> _Token:
    value, unit = match.group("value"), bool(match.group("unit"))
    glued = _GLUED_UNIT.fullmatch(value)
    if glued:
        value, unit = glued.group(1), True
    return _Token(match.start(), match.end(), value, unit, number=bool(_NUMBER.fullmatch(value)))


def _gap_is_filler(text: str, start: int, end: int) -> bool:
    return end - start <= _MAX_GAP and _FILLER.fullmatch(text, start, end) is not None


def _token_after(text: str, end: int, tokens: list[_Token]) -> _Token | None:
    index = bisect.bisect_left(tokens, end, key=lambda token: token.start)
    if index < len(tokens) and _gap_is_filler(text, end, tokens[index].start):
        return tokens[index]
    return None


def _date_after(text: str, end: int, dates: list[_Date]) -> _Date | None:
    index = bisect.bisect_left(dates, end, key=lambda date: date.start)
    if (
        index < len(dates)
        and not dates[index].used
        and _gap_is_filler(text, end, dates[index].start)
    ):
        return dates[index]
    return None


def _ignore_after(text: str, end: int, tokens: list[_Token], dates: list[_Date]) -> None:
    """Take out of the way the value of a label that names none of the four items, with
    the rest of it when it is written in groups ("347 123 4567", "Via Roma 12/A")."""
    date = _date_after(text, end, dates)
    token = _token_after(text, end, tokens)
    if date is not None and (token is None or date.start < token.start):
        date.used = True
        return
    if token is None or token.used:
        return
    token.used = True
    index = bisect.bisect_left(tokens, token.start, key=lambda t: t.start)
    for following in tokens[index + 1 :]:
        if not _JOINER.fullmatch(text, token.end, following.start):
            break
        following.used = True
        token = following


# --- The SMS shape ------------------------------------------------------------------------------

_PLAIN_PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9/.,_-]*")


def _plain(part: str) -> bool:
    """A bare value, not words: every piece of it has a digit in it."""
    return all(
        _PLAIN_PART.fullmatch(word) and any(c.isdigit() for c in word) for word in part.split()
    )


def _sms_shape(text: str) -> ParsedMessage | None:
    """The positional shape, when the whole text is one: `S#U#R[#D]`, or the same
    separated by spaces (then all digits-bearing values: words make it free text)."""
    body = text.strip()
    if not body or "\n" in body:
        return None
    if "#" in body:
        parts = [part.strip() for part in body.split("#")]
        while parts and not parts[-1]:
            parts.pop()
        if not 2 <= len(parts) <= len(ITEMS) or not all(_plain(p) for p in parts if p):
            return None
    else:
        parts = body.split()
        if not 3 <= len(parts) <= len(ITEMS) or not all(_plain(p) for p in parts):
            return None
    # A full stop closing the sentence is not a decimal point.
    parts = [part.rstrip(".,;:!") for part in parts]
    values = dict.fromkeys(ITEMS, None) | {
        name: part or None for name, part in zip(ITEMS, parts, strict=False)
    }
    return ParsedMessage(**values)


def parse_sms(text: str) -> ParsedMessage:
    """`codice utenza#codice utente#lettura[#data]`, or the same separated by spaces.

    Items are taken by position; an empty one (`S1##120`) is missing. A text that is not
    in that shape ("lettura 120 utenza S1 utente U1", or "#" between labelled items) is
    read as free text. A reading written with decimals (`120,5`) is kept as written:
    `reading_submit` tells the customer to leave them out. Never raises.
    """
    text = str(text)
    shaped = _sms_shape(text.strip())
    if shaped is not None:
        return shaped
    return parse_message(text.replace("#", "\n"))


# --- Language ---------------------------------------------------------------------------------

_ENGLISH = frozenset(
    [
        "the",
        "my",
        "is",
        "are",
        "reading",
        "meter",
        "supply",
        "customer",
        "code",
        "date",
        "please",
        "dear",
        "hello",
        "hi",
        "regards",
        "thanks",
        "thank",
        "you",
        "here",
        "on",
        "of",
        "and",
        "kind",
        "best",
        "sent",
        "from",
        "attached",
        "photo",
    ]
)
_ITALIAN = frozenset(
    [
        "il",
        "la",
        "lo",
        "le",
        "gli",
        "di",
        "del",
        "della",
        "lettura",
        "contatore",
        "codice",
        "utenza",
        "utente",
        "cliente",
        "data",
        "buongiorno",
        "buonasera",
        "salve",
        "gentili",
        "grazie",
        "cordiali",
        "saluti",
        "distinti",
        "vi",
        "invio",
        "comunico",
        "allego",
        "foto",
        "mia",
        "mio",
        "per",
        "con",
        "sono",
        "ecco",
        "in",
        "e",
        "è",
    ]
)


def guess_language(text: str) -> str:
    """`en` when a message is more English than Italian by its common words, else `it`."""
    words = re.findall(r"[^\W\d_]+", str(text)[:MAX_CHARS].lower())
    english = sum(word in _ENGLISH for word in words)
    italian = sum(word in _ITALIAN for word in words)
    return "en" if english > italian else "it"
