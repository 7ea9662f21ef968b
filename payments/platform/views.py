from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

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


def webhook_secret(endpoint: str) -> str:
    """The signing secret of one of the two endpoints registered at Stripe (each has its
    own): "connect" (connected accounts' events) or "account" (the platform's own)."""
    if endpoint == "account":
        return settings.STRIPE_ACCOUNT_WEBHOOK_SECRET
    return settings.STRIPE_CONNECT_WEBHOOK_SECRET or settings.STRIPE_WEBHOOK_SECRET


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest, endpoint: str = "connect") -> HttpResponse:
    """Verify, record once, answer fast; a task does the work in the store's schema."""
    secret = webhook_secret(endpoint)
    if not secret:  # an endpoint this deployment has not configured accepts nothing
        return JsonResponse({"error": "invalid signature"}, status=400)
    if int(request.META.get("CONTENT_LENGTH") or 0) > MAX_BODY:
        return JsonResponse({"error": "payload too large"}, status=413)
    try:
        event = webhook_verify(
            payload=request.body,
            signature=request.headers.get("Stripe-Signature", ""),
            secret=secret,
        )
    except ValueError:
        return JsonResponse({"error": "invalid signature"}, status=400)
    row, created = event_record(event)
    if created:
        transaction.on_commit(lambda: _enqueue(row.pk))
    return JsonResponse({"received": True, "duplicate": not created})
