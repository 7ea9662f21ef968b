"""Migrating every store on a deploy in time that grows with the work, not with the stores.

`stores_migrate` is what `migrate_platform` runs for the store schemas:

1. One catalog query reads every store's migrations marker (tenants.schema_state) and
   compares it with the migration graph on disk. Stores at the head are not opened: a
   deploy with nothing to do costs the same at 10 or 10,000 stores.
2. Stores that are behind are grouped by the migrations they have. For each group, the
   recorded template DDL they were built from (a SchemaBlueprint with that fingerprint) is
   replayed into a scratch schema, which is migrated to the head once with Django's real
   migrate while its SQL is recorded: the group's delta.
3. The delta is applied to each store of the group over a pool of connections: per store
   one transaction holding the delta and the new marker (written from the rows), so a crash
   leaves each store either migrated or not, and the next run finds the rest behind. A
   store that fails is rolled back, reported by name, and the others go on.
4. A delta is only used when replaying SQL is the same as running the migration: every
   operation reduces to SQL, RunSQL only writes, no RunPython, the migration is atomic.
   Otherwise (and for stores in a state no blueprint had) each store runs Django's real
   migrate (django-tenants' run_migrations), in worker processes.

django-tenants' own executors run the whole migrate command per schema (~0.1 s for a no-op,
SCALE-FACTS 1.9-1.10); django-tenants-smart-executor skips schemas at the head but still
opens each one (SCALE-FACTS 2.2-2.3: ~55 s / ~20 s per 10,000) and applies a migration the
same way; the multiprocessing executor raises only the first failure, naming no store. So
neither is used; the fallback path works like the multiprocessing one (fork, one schema per
task) and collects every failure by name.
"""

from __future__ import annotations

import logging
import multiprocessing
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg2
import sqlparse
from django.conf import settings
from django.core.management import call_command
from django.db import connection, connections, router
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.operations import RunPython, RunSQL, SeparateDatabaseAndState
from django.test.utils import CaptureQueriesContext

from .models import SchemaBlueprint, Store
from .schema_state import (
    fingerprint,
    head_migrations,
    mark_sql,
    markers_read,
    quote,
    rows_fingerprints,
    rows_read,
    schemas_mark,
    statements_fingerprint,
)

logger = logging.getLogger(__name__)

SCRATCH_SUFFIX = "_delta"
# A connection that visits many schemas keeps ~10 kB per table touched (SCALE-FACTS 6.1).
RECYCLE_EVERY = 500
# Statements a migration runs that change a schema; the rest are reads, savepoints, paths.
WRITES = (
    "CREATE ",
    "ALTER ",
    "DROP ",
    "COMMENT ",
    "INSERT ",
    "UPDATE ",
    "DELETE ",
    "TRUNCATE ",
    "GRANT ",
    "REVOKE ",
    # Django's foreign-key drop: "SET CONSTRAINTS <fk> IMMEDIATE; ALTER TABLE … DROP …".
    "SET CONSTRAINTS ",
)


@dataclass
class Progress:
    done: int
    total: int
    failed: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.done / self.seconds if self.seconds > 0 else 0.0

    @property
    def eta(self) -> float:
        return (self.total - self.done) / self.rate if self.rate else 0.0

    def __str__(self) -> str:
        pct = 100 * self.done / self.total if self.total else 100
        return (
            f"{self.done}/{self.total} stores migrated ({pct:.0f} %), {self.rate:.0f}/s, "
            f"~{self.eta:.0f}s left, {self.failed} failed"
        )


@dataclass
class Report:
    head: str
    stores: int = 0
    at_head: int = 0  # before the run
    bulk: int = 0  # migrated by replaying a delta
    real: int = 0  # migrated by Django's migrate
    failed: dict[str, str] = field(default_factory=dict)  # schema → error
    blueprint_refreshed: bool = False
    notes: list[str] = field(default_factory=list)


def _database_operations(operations):
    for op in operations:
        if isinstance(op, SeparateDatabaseAndState):
            yield from _database_operations(op.database_operations)
        else:
            yield op


def _writes_only(sql) -> bool:
    items = [sql] if isinstance(sql, str) else list(sql)
    for item in items:
        text = item[0] if isinstance(item, list | tuple) else item
        for statement in sqlparse.split(sqlparse.format(text, strip_comments=True)):
            if statement.strip() and not statement.strip().upper().startswith(WRITES):
                return False
    return True


def migration_replayable(migration) -> str:
    """ "" when the SQL recorded from running it on one schema does the same on another;
    otherwise why not."""
    if not migration.atomic:
        return f"{migration.app_label}.{migration.name} is not atomic"
    if not router.allow_migrate(connection.alias, migration.app_label):
        return ""  # not run in store schemas at all: only its row is recorded
    for op in _database_operations(migration.operations):
        if isinstance(op, RunPython) or not op.reduces_to_sql:
            return f"{migration.app_label}.{migration.name} runs Python"
        if isinstance(op, RunSQL) and not _writes_only(op.sql):
            return f"{migration.app_label}.{migration.name} has RunSQL that reads"
    return ""


def _scratch_build(blueprint: SchemaBlueprint) -> str:
    scratch = settings.STORE_TEMPLATE_SCHEMA + SCRATCH_SUFFIX
    connection.set_schema_to_public()
    with connection.cursor() as cursor:
        cursor.execute(f"DROP SCHEMA IF EXISTS {quote(scratch)} CASCADE")
        cursor.execute(f"CREATE SCHEMA {quote(scratch)}")
    connection.set_schema(scratch, include_public=False)
    try:
        with connection.cursor() as cursor:
            for statement in blueprint.statements:
                cursor.execute(statement)
    finally:
        connection.set_schema_to_public()
    return scratch


def _scratch_drop(scratch: str) -> None:
    connection.set_schema_to_public()
    with connection.cursor() as cursor:
        cursor.execute(f"DROP SCHEMA IF EXISTS {quote(scratch)} CASCADE")


def delta_record(*, blueprint: SchemaBlueprint, head: str) -> tuple[list[str] | None, str]:
    """The SQL that takes a schema built from `blueprint` to the head, recorded from
    migrating a scratch copy once; (None, why) when replaying it would not be faithful."""
    scratch = _scratch_build(blueprint)
    try:
        connection.set_schema(scratch)
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        for migration, backwards in plan:
            why = "backwards" if backwards else migration_replayable(migration)
            if why:
                return None, why
        connection.set_schema_to_public()
        with CaptureQueriesContext(connection) as captured:
            call_command(
                "migrate_schemas",
                tenant=True,
                schema_name=scratch,
                interactive=False,
                verbosity=0,
            )
        statements = [
            q["sql"]
            for q in captured.captured_queries
            if q["sql"].lstrip().upper().startswith(WRITES)
            and not q["sql"].lstrip().upper().startswith(("CREATE SCHEMA", "DROP SCHEMA"))
        ]
        reached = rows_fingerprints([scratch])[scratch]
        if reached != head:
            return None, "the recorded migration did not reach the head"
        return statements, ""
    finally:
        _scratch_drop(scratch)


def _connect():
    params = connection.get_connection_params()
    conn = psycopg2.connect(**params)
    conn.autocommit = False
    return conn


def _bulk_worker(jobs: queue.Queue, deltas: dict[str, list[str]], outcome: dict, lock) -> None:
    conn, used = None, 0
    while True:
        try:
            schema, start = jobs.get_nowait()
        except queue.Empty:
            break
        try:
            if conn is None or used >= RECYCLE_EVERY:
                if conn is not None:
                    conn.close()
                conn, used = _connect(), 0
            used += 1
            with conn.cursor() as cursor:
                # One store at a time: a second deploy running at once waits, then skips it.
                cursor.execute(
                    f"SET LOCAL search_path TO {quote(schema)}, public; "  # noqa: S608
                    "SELECT pg_advisory_xact_lock(hashtext(%s)); "
                    "SELECT d.description FROM pg_namespace n LEFT JOIN pg_description d "
                    "ON d.objoid = n.oid AND d.classoid = 'pg_namespace'::regclass "
                    "AND d.objsubid = 0 WHERE n.nspname = %s",
                    [f"schema-migrate:{schema}", schema],
                )
                row = cursor.fetchone()
                if row is None or row[0] != f"migrations:{start}":
                    conn.rollback()
                    with lock:
                        outcome["skipped"].append(schema)
                    continue
                cursor.execute(";\n".join([*deltas[start], mark_sql(schema)]))
            conn.commit()
            with lock:
                outcome["done"].append(schema)
        except psycopg2.Error as exc:
            if conn is not None:
                try:
                    conn.rollback()
                except psycopg2.Error:
                    conn.close()
                    conn = None
            with lock:
                outcome["failed"][schema] = str(exc).strip().splitlines()[0]
    if conn is not None:
        conn.close()


def _real_migrate(schema: str) -> tuple[str, str]:
    """Django's own migrate for one store (a worker process); "" on success."""
    try:
        call_command(
            "migrate_schemas", tenant=True, schema_name=schema, interactive=False, verbosity=0
        )
    except Exception as exc:
        return schema, f"{type(exc).__name__}: {exc}".splitlines()[0]
    return schema, ""


def _real_migrate_child(schema: str) -> tuple[str, str]:
    try:
        return _real_migrate(schema)
    finally:
        connections.close_all()


def _watch(started: float, total: int, count: Callable[[], tuple[int, int]], progress, every):
    last = time.monotonic()

    def tick(final: bool = False) -> None:
        nonlocal last
        now = time.monotonic()
        if progress and (final or now - last >= every):
            last = now
            done, failed = count()
            progress(Progress(done, total, failed, now - started))

    return tick


def stores_migrate(
    *,
    workers: int = 4,
    schemas: list[str] | None = None,
    verify: bool = False,
    progress: Callable[[Progress], None] | None = None,
    progress_every: float = 2.0,
    processes: bool = True,
    on_pass: Callable[[int], None] | None = None,
) -> Report:
    """Bring every store schema (or only `schemas`) to the head of every app; see the module
    docstring. The latest blueprint is refreshed first, so stores created during the run are
    built at the new head; a second pass catches stores created from the old one meanwhile."""
    connection.set_schema_to_public()
    nodes = head_migrations()
    head = fingerprint(nodes)
    report = Report(head=head)
    markers = _markers(schemas, verify=verify, report=report)
    report.stores = len(markers) + len(report.failed)
    # A state with every migration on disk applied plus some this code does not know (a
    # rolled-back deploy) is at the head too, as Django's migrate sees it. One store of each
    # state is read to know it: the marker is the same for the same rows.
    covered = {head}

    def at_head(fp: str | None) -> bool:
        return fp in covered

    def classify(current: dict[str, str | None]) -> None:
        states = defaultdict(list)
        for schema, fp in current.items():
            if fp not in covered:
                states[fp].append(schema)
        for fp, members in states.items():
            if fp and nodes <= rows_read(members[0]):
                covered.add(fp)

    classify(markers)
    report.at_head = sum(1 for fp in markers.values() if at_head(fp))
    latest = SchemaBlueprint.objects.order_by("-pk").first()
    blueprint_current = latest is not None and _blueprint_fingerprint(latest) == head
    if report.at_head == len(markers) and blueprint_current:
        return report

    deltas: dict[str, list[str]] = {}
    no_delta: dict[str, str] = {}
    attempted: set[str] = set()
    started = time.monotonic()
    for pass_number in range(1, 4):
        behind = {
            s: fp
            for s, fp in markers.items()
            if not at_head(fp) and s not in report.failed and s not in attempted
        }
        groups: dict[str, list[str]] = defaultdict(list)
        for schema, fp in behind.items():
            groups[fp or ""].append(schema)
        for fp in groups:
            if fp in deltas or fp in no_delta:
                continue
            blueprint = _blueprint_for(fp)
            if blueprint is None:
                no_delta[fp] = "no blueprint was built at that state"
                continue
            statements, why = delta_record(blueprint=blueprint, head=head)
            if statements is None:
                no_delta[fp] = why
            else:
                deltas[fp] = statements
        for fp, why in no_delta.items():
            if groups.get(fp):
                report.notes.append(f"{len(groups[fp])} stores take Django's migrate: {why}")
        if not blueprint_current:
            from .provisioning import template_refresh

            template_refresh()
            blueprint_current = report.blueprint_refreshed = True
        if on_pass:
            on_pass(pass_number)
        if not behind:
            break
        attempted.update(behind)
        bulk_jobs = [(s, fp) for fp, members in groups.items() if fp in deltas for s in members]
        real_jobs = [s for fp, members in groups.items() if fp not in deltas for s in members]
        done_before = report.bulk + report.real
        outcome = _run_pass(
            bulk_jobs, real_jobs, deltas, workers, processes, progress, progress_every, started
        )
        report.bulk += len(outcome["done"])
        report.real += len(outcome["real_done"])
        report.failed.update(outcome["failed"])
        if progress:
            progress(
                Progress(
                    done_before + len(outcome["done"]) + len(outcome["real_done"]),
                    done_before + len(behind),
                    len(report.failed),
                    time.monotonic() - started,
                )
            )
        # Stores created meanwhile from the old blueprint, and any a concurrent run moved.
        markers = _markers(schemas, verify=False, report=report)
        classify(markers)
    for schema in attempted:
        if schema in markers and not at_head(markers[schema]) and schema not in report.failed:
            report.failed[schema] = "still behind the head after migrating"
    report.stores = max(report.stores, len(markers) + len(report.failed))
    return report


def _markers(schemas: list[str] | None, *, verify: bool, report: Report) -> dict:
    stores = Store.objects.stores()
    if schemas is not None:
        stores = stores.filter(schema_name__in=schemas)
    names = list(stores.values_list("schema_name", flat=True))
    markers = markers_read(names)
    for name in names:
        if name not in markers:
            report.failed[name] = "schema does not exist"
    unmarked = [s for s, fp in markers.items() if fp is None or verify]
    if unmarked:
        # Stores from before markers (or --verify): read their rows once, in batches.
        schemas_mark(unmarked)
        markers.update(rows_fingerprints(unmarked))
    return markers


def _run_pass(bulk_jobs, real_jobs, deltas, workers, processes, progress, every, started):
    outcome: dict = {"done": [], "real_done": [], "failed": {}, "skipped": []}
    lock = threading.Lock()
    total = len(bulk_jobs) + len(real_jobs)

    def count() -> tuple[int, int]:
        with lock:
            return len(outcome["done"]) + len(outcome["real_done"]), len(outcome["failed"])

    tick = _watch(started, total, count, progress, every)
    if bulk_jobs:
        jobs: queue.Queue = queue.Queue()
        for job in bulk_jobs:
            jobs.put(job)
        threads = [
            threading.Thread(target=_bulk_worker, args=(jobs, deltas, outcome, lock), daemon=True)
            for _ in range(max(1, workers))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            while thread.is_alive():
                thread.join(timeout=0.2)
                tick()
    if real_jobs:
        if processes and workers > 1 and len(real_jobs) > 1:
            connections.close_all()  # children must not share the parent's sockets
            context = multiprocessing.get_context("fork")
            with context.Pool(processes=workers, maxtasksperchild=RECYCLE_EVERY) as pool:
                for schema, error in pool.imap_unordered(_real_migrate_child, real_jobs):
                    _record_real(outcome, lock, schema, error)
                    tick()
        else:
            for job in real_jobs:
                schema, error = _real_migrate(job)
                _record_real(outcome, lock, schema, error)
                tick()
    return outcome


def _record_real(outcome: dict, lock, schema: str, error: str) -> None:
    with lock:
        if error:
            outcome["failed"][schema] = error
        else:
            outcome["real_done"].append(schema)


def _blueprint_fingerprint(blueprint: SchemaBlueprint) -> str:
    if not blueprint.fingerprint:
        blueprint.fingerprint = statements_fingerprint(blueprint.statements)
        blueprint.save(update_fields=["fingerprint"])
    return blueprint.fingerprint


def _blueprint_for(fp: str) -> SchemaBlueprint | None:
    if not fp:
        return None
    for blueprint in SchemaBlueprint.objects.filter(fingerprint__in=[fp, ""]).order_by("-pk"):
        if _blueprint_fingerprint(blueprint) == fp:
            return blueprint
    return None
