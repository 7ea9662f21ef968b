"""A store in cell b: where its rows go, how it is placed, migrated and read by the
console, and what its requests, tasks and webhooks reach."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.db import connections
from django.test import override_settings

from catalog.models import Product
from payments.platform.models import FeeLedgerEntry
from tenants import cells
from tenants.models import Store
from tenants.schema_state import head_fingerprint, markers_read
from tenants.services import store_create
from tests.conftest import make_seller, store_client
from tests.factories import in_schema, product_with_file

from .conftest import CELL, CELL_DB, schemas_in


def test_a_store_in_cell_b_has_its_schema_there_and_its_row_in_the_control_database(
    alice_store, mallory_store
):
    assert (alice_store.cell, mallory_store.cell) == ("b", "default")
    assert alice_store.status == Store.Status.ACTIVE
    assert alice_store.schema_name in schemas_in(CELL_DB)
    assert alice_store.schema_name not in schemas_in("default")
    assert mallory_store.schema_name in schemas_in("default")
    assert mallory_store.schema_name not in schemas_in(CELL_DB)
    assert cells.connection_for(alice_store).alias == CELL_DB
    # Built from the blueprint and marked at the head, in its cell.
    assert markers_read([alice_store.schema_name], using=CELL_DB) == {
        alice_store.schema_name: head_fingerprint()
    }


def _has_table(alias: str, table: str) -> bool:
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [f"public.{table}"])
        return cursor.fetchone()[0]


def test_the_cell_holds_only_store_tables_and_the_outbox(alice_store):
    assert not _has_table(CELL_DB, "tenants_store")
    assert not _has_table(CELL_DB, "sellers_user")
    assert _has_table(CELL_DB, "tenants_celloutbox")
    with connections[CELL_DB].cursor() as cursor:
        cursor.execute(
            "SELECT to_regclass(%s) IS NOT NULL", [f"{alice_store.schema_name}.catalog_product"]
        )
        assert cursor.fetchone()[0]


def test_store_models_go_to_the_stores_cell_and_platform_models_to_the_control_database(
    alice_store, mallory_store
):
    product_with_file(alice_store, title="Alices Guide")
    product_with_file(mallory_store, title="Mallorys Guide")
    with cells.in_store(alice_store) as conn:
        assert conn.alias == CELL_DB and cells.current_alias() == CELL_DB
        assert list(Product.objects.values_list("title", flat=True)) == ["Alices Guide"]
        assert Store.objects.filter(pk=alice_store.pk).exists()  # control, from inside
        with cells.in_store(mallory_store):
            assert cells.current_alias() == "default"
            assert list(Product.objects.values_list("title", flat=True)) == ["Mallorys Guide"]
        assert cells.current_alias() == CELL_DB  # restored
        assert list(Product.objects.values_list("title", flat=True)) == ["Alices Guide"]
    assert cells.current_alias() == "default"
    # schema_context (a schema name only) finds the cell from the store's row.
    with in_schema(alice_store):
        assert Product.objects.get().title == "Alices Guide"


def test_a_request_to_a_store_in_cell_b_reads_its_cell(alice_store, mallory_store):
    alices = product_with_file(alice_store, title="Alices Guide")
    product_with_file(mallory_store, title="Mallorys Guide")
    page = store_client(alice_store).get("/")
    assert page.status_code == 200 and b"Alices Guide" in page.content
    assert b"Mallorys Guide" not in page.content
    other = store_client(mallory_store).get(f"/p/{alices.slug}/")
    assert other.status_code == 404
    assert b"Mallorys Guide" in store_client(mallory_store).get("/").content


def test_a_new_store_goes_to_the_cell_with_the_most_room(alice, mallory):
    with override_settings(STORE_CELL_CAP=10, STORE_CELL_CAPS={"default": 3, "b": 5}):
        assert cells.cell_room()["b"] == 5
        first = store_create(owner=alice, name="One", subdomain="one")
        assert first.cell == "b" and first.status == Store.Status.ACTIVE
        assert cells.cell_room()["b"] == 4
    # b full (its cap is the count it has): the default cell has the room.
    with override_settings(STORE_CELL_CAPS={"default": 3, "b": 1}):
        second = store_create(owner=mallory, name="Two", subdomain="two")
        assert second.cell == "default"
    # Every cell full: the default cell still takes it (sign-ups never fail for room).
    with override_settings(STORE_CELL_CAPS={"default": 0, "b": 0}):
        third = store_create(owner=make_seller("c@example.com"), name="Three", subdomain="three")
        assert third.cell == "default"


def test_a_cell_that_is_not_configured_is_refused_before_anything_is_written(alice):
    with pytest.raises(ValueError, match="No cell named"):
        store_create(owner=alice, name="Nowhere", subdomain="nowhere", cell="zz")
    assert not Store.objects.filter(subdomain="nowhere").exists()


def test_the_console_reads_a_cell_b_stores_products_in_its_cell(alice_store):
    from console.queries import store_products_count

    product_with_file(alice_store)
    product_with_file(alice_store, title="Second")
    assert store_products_count(alice_store) == 2


def test_migrate_platform_migrates_every_cell_at_once(committed):
    # Committed: each cell is migrated by a thread of its own, with its own connections.
    in_b, in_default = committed(cell=CELL), committed(cell="default")
    unmarked = in_b.schema_name
    with connections[CELL_DB].cursor() as cursor:
        # No marker (a store from before markers): the run reads its rows, in its cell.
        cursor.execute(f'COMMENT ON SCHEMA "{unmarked}" IS NULL')
    out = io.StringIO()
    call_command("migrate_platform", verbosity=0, stdout=out)
    text = out.getvalue()
    assert "Cell default:" in text and "Cell b:" in text, text
    cell_b_line = next(line for line in text.splitlines() if line.startswith("Cell b:"))
    assert "0 failed" in cell_b_line and "1 already at the head" in cell_b_line, text
    assert "schema does not exist" not in text
    for store, alias in ((in_b, CELL_DB), (in_default, "default")):
        assert markers_read([store.schema_name], using=alias) == {
            store.schema_name: head_fingerprint()
        }


def test_a_store_task_runs_against_the_stores_cell(alice_store):
    from tenants.tasks import store_ping

    with cells.in_store(alice_store):
        result = store_ping.apply().get()
    assert result == {"schema": alice_store.schema_name, "store": "alice"}


def test_the_ledger_row_of_a_cell_b_sale_reaches_the_control_database_once(
    alice_store, django_capture_on_commit_callbacks
):
    from tests.factories import purchase

    product = product_with_file(alice_store, price=1500)
    with django_capture_on_commit_callbacks(execute=True):
        bought = purchase(alice_store, product)
    entry = FeeLedgerEntry.objects.get(store=alice_store)
    assert entry.checkout_session_id == bought.checkout_session_id
    assert entry.amount == 1500
    from tenants.models import CellOutbox

    assert CellOutbox.objects.using(CELL_DB).count() == 0
    assert cells.outbox_reconcile() == 0
    assert FeeLedgerEntry.objects.filter(store=alice_store).count() == 1


def test_a_stores_cell_is_found_whatever_schema_the_connection_is_in(alice_store):
    """django-tenants asks for the cell while it switches schemas; a run of migrate_schemas
    on a scratch schema has no public schema on its search_path (the parallel suite met it)."""
    control = connections["default"]
    with control.cursor() as cursor:
        cursor.execute("CREATE SCHEMA scratch_cells_lookup")
    control.set_schema("scratch_cells_lookup", include_public=False)
    try:
        cells.forget()
        assert cells.schema_cell(alice_store.schema_name) == CELL
        assert cells.schema_cell("no_such_schema") == cells.DEFAULT
    finally:
        control.set_schema_to_public()
