from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from .models import StripeEvent


@shared_task(acks_late=True)
def process_event(event_pk: int) -> str:
    from payments.webhooks import event_process

    return event_process(event_pk)


@shared_task
def retry_failed_events() -> int:
    """Beat: retry failed inbox events whose backoff has passed."""
    due = StripeEvent.objects.filter(
        status__in=[StripeEvent.Status.FAILED, StripeEvent.Status.PENDING],
        next_attempt_at__lte=timezone.now(),
    ).values_list("pk", flat=True)[:500]
    pks = list(due)
    for pk in pks:
        process_event.delay(pk)
    return len(pks)
