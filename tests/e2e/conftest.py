"""End-to-end: real gunicorn, a real Celery worker on Redis, the Stripe stand-in process.

Data here is committed (the servers cannot see a test transaction), so every test makes
its own uniquely named stores.
"""

from __future__ import annotations

import pytest
from django.conf import settings

from tests.live import LiveStack, worker_folder
from tests.s3 import reset_storages


@pytest.fixture(scope="session")
def live(django_db_setup, django_db_blocker):
    if not settings.REDIS_URL:
        pytest.skip("end-to-end tests need Redis (TEST_REDIS_URL)")
    stack = LiveStack(worker_folder("live"), redis_url=settings.REDIS_URL).start()
    yield stack
    stack.stop()


@pytest.fixture
def live_settings(live, settings):
    """Point this test process at the same Stripe stand-in and media folder as the servers."""
    settings.STRIPE_API_BASE = live.stripe_base
    settings.STRIPE_SECRET_KEY = "sk_test_live"
    settings.STRIPE_WEBHOOK_SECRET = live.webhook_secret
    settings.MEDIA_ROOT = live.artifacts / "media"
    reset_storages()  # storages built for the old MEDIA_ROOT
    yield settings
    reset_storages()


@pytest.fixture
def committed(django_db_blocker):
    with django_db_blocker.unblock():
        yield
