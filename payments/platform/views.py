from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from config import metrics
from config.logs import log_bind
from payments.stripe_client import webhook_verify

from .services import event_record
from .tasks import process_event

logger = logging.getLogger(__name__)
MAX_BODY = 512 * 1024  # Stripe events are a few KB; anything huge is not Stripe


def _enqueue(pk: int) -> None:
    try:
        process_event.delay(pk)
    except Exception:  # broker down: the event is safe in the inbox; beat retries it
        logger.exception("Could not queue Stripe event %s", pk)


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> HttpResponse:
    """Verify, record once, answer fast; a task does the work in the store's schema."""
    if int(request.META.get("CONTENT_LENGTH") or 0) > MAX_BODY:
        metrics.webhook_received(outcome="too_large")
        return JsonResponse({"error": "payload too large"}, status=413)
    try:
        event = webhook_verify(
            payload=request.body,
            signature=request.headers.get("Stripe-Signature", ""),
            secret=settings.STRIPE_WEBHOOK_SECRET,
        )
    except ValueError:
        metrics.webhook_received(outcome="bad_signature")
        return JsonResponse({"error": "invalid signature"}, status=400)
    log_bind(event_id=event.get("id", ""))
    row, created = event_record(event)
    metrics.webhook_received(outcome="recorded" if created else "duplicate")
    if created:
        transaction.on_commit(lambda: _enqueue(row.pk))
    return JsonResponse({"received": True, "duplicate": not created})
