"""Deploys over many stores: nothing to do costs one catalog query, a new migration is
applied per store in one transaction each, a failing store is named and does not stop the
others, a crash half-way is finished by the next run, and stores built during a deploy
end at the new head.

The deploy uses connections (and processes) of its own, so these tests commit their stores
(`committed_stores`) and run the deploy over those stores only. A "new migration" is a
copy of catalog's migrations plus a probe, in a package of the test's own
(MIGRATION_MODULES), so the source tree is never touched.
"""

from __future__ import annotations

import io
import shutil
import sys
import uuid
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_tenants.utils import schema_context

from tenants import provisioning, schema_migrations, schema_state
from tenants.models import SchemaBlueprint, Store
from tenants.provisioning import template_refresh
from tenants.schema_migrations import stores_migrate
from tenants.schema_state import head_fingerprint, markers_read, rows_fingerprints
from tenants.services import store_create
from tests.conftest import make_seller
from tests.live import ROOT, unique

CATALOG_MIGRATIONS = ROOT / "catalog" / "migrations"
INDEX_PROBE = """from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("catalog", "{latest}")]
    operations = [
        migrations.RunSQL(
            "CREATE INDEX probe_title ON catalog_product (title)",
            "DROP INDEX probe_title",
        )
    ]
"""
PYTHON_PROBE = """from django.db import migrations


def shout(apps, schema_editor):
    Product = apps.get_model("catalog", "Product")
    for product in Product.objects.all():
        product.title = product.title.upper()
        product.save(update_fields=["title"])


class Migration(migrations.Migration):
    dependencies = [("catalog", "{latest}")]
    operations = [migrations.RunPython(shout, migrations.RunPython.noop)]
"""


def _latest_catalog_migration() -> str:
    return sorted(p.stem for p in CATALOG_MIGRATIONS.glob("0*.py"))[-1]


@pytest.fixture
def committed(django_db_setup, django_db_blocker):
    """Committed data, and the blueprint history put back as it was afterwards."""
    with django_db_blocker.unblock():
        connection.set_schema_to_public()
        if not SchemaBlueprint.objects.exists():
            template_refresh()  # a transactional_db test flushed the public tables
        last = SchemaBlueprint.objects.order_by("-pk").values_list("pk", flat=True).first()
        yield
        connection.set_schema_to_public()
        if SchemaBlueprint.objects.filter(pk__gt=last or 0).exists():
            SchemaBlueprint.objects.filter(pk__gt=last or 0).delete()
            template_refresh()
            SchemaBlueprint.objects.filter(pk__gt=last or 0).delete()


@pytest.fixture
def committed_stores(committed):
    made: list[Store] = []

    def make(count: int) -> list[Store]:
        owner = make_seller(f"{unique('deploy')}@example.com")
        for _ in range(count):
            name = unique("deploy")
            made.append(store_create(owner=owner, name=name, subdomain=name))
        return made[-count:]

    yield make
    connection.set_schema_to_public()
    for store in made:
        found = Store.objects.filter(pk=store.pk).first()
        if found:
            found.delete(force_drop=True)


@pytest.fixture
def new_migration(tmp_path: Path, settings):
    """Install a new catalog migration (a package of this test's own) and return its name."""

    def install(template: str) -> str:
        package = f"probe_migrations_{uuid.uuid4().hex[:8]}"
        target = tmp_path / package
        target.mkdir()
        for path in CATALOG_MIGRATIONS.glob("*.py"):
            shutil.copy(path, target / path.name)
        (target / "9999_probe.py").write_text(template.format(latest=_latest_catalog_migration()))
        settings.MIGRATION_MODULES = {"catalog": package}
        return "9999_probe"

    sys.path.insert(0, str(tmp_path))
    yield install
    sys.path.remove(str(tmp_path))
    with connection.cursor() as cursor:  # the public schema records it too (migrate_platform)
        cursor.execute(
            "DELETE FROM public.django_migrations WHERE app = 'catalog' AND name = '9999_probe'"
        )


def _schemas(stores: list[Store]) -> list[str]:
    return [s.schema_name for s in stores]


def _has_index(schema: str, name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_indexes WHERE schemaname = %s AND indexname = %s", [schema, name]
        )
        return cursor.fetchone() is not None


def _recorded(schema: str, app: str, name: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT 1 FROM "{schema}".django_migrations WHERE app = %s AND name = %s',
            [app, name],
        )
        return cursor.fetchone() is not None


def test_a_new_store_carries_the_marker_of_the_head(committed_stores):
    (store,) = committed_stores(1)
    head = head_fingerprint()
    assert markers_read([store.schema_name]) == {store.schema_name: head}
    assert rows_fingerprints([store.schema_name]) == {store.schema_name: head}


def test_nothing_to_do_reads_markers_in_one_query_and_opens_no_store(committed_stores):
    stores = committed_stores(5)
    counts = []
    for subset in (stores[:2], stores):
        with CaptureQueriesContext(connection) as captured:
            report = stores_migrate(schemas=_schemas(subset))
        assert report.at_head == len(subset)
        assert report.bulk == report.real == 0 and not report.failed
        queries = [q["sql"] for q in captured.captured_queries]
        for sql in queries:
            assert "search_path" not in sql or sql == 'SET search_path = "public"'
            assert not any(f'"{s}"' in sql for s in _schemas(stores))  # no store schema opened
        assert sum("pg_namespace" in sql for sql in queries) == 1  # every marker, one query
        counts.append(len(queries))
    assert counts[0] == counts[1] <= 5  # the same at 2 and 5 stores


def test_a_new_migration_is_detected_and_applied_to_every_store_in_bulk(
    committed_stores, new_migration
):
    stores = committed_stores(4)
    probe = new_migration(INDEX_PROBE)
    head = head_fingerprint()
    assert all(fp != head for fp in markers_read(_schemas(stores)).values())  # detected
    seen = []
    report = stores_migrate(schemas=_schemas(stores), workers=2, progress=seen.append)
    assert report.bulk == 4 and report.real == 0 and not report.failed
    assert report.blueprint_refreshed
    for schema in _schemas(stores):
        assert _has_index(schema, "probe_title")
        assert _recorded(schema, "catalog", probe)
    assert markers_read(_schemas(stores)) == dict.fromkeys(_schemas(stores), head)
    assert rows_fingerprints(_schemas(stores)) == dict.fromkeys(_schemas(stores), head)
    assert seen and seen[-1].done == seen[-1].total == 4
    assert "4/4 stores migrated" in str(seen[-1])
    # New stores are built from the new blueprint: at the head, index included.
    (late,) = committed_stores(1)
    assert _has_index(late.schema_name, "probe_title")
    assert markers_read([late.schema_name]) == {late.schema_name: head}
    # And the next deploy has nothing to do.
    again = stores_migrate(schemas=[*_schemas(stores), late.schema_name])
    assert again.at_head == 5 and again.bulk == 0


def test_a_store_taken_back_by_migrate_schemas_is_detected(committed_stores):
    stores = committed_stores(2)
    behind = stores[0].schema_name
    previous = sorted(p.stem for p in CATALOG_MIGRATIONS.glob("0*.py"))[-2]
    call_command(
        "migrate_schemas", "catalog", previous, schema_name=behind, interactive=False, verbosity=0
    )
    head = head_fingerprint()
    assert markers_read([behind])[behind] != head
    report = stores_migrate(schemas=_schemas(stores), processes=False)
    assert report.at_head == 1
    assert report.bulk + report.real == 1 and not report.failed
    assert rows_fingerprints([behind]) == {behind: head}


def test_verify_finds_a_store_whose_rows_were_changed_by_hand(committed_stores):
    (store,) = committed_stores(1)
    schema = store.schema_name
    with connection.cursor() as cursor:
        # A shared app's row: recorded in store schemas, with nothing to run there.
        cursor.execute(
            f'DELETE FROM "{schema}".django_migrations WHERE app = %s AND name = %s',
            ["sessions", "0001_initial"],
        )
    assert stores_migrate(schemas=[schema]).at_head == 1  # the marker is trusted
    report = stores_migrate(schemas=[schema], verify=True, processes=False)
    assert report.at_head == 0 and report.real == 1 and not report.failed
    assert _recorded(schema, "sessions", "0001_initial")
    assert rows_fingerprints([schema]) == {schema: head_fingerprint()}


def test_a_failing_store_is_reported_by_name_and_the_others_are_migrated(
    committed_stores, new_migration
):
    stores = committed_stores(4)
    broken = stores[1].schema_name
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE INDEX probe_title ON "{broken}".payments_purchase (buyer_email)')
    probe = new_migration(INDEX_PROBE)
    report = stores_migrate(schemas=_schemas(stores), workers=2)
    assert list(report.failed) == [broken]
    assert "probe_title" in report.failed[broken]
    assert report.bulk == 3
    assert not _recorded(broken, "catalog", probe)  # rolled back as a whole
    for schema in _schemas(stores):
        if schema != broken:
            assert _has_index(schema, "probe_title") and _recorded(schema, "catalog", probe)


def test_the_command_names_a_failing_store_and_fails(committed_stores, new_migration):
    stores = committed_stores(2)
    broken = stores[0]
    with connection.cursor() as cursor:
        cursor.execute(f'DROP TABLE "{broken.schema_name}".catalog_product CASCADE')
    new_migration(INDEX_PROBE)
    errors = io.StringIO()
    with pytest.raises(CommandError, match="1 stores could not be migrated"):
        call_command("migrate_platform", verbosity=0, stdout=io.StringIO(), stderr=errors)
    assert f"FAILED {broken.subdomain} ({broken.schema_name})" in errors.getvalue()
    assert 'relation "catalog_product" does not exist' in errors.getvalue()
    assert markers_read([stores[1].schema_name]) == {stores[1].schema_name: head_fingerprint()}


class _CrashAfter:
    """A connection whose process dies before its n-th commit (the transaction is lost)."""

    def __init__(self, real, budget: dict):
        self._real, self._budget = real, budget

    def __getattr__(self, name):
        return getattr(self._real, name)

    def commit(self):
        if self._budget["commits"] == 0:
            self._real.close()  # the server rolls the open transaction back
            raise SystemExit("killed")
        self._budget["commits"] -= 1
        self._real.commit()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_crash_half_way_leaves_each_store_migrated_or_not_and_the_next_run_finishes(
    committed_stores, new_migration, monkeypatch
):
    stores = committed_stores(6)
    probe = new_migration(INDEX_PROBE)  # no IF NOT EXISTS: applying twice would fail
    deltas = _deltas_for(stores)
    start = next(iter(deltas))
    budget = {"commits": 3}
    real_connect = schema_migrations._connect
    monkeypatch.setattr(
        schema_migrations, "_connect", lambda db: _CrashAfter(real_connect(db), budget)
    )
    jobs = [(s, start) for s in _schemas(stores)]
    # One worker, dying at its fourth store: the run stops there.
    schema_migrations._run_pass(jobs, [], deltas, 1, False, None, 1.0, 0.0)
    monkeypatch.undo()
    head = head_fingerprint()
    states = {
        s: (_has_index(s, "probe_title"), _recorded(s, "catalog", probe), markers_read([s])[s])
        for s in _schemas(stores)
    }
    assert sum(index for index, _, _ in states.values()) == 3
    for index, row, marker in states.values():
        assert index == row == (marker == head)  # all of it, or none of it
    report = stores_migrate(schemas=_schemas(stores), workers=2)
    assert report.at_head == 3 and report.bulk == 3 and not report.failed
    assert all(_has_index(s, "probe_title") for s in _schemas(stores))


def _deltas_for(stores: list[Store]) -> dict[str, list[str]]:
    start = markers_read([stores[0].schema_name])[stores[0].schema_name]
    blueprint = schema_migrations._blueprint_for(start)
    statements, why = schema_migrations.delta_record(blueprint=blueprint, head=head_fingerprint())
    assert statements is not None, why
    return {start: statements}


def test_the_delta_is_the_migrations_sql_and_its_row_only(committed_stores, new_migration):
    (store,) = committed_stores(1)
    new_migration(INDEX_PROBE)
    statements = _deltas_for([store])[markers_read([store.schema_name])[store.schema_name]]
    assert statements[0] == "CREATE INDEX probe_title ON catalog_product (title)"
    assert len(statements) == 2
    assert statements[1].startswith('INSERT INTO "django_migrations"')


def test_a_python_migration_runs_djangos_migrate_in_every_store(committed_stores, new_migration):
    stores = committed_stores(3)
    from catalog.models import Product

    for i, store in enumerate(stores):
        with schema_context(store.schema_name):
            Product.objects.create(title=f"quiet {i}", slug="quiet", price=500)
    probe = new_migration(PYTHON_PROBE)
    report = stores_migrate(schemas=_schemas(stores), workers=2)
    assert report.real == 3 and report.bulk == 0 and not report.failed
    assert any("runs Python" in note for note in report.notes)
    for i, store in enumerate(stores):
        with schema_context(store.schema_name):
            assert Product.objects.get().title == f"QUIET {i}"  # the data moved, not just DDL
        assert _recorded(store.schema_name, "catalog", probe)
    assert rows_fingerprints(_schemas(stores)) == dict.fromkeys(
        _schemas(stores), head_fingerprint()
    )


def test_stores_created_during_a_deploy_end_at_the_new_head(
    committed_stores, new_migration, monkeypatch
):
    stores = committed_stores(3)
    old_blueprint = provisioning.blueprint_latest()
    new_migration(INDEX_PROBE)
    head = head_fingerprint()
    made: list[Store] = []

    def during(pass_number: int) -> None:
        if pass_number != 1:
            return
        # Signed up while the deploy runs: built from the blueprint the deploy just recorded.
        made.extend(committed_stores(1))
        assert markers_read([made[0].schema_name]) == {made[0].schema_name: head}
        # And one whose sign-up read the old blueprint just before (still in flight).
        with monkeypatch.context() as m:
            m.setattr(provisioning, "blueprint_latest", lambda: old_blueprint)
            made.extend(committed_stores(1))
        assert markers_read([made[1].schema_name]) != {made[1].schema_name: head}

    report = stores_migrate(workers=2, on_pass=during)
    everyone = [*_schemas(stores), *_schemas(made)]
    assert markers_read(everyone) == dict.fromkeys(everyone, head)
    assert rows_fingerprints(everyone) == dict.fromkeys(everyone, head)
    assert all(_has_index(s, "probe_title") for s in everyone)
    assert not report.failed


def test_a_store_with_migrations_this_code_does_not_know_is_at_the_head(committed_stores):
    # After a rolled-back deploy: every migration on disk applied, plus one that is gone.
    stores = committed_stores(2)
    ahead = stores[0].schema_name
    with connection.cursor() as cursor:
        cursor.execute(
            f'INSERT INTO "{ahead}".django_migrations (app, name, applied) '
            "VALUES ('catalog', '9999_gone', now())"
        )
    schema_state.schema_mark(ahead)
    assert markers_read([ahead])[ahead] != head_fingerprint()
    report = stores_migrate(schemas=_schemas(stores), processes=False)
    assert report.at_head == 2 and report.bulk == report.real == 0 and not report.failed
