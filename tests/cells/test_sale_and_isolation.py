"""The sale path and the isolation matrix with Alice's store in cell b and Mallory's in the
default cell (tests/cells/conftest.py): the same tests as in tests/payments and
tests/security, collected here again so they run across two PostgreSQL clusters."""

from __future__ import annotations

import pytest
from django.db import connections

from payments.models import Purchase
from payments.platform.models import FeeLedgerEntry
from tenants import cells
from tests.payments.test_checkout import (  # noqa: F401 - collected here, on two cells
    test_a_refund_from_the_dashboard_goes_through_stripe_and_revokes_access,
    test_reconciliation_creates_purchases_for_sessions_paid_at_stripe,
    test_the_whole_sale_through_the_stand_in,
)
from tests.payments.test_paywall import (  # noqa: F401 - collected here, on two cells
    test_a_download_is_prepared_once_per_store_then_only_executed_and_finds_nothing_of_another,
    test_a_download_keeps_every_check_when_prepared,
)
from tests.security import test_isolation_matrix as matrix

from .conftest import CELL_DB

# The matrix in its production place (the platform's session on the store subdomains);
# tests/security runs every place, and the cell decides nothing about hosts or sessions.


@pytest.mark.parametrize("actor", matrix.ACTORS)
def test_on_mallorys_host_nothing_of_alices_is_found(
    actor,
    world,
    mallory,
    mallory_store,
    standin,
):
    matrix.test_on_mallorys_host_nothing_of_alices_is_found(
        actor, matrix.SUBDOMAIN, world, mallory, mallory_store, standin
    )


@pytest.mark.parametrize("actor", matrix.ACTORS)
def test_on_alices_host_strangers_get_her_shop_window_only(
    actor,
    world,
    mallory,
    mallory_store,
    standin,
):
    matrix.test_on_alices_host_strangers_get_her_shop_window_only(
        actor, matrix.SUBDOMAIN, world, mallory, mallory_store, standin
    )


def test_alice_reaches_every_route_with_the_same_identifiers(world, standin):
    matrix.test_alice_reaches_every_route_with_the_same_identifiers(
        matrix.SUBDOMAIN, world, standin
    )


def test_the_world_spans_two_cells(world, mallory_store):
    """The matrix above really runs across databases: Alice's sale is in cell b's
    cluster, its ledger row in the control database, Mallory's store in the control one."""
    assert world.store.cell == "b" and mallory_store.cell == "default"
    assert (
        cells.connection_for(world.store).settings_dict["PORT"]
        != (connections["default"].settings_dict["PORT"])
    )
    with cells.in_store(world.store):
        assert Purchase.objects.using(CELL_DB).filter(pk=world.purchase.pk).exists()
    with cells.in_store(mallory_store):
        assert not Purchase.objects.exists()
    assert FeeLedgerEntry.objects.filter(store=world.store).exists()
