from __future__ import annotations

import pytest
from celery.result import allow_join_result
from django.conf import settings
from django_tenants.utils import schema_context

from config.celery import app
from tenants.models import Store
from tenants.services import store_create
from tenants.tasks import store_ping
from tests.conftest import make_seller
from tests.live import ROOT, celery_worker_cmd, process_env, running, unique

pytestmark = pytest.mark.skipif(not settings.REDIS_URL, reason="needs Redis (TEST_REDIS_URL)")


@pytest.fixture
def committed_stores(django_db_blocker):
    with django_db_blocker.unblock():
        stores = []
        for name in ("alice", "mallory"):
            owner = make_seller(f"{unique(name)}@example.com")
            stores.append(store_create(owner=owner, name=name.title(), subdomain=unique(name)))
    yield stores
    with django_db_blocker.unblock():
        for store in stores:
            Store.objects.filter(pk=store.pk).first().delete(force_drop=True)


def test_a_task_queued_from_a_store_runs_in_that_stores_schema(committed_stores):
    alice_store, mallory_store = committed_stores
    env = process_env(CELERY_TASK_ALWAYS_EAGER="0", TEST_REDIS_URL=settings.REDIS_URL)
    app.conf.task_always_eager = False
    try:
        with running(celery_worker_cmd(), env, ROOT / "test-artifacts" / "worker.log"):
            results = {}
            for store in (alice_store, mallory_store):
                with schema_context(store.schema_name):
                    results[store.subdomain] = store_ping.delay()
            # Celery's "would this join block?" flag is one global: eager tasks that other
            # tests queued from threads at once (tests/e2e/test_code_concurrency.py) can
            # leave it set in this process, which is no worker. Joining here is safe.
            with allow_join_result():
                outcomes = {s: results[s].get(timeout=60) for s in results}
            for store in (alice_store, mallory_store):
                outcome = outcomes[store.subdomain]
                assert outcome == {"schema": store.schema_name, "store": store.subdomain}
    finally:
        app.conf.task_always_eager = True
