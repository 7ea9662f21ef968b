"""Writes that span the control database and a cell stay exactly-once with no distributed
transaction (tenants/cells.py): a crash between the two halves loses nothing, and the
reconciler (tenants.tasks.cells_reconcile) doubles nothing.

Everything here is committed for real (the `committed` fixture): a crash is only a crash
when the first half is on disk and the second is not.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

from django.conf import settings
from django.db import connections

from payments.models import Purchase
from payments.platform.models import FeeLedgerEntry
from payments.services import purchase_fulfil
from tenants import cells, provisioning
from tenants import services as tenant_services
from tenants.models import CellOutbox, Store
from tenants.services import stores_provision_pending
from tenants.tasks import cells_reconcile
from tests.conftest import store_client
from tests.factories import in_schema, paid_session, product_with_file

from .conftest import CELL_DB, schemas_in

ROOT = Path(__file__).resolve().parents[2]


def _crash(*args, **kwargs):
    raise RuntimeError("the process died here")


def _purchases(store, session_id: str) -> int:
    with in_schema(store):
        return Purchase.objects.filter(checkout_session_id=session_id).count()


def _ledger(session_id: str) -> int:
    return FeeLedgerEntry.objects.filter(checkout_session_id=session_id).count()


def test_a_crash_after_the_purchase_commits_in_the_cell_loses_no_ledger_row(committed, monkeypatch):
    store = committed()
    product = product_with_file(store, price=2500)
    session = paid_session(store, product, fee=155)
    # Dies after the cell's commit, before anything reaches the control database.
    monkeypatch.setattr(cells, "outbox_apply", _crash)
    with in_schema(store):
        _, created = purchase_fulfil(store=store, session=session)
    assert created
    assert _purchases(store, session.id) == 1
    assert CellOutbox.objects.using(CELL_DB).count() == 1  # the second half, kept
    assert _ledger(session.id) == 0
    monkeypatch.undo()

    # Stripe retries the event: the purchase is found, not made again.
    with in_schema(store):
        _, created = purchase_fulfil(store=store, session=session)
    assert not created
    assert cells_reconcile() == {"outbox_applied": 1, "stores_provisioned": 0}
    entry = FeeLedgerEntry.objects.get(checkout_session_id=session.id)
    assert (entry.store_id, entry.amount, entry.platform_fee) == (store.pk, 2500, 155)
    # Again, and again: nothing doubles.
    assert cells_reconcile()["outbox_applied"] == 0
    assert (_purchases(store, session.id), _ledger(session.id)) == (1, 1)
    assert CellOutbox.objects.using(CELL_DB).count() == 0


def test_a_crash_after_the_ledger_row_commits_applies_it_again_without_a_second_row(
    committed, monkeypatch
):
    store = committed()
    product = product_with_file(store, price=900)
    session = paid_session(store, product)
    # Dies after the control database's commit, before the outbox row is deleted.
    monkeypatch.setattr(cells, "_after_control_write", _crash)
    with in_schema(store):
        purchase_fulfil(store=store, session=session)
    assert _ledger(session.id) == 1
    assert CellOutbox.objects.using(CELL_DB).count() == 1
    monkeypatch.undo()

    assert cells_reconcile()["outbox_applied"] == 1  # applied again: found, not added
    assert (_purchases(store, session.id), _ledger(session.id)) == (1, 1)
    assert CellOutbox.objects.using(CELL_DB).count() == 0


def test_a_killed_process_between_the_two_halves_loses_nothing(committed):
    """The same crash for real: a separate process makes the purchase and is SIGKILLed
    right after the cell's commit."""
    store = committed()
    product = product_with_file(store, price=4200)
    session = paid_session(store, product, fee=240)
    control = connections["default"].settings_dict
    cell = connections[CELL_DB].settings_dict
    env = dict(
        os.environ,
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=f"postgres://{control['USER']}@{control['HOST']}:{control['PORT']}/{control['NAME']}",
        STORE_CELLS=f"b=postgres://{cell['USER']}@{cell['HOST']}:{cell['PORT']}/{cell['NAME']}",
    )
    child = textwrap.dedent(
        f"""
        import os, signal
        import django
        django.setup()
        from payments.services import purchase_fulfil
        from tenants import cells
        from tenants.models import Store
        from tests.factories import in_schema, paid_session
        from catalog.models import Product
        cells.outbox_apply = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
        store = Store.objects.get(pk={store.pk})
        with in_schema(store):
            product = Product.objects.get(pk={product.pk})
            session = paid_session(store, product, fee=240, session_id={session.id!r})
            purchase_fulfil(store=store, session=session)
        print("not killed")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", child], cwd=ROOT, env=env, capture_output=True, timeout=120
    )
    assert result.returncode == -signal.SIGKILL, result.stderr.decode()[-2000:]
    assert _purchases(store, session.id) == 1
    assert _ledger(session.id) == 0
    assert cells_reconcile()["outbox_applied"] == 1
    assert (_purchases(store, session.id), _ledger(session.id)) == (1, 1)
    assert FeeLedgerEntry.objects.get(checkout_session_id=session.id).platform_fee == 240


def test_a_crash_after_the_store_row_commits_leaves_a_store_the_reconciler_finishes(
    committed, monkeypatch
):
    monkeypatch.setattr(provisioning, "schema_create", _crash)
    store = committed()
    assert store.status == Store.Status.PROVISIONING
    assert store.schema_name not in schemas_in(CELL_DB)
    # Nothing of it shows meanwhile, its dashboard included: it has no schema yet.
    assert store_client(store).get("/").status_code == 503
    assert store_client(store).get("/dashboard/").status_code == 503
    monkeypatch.undo()

    assert cells_reconcile()["stores_provisioned"] == 0  # a sign-up may still be at work
    assert stores_provision_pending(older_than_seconds=0) == [store.subdomain]
    store.refresh_from_db()
    assert store.status == Store.Status.ACTIVE
    assert store.schema_name in schemas_in(CELL_DB)
    assert store.schema_name not in schemas_in("default")
    assert store_client(store).get("/").status_code == 200
    assert stores_provision_pending(older_than_seconds=0) == []


def _schema_oid(alias: str, schema: str) -> int | None:
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT oid FROM pg_namespace WHERE nspname = %s", [schema])
        row = cursor.fetchone()
    return row[0] if row else None


def test_a_crash_after_the_schema_commits_is_flipped_without_building_it_again(
    committed, monkeypatch
):
    monkeypatch.setattr(tenant_services, "_provision_crash_point", _crash)
    store = committed()
    assert store.status == Store.Status.PROVISIONING
    built = _schema_oid(CELL_DB, store.schema_name)
    assert built is not None
    monkeypatch.undo()

    assert stores_provision_pending(older_than_seconds=0) == [store.subdomain]
    store.refresh_from_db()
    assert store.status == Store.Status.ACTIVE
    assert _schema_oid(CELL_DB, store.schema_name) == built  # the same schema, once
    assert store_client(store).get("/").status_code == 200


def test_the_default_cell_needs_no_outbox(committed):
    store = committed(cell="default")
    assert store.status == Store.Status.ACTIVE
    product = product_with_file(store)
    session = paid_session(store, product)
    with in_schema(store):
        purchase_fulfil(store=store, session=session)
    assert _ledger(session.id) == 1  # in the purchase's own transaction, as before cells
    assert CellOutbox.objects.using("default").count() == 0
    assert settings.STORE_CELLS  # (and cell b exists: the outbox is a choice, not a lack)
