from __future__ import annotations

from celery import shared_task
from django.db import connection


@shared_task
def store_ping() -> dict:
    """Report which schema a worker ran in: used by /healthz?worker=1 and the tests."""
    tenant = getattr(connection, "tenant", None)
    return {
        "schema": connection.schema_name,
        "store": getattr(tenant, "subdomain", "") if tenant is not None else "",
    }


@shared_task
def cells_reconcile() -> dict:
    """Beat: finish what a crash left half-done across the control database and the cells:
    outbox rows not yet applied (a purchase's ledger row) and stores left "provisioning"
    (tenants.cells, tenants.services.store_provision)."""
    from . import cells
    from .services import stores_provision_pending

    return {
        "outbox_applied": cells.outbox_reconcile(),
        "stores_provisioned": len(stores_provision_pending()),
    }
