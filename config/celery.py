"""Celery, tenant-aware: a task queued inside a store's schema runs in that schema.

tenant-schemas-celery puts the active schema in the message headers and switches the
worker's connection before the task runs, so tasks take ids, not schema juggling.
"""

from __future__ import annotations

import os

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
    "retry-failed-events": {
        "task": "payments.platform.tasks.retry_failed_events",
        "schedule": crontab(minute="*"),
    },
}
