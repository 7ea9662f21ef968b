"""/console/health/: webhook lag over the last hour, failed and retrying events, the oldest
unprocessed one, queue depth and the last reconciliation run."""

from __future__ import annotations

import re
import time
import uuid
from datetime import timedelta

from django.utils import timezone

from payments.platform.models import StripeEvent
from tests.conftest import main_client


def _event(*, status: str, created_ago: float, processed_ago: float | None, received_ago=None):
    now = timezone.now()
    row = StripeEvent.objects.create(
        event_id=f"evt_{uuid.uuid4().hex[:20]}",
        type="checkout.session.completed",
        payload={"id": "evt", "created": int(time.time() - created_ago)},
        status=status,
        attempts=1,
        processed_at=now - timedelta(seconds=processed_ago) if processed_ago is not None else None,
        next_attempt_at=now + timedelta(minutes=4) if status == "failed" else None,
    )
    if received_ago is not None:
        StripeEvent.objects.filter(pk=row.pk).update(
            received_at=now - timedelta(seconds=received_ago)
        )
    return row


def _figure(html: str, name: str) -> str:
    block = re.search(rf'data-figure="{name}".*?</(?:div|a)>\s*</(?:div|a)>', html, re.S)
    assert block, name
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", block.group(0))).strip()


def test_the_panel_shows_lag_percentiles_failures_and_the_oldest_event(olivia):
    # Lags of 2, 4, 6, 8 and 600 seconds, processed within the hour: p50 6 s, p95 ~ 481 s.
    for lag in (2, 4, 6, 8):
        _event(status="done", created_ago=lag + 30, processed_ago=30)
    _event(status="ignored", created_ago=630, processed_ago=30)
    # Outside the hour: not in the lag.
    _event(status="done", created_ago=3 * 3600 + 5000, processed_ago=3 * 3600)
    _event(status="failed", created_ago=900, processed_ago=60, received_ago=900)
    _event(status="failed", created_ago=90, processed_ago=60, received_ago=90)
    gave_up = _event(status="failed", created_ago=100, processed_ago=50, received_ago=100)
    StripeEvent.objects.filter(pk=gave_up.pk).update(next_attempt_at=None)
    oldest = _event(status="pending", created_ago=4000, processed_ago=None, received_ago=4000)
    from config.metrics import reconciliation_recorded

    reconciliation_recorded(stores=7)

    response = main_client(olivia).get("/console/health/")
    assert response.status_code == 200
    f = response.context["f"]
    assert f["lag"].events == 5
    assert 5.5 < f["lag"].p50 < 7.5  # `created` is whole seconds
    assert 470 < f["lag"].p95 < 490 and f["lag"].late
    html = response.content.decode()
    assert re.search(r"last hour [67]\.\d s$", _figure(html, "lag-p50"))
    assert "8 min" in _figure(html, "lag-p95")
    assert _figure(html, "failed").endswith("2")
    assert _figure(html, "given-up").endswith("1")
    assert _figure(html, "pending").endswith("1")
    assert oldest.event_id in html and "1 h 6 min" in html
    assert "7 stores" in html and "ago" in _figure(html, "reconciliation")


def test_an_empty_inbox_and_no_reconciliation_yet(olivia):
    from django.core.cache import caches

    caches["routing"].clear()
    response = main_client(olivia).get("/console/health/")
    html = response.content.decode()
    assert response.context["f"]["lag"].events == 0
    assert "every event in the inbox has been processed" in html
    assert "never recorded" in html


def test_reconciliation_records_its_run(olivia, alice_store):
    from payments.tasks import reconcile_all_stores

    reconcile_all_stores()
    last = main_client(olivia).get("/console/health/").context["f"]["reconciliation"]
    assert last is not None and abs(last["at"] - time.time()) < 60


def test_the_panel_shows_the_queue_depth(olivia, settings):
    if not settings.REDIS_URL:
        import pytest

        pytest.skip("needs Redis")
    import redis

    queue = f"health-{uuid.uuid4().hex[:8]}"
    settings.CELERY_BROKER_URL = settings.REDIS_URL
    settings.CELERY_TASK_DEFAULT_QUEUE = queue
    client = redis.Redis.from_url(settings.REDIS_URL)
    try:
        client.rpush(queue, *[b"{}"] * 3)
        client.rpush(f"{queue}\x06\x163", b"{}")  # kombu's list for priority 3
        html = main_client(olivia).get("/console/health/").content.decode()
        assert _figure(html, "queue").endswith("4")
        assert queue in html
    finally:
        client.delete(queue, f"{queue}\x06\x163")


def test_only_superusers_see_the_panel(sam, alice):
    assert main_client(sam).get("/console/health/").status_code == 404
    assert main_client(alice).get("/console/health/").status_code == 404
    assert main_client().get("/console/health/").status_code == 404
