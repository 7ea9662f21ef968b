"""Refuse a connection pooler that does not pin a client to one server session.

django-tenants switches schemas with a session-level `SET search_path`, and with
TENANT_LIMIT_SET_CALLS it sends it once per connection and store, trusting the server to
keep it for the next queries. In autocommit (Django's default) the `SET` and each query are
separate transactions, so a pooler that hands out server connections per transaction
(PgBouncer `pool_mode = transaction` or `statement`) can run one store's queries on a server
session whose path another client set: Alice's storefront reading Mallory's products
(SCALE-FACTS 5.3-5.4; reproduced in tests/tenants/test_pooling.py). Setting the schema
inside each transaction (`SET LOCAL`) would need every autocommit statement wrapped in
BEGIN/COMMIT, which django-tenants 4.0.1 does not do (5.8); so the platform refuses such a
pooler instead, and production uses PgBouncer in session mode (deploy/README.md).

The check runs on the first connection a process opens to each database
(`connection_created`) and costs one more short connection, once. It opens a second
client to the same address and interleaves statements on the two, each client setting a
session variable of its own and reading its server's pid: directly or through a
session-mode pooler each client keeps one server session (its own pid, its own
variable); a transaction- or statement-mode pooler moves a client between server sessions
or lets two clients share one. Then every connection to that database is refused with
ImproperlyConfigured, and nothing runs in the wrong schema.

DATABASE_POOLING_CHECK = False (env DJANGO_DATABASE_POOLING_CHECK) turns it off.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

import psycopg2
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

logger = logging.getLogger(__name__)

# (host, port, database, user) → None when sessions are pinned, else why not.
verdicts: dict[tuple[Any, ...], str | None] = {}

_PROBE = "product_purchase.pool_probe"
# X twice in a row, then Y, then both again: a LIFO pool hands X's server to Y, a
# round-robin pool moves X between servers, a pool of one shares it.
_ORDER = ("x", "x", "y", "x", "y", "y")


def _key(params: dict[str, Any]) -> tuple[Any, ...]:
    return (params.get("host"), params.get("port"), params.get("dbname"), params.get("user"))


def _probe(cursor, token: str | None) -> tuple[int, str]:
    if token is not None:
        cursor.execute(f"SET {_PROBE} = %s", [token])
    cursor.execute(f"SELECT pg_backend_pid(), current_setting('{_PROBE}', true)")
    pid, value = cursor.fetchone()
    return pid, value or ""


def sessions_unpinned_reason(raw_connection, params: dict[str, Any]) -> str | None:
    """None when `raw_connection` and a second client to the same address each keep one
    server session of their own; else what was seen. `raw_connection` is in autocommit."""
    other = psycopg2.connect(**params)
    other.autocommit = True
    try:
        cursors = {"x": raw_connection.cursor(), "y": other.cursor()}
        tokens = {name: f"{name}-{secrets.token_hex(4)}" for name in cursors}
        seen: dict[str, list[tuple[int, str]]] = {"x": [], "y": []}
        first = {"x": True, "y": True}
        for name in _ORDER:
            seen[name].append(_probe(cursors[name], tokens[name] if first[name] else None))
            first[name] = False
        # Leave nothing behind on this client's session.
        cursors["x"].execute(f"RESET {_PROBE}")
    finally:
        other.close()
    pids = {name: {pid for pid, _ in rows} for name, rows in seen.items()}
    if len(pids["x"]) > 1 or len(pids["y"]) > 1:
        return f"one client's statements ran on several server sessions (pids {sorted(pids['x'])})"
    if pids["x"] == pids["y"]:
        return f"two clients' statements ran on one server session (pid {min(pids['x'])})"
    for name, rows in seen.items():
        if any(value != tokens[name] for _, value in rows):
            return "a session variable set by one client was not what its next statement saw"
    return None


def connection_check(sender, connection, **kwargs) -> None:
    """`connection_created` receiver: refuse a database reached through a pooler that
    does not pin sessions (checked once per process and database)."""
    if connection.vendor != "postgresql" or not settings.DATABASE_POOLING_CHECK:
        return
    params = connection.get_connection_params()
    key = _key(params)
    if key not in verdicts:
        verdicts[key] = sessions_unpinned_reason(connection.connection, params)
        if verdicts[key]:
            logger.error(
                "Database %s:%s/%s is behind a pooler that does not pin sessions: %s",
                *key[:3],
                verdicts[key],
            )
    reason = verdicts[key]
    if reason:
        connection.connection.close()
        connection.connection = None
        raise ImproperlyConfigured(
            f"Refusing database {key[0]}:{key[1]}/{key[2]}: it is reached through a connection "
            f"pooler in transaction or statement mode ({reason}). Store schemas are chosen with "
            "a session-level search_path, so such a pooler would run one store's queries in "
            "another store's schema. Use PgBouncer with pool_mode = session (deploy/README.md)."
        )
