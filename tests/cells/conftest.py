"""Two cells (tenants/cells.py): the control database (cell "default") and cell "b", a
second private PostgreSQL cluster that `devtools.devstack test` starts on its own port
(STORE_CELLS). Cell b takes no new stores by itself in the suite (cap 0); here Alice's
store is put there explicitly, Mallory's stays in the default cell, so every test below
crosses databases.

Every test in this folder may use both databases (pytest-django's `databases`); those
that use `committed` run outside any test transaction and clean up after themselves.
"""

from __future__ import annotations

import uuid

import pytest
from django.conf import settings
from django.db import connections

from tenants.models import Store
from tenants.services import store_create
from tests.conftest import make_seller
from tests.payments.conftest import _standin_server, standin  # noqa: F401 - fixtures
from tests.security.conftest import media_root, world  # noqa: F401 - fixtures

CELL = "b"
CELL_DB = "cell_b"
DATABASES = ["default", CELL_DB]


def pytest_collection_modifyitems(config, items):
    here = __name__.rsplit(".", 1)[0].replace(".", "/")
    for item in items:
        if f"/{here}/" not in f"/{item.nodeid}" or "committed" in item.fixturenames:
            continue  # (`committed` tests run outside any test transaction)
        marker = item.get_closest_marker("django_db")
        kwargs = dict(marker.kwargs) if marker else {}
        kwargs["databases"] = DATABASES
        item.add_marker(pytest.mark.django_db(*(marker.args if marker else ()), **kwargs), False)


@pytest.fixture(autouse=True)
def _cell_b_configured():
    if CELL not in settings.STORE_CELLS:
        pytest.fail(
            "These tests need cell b: run them through `python -m devtools.devstack test` "
            "(it starts the second PostgreSQL cluster and sets STORE_CELLS)."
        )


@pytest.fixture
def alice_store(alice) -> Store:
    """Alice's store in cell b."""
    return store_create(owner=alice, name="Alice's Guides", subdomain="alice", cell=CELL)


@pytest.fixture(autouse=True)
def _outbox_applied_where_the_commit_would_be(request, monkeypatch):
    """Inside a test's transaction nothing commits, so the outbox's after-commit apply
    never runs: apply each row as it is written instead (same transaction, same result).
    The `committed` tests keep the real timing, crashes included."""
    if "committed" in request.fixturenames:
        return
    from tenants import cells

    write = cells.outbox_write

    def write_and_apply(kind: str, payload: dict) -> None:
        write(kind, payload)
        target = cells.current_alias()
        if target != "default":
            cells.outbox_apply(target)

    monkeypatch.setattr(cells, "outbox_write", write_and_apply)


def schemas_in(alias: str) -> set[str]:
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'st\\_%'")
        return {row[0] for row in cursor.fetchall()}


@pytest.fixture
def committed(django_db_setup, django_db_blocker):
    """Rows and schemas committed for real in both databases (other connections, other
    processes see them), removed afterwards: for crash tests. Yields a store maker."""
    made: list[Store] = []
    owners = []

    def make(*, cell: str = CELL, **kwargs) -> Store:
        owner = make_seller(f"seller-{uuid.uuid4().hex[:8]}@example.com")
        owners.append(owner)
        subdomain = kwargs.pop("subdomain", f"c{uuid.uuid4().hex[:10]}")
        store = store_create(owner=owner, name="Committed", subdomain=subdomain, cell=cell)
        made.append(store)
        return store

    with django_db_blocker.unblock():
        before = {alias: schemas_in(alias) for alias in DATABASES}
        try:
            yield make
        finally:
            from payments.platform.models import ConnectedAccount, FeeLedgerEntry
            from tenants.models import CellOutbox

            ids = [s.pk for s in Store.objects.filter(owner__in=owners)]
            FeeLedgerEntry.objects.filter(store_id__in=ids).delete()
            ConnectedAccount.objects.filter(store_id__in=ids).delete()
            CellOutbox.objects.using(CELL_DB).all().delete()
            for store in Store.objects.filter(pk__in=ids):
                store.delete(force_drop=True)
            for owner in owners:
                owner.delete()
            for alias in DATABASES:
                for schema in schemas_in(alias) - before[alias]:
                    with connections[alias].cursor() as cursor:
                        cursor.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
