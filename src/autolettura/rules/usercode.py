"""The regulator's unique user code (codice utente univoco, TIMSII and ARERA's registry of
water supplies): 16 digits, the ISTAT code of the region (2), of the municipality (6) and a
progressive number (8) that the utility gives each supply once and never reuses.

The progressive is the supply's own database id, so that codes are unique without a counter
and can be given to a million imported supplies in one UPDATE.
"""

from __future__ import annotations

import re

USER_CODE = re.compile(r"[0-9]{16}", re.ASCII)
REGION = re.compile(r"[0-9]{2}", re.ASCII)
MUNICIPALITY = re.compile(r"[0-9]{6}", re.ASCII)
PROGRESSIVE_DIGITS = 8


def prefix(region: str, municipality: str) -> str:
    """The first 8 digits: region and municipality, each checked."""
    if not REGION.fullmatch(region) or not 1 <= int(region) <= 20:
        raise ValueError(f"an ISTAT region code is 2 digits from 01 to 20, got {region!r}")
    if not MUNICIPALITY.fullmatch(municipality) or int(municipality) == 0:
        raise ValueError(f"an ISTAT municipality code is 6 digits, got {municipality!r}")
    return region + municipality


def user_code(region: str, municipality: str, progressive: int) -> str:
    if not 1 <= progressive < 10**PROGRESSIVE_DIGITS:
        raise ValueError(f"the progressive must be 1 to 99999999, got {progressive}")
    return f"{prefix(region, municipality)}{progressive:0{PROGRESSIVE_DIGITS}d}"


def is_user_code(code: str) -> bool:
    """Whether `code` (normalised, spaces removed) has the shape of a user code."""
    return USER_CODE.fullmatch(code) is not None


def parse_region(raw: str) -> str:
    prefix(raw.strip(), "000001")
    return raw.strip()


def parse_municipality(raw: str) -> str:
    prefix("01", raw.strip())
    return raw.strip()
