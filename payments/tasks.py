"""Payments work done off the request: emails, stamping, reconciliation, expiring.

Tasks take ids and call one service; each is safe to run twice (acks_late redelivers a
task whose worker died). Store tasks run in the schema they were queued in
(tenant-schemas-celery). The webhook inbox's tasks live with the rest of the webhook
flow, in `payments.webhooks`.
"""

from __future__ import annotations

from celery import shared_task
from django.db import connection
from django_tenants.utils import schema_context

from config import metrics
from tenants.models import Store

from . import services


def _store() -> Store:
    """The store whose schema this task runs in (tenant-schemas-celery set it)."""
    tenant = getattr(connection, "tenant", None)
    if isinstance(tenant, Store) and tenant.pk:
        return tenant
    return Store.objects.get(schema_name=connection.schema_name)


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_receipt(purchase_id: int) -> bool:
    return services.receipt_send(store=_store(), purchase_id=purchase_id)


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def notify_seller(purchase_id: int) -> bool:
    return services.seller_notify(store=_store(), purchase_id=purchase_id)


@shared_task(acks_late=True)
def resend_receipt(purchase_id: int) -> bool:
    return services.receipt_resend(store=_store(), purchase_id=purchase_id)


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_library_link(email: str) -> bool:
    return services.library_link_send(store=_store(), email=email)


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def suspended_refund_notify(incident_id: int) -> bool:
    return services.suspended_refund_notify(incident_id=incident_id)


@shared_task(acks_late=True)
def stamp_purchase(purchase_id: int) -> str:
    from .stamping import stamped_copy_make

    return stamped_copy_make(purchase_id=purchase_id)


@shared_task(acks_late=True)
def version_deliver(version_id: int) -> int:
    """Give a new version to the file's past buyers; queues their emails in batches."""
    return services.version_deliver(store=_store(), version_id=version_id)


@shared_task(acks_late=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_update_notices(notice_ids: list[int]) -> int:
    """One batch of "a new version" emails; each buyer's is sent once (claimed first)."""
    return services.update_notices_send(store=_store(), notice_ids=notice_ids)


@shared_task(acks_late=True, autoretry_for=(services.stripe_client.StripeFailure,),
             retry_backoff=True, max_retries=8)  # fmt: skip
def checkouts_expire() -> int:
    return services.store_checkouts_expire(store=_store())


@shared_task
def reconcile_store(lookback_hours: int = 72) -> int:
    return services.store_reconcile(store=_store(), lookback_hours=lookback_hours)


@shared_task
def reconcile_all_stores() -> int:
    """Beat: queue reconciliation in every store with a connected account."""
    schemas = list(
        Store.objects.stores()
        .filter(stripe_account__deauthorized_at__isnull=True, stripe_account__isnull=False)
        .values_list("schema_name", flat=True)
    )
    for schema in schemas:
        with schema_context(schema):
            reconcile_store.delay()
    metrics.reconciliation_recorded(stores=len(schemas))
    return len(schemas)


@shared_task(acks_late=True)
def fetch_charge_fees(purchase_id: int) -> str:
    """Stripe's fee and the net of one sale, from its charge's balance transaction."""
    from .balances import purchase_fees_fetch

    try:
        return purchase_fees_fetch(store=_store(), purchase_id=purchase_id)
    except services.stripe_client.StripeFailure as exc:
        # Never the sale's problem: beat's backfill asks again (fees_backfill_all_stores).
        return f"stripe failed: {exc.user_message}"


@shared_task
def fees_backfill_store() -> int:
    from .balances import store_fees_backfill

    return store_fees_backfill(store=_store())


@shared_task
def fees_backfill_all_stores() -> int:
    """Beat: in every connected store, recent sales whose fees Stripe had not settled."""
    from .models import Purchase

    schemas = list(
        Store.objects.stores()
        .filter(stripe_account__deauthorized_at__isnull=True, stripe_account__isnull=False)
        .values_list("schema_name", flat=True)
    )
    queued = 0
    for schema in schemas:
        with schema_context(schema):
            if Purchase.objects.filter(stripe_fee__isnull=True).exclude(charge_id="").exists():
                fees_backfill_store.delay()
                queued += 1
    return queued
