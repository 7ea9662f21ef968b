"""Moving a store's schema from one cell to another while it keeps serving.

`store_move(store, to=cell)` (the `move_store` command) uses PostgreSQL's logical
replication (PostgreSQL 15: a publication FOR TABLES IN SCHEMA, SCALE-FACTS 4.1-4.10):

1. Checks: the source runs wal_level=logical; every table of the store has a primary key
   (a published table without a replica identity would refuse UPDATE and DELETE on the
   source, 4.2); the store's migrations marker matches its rows and names a recorded
   blueprint; the target has no schema of that name.
2. The schema is built on the target from that blueprint (the DDL sign-up replays, at the
   store's migration head) and emptied: replication brings every row, django_migrations'
   included.
3. A replication slot and a publication on the source, a subscription on the target; the
   initial copy runs (pg_subscription_rel: every table 'r'), then streaming catches up.
4. The read-only window: the store row says `moving_to` (the store middleware answers
   writes with a "moving, try again in a minute" page; downloads are served and counted
   later, payments.DeferredDownload); after --grace seconds for requests already past the
   middleware, a statement trigger on every source table refuses writes at the database
   (it waits for writes in flight, then nothing more can change the source).
5. Final catch-up: the source's current WAL position, then the slot's confirmed_flush_lsn
   at or past it. Sequences are copied (replication does not carry them, 4.3), row counts
   compared table by table, the target's migrations marker written.
6. The flip: the store row names the new cell (the routing cache is dropped by the save),
   `moving_to` is cleared; the after-move hooks run (downloads of the window are counted);
   subscription, slot and publication are dropped.
7. The old schema stays in the source cell, read-only, until `move_store <schema>
   --drop-old <cell>` drops it (refused while the store's row names that cell).

A failure before the flip undoes 2-4 (target schema, subscription, slot, publication,
triggers, `moving_to`) and leaves the store where it was. Migrations must not run during a
move (DDL on the source stalls the subscription, 4.5): `migrate_platform` skips nothing
by itself, so do not deploy a migration while a move runs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import psycopg2
from django.db import connections

from . import cells
from .models import SchemaBlueprint, Store
from .schema_state import MARKER, _rows_sql, mark_sql, quote

logger = logging.getLogger(__name__)

Progress = Callable[[str], None]
# Run after the flip with the moved store (payments counts the window's downloads).
_AFTER_MOVE: list[Callable[[Store], Any]] = []
READ_ONLY_TRIGGER = "tenants_store_moved_read_only"
READ_ONLY_FUNCTION = "public.tenants_store_moved_read_only"


class MoveError(Exception):
    """The move cannot go on; the message says why and what to do."""


def register_after_move(hook: Callable[[Store], Any]) -> None:
    if hook not in _AFTER_MOVE:
        _AFTER_MOVE.append(hook)


def after_move_run(store: Store) -> None:
    for hook in _AFTER_MOVE:
        hook(store)


def _raw(cell: str):
    params = connections[cells.alias(cell)].get_connection_params()
    conn = psycopg2.connect(**params)
    conn.autocommit = True
    return conn


def _conninfo(cell: str) -> str:
    params = connections[cells.alias(cell)].get_connection_params()
    parts = []
    for key in ("host", "port", "dbname", "user", "password"):
        value = params.get(key)
        if value not in (None, ""):
            escaped = str(value).replace("\\", "\\\\").replace("'", "\\'")
            parts.append(f"{key}='{escaped}'")
    return " ".join(parts)


def _one(conn, sql: str, params: Any = None):
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchone()


def _all(conn, sql: str, params: Any = None) -> list:
    with conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def _run(conn, sql: str, params: Any = None) -> None:
    with conn.cursor() as cur:
        cur.execute(sql, params)


def names(schema: str) -> str:
    """The publication, slot and subscription name of a schema's move."""
    return f"mv_{quote(schema).strip(chr(34))}"


def tables(conn, schema: str) -> list[str]:
    rows = _all(
        conn,
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relkind IN ('r', 'p') ORDER BY 1",
        [schema],
    )
    return [r[0] for r in rows]


def _checks(store: Store, source, target, to: str) -> SchemaBlueprint:
    schema = store.schema_name
    if store.moving_to:
        raise MoveError(
            f"{schema} is already moving to cell {store.moving_to!r} (a move stopped half way?): "
            f"`move_store {schema} --abort` undoes it."
        )
    if store.status == Store.Status.PROVISIONING:
        raise MoveError(f"{schema} is still being created.")
    if (_one(source, "SHOW wal_level")[0]) != "logical":
        raise MoveError(
            f"Cell {cells.cell_of(store)!r} runs with wal_level={_one(source, 'SHOW wal_level')[0]}: "
            "a move needs wal_level=logical there (a restart; deploy/README.md)."
        )
    no_key = _all(
        source,
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relkind = 'r' AND c.relreplident <> 'f' AND NOT EXISTS "
        "(SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)",
        [schema],
    )
    if no_key:
        raise MoveError(
            f"Tables without a primary key in {schema}: {', '.join(r[0] for r in no_key)}. "
            "Publishing them would refuse every UPDATE and DELETE on them in the source."
        )
    if _one(target, "SELECT 1 FROM pg_namespace WHERE nspname = %s", [schema]):
        raise MoveError(
            f"Cell {to!r} already has a schema {schema} (an earlier move's? `move_store "
            f"{schema} --abort` drops it while the store's row names another cell)."
        )
    comment = _one(
        source,
        "SELECT d.description FROM pg_namespace n LEFT JOIN pg_description d ON "
        "d.objoid = n.oid AND d.classoid = 'pg_namespace'::regclass AND d.objsubid = 0 "
        "WHERE n.nspname = %s",
        [schema],
    )
    if comment is None:
        raise MoveError(f"No schema {schema} in cell {cells.cell_of(store)!r}.")
    marker = (comment[0] or "").removeprefix(MARKER)
    rows = _one(source, _rows_sql(schema))[0]
    if marker != rows:
        raise MoveError(
            f"{schema}'s migrations marker does not match its rows: run "
            "`migrate_platform --verify` first."
        )
    blueprint = SchemaBlueprint.objects.filter(fingerprint=marker).order_by("-pk").first()
    if blueprint is None:
        raise MoveError(
            f"No recorded blueprint at {schema}'s migrations ({marker}): run migrate_platform "
            "so the store is at the head (it records the head's blueprint)."
        )
    return blueprint


def _target_build(target, schema: str, blueprint: SchemaBlueprint) -> None:
    """The schema from the blueprint, in one transaction, then emptied of rows."""
    target.autocommit = False
    try:
        with target.cursor() as cur:
            cur.execute(f"CREATE SCHEMA {quote(schema)}")
            cur.execute(f"SET LOCAL search_path TO {quote(schema)}")
            for statement in blueprint.statements:
                cur.execute(statement)
            made = tables(target, schema)
            if made:
                cur.execute("TRUNCATE " + ", ".join(f'{quote(schema)}."{t}"' for t in made))
        target.commit()
    except Exception:
        target.rollback()
        raise
    finally:
        target.autocommit = True


def _wait(what: str, check: Callable[[], tuple[bool, str]], progress: Progress, timeout: float):
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        done, state = check()
        if state != last:
            progress(f"{what}: {state}")
            last = state
        if done:
            return
        if time.monotonic() > deadline:
            raise MoveError(f"{what}: not done after {timeout:.0f} s ({state}).")
        time.sleep(0.2)


def _subscription_synced(target, name: str) -> tuple[bool, str]:
    states = _all(
        target,
        "SELECT r.srsubstate FROM pg_subscription_rel r JOIN pg_subscription s "
        "ON s.oid = r.srsubid WHERE s.subname = %s",
        [name],
    )
    ready = sum(1 for (s,) in states if s == "r")
    return bool(states) and ready == len(states), f"{ready}/{len(states)} tables copied"


def _caught_up(source, slot: str, lsn: str) -> tuple[bool, str]:
    row = _one(
        source,
        "SELECT confirmed_flush_lsn, pg_wal_lsn_diff(%s::pg_lsn, confirmed_flush_lsn) "
        "FROM pg_replication_slots WHERE slot_name = %s",
        [lsn, slot],
    )
    if row is None or row[0] is None:
        return False, "slot not confirmed yet"
    lag = max(0, int(row[1]))
    return lag == 0, f"{lag} bytes behind {lsn}"


def _catch_up(source, slot: str, progress: Progress, timeout: float) -> str:
    lsn = _one(source, "SELECT pg_current_wal_lsn()::text")[0]
    nudged = [time.monotonic()]

    def check() -> tuple[bool, str]:
        done, state = _caught_up(source, slot, lsn)
        if not done and time.monotonic() - nudged[0] > 2:
            # A quiet source sends the subscriber nothing to confirm: a logical message
            # moves the slot along (pgoutput skips it).
            _run(source, "SELECT pg_logical_emit_message(false, 'tenants.moves', 'sync')")
            nudged[0] = time.monotonic()
        return done, state

    _wait("catching up", check, progress, timeout)
    return lsn


def _read_only_on(source, schema: str) -> None:
    """A statement trigger on every table of the source schema that refuses writes. One
    transaction: it waits for the writes in flight, and every later one fails."""
    source.autocommit = False
    try:
        with source.cursor() as cur:
            cur.execute(
                f"CREATE OR REPLACE FUNCTION {READ_ONLY_FUNCTION}() RETURNS trigger "
                "LANGUAGE plpgsql AS $f$ BEGIN RAISE EXCEPTION "
                "'store schema % has moved to another cell: read-only', TG_TABLE_SCHEMA "
                "USING ERRCODE = 'read_only_sql_transaction'; END $f$"
            )
            for table in tables(source, schema):
                cur.execute(
                    f"CREATE TRIGGER {READ_ONLY_TRIGGER} BEFORE INSERT OR UPDATE OR DELETE OR "
                    f'TRUNCATE ON {quote(schema)}."{table}" FOR EACH STATEMENT EXECUTE '
                    f"FUNCTION {READ_ONLY_FUNCTION}()"
                )
        source.commit()
    except Exception:
        source.rollback()
        raise
    finally:
        source.autocommit = True


def _read_only_off(source, schema: str) -> None:
    for table in tables(source, schema):
        _run(source, f'DROP TRIGGER IF EXISTS {READ_ONLY_TRIGGER} ON {quote(schema)}."{table}"')


def _sequences_copy(source, target, schema: str) -> int:
    rows = _all(
        source,
        "SELECT sequencename, last_value FROM pg_sequences WHERE schemaname = %s",
        [schema],
    )
    for name, last_value in rows:
        if last_value is not None:
            _run(
                target,
                "SELECT setval(format('%%I.%%I', %s::text, %s::text)::regclass, %s, true)",
                [schema, name, last_value],
            )
    return len(rows)


def _counts(conn, schema: str) -> dict[str, int]:
    found = {}
    for table in tables(conn, schema):
        found[table] = _one(conn, f'SELECT count(*) FROM {quote(schema)}."{table}"')[0]  # noqa: S608
    return found


def _replication_drop(source, target, schema: str) -> None:
    name = names(schema)
    if _one(target, "SELECT 1 FROM pg_subscription WHERE subname = %s", [name]):
        _run(target, f"ALTER SUBSCRIPTION {name} DISABLE")
        _run(target, f"ALTER SUBSCRIPTION {name} SET (slot_name = NONE)")
        _run(target, f"DROP SUBSCRIPTION {name}")
    deadline = time.monotonic() + 30
    while _one(source, "SELECT 1 FROM pg_replication_slots WHERE slot_name = %s", [name]):
        active = _one(
            source, "SELECT active_pid FROM pg_replication_slots WHERE slot_name = %s", [name]
        )
        if active and active[0]:
            if time.monotonic() > deadline:
                _run(source, "SELECT pg_terminate_backend(%s)", [active[0]])
            time.sleep(0.2)
            continue
        _run(source, "SELECT pg_drop_replication_slot(%s)", [name])
    _run(source, f"DROP PUBLICATION IF EXISTS {name}")


def _slot_create(source, name: str, timeout: float) -> None:
    """A logical slot starts from a consistent point: PostgreSQL waits for every
    transaction that has written and is still open on the source *server* (any database)."""
    _run(source, "SET statement_timeout = %s", [f"{int(timeout * 1000)}"])
    try:
        _run(source, "SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", [name])
    except psycopg2.errors.QueryCanceled as exc:
        raise MoveError(
            f"The replication slot was not created within {timeout:.0f} s: a transaction "
            "stays open on the source server (pg_stat_activity.xact_start). Retry when it ends."
        ) from exc
    finally:
        _run(source, "RESET statement_timeout")


def _set_moving(store: Store, to: str) -> None:
    store.moving_to = to
    store.save(update_fields=["moving_to"])  # drops the routing cache (tenants.signals)


def store_move(
    store: Store,
    *,
    to: str,
    progress: Progress = print,
    grace: float = 2.0,
    timeout: float = 600.0,
) -> dict[str, Any]:
    """Move `store` to cell `to` (see the module's docstring); returns figures."""
    source_cell, schema = cells.cell_of(store), store.schema_name
    cells.alias(to)  # a cell that is not configured fails here
    if to == source_cell:
        raise MoveError(f"{schema} is already in cell {to!r}.")
    started = time.monotonic()

    def say(message: str) -> None:
        progress(f"[{time.monotonic() - started:6.1f}s] {message}")

    source, target = _raw(source_cell), _raw(to)
    name = names(schema)
    flipped = False
    window = 0.0
    try:
        blueprint = _checks(store, source, target, to)
        say(f"{schema}: cell {source_cell!r} -> {to!r}, blueprint #{blueprint.pk}")
        _target_build(target, schema, blueprint)
        say(f"schema built in {to!r} ({len(blueprint.statements)} statements)")
        # The publication before the slot: the slot decodes with the catalog as of its
        # start, where a publication created later does not exist yet.
        _run(source, f"CREATE PUBLICATION {name} FOR TABLES IN SCHEMA {quote(schema)}")
        say("creating the replication slot (it waits for transactions open on the source server)")
        _slot_create(source, name, timeout)
        # The slot exists already (created above): a subscription that creates its own slot
        # hangs when both databases are in one cluster.
        _run(
            target,
            f"CREATE SUBSCRIPTION {name} CONNECTION %s PUBLICATION {name} "
            f"WITH (create_slot = false, slot_name = '{name}', copy_data = true)",
            [_conninfo(source_cell)],
        )
        _wait("initial copy", lambda: _subscription_synced(target, name), say, timeout)
        _catch_up(source, name, say, timeout)

        window_started = time.monotonic()
        _set_moving(store, to)
        say(f"read-only window open: writes wait; {grace:.1f} s for requests in flight")
        time.sleep(grace)
        _read_only_on(source, schema)
        lsn = _catch_up(source, name, say, timeout)
        sequences = _sequences_copy(source, target, schema)
        before, after = _counts(source, schema), _counts(target, schema)
        if before != after:
            differ = {t: (before.get(t), after.get(t)) for t in before if before[t] != after.get(t)}
            raise MoveError(f"Row counts differ after catching up to {lsn}: {differ}")
        _run(target, mark_sql(schema))
        store.cell, store.moving_to = to, ""
        store.save(update_fields=["cell", "moving_to"])
        flipped = True
        cells.forget(schema)
        window = time.monotonic() - window_started
        say(
            f"flipped to {to!r} at {lsn}: {sum(after.values())} rows in {len(after)} tables, "
            f"{sequences} sequences; read-only for {window:.1f} s"
        )
        after_move_run(store)
        _replication_drop(source, target, schema)
        say("subscription, slot and publication dropped")
        # A download that read the store row just before the flip records itself late.
        after_move_run(store)
        say(
            f"done; the old schema stays read-only in {source_cell!r}: "
            f"`move_store {schema} --drop-old {source_cell}` drops it"
        )
        return {
            "rows": sum(after.values()),
            "tables": len(after),
            "sequences": sequences,
            "window_seconds": window,
            "seconds": time.monotonic() - started,
        }
    except BaseException:
        if not flipped:
            say("failed before the flip: undoing")
            _undo(store, source, target, source_cell)
        raise
    finally:
        source.close()
        target.close()


def _undo(store: Store, source, target, source_cell: str) -> None:
    schema = store.schema_name
    _replication_drop(source, target, schema)
    _read_only_off(source, schema)
    if cells.cell_of(store) == source_cell:
        _run(target, f"DROP SCHEMA IF EXISTS {quote(schema)} CASCADE")
    if store.moving_to:
        _set_moving(store, "")
    after_move_run(store)


def store_move_abort(store: Store) -> None:
    """Undo a move that stopped before its flip (the command's --abort)."""
    others = [c for c in cells.cells() if c != cells.cell_of(store)]
    for other in others:
        source, target = _raw(cells.cell_of(store)), _raw(other)
        try:
            _undo(store, source, target, cells.cell_of(store))
        finally:
            source.close()
            target.close()


def old_schema_drop(store: Store, cell: str) -> None:
    """Drop the copy a move left in `cell` (refused while the store lives there)."""
    if cells.cell_of(store) == cell:
        raise MoveError(f"{store.schema_name} lives in cell {cell!r}: that is not an old copy.")
    conn = _raw(cell)
    try:
        _run(conn, f"DROP SCHEMA IF EXISTS {quote(store.schema_name)} CASCADE")
    finally:
        conn.close()
