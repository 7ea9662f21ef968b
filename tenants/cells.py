"""Stores across PostgreSQL servers ("cells"): which database a store's schema lives in.

The platform's own tables (users, stores, domains, connected accounts, the webhook inbox,
the fee ledger, the console's data) live in the control database, Django's `default`
alias. A store's schema (catalog, payments) lives in one cell. The control database is
itself the cell named "default", so one database — `make run`, a small deployment — is one
cell and nothing changes for it. Other cells are listed in STORE_CELLS
(`name=postgres://…`, space or comma separated); each becomes the DATABASES alias
`cell_<name>`. A store's row names its cell (`Store.cell`); a new store goes to the cell
with the most room (`cell_choose`: STORE_CELL_CAP stores per cell, STORE_CELL_CAPS per cell;
a cap of 0 closes a cell to new stores).

How a query reaches the cell
  django-tenants switches the schema with `set_tenant` on the control connection (the store
  middleware, tenant-schemas-celery's task_prerun, `schema_context`, `tenant_context`).
  `on_set_tenant` (EXTRA_SET_TENANT_METHOD_PATH) runs inside each of those calls: it
  remembers the store's cell alias on the control connection (`current_alias()`) and sets
  the same tenant on that cell's connection. `CellRouter` sends every model of a store app
  (TENANT_APPS) to `current_alias()`, every other model to the control database. So a view,
  a task or a download reads its store's tables in its store's cell with no change, and the
  control connection keeps carrying the schema name cache keys, logs and task headers read.

The API (small on purpose; the store move between cells builds on it)
  cells()                 {cell name: DATABASES alias}, the default cell first
  alias(cell)             the alias of a cell ("default" for the control database)
  cell_of(store)          the store's cell name
  connection_for(store)   the cell connection that holds the store's schema
  in_store(store)         context manager: run code against the store in its cell
                          (yields the cell connection; restores the previous store after)
  current_alias()         the alias store models go to right now
  atomic()                a transaction on the control database and, when the active store
                          is elsewhere, on its cell too (cell inner: it commits first)
  cell_choose()           the cell a new store goes to
  schema_cell(schema)     the cell of a store schema by name (cached a few seconds)
  forget(schema)          drop that cache (after a store changes cell)
  outbox_write / outbox_apply / outbox_reconcile: writes for the control database that
                          must happen exactly once with a change in a cell (see below)

Changing a store's cell (the move between cells builds on this)
  Stop the store's writes, apply its cell's outbox (`outbox_apply(alias(old))`: rows of
  every store of that cell; the table is per cell, not per store), copy the schema, then
  save the row with the new `cell` (Store.save drops the routing cache of its hosts) and
  call `forget(schema)` in every process, or wait SCHEMA_CELL_TTL seconds: FakeTenant
  switches (`schema_context`) read the cell through that cache. The store middleware
  compares the cached row's cell with the connection's on every request.

Exactly once across two databases, without a distributed transaction
  A change in a cell that the control database must also record (a purchase and its fee
  ledger row) writes an outbox row (CellOutbox, in the cell's public schema) in the same
  cell transaction. After the commit the same request applies it to the control database
  (`outbox_apply`, on_commit); the beat task `tenants.tasks.cells_reconcile` applies any
  left behind by a crash. Handlers are idempotent by key (the ledger's unique Checkout
  Session id), and an outbox row is deleted only after its write committed in the control
  database: a crash between the two halves leaves a row that is applied again, never
  twice in effect. In the default cell there is one database: handlers run at once, in the
  change's own transaction, as before cells existed.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, transaction

logger = logging.getLogger(__name__)

DEFAULT = "default"
ALIAS_PREFIX = "cell_"
# schema → (cell, when read): FakeTenant switches (schema_context) name only a schema.
_SCHEMA_CELLS: dict[str, tuple[str, float]] = {}
SCHEMA_CELL_TTL = 10.0


# --- Cells and their connections -----------------------------------------------------------


def cells() -> dict[str, str]:
    """{cell name: DATABASES alias}, the default cell (the control database) first."""
    found = {DEFAULT: DEFAULT_DB_ALIAS}
    for name in settings.STORE_CELLS:
        found[name] = ALIAS_PREFIX + name
    return found


def several() -> bool:
    """More than one cell configured (otherwise nothing here queries anything)."""
    return bool(settings.STORE_CELLS)


def alias(cell: str) -> str:
    """The DATABASES alias of a cell; ValueError for a cell not configured."""
    if cell == DEFAULT or not cell:
        return DEFAULT_DB_ALIAS
    if cell not in settings.STORE_CELLS:
        raise ValueError(f"No cell named {cell!r} (STORE_CELLS names {sorted(cells())}).")
    return ALIAS_PREFIX + cell


def cell_of(store: Any) -> str:
    return getattr(store, "cell", "") or DEFAULT


def connection_for(store: Any):
    return connections[alias(cell_of(store))]


def current_alias() -> str:
    """Where store-app models go right now: the active store's cell (see on_set_tenant)."""
    return getattr(connections[DEFAULT_DB_ALIAS], "cell_alias", DEFAULT_DB_ALIAS)


def schema_cell(schema_name: str) -> str:
    """The cell of the store with this schema (the default cell for any other schema)."""
    if not several() or not schema_name or schema_name == settings.PUBLIC_SCHEMA_NAME:
        return DEFAULT
    hit = _SCHEMA_CELLS.get(schema_name)
    now = time.monotonic()
    if hit is not None and now - hit[1] < SCHEMA_CELL_TTL:
        return hit[0]
    from .models import Store

    # Asked while django-tenants switches schemas (on_set_tenant): the connection's
    # search_path may already name a schema without public (migrate_schemas on a scratch
    # schema), so the store table is named with its schema.
    control = connections[DEFAULT_DB_ALIAS]
    table = ".".join(
        control.ops.quote_name(part) for part in (settings.PUBLIC_SCHEMA_NAME, Store._meta.db_table)
    )
    with control.cursor() as cursor:
        cursor.execute(f"SELECT cell FROM {table} WHERE schema_name = %s LIMIT 1", [schema_name])  # noqa: S608 - names from settings and model meta
        row = cursor.fetchone()
    cell = (row[0] if row else "") or DEFAULT
    _SCHEMA_CELLS[schema_name] = (cell, now)
    return cell


def forget(schema_name: str | None = None) -> None:
    """Forget the cached cell of a schema (all of them with None)."""
    if schema_name is None:
        _SCHEMA_CELLS.clear()
    else:
        _SCHEMA_CELLS.pop(schema_name, None)


def on_set_tenant(wrapper, tenant) -> None:
    """EXTRA_SET_TENANT_METHOD_PATH: django-tenants calls it in every `set_tenant`.

    On the control connection: remember the tenant's cell and switch that cell's connection
    to the same schema. (A cell connection's own switches change nothing else.)
    """
    if wrapper.alias != DEFAULT_DB_ALIAS:
        return
    if not several():
        wrapper.cell_alias = DEFAULT_DB_ALIAS
        return
    schema = tenant.schema_name
    if schema == settings.PUBLIC_SCHEMA_NAME:
        cell = DEFAULT
    elif hasattr(tenant, "cell") and getattr(tenant, "pk", None) is not None:
        cell = tenant.cell or DEFAULT
    else:
        cell = schema_cell(schema)
    target = alias(cell)
    wrapper.cell_alias = target
    if target != DEFAULT_DB_ALIAS:
        connections[target].set_tenant(tenant, wrapper.include_public_schema)


@contextlib.contextmanager
def in_store(store: Any) -> Iterator[Any]:
    """Run code against `store` in its cell; yields that cell's connection. The previous
    store (or the public schema) is active again afterwards."""
    control = connections[DEFAULT_DB_ALIAS]
    previous = getattr(control, "tenant", None)
    control.set_tenant(store)
    try:
        yield connections[current_alias()]
    finally:
        if previous is None:
            control.set_schema_to_public()
        else:
            control.set_tenant(previous)


@contextlib.contextmanager
def atomic(*, savepoint: bool = True) -> Iterator[None]:
    """`transaction.atomic()` for code that writes store tables.

    One transaction when the active store is in the control database (the default cell);
    otherwise a control transaction around a cell transaction: the cell commits first, and
    `transaction.on_commit` callbacks (registered on the control database) run after both.
    The two commits are not one: what the control database must record with a cell change
    goes through the outbox (outbox_write).
    """
    target = current_alias()
    with transaction.atomic(using=DEFAULT_DB_ALIAS, savepoint=savepoint):
        if target == DEFAULT_DB_ALIAS:
            yield
        else:
            with transaction.atomic(using=target, savepoint=savepoint):
                yield


def cell_caps() -> dict[str, int]:
    default_cap = int(settings.STORE_CELL_CAP)
    caps = settings.STORE_CELL_CAPS
    return {name: int(caps.get(name, default_cap)) for name in cells()}


def cell_room() -> dict[str, int]:
    """{cell: stores it can still take} (negative: over its cap)."""
    from django.db.models import Count

    from .models import Store

    counts = dict(
        Store.objects.using(DEFAULT_DB_ALIAS)
        .stores()
        .values_list("cell")
        .annotate(n=Count("pk"))
        .values_list("cell", "n")
    )
    return {name: cap - counts.get(name, 0) for name, cap in cell_caps().items()}


def cell_choose() -> str:
    """The cell with the most room for a new store; the default cell when every cell is
    full (a full platform keeps taking sign-ups; the console shows the cells over cap)."""
    if not several():
        return DEFAULT
    room = cell_room()
    best = max(room.items(), key=lambda item: (item[1], item[0] == DEFAULT))
    if best[1] <= 0:
        logger.warning("Every cell is at its cap (%s); new store goes to the default", room)
        return DEFAULT
    return best[0]


# --- The outbox ------------------------------------------------------------------------------

OutboxHandler = Callable[[dict], None]
_HANDLERS: dict[str, OutboxHandler] = {}


def register_outbox_handler(kind: str, handler: OutboxHandler) -> None:
    """`handler(payload)` writes `kind` to the control database; it must be idempotent
    (an outbox row may be applied again after a crash)."""
    _HANDLERS[kind] = handler


def outbox_write(kind: str, payload: dict) -> None:
    """Record a control-database write that belongs to the current cell transaction.

    Default cell: applied now, in the caller's transaction (one database). Other cells: a
    CellOutbox row in the cell, applied after the commit and by the reconciler.
    """
    target = current_alias()
    if target == DEFAULT_DB_ALIAS:
        _HANDLERS[kind](payload)
        return
    from .models import CellOutbox

    conn = connections[target]
    if not conn.in_atomic_block:
        raise RuntimeError("outbox_write belongs in the cell transaction (cells.atomic()).")
    CellOutbox.objects.using(target).create(kind=kind, payload=payload)

    def apply_now() -> None:
        try:
            outbox_apply(target)
        except Exception:
            # The reconciler (tenants.tasks.cells_reconcile) applies it later.
            logger.exception("Cell outbox of %s not applied after commit", target)

    # On the control database: runs once both transactions committed (cells.atomic).
    transaction.on_commit(apply_now, using=DEFAULT_DB_ALIAS)


# Tests replace it to crash between the two halves (after the control write, before the
# outbox row is deleted).
def _after_control_write(row_id: int) -> None:
    return None


def outbox_apply(target: str, *, limit: int = 500) -> int:
    """Apply the cell's outbox rows to the control database, oldest first; returns how many.

    One applier per cell at a time (a transaction-scoped advisory lock in the cell), so
    rows apply in the order they were written. Each row: its control write commits, then
    the row is deleted; a crash in between leaves it to be applied again (idempotently).
    """
    from .models import CellOutbox

    applied = 0
    with transaction.atomic(using=target):
        with connections[target].cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext('tenants.cell_outbox'))")
        rows = list(CellOutbox.objects.using(target).order_by("pk")[:limit])
        for row in rows:
            handler = _HANDLERS.get(row.kind)
            if handler is None:
                logger.error("No outbox handler for %r (row %s); left in place", row.kind, row.pk)
                break
            with transaction.atomic(using=DEFAULT_DB_ALIAS):
                handler(row.payload)
            _after_control_write(row.pk)
            CellOutbox.objects.using(target).filter(pk=row.pk).delete()
            applied += 1
    return applied


def outbox_pending() -> dict[str, int]:
    from .models import CellOutbox

    return {
        name: CellOutbox.objects.using(db).count()
        for name, db in cells().items()
        if db != DEFAULT_DB_ALIAS
    }


def outbox_reconcile() -> int:
    """Apply every cell's leftover outbox rows (the beat task runs it)."""
    total = 0
    for name, db in cells().items():
        if db == DEFAULT_DB_ALIAS:
            continue
        try:
            total += outbox_apply(db)
        except Exception:
            logger.exception("Cell %s: outbox not applied", name)
    return total


# --- The router --------------------------------------------------------------------------------


def _app_in(app_label: str, names: list[str]) -> bool:
    from django.apps import apps

    try:
        name = apps.get_app_config(app_label).name
    except LookupError:
        return False
    return name in names


def is_store_model(model) -> bool:
    """A model whose table is in every store schema (TENANT_APPS, not shared)."""
    name = model._meta.app_config.name
    return name in settings.TENANT_APPS and name not in settings.SHARED_APPS


def _outbox_model(model) -> bool:
    return model._meta.app_label == "tenants" and model._meta.model_name == "celloutbox"


class CellRouter:
    """Store-app models to the active store's cell, the rest to the control database.

    Migrations: the control database as django-tenants' TenantSyncRouter decides (shared
    apps in public, store apps in store schemas); a cell gets the store apps in its store
    schemas and only the outbox table in its public schema.
    """

    def db_for_read(self, model, **hints):
        if is_store_model(model) or _outbox_model(model):
            return current_alias()
        return DEFAULT_DB_ALIAS

    db_for_write = db_for_read

    def allow_relation(self, obj1, obj2, **hints):
        return True

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        from django_tenants.routers import TenantSyncRouter

        if db == DEFAULT_DB_ALIAS:
            return TenantSyncRouter().allow_migrate(db, app_label, model_name, **hints)
        if not db.startswith(ALIAS_PREFIX):
            return False
        if connections[db].schema_name == settings.PUBLIC_SCHEMA_NAME:
            return app_label == "tenants" and model_name == "celloutbox"
        return _app_in(app_label, settings.TENANT_APPS) and not _app_in(
            app_label, settings.SHARED_APPS
        )
