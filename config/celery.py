"""Celery, tenant-aware: a task queued inside a store's schema runs in that schema.

tenant-schemas-celery puts the active schema in the message headers and switches the
worker's connection before the task runs, so tasks take ids, not schema juggling.
"""

from __future__ import annotations

import os
import sys
import tempfile

# A worker serving its metrics (CELERY_METRICS_PORT) counts in prometheus_client's
# multiprocess mode, so the exporter in the parent sees what every pool process counted.
# The mode is chosen when prometheus_client is imported: decide before anything imports it.
# A fresh directory per worker start, so no earlier run's files are counted again (only for
# `celery worker`: `celery inspect` and beat share the environment but count nothing).
if (
    os.environ.get("CELERY_METRICS_PORT")
    and "worker" in sys.argv[1:]
    and not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
):
    shm = "/dev/shm"  # noqa: S108 - mkdtemp makes a private (0700), unique directory in it
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(
        prefix="product_purchase-worker-", dir=shm if os.path.isdir(shm) else None
    )

from celery.schedules import crontab
from tenant_schemas_celery.app import CeleryApp

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = CeleryApp("product_purchase")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Request and event ids in task logs, task counters, the worker's metrics exporter.
from config.observability import celery_connect  # noqa: E402

celery_connect()

app.conf.beat_schedule = {
    "reconcile-checkouts": {
        "task": "payments.tasks.reconcile_all_stores",
        "schedule": crontab(minute="*/10"),
    },
    # Cells (tenants/cells.py): outbox rows and half-created stores a crash left behind.
    "cells-reconcile": {
        "task": "tenants.tasks.cells_reconcile",
        "schedule": crontab(minute="*"),
    },
    "retry-failed-events": {
        "task": "payments.webhooks.retry_failed_events",
        "schedule": crontab(minute="*"),
    },
    "charge-fees-backfill": {
        "task": "payments.tasks.fees_backfill_all_stores",
        "schedule": crontab(minute="7-59/15"),
    },
    "product-views-rollup": {
        "task": "catalog.tasks.views_rollup",
        "schedule": crontab(minute="*/5"),
    },
}
