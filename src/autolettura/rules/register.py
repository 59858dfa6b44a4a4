"""Reading a meter's register from what its wheels show in a photo (issue 12).

The optical reader says, wheel by wheel, how likely each digit is and whether the wheel is
caught turning; these rules turn that into the register's whole m³ as the customer would
write it (leading zeros kept), the other readings the photo allows, and how sure we are.
No Django here: every channel, the command and the benchmark get the same answer.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from .outcomes import Status
from .plausibility import LastReading, Limits, assess_reading

# A digit less likely than this on its wheel, or a reading less likely than this for the
# whole register, is not worth proposing.
OPTION_FLOOR = 0.05
# At most this many digits are proposed for one wheel, and readings for one photo.
OPTIONS_PER_WHEEL = 3
MAX_ALTERNATIVES = 5
# Without the meter's number of digits, a reading's length cannot be checked (a wheel the
# reader missed gives a plausible shorter reading): its confidence is scaled by this, so
# that at the default threshold such a reading is proposed but never acted on alone.
UNCHECKED_LENGTH = 0.8
# Registers have 4 to 9 black wheels; fewer digits read is a register not found.
MIN_WHEELS = 4
MAX_WHEELS = 9


@dataclass(frozen=True)
class Wheel:
    """One wheel of the register as the photo shows it.

    `probabilities[d]` is how likely the wheel shows digit d. A wheel caught turning shows
    the bottom of one digit above the top of the next: `between` is then (the digit going
    out, the digit coming in), and `probabilities` are those of the piece the reader read
    (their largest is how sure it is of what it saw). `red` marks a
    decimal wheel (red digits or a red window), never part of the whole m³.
    """

    probabilities: tuple[float, ...]
    between: tuple[int, int] | None = None
    red: bool = False


@dataclass(frozen=True)
class Candidate:
    """A reading the photo allows, with how likely it is."""

    reading: str
    confidence: float
    # Lower is preferred at equal confidence: a wheel caught turning read as its lower
    # digit ranks before the same wheel read as the upper one.
    rank: int = 0


@dataclass(frozen=True)
class History:
    """What the supply's history says of the reading to expect (R6)."""

    last: LastReading
    read_on: date
    cma_m3: Decimal
    limits: Limits = field(default_factory=Limits)


@dataclass(frozen=True)
class RegisterChoice:
    """The reading chosen, or None when the photo shows no register the rules accept."""

    reading: str | None
    confidence: float
    alternatives: tuple[str, ...]
    # False when the history makes the reading implausible; None without a history.
    plausible: bool | None = None


def whole_wheels(wheels: tuple[Wheel, ...], meter_digits: int | None) -> tuple[Wheel, ...] | None:
    """The wheels that show whole m³: the black ones left of the first red one.

    With the meter's number of digits known, a longer run is cut to that many: those just
    left of the red wheels when there are some, else the first ones (decimal wheels whose
    red did not show); a shorter run is no register. Without it, only a plausible register
    length is accepted.
    """
    black: list[Wheel] = []
    for wheel in wheels:
        if wheel.red:
            break
        black.append(wheel)
    decimals_follow = len(black) < len(wheels)
    if meter_digits is None:
        return tuple(black) if MIN_WHEELS <= len(black) <= MAX_WHEELS else None
    if len(black) < meter_digits:
        return None
    if decimals_follow:
        # The whole m³ end where the red decimals start: anything further left is the
        # register's frame or print taken for a digit.
        return tuple(black[len(black) - meter_digits :])
    return tuple(black[:meter_digits])


def _wheel_options(wheel: Wheel) -> list[tuple[str, float, int]]:
    """A wheel's possible digits: (digit, probability, rank penalty)."""
    if wheel.between is not None:
        lower, upper = wheel.between
        sure = max(wheel.probabilities)
        return [(str(lower), sure, 0), (str(upper), sure, 1)]
    ranked = sorted(range(10), key=lambda d: -wheel.probabilities[d])[:OPTIONS_PER_WHEEL]
    options = [(str(d), wheel.probabilities[d], 0) for d in ranked]
    kept = [o for o in options if o[1] >= OPTION_FLOOR]
    return kept or options[:1]


def _reading(combo: tuple[tuple[str, float, int], ...]) -> str:
    """The reading of one choice per wheel. A turning wheel read as its upper digit moves
    the register on by one unit of that wheel, carrying like the odometer: 00599 with its
    last wheel between 9 and 0 reads 00600 upwards, not 00590."""
    lower = [digit if rank == 0 else "" for digit, _p, rank in combo]
    if all(lower):
        return "".join(lower)
    width = len(combo)
    value = 0
    for position, (digit, _p, rank) in enumerate(combo):
        place = 10 ** (width - 1 - position)
        # The upper digit is the lower one plus one: count the lower one and the unit.
        value += ((int(digit) - rank) % 10) * place + rank * place
    return f"{value % 10**width:0{width}d}"


def register_candidates(wheels: tuple[Wheel, ...]) -> list[Candidate]:
    """Every reading the wheels allow, the most likely first (lower digit first on ties)."""
    if not wheels:
        return []
    options = [_wheel_options(wheel) for wheel in wheels]
    candidates = [
        Candidate(
            reading=_reading(combo),
            confidence=math.prod(p for _d, p, _r in combo),
            rank=sum(r for _d, _p, r in combo),
        )
        for combo in itertools.product(*options)
    ]
    candidates.sort(key=lambda c: (c.rank > 0, -c.confidence, c.rank, c.reading))
    return candidates


def plausible(reading: str, history: History) -> bool:
    """R6 would not discard this reading (accepted, or sent for review)."""
    assessment = assess_reading(
        value=int(reading),
        read_on=history.read_on,
        last=history.last,
        digits=len(reading),
        cma_m3=history.cma_m3,
        limits=history.limits,
    )
    return assessment.status is not Status.DISCARDED


def register_choose(
    wheels: tuple[Wheel, ...], *, meter_digits: int | None, history: History | None = None
) -> RegisterChoice:
    """The reading to propose from what the wheels show.

    A wheel caught turning is read as its lower digit, unless the supply's history makes
    that reading implausible and the upper one plausible; likewise an uncertain digit's
    other readings are taken only when the history rules out the most likely one.
    """
    whole = whole_wheels(wheels, meter_digits)
    if whole is None:
        return RegisterChoice(None, 0.0, ())
    candidates = register_candidates(whole)
    chosen = candidates[0]
    if chosen.confidence < OPTION_FLOOR:
        # Even the likeliest reading is one the reader would not propose: what it saw are
        # marks that look a little like digits (a wall, a pattern, noise), not a register.
        return RegisterChoice(None, 0.0, ())
    is_plausible: bool | None = None
    if history is not None:
        fitting = [c for c in candidates if plausible(c.reading, history)]
        # Only a reading about as likely as the best one is taken on the history's word.
        fitting = [c for c in fitting if c.confidence >= chosen.confidence * 0.2 or c.rank]
        if fitting:
            chosen, is_plausible = fitting[0], True
        else:
            is_plausible = False
    alternatives = tuple(
        c.reading
        for c in candidates
        if c.reading != chosen.reading and (c.confidence >= OPTION_FLOOR or c.rank)
    )[:MAX_ALTERNATIVES]
    confidence = chosen.confidence * (UNCHECKED_LENGTH if meter_digits is None else 1.0)
    return RegisterChoice(chosen.reading, confidence, alternatives, is_plausible)


# -- a wheel caught turning, told by where its ink sits --------------------------------------

# Measured in digit heights. A turning wheel's main digit sits at least SHIFTED off the line
# with a piece of its neighbour beside it, or FAR_OFF with none showing; a wheel nearly
# done turning (or just starting) sits only NUDGED off it, with a SLIVER of the neighbour
# at the window's edge, and a still wheel sits on the line with nothing above or below.
SHIFTED = 0.2
FAR_OFF = 0.3
NUDGED = 0.04
PIECE = 0.15
SLIVER = 0.05


@dataclass(frozen=True)
class WheelInk:
    """Where a wheel's ink sits in its window, in digit heights.

    `offset`: how far the main digit's middle is below the line the still wheels' digits
    sit on (negative: above it). `above`, `below`: the tallest separate piece of ink above
    and below the main digit inside the window (0 when there is none).
    """

    offset: float
    above: float = 0.0
    below: float = 0.0


def wheel_motion(ink: WheelInk) -> int:
    """+1: the main digit is coming in (the wheel shows it and the one before it, the lower
    of the two); -1: it is going out (it and the next one show); 0: the wheel is still.

    A piece on the side the digit moved towards says it is not that one (a tall window
    shows both neighbours' edges on a still wheel); a sliver counts only when the main
    digit is moved away from it.
    """
    for sign, beside, opposite in ((1, ink.above, ink.below), (-1, ink.below, ink.above)):
        shifted = sign * ink.offset
        if opposite >= SLIVER:
            continue
        if shifted > SHIFTED and (beside >= PIECE or shifted > FAR_OFF):
            return sign
        if shifted > NUDGED and beside >= SLIVER:
            return sign
    return 0
