"""Typed readers for configuration from the environment.

Every helper fails loudly, naming the variable, when a value is malformed: a typo in
production must stop the process, not silently fall back to a default.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


class ConfigurationError(Exception):
    """A configuration variable holds a value that cannot be used."""


def load_dotenv(path: Path) -> None:
    """Read KEY=VALUE lines from `path` into os.environ, never overriding what is already set."""
    if not path.is_file():
        return
    for lineno, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :]
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ConfigurationError(f"{path}:{lineno}: expected KEY=VALUE, found {raw!r}")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        os.environ.setdefault(key.strip(), value)


def _read(name: str, default: T, parse: Callable[[str], T], expected: str) -> T:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return parse(raw)
    except (ValueError, InvalidOperation) as exc:
        raise ConfigurationError(f"{name}={raw!r}: expected {expected}") from exc


def envparsed(name: str, default: T, parse: Callable[[str], T], expected: str) -> T:
    """A value read by `parse`, which raises ValueError for anything it cannot use."""
    return _read(name, default, parse, expected)


def envstr(name: str, default: str) -> str:
    return os.environ.get(name) or default


def envbool(name: str, default: bool) -> bool:
    def parse(raw: str) -> bool:
        if raw.lower() in {"true", "1", "yes", "on"}:
            return True
        if raw.lower() in {"false", "0", "no", "off"}:
            return False
        raise ValueError(raw)

    return _read(name, default, parse, "true or false")


def envint(name: str, default: int, *, minimum: int | None = None) -> int:
    def parse(raw: str) -> int:
        value = int(raw)
        if minimum is not None and value < minimum:
            raise ValueError(raw)
        return value

    bound = f" of at least {minimum}" if minimum is not None else ""
    return _read(name, default, parse, f"a whole number{bound}")


def envdecimal(name: str, default: Decimal, *, positive: bool = True) -> Decimal:
    def parse(raw: str) -> Decimal:
        value = Decimal(raw)
        if not value.is_finite() or (positive and value <= 0):
            raise ValueError(raw)
        return value

    return _read(name, default, parse, "a positive decimal number" if positive else "a number")


def envlist(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def envint_list(name: str, default: list[int], *, low: int, high: int) -> list[int]:
    def parse(raw: str) -> list[int]:
        values = [int(item) for item in raw.split(",") if item.strip()]
        if (
            not values
            or any(not low <= v <= high for v in values)
            or len(set(values)) != len(values)
        ):
            raise ValueError(raw)
        return sorted(values)

    return _read(name, default, parse, f"a comma-separated list of distinct numbers {low}-{high}")


def envrange(name: str, default: tuple[int, int], *, low: int, high: int) -> tuple[int, int]:
    def parse(raw: str) -> tuple[int, int]:
        first, sep, last = raw.partition("-")
        if not sep:
            raise ValueError(raw)
        a, b = int(first), int(last)
        if not low <= a <= b <= high:
            raise ValueError(raw)
        return a, b

    return _read(name, default, parse, f"FIRST-LAST with {low} <= FIRST <= LAST <= {high}")


def envchoice(name: str, default: str, choices: tuple[str, ...]) -> str:
    def parse(raw: str) -> str:
        if raw not in choices:
            raise ValueError(raw)
        return raw

    return _read(name, default, parse, "one of " + ", ".join(choices))


# The key files this process made rather than found (check-restore: a key made anew after a
# restore voids every session and every link already sent).
KEYS_MADE_HERE: set[Path] = set()


def installation_secret_key(path: Path) -> str:
    """The key kept in `path`, made on first use: random, readable by its owner only.

    Written whole to a file of its own, then linked to `path`: a process starting at the
    same moment sees either no key or the whole key, never a half-written one, and the one
    whose link fails reads the winner's.
    """
    try:
        try:
            return _kept_key(path)
        except FileNotFoundError:
            pass
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, draft = tempfile.mkstemp(dir=path.parent, prefix=".secret-key-")  # mode 0600
        try:
            with os.fdopen(fd, "w", encoding="ascii") as out:
                out.write(secrets.token_urlsafe(50) + "\n")
            os.link(draft, path)
            KEYS_MADE_HERE.add(path)
        except FileExistsError:
            pass
        finally:
            os.unlink(draft)
        return _kept_key(path)
    except OSError as exc:
        raise ConfigurationError(f"cannot keep a secret key in {path}: set SECRET_KEY") from exc


def _kept_key(path: Path) -> str:
    key = path.read_text(encoding="ascii").strip()
    if not key:
        raise ConfigurationError(f"{path} is empty: delete it or set SECRET_KEY")
    return key
