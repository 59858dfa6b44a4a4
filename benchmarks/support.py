"""What every benchmark needs: a PostgreSQL database of its own, and the machine's size."""

from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit


def memory_gb() -> float:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1e9


def is_postgres(url: str) -> bool:
    return urlsplit(url).scheme in ("postgres", "postgresql")


def database_url(url: str, name: str) -> str:
    """The URL of database `name` on the server of `url`."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def database_recreate(url: str, name: str) -> str:
    """The URL of a new, empty database `name` on the server of `url` (an old one of that
    name is dropped, sessions still on it included)."""
    import psycopg

    with psycopg.connect(database_url(url, "postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return database_url(url, name)


def database_ensure(url: str, name: str) -> str:
    """The URL of database `name` on the server of `url`, created if missing."""
    import psycopg

    with psycopg.connect(database_url(url, "postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    return database_url(url, name)


def database_drop(url: str, name: str) -> None:
    import psycopg

    with psycopg.connect(database_url(url, "postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
