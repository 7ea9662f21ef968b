"""Claims that hold no transaction open: PostgreSQL session advisory locks.

Work that calls Stripe or sends mail must not sit inside a database transaction (a row
lock held for a 10 s Stripe timeout blocks everyone behind it). Instead a worker claims
the work with `pg_try_advisory_lock`, does the slow part with no transaction open, and
writes the result in a short transaction of its own. The lock belongs to the database
session, so a worker that dies (SIGKILL, lost connection) releases it with its
connection: nothing is left half-claimed, and the redelivered task simply runs again.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection


@contextmanager
def claimed(key: str) -> Iterator[bool]:
    """Yields True when this session holds the claim named `key`, False when another does."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", [key])
        mine = bool(cursor.fetchone()[0])
    try:
        yield mine
    finally:
        if mine:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", [key])
