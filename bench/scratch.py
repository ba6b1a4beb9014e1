"""A scratch PostgreSQL database for one benchmark run: created beside the one DATABASE_URL
names, used through Django, dropped at the end (also on failure)."""

import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

BASE_DIR = Path(__file__).resolve().parent.parent


def is_postgres(url: str) -> bool:
    return urlsplit(url).scheme in {"postgres", "postgresql", "pgsql"}


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def _admin_sql(url: str, statement: str) -> None:
    """CREATE/DROP DATABASE on the server's maintenance database (outside a transaction)."""
    import psycopg

    with psycopg.connect(with_database(url, "postgres"), autocommit=True) as conn:
        conn.execute(statement)


@contextmanager
def scratch_database(url: str) -> Iterator[str]:
    """Point Django at a new, empty database on `url`'s server (DEBUG off: no query log kept
    in memory while measuring) and set Django up; yields the database's name."""
    name = f"qz_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    _admin_sql(url, f'CREATE DATABASE "{name}"')
    try:
        os.environ["DATABASE_URL"] = with_database(url, name)
        os.environ["DEBUG"] = "0"
        os.environ.setdefault("SECRET_KEY", "bench-scratch-database-only")
        os.environ["ALLOWED_HOSTS"] = "testserver"  # the test client's host
        os.environ["SECURE_SSL_REDIRECT"] = "0"  # the test client speaks plain HTTP
        os.environ["DJANGO_SETTINGS_MODULE"] = "qenergyz.settings"
        sys.path.insert(0, str(BASE_DIR))
        import django

        django.setup()
        yield name
    finally:
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # noqa: S110 - Django may not even be set up; drop anyway
            pass
        _admin_sql(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        print(f"scratch database {name} dropped")
