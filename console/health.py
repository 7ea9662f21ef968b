"""The console's health panel: is Stripe's news reaching the stores, and are the workers
keeping up? The same figures /metrics gives Prometheus (config.metrics.live_figures),
plus the webhook lag over the last hour, read from the inbox itself."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from config.metrics import live_figures
from payments.platform.models import StripeEvent

from .decorators import superuser_required

LAG_WINDOW = timedelta(hours=1)
# Lag is read for events processed in the window; the ones received long before (retried
# with backoff: 1 + 4 + … + 49 minutes) are still found, through the received_at index.
RECEIVED_LOOKBACK = timedelta(hours=24)
LAG_WARN_SECONDS = 300

# Seconds from Stripe's `created` (in the payload) to our processed_at, done or ignored.
_LAG_SQL = """
SELECT count(*),
       percentile_cont(0.5) WITHIN GROUP (ORDER BY lag),
       percentile_cont(0.95) WITHIN GROUP (ORDER BY lag),
       max(lag)
FROM (
    SELECT GREATEST(0, extract(epoch FROM processed_at) - (payload->>'created')::double precision)
           AS lag
    FROM {table}
    WHERE received_at >= %s AND processed_at >= %s AND status IN ('done', 'ignored')
      AND jsonb_typeof(payload->'created') = 'number'
) AS lags
"""


@dataclass(frozen=True)
class Lag:
    events: int
    p50: float | None
    p95: float | None
    worst: float | None

    @property
    def late(self) -> bool:
        return self.p95 is not None and self.p95 > LAG_WARN_SECONDS


def duration(seconds: float | None) -> str:
    """3.2 s, 4 min 10 s, 2 h 5 min: the panel's one way to show a span of time."""
    if seconds is None:
        return "–"
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min"
    return f"{hours // 24} days"


def webhook_lag(*, now: datetime | None = None) -> Lag:
    now = now or timezone.now()
    sql = _LAG_SQL.format(table=connection.ops.quote_name(StripeEvent._meta.db_table))
    with connection.cursor() as cursor:
        cursor.execute(sql, [now - RECEIVED_LOOKBACK, now - LAG_WINDOW])
        count, p50, p95, worst = cursor.fetchone()
    return Lag(int(count), p50, p95, worst)


def health_figures() -> dict[str, Any]:
    figures = live_figures()
    figures["lag"] = webhook_lag()
    oldest = (
        StripeEvent.objects.filter(
            status__in=[StripeEvent.Status.PENDING, StripeEvent.Status.FAILED]
        )
        .order_by("received_at")
        .only("event_id", "type", "status", "received_at", "attempts", "next_attempt_at")
        .first()
    )
    figures["oldest"] = oldest
    figures["oldest_age"] = (
        duration((timezone.now() - oldest.received_at).total_seconds()) if oldest else None
    )
    last = figures["reconciliation"]
    figures["reconciliation_at"] = (
        datetime.fromtimestamp(last["at"], tz=timezone.get_current_timezone()) if last else None
    )
    figures["reconciliation_ago"] = (
        duration(timezone.now().timestamp() - last["at"]) if last else None
    )
    lag = figures["lag"]
    figures["lag_text"] = {"p50": duration(lag.p50), "p95": duration(lag.p95)}
    figures["given_up"] = (figures["inbox"]["failed"] or 0) - (figures["inbox"]["retrying"] or 0)
    return figures


@superuser_required
@require_GET
def health(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "console/health.html",
        {"section": "health", "f": health_figures(), "lag_warn": LAG_WARN_SECONDS},
    )
