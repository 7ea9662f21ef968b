"""Prometheus metrics for the whole platform (prometheus_client).

Every app may import this module (config sits below all of them); the call sites are one
line each (`metrics.download(outcome=...)`). Labels are bounded sets chosen here: a view
name, a status code, an outcome, an event type Stripe defines. Never a store, a path, an
id or an email: counters cover every store together, so their number does not grow with
the number of stores.

Processes: with PROMETHEUS_MULTIPROC_DIR set (gunicorn's workers, Celery's prefork
children) each process writes its samples to files in that directory and the scrape
aggregates them (prometheus_client's multiprocess mode; see deploy/gunicorn.conf.py and
config/celery.py). Without it, the process's own registry is served.

Figures that are state rather than events (stores, queue depth, the inbox's oldest
unprocessed event, the last reconciliation) are read when scraped (`LiveCollector`), so
they are right whichever process answers.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import time
from collections.abc import Iterable
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

PREFIX = "product_purchase"
# DJANGO_METRICS=off turns counting off (the benchmarks compare both in one run).
ENABLED = os.environ.get("DJANGO_METRICS", "on").lower() not in ("off", "0", "false")

# --- Requests --------------------------------------------------------------------------------

HTTP_REQUESTS = Counter(
    f"{PREFIX}_http_requests_total",
    "HTTP requests, by view (URL name), method and status code.",
    ["view", "method", "status"],
)
HTTP_LATENCY = Histogram(
    f"{PREFIX}_http_request_duration_seconds",
    "Time from the first middleware to the response, by view (URL name).",
    ["view"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


# The labelled children, looked up once per (view, method, status): every request pays for
# two writes, not for prometheus_client's label validation as well. The keys are bounded.
_request_children: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def request_observed(*, view: str, method: str, status: int, seconds: float) -> None:
    if not ENABLED:
        return
    children = _request_children.get((view, method, status))
    if children is None:
        label = method if method in _METHODS else "OTHER"
        children = (HTTP_REQUESTS.labels(view, label, str(status)), HTTP_LATENCY.labels(view))
        _request_children[(view, method, status)] = children
    children[0].inc()
    children[1].observe(seconds)


# --- Stripe webhooks -------------------------------------------------------------------------

WEBHOOK_RECEIVED = Counter(
    f"{PREFIX}_webhook_events_received_total",
    "Webhook deliveries, by outcome: recorded (new), duplicate, bad_signature, too_large.",
    ["outcome"],
)
WEBHOOK_PROCESSED = Counter(
    f"{PREFIX}_webhook_events_processed_total",
    "Inbox events processed, by Stripe event type and result (done, ignored, failed).",
    ["type", "result"],
)
WEBHOOK_LAG = Histogram(
    f"{PREFIX}_webhook_event_lag_seconds",
    "From the event's `created` at Stripe to its processing here (done or ignored).",
    buckets=(1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600),
)
# Event types with a handler, and a few common ones; anything else is "other" so a label
# never takes a value the platform did not choose.
_EVENT_TYPES = frozenset(
    {
        "account.updated",
        "account.application.deauthorized",
        "checkout.session.completed",
        "checkout.session.async_payment_succeeded",
        "checkout.session.async_payment_failed",
        "checkout.session.expired",
        "payment_intent.succeeded",
        "payment_intent.payment_failed",
        "charge.succeeded",
        "charge.refunded",
        "charge.refund.updated",
        "refund.created",
        "refund.updated",
        "refund.failed",
        "charge.dispute.created",
        "charge.dispute.updated",
        "charge.dispute.closed",
    }
)
_RESULTS = frozenset({"done", "ignored", "failed"})


def webhook_received(*, outcome: str) -> None:
    if not ENABLED:
        return
    WEBHOOK_RECEIVED.labels(outcome).inc()


def webhook_processed(*, event_type: str, result: str, created: Any = None) -> None:
    """One inbox event's processing; `created` is the event's Stripe timestamp (seconds)."""
    if not ENABLED:
        return
    result = result if result in _RESULTS else "failed"
    WEBHOOK_PROCESSED.labels(event_type if event_type in _EVENT_TYPES else "other", result).inc()
    if result != "failed" and isinstance(created, int | float) and created > 0:
        WEBHOOK_LAG.observe(max(0.0, time.time() - float(created)))


# --- Money and the paywall -------------------------------------------------------------------

PURCHASES = Counter(
    f"{PREFIX}_purchases_total",
    "Paid Checkout Sessions fulfilled, by outcome: created, existing (found already), rejected.",
    ["outcome"],
)
REFUNDS = Counter(
    f"{PREFIX}_refunds_total",
    "Refunds, by outcome: requested (dashboard, Stripe accepted), failed (Stripe refused), "
    "recorded (a purchase became refunded), partial (access kept).",
    ["outcome"],
)
DOWNLOADS = Counter(
    f"{PREFIX}_downloads_total",
    "Download attempts, by outcome: ok, preparing, unknown, refunded, disputed, revoked, "
    "expired, limit.",
    ["outcome"],
)
_DOWNLOAD_OUTCOMES = frozenset(
    {"ok", "preparing", "unknown", "refunded", "disputed", "revoked", "expired", "limit"}
)


def purchase(*, outcome: str) -> None:
    if not ENABLED:
        return
    PURCHASES.labels(outcome).inc()


def refund(*, outcome: str) -> None:
    if not ENABLED:
        return
    REFUNDS.labels(outcome).inc()


def download(*, outcome: str) -> None:
    if not ENABLED:
        return
    # A grant's revoked_reason is free text in the row: anything unexpected counts as revoked.
    DOWNLOADS.labels(outcome if outcome in _DOWNLOAD_OUTCOMES else "revoked").inc()


# --- Celery ----------------------------------------------------------------------------------

CELERY_TASKS = Counter(
    f"{PREFIX}_celery_tasks_total",
    "Celery tasks run, by task name and state (success, failure, retry).",
    ["task", "state"],
)
CELERY_TASK_FAILURES = Counter(
    f"{PREFIX}_celery_task_failures_total",
    "Celery tasks that raised, by task name.",
    ["task"],
)


def task_finished(*, task: str, state: str) -> None:
    if not ENABLED:
        return
    CELERY_TASKS.labels(task, state).inc()
    if state == "failure":
        CELERY_TASK_FAILURES.labels(task).inc()


# --- Read at scrape time ---------------------------------------------------------------------


def _queue_lengths() -> dict[str, int]:
    """Messages waiting in the Redis broker, per queue (kombu keeps one list per priority)."""
    from django.conf import settings

    url = settings.CELERY_BROKER_URL
    if not url.startswith(("redis://", "rediss://")):
        return {}
    import redis

    queue = settings.CELERY_TASK_DEFAULT_QUEUE
    client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
    try:
        pipe = client.pipeline()
        # kombu's Redis transport: the queue itself, then "<queue>\x06\x16<priority>".
        names = [queue] + [f"{queue}\x06\x16{p}" for p in (1, 2, 3, 4, 5, 6, 7, 8, 9)]
        for name in names:
            pipe.llen(name)
        return {queue: sum(int(n) for n in pipe.execute())}
    finally:
        client.close()


def live_figures() -> dict[str, Any]:
    """The state figures, shared by /metrics and the console's health panel."""
    from django.db.models import Count, Min, Q

    from payments.platform.models import StripeEvent
    from tenants.models import Store

    figures: dict[str, Any] = {}
    stores = Store.objects.stores().aggregate(
        active=Count("pk", filter=Q(status=Store.Status.ACTIVE)),
        suspended=Count("pk", filter=~Q(status=Store.Status.ACTIVE)),
    )
    figures["stores"] = stores
    inbox = StripeEvent.objects.filter(
        status__in=[StripeEvent.Status.PENDING, StripeEvent.Status.FAILED]
    ).aggregate(
        pending=Count("pk", filter=Q(status=StripeEvent.Status.PENDING)),
        failed=Count("pk", filter=Q(status=StripeEvent.Status.FAILED)),
        retrying=Count(
            "pk", filter=Q(status=StripeEvent.Status.FAILED, next_attempt_at__isnull=False)
        ),
        oldest=Min("received_at"),
    )
    figures["inbox"] = inbox
    try:
        figures["queues"] = _queue_lengths()
    except Exception as exc:  # the broker being down is itself worth showing, not a 500
        logger.warning("Could not read the queue length: %s", exc)
        figures["queues"] = None
    figures["reconciliation"] = reconciliation_last_run()
    return figures


class LiveCollector(Collector):
    def collect(self) -> Iterable[GaugeMetricFamily]:
        try:
            figures = live_figures()
        except Exception:
            logger.exception("Could not read the live figures for /metrics")
            return
        stores = GaugeMetricFamily(f"{PREFIX}_stores", "Stores, by status.", labels=["status"])
        for status in ("active", "suspended"):
            stores.add_metric([status], figures["stores"][status] or 0)
        yield stores
        inbox = figures["inbox"]
        unprocessed = GaugeMetricFamily(
            f"{PREFIX}_webhook_events_unprocessed",
            "Inbox events not processed yet, by status (pending, failed, retrying).",
            labels=["status"],
        )
        for status in ("pending", "failed", "retrying"):
            unprocessed.add_metric([status], inbox[status] or 0)
        yield unprocessed
        oldest = inbox["oldest"]
        yield GaugeMetricFamily(
            f"{PREFIX}_webhook_oldest_unprocessed_age_seconds",
            "Age of the oldest pending or failed inbox event (0 when there is none).",
            value=max(0.0, time.time() - oldest.timestamp()) if oldest else 0.0,
        )
        if figures["queues"] is not None:
            queues = GaugeMetricFamily(
                f"{PREFIX}_celery_queue_length",
                "Tasks waiting in the broker, by queue.",
                labels=["queue"],
            )
            for name, length in figures["queues"].items():
                queues.add_metric([name], length)
            yield queues
        last = figures["reconciliation"]
        if last is not None:
            yield GaugeMetricFamily(
                f"{PREFIX}_reconciliation_last_run_timestamp_seconds",
                "When the checkout reconciliation last ran (Unix time).",
                value=last["at"],
            )


# --- The last reconciliation run ---------------------------------------------------------------

_RECONCILIATION_KEY = "ops:reconciliation:last-run"


def reconciliation_recorded(*, stores: int) -> None:
    """Remember that reconciliation ran (beat's reconcile_all_stores), for the panel and alerts.

    In the shared cache (Redis in production), so any process reads it; a lost key only
    means "unknown" until the next run, ten minutes later.
    """
    from django.core.cache import caches

    caches["routing"].set(_RECONCILIATION_KEY, {"at": time.time(), "stores": stores}, None)


def reconciliation_last_run() -> dict[str, Any] | None:
    from django.core.cache import caches

    return caches["routing"].get(_RECONCILIATION_KEY)


# --- Exposition --------------------------------------------------------------------------------

_live_registry = CollectorRegistry(auto_describe=False)
_live_registry.register(LiveCollector())


def multiprocess_dir() -> str:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


def process_registry() -> CollectorRegistry:
    """What this process group counted: every process's files, or this process's registry."""
    path = multiprocess_dir()
    if not path:
        return REGISTRY
    from prometheus_client import multiprocess

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=path)
    return registry


def exposition(*, live: bool = True) -> bytes:
    body = generate_latest(process_registry())
    if live:
        body += generate_latest(_live_registry)
    return body


def scrape_allowed(*, authorization: str, remote_addr: str | None, forwarded: bool) -> bool:
    """A bearer token (METRICS_TOKEN), or a peer in METRICS_ALLOWED_NETWORKS.

    The network rule needs a request that came straight to the app: one that a proxy
    forwarded (X-Forwarded-For) has the proxy as its peer, and anyone can reach the proxy.
    """
    from django.conf import settings

    token = settings.METRICS_TOKEN
    if (
        token
        and authorization.startswith("Bearer ")
        and hmac.compare_digest(authorization[7:].strip().encode(), token.encode())
    ):
        return True
    if forwarded or not remote_addr or not settings.METRICS_ALLOWED_NETWORKS:
        return False
    try:
        address = ipaddress.ip_address(remote_addr)
    except ValueError:
        return False
    return any(address in net for net in settings.METRICS_ALLOWED_NETWORKS)


__all__ = ["CONTENT_TYPE_LATEST", "exposition", "scrape_allowed"]
