"""Server-side prepared statements for the few hottest raw SQL statements.

PostgreSQL plans every statement it is sent as text. For the download's one statement
(payments.services `_OPEN_FAST`, six tables joined, an UPDATE and an INSERT) planning is
most of the server's work: about 1.0 ms of CPU per download against 0.2 ms to execute a
plan kept with `PREPARE` (bench.load_breakdown, stop 10). So the hottest statements are
prepared once per connection and schema and then only `EXECUTE`d.

- One prepared statement per (name, schema) on each connection: PostgreSQL re-parses a
  prepared statement whose `search_path` changed since it was prepared (its rule since
  9.3), so a plan is never run in the wrong schema, and naming one per schema keeps the
  plan of every store a connection serves instead of re-planning on each switch.
- PREPARE and the first EXECUTE go in one round trip (one statement for Django's query
  count too); later calls send only the EXECUTE.
- What a connection has prepared is remembered on its DatabaseWrapper, for that raw
  connection only: a reconnect starts afresh. A prepared statement outlives a rollback
  (PostgreSQL's PREPARE is not transactional), so the record stays true after one.
- Bounded: past `MAX_PER_CONNECTION` statements the connection drops them all
  (`DEALLOCATE ALL`) and starts again.
- A statement PostgreSQL no longer has (26000), or whose cached plan can no longer be used
  because a migration changed a column it returns (0A000, "cached plan must not change
  result type"), is prepared again under a new name and run once more, outside a
  transaction; inside one the error is raised (the transaction is aborted anyway) and the
  next call prepares afresh.
- Session-mode connection pooling only (deploy/README.md, "Connection pooling"): in
  transaction mode a prepared statement could be missing on the next server connection,
  which the retry above covers, but search_path is already wrong there.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from typing import Any

from django.db import DatabaseError, connections

MAX_PER_CONNECTION = 64
_STALE = ("26000", "0A000")  # invalid_sql_statement_name, feature_not_supported
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,30}$")


class _Prepared:
    """What one raw connection has prepared: (name, schema) → statement name."""

    def __init__(self, raw: Any) -> None:
        self.raw = raw
        self.names: dict[tuple[str, str], str] = {}
        self.serial = 0


@functools.lru_cache(maxsize=256)
def _positional(sql: str) -> tuple[str, int]:
    """`%s` placeholders → `$1`, `$2`, … (PREPARE's form), and how many."""
    parts = sql.split("%s")
    if any("%" in part for part in parts):
        raise ValueError("A prepared statement takes %s placeholders only (no other %).")
    out = [parts[0]]
    for i, part in enumerate(parts[1:], start=1):
        out.append(f"${i}{part}")
    return "".join(out), len(parts) - 1


def fetchone(alias: str, name: str, sql: str, params: Sequence[Any]) -> tuple | None:
    """Run `sql` (with `%s` placeholders) as a prepared statement on `alias`'s connection,
    in the schema that connection is in; its first row, or None."""
    rows = _run(alias, name, sql, params, retry=True)
    return rows[0] if rows else None


def _run(alias: str, name: str, sql: str, params: Sequence[Any], *, retry: bool) -> list:
    if not _NAME.match(name):
        raise ValueError(f"{name!r} is not a prepared statement name (a-z, 0-9, _).")
    db = connections[alias]
    with db.cursor() as cursor:  # connects, and sets the schema's search_path if needed
        state = getattr(db, "_prepared_statements", None)
        if state is None or state.raw is not db.connection:
            state = _Prepared(db.connection)
            db._prepared_statements = state
        key = (name, getattr(db, "schema_name", "") or "")
        statement = state.names.get(key)
        body, count = _positional(sql)
        if len(params) != count:
            raise ValueError(f"{name}: {count} placeholders, {len(params)} parameters.")
        execute = (
            "EXECUTE {} ({})".format("{}", ", ".join(["%s"] * count)) if count else "EXECUTE {}"
        )
        try:
            if statement is not None:
                cursor.execute(execute.format(statement), params)
            else:
                prefix = ""
                if len(state.names) >= MAX_PER_CONNECTION:
                    prefix = "DEALLOCATE ALL; "
                    state.names.clear()
                state.serial += 1
                statement = f"pp_{name}_{state.serial}"
                cursor.execute(
                    f"{prefix}PREPARE {statement} AS {body}; {execute.format(statement)}",
                    params,
                )
                state.names[key] = statement
            return cursor.fetchall() if cursor.description else []
        except DatabaseError as exc:
            # Whether the PREPARE of a failed round trip took is unknown: never reuse it
            # (the serial makes the next name new).
            state.names.pop(key, None)
            code = getattr(exc.__cause__, "pgcode", "") or ""
            if retry and code in _STALE and not db.in_atomic_block:
                return _run(alias, name, sql, params, retry=False)
            raise


def _converted(db: Any, fields: list, row: Sequence[Any]) -> list:
    """A row's values as the ORM would load them (each field's database converters:
    JSONField parses its text, for instance)."""
    values = list(row)
    for i, field in enumerate(fields):
        for converter in field.get_db_converters(db):
            values[i] = converter(values[i], field.cached_col, db)
    return values


def model_get(alias: str, name: str, model: Any, where: str, params: Sequence[Any]) -> Any:
    """The one row of `model` matching `where` (SQL with %s placeholders, on columns that
    make it unique), as a model instance loaded like the ORM's (`Model.from_db`: every
    concrete field, the database converters applied), or None; one prepared statement."""
    fields = list(model._meta.concrete_fields)
    db = connections[alias]
    row = fetchone(alias, name, _select(model, where, alias), params)
    if row is None:
        return None
    return model.from_db(alias, [f.attname for f in fields], _converted(db, fields, row))


@functools.lru_cache(maxsize=64)
def _select(model: Any, where: str, alias: str) -> str:
    quote = connections[alias].ops.quote_name
    return "SELECT {} FROM {} WHERE {}".format(  # noqa: S608 - names from model meta
        ", ".join(quote(f.column) for f in model._meta.concrete_fields),
        quote(model._meta.db_table),
        where,
    )
