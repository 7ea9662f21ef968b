"""Which migrations a store schema has, readable for every store in one catalog query.

Each store schema carries a marker in its comment: `migrations:<md5 of its applied
migrations>` (the sorted "app.name" lines of its own `django_migrations`). The marker is
always computed by PostgreSQL from the schema's rows, in the same transaction as the change
that wrote them:

- `schema_create` (the recorded template DDL replayed), after the replay;
- the bulk deploy path (tenants.schema_migrations), with the migration's SQL;
- every run of django-tenants' `run_migrations` (the `schema_migrated` signal), whatever
  the executor, forwards or backwards.

So "is every store at the head of every app?" is one query over `pg_namespace` and
`pg_description` (16 ms for 10,000 schemas), compared with the fingerprint of the migration
graph on disk: no store schema is opened. A marker is only as honest as the paths that
write it; a change to `django_migrations` by hand (raw SQL) is not seen until
`migrate_platform --verify` recomputes every marker from the rows.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.loader import MigrationLoader

MARKER = "migrations:"
# Reading rows of this many schemas per UNION ALL (each branch locks one table; SCALE-FACTS
# 2.5: 10,000 branches overflow the stack, ~1,000 work).
ROWS_BATCH = 200


def quote(schema_name: str) -> str:
    """A schema name as an SQL identifier; only the names the platform generates pass."""
    if not schema_name or not schema_name.replace("_", "").isalnum() or not schema_name.isascii():
        raise ValueError(f"Unsafe schema name {schema_name!r}")
    return f'"{schema_name}"'


def fingerprint(names: Iterable[str]) -> str:
    """The fingerprint of a set of "app.name" migrations (the same as `_rows_sql` computes)."""
    return hashlib.md5("\n".join(sorted(set(names))).encode(), usedforsecurity=False).hexdigest()


def head_migrations() -> set[str]:
    """Every migration on disk as "app.name": what a store schema records once it is at
    every app's head (tenant schemas record the shared apps' migrations too)."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    return {f"{app}.{name}" for app, name in loader.graph.nodes}


def head_fingerprint() -> str:
    return fingerprint(head_migrations())


def rows_read(schema_name: str, *, using: str = DEFAULT_DB_ALIAS) -> set[str]:
    with connections[using].cursor() as cursor:
        cursor.execute(
            f"SELECT app || '.' || name FROM {quote(schema_name)}.django_migrations"  # noqa: S608
        )
        return {row[0] for row in cursor.fetchall()}


def _rows_sql(schema_name: str) -> str:
    line = "(app || '.' || name) COLLATE \"C\""
    agg = f"md5(coalesce(string_agg(DISTINCT {line}, E'\\n' ORDER BY {line}), ''))"
    return f"SELECT {agg} FROM {quote(schema_name)}.django_migrations"  # noqa: S608 (checked name)


def mark_sql(schema_name: str) -> str:
    """One statement that writes the schema's marker from its own rows."""
    quote(schema_name)
    return (
        "DO $mark$ BEGIN EXECUTE format('COMMENT ON SCHEMA %I IS %L', "
        f"'{schema_name}', '{MARKER}' || ({_rows_sql(schema_name)})); END $mark$"
    )


def schema_mark(schema_name: str, *, using: str = DEFAULT_DB_ALIAS) -> None:
    with connections[using].cursor() as cursor:
        cursor.execute(mark_sql(schema_name))


def markers_read(
    schema_names: list[str], *, using: str = DEFAULT_DB_ALIAS
) -> dict[str, str | None]:
    """schema → fingerprint in its marker (None: no marker). Missing schemas are left out."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT n.nspname, d.description FROM pg_namespace n "
            "LEFT JOIN pg_description d ON d.objoid = n.oid "
            "AND d.classoid = 'pg_namespace'::regclass AND d.objsubid = 0 "
            "WHERE n.nspname = ANY(%s)",
            [schema_names],
        )
        rows = cursor.fetchall()
    return {
        name: description.removeprefix(MARKER)
        if description and description.startswith(MARKER)
        else None
        for name, description in rows
    }


def rows_fingerprints(schema_names: list[str], *, using: str = DEFAULT_DB_ALIAS) -> dict[str, str]:
    """schema → fingerprint of its actual `django_migrations` rows, read in batches."""
    found: dict[str, str] = {}
    for start in range(0, len(schema_names), ROWS_BATCH):
        batch = schema_names[start : start + ROWS_BATCH]
        sql = " UNION ALL ".join(f"SELECT '{s}', ({_rows_sql(s)})" for s in batch)
        with connections[using].cursor() as cursor:
            cursor.execute(sql)
            found.update(cursor.fetchall())
    return found


def schemas_mark(schema_names: list[str], *, using: str = DEFAULT_DB_ALIAS) -> None:
    """Write the markers of many schemas from their rows (a batch of statements per trip)."""
    for start in range(0, len(schema_names), ROWS_BATCH):
        batch = schema_names[start : start + ROWS_BATCH]
        with connections[using].cursor() as cursor:
            cursor.execute(";\n".join(mark_sql(s) for s in batch))


_RECORDED = re.compile(
    r"""^INSERT INTO "django_migrations" \("app", "name", "applied"\) VALUES \('([^']+)', '([^']+)'"""
)


def statements_fingerprint(statements: list[str]) -> str:
    """The fingerprint a schema built from these recorded statements ends with."""
    names = []
    for statement in statements:
        match = _RECORDED.match(statement)
        if match:
            names.append(f"{match.group(1)}.{match.group(2)}")
    return fingerprint(names)
