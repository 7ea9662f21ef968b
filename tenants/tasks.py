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
